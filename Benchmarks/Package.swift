// swift-tools-version: 6.1
// Performance benchmarks of dmleval's RetrievalEval library, kept in their own package so
// that the main build never fetches or compiles the benchmark framework.
//
// Run from this folder (see README.md):
//     swift package --disable-sandbox benchmark --target ExactSearch

import PackageDescription

let package = Package(
    name: "dmleval-benchmarks",
    dependencies: [
        // The library under test, from the enclosing repository.
        .package(name: "dmleval", path: ".."),
        // ordo-one's benchmark framework. Naming the trait explicitly keeps the malloc
        // interposer (malloc counters) and leaves out the Swift 6.3 runtime interposer, a
        // further dependency that is not needed for these benchmarks.
        .package(
            url: "https://github.com/ordo-one/benchmark", from: "1.38.1",
            traits: ["MallocInterposer"]),
    ],
    targets: [
        // Deterministic synthetic data shared by the benchmark suites (no timing code).
        .target(
            name: "BenchmarkData",
            dependencies: [.product(name: "RetrievalEval", package: "dmleval")],
            path: "Sources/BenchmarkData"
        ),
        // package-benchmark discovers suites as executable targets under Benchmarks/<Name>.
        .executableTarget(
            name: "ExactSearch",
            dependencies: [
                "BenchmarkData",
                .product(name: "RetrievalEval", package: "dmleval"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/ExactSearch",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "Metrics",
            dependencies: [
                "BenchmarkData",
                .product(name: "RetrievalEval", package: "dmleval"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/Metrics",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "TrainingEpoch",
            dependencies: [
                "BenchmarkData",
                .product(name: "MetricLearning", package: "dmleval"),
                .product(name: "RetrievalEval", package: "dmleval"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/TrainingEpoch",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "ApproximateSearch",
            dependencies: [
                "BenchmarkData",
                .product(name: "RetrievalEval", package: "dmleval"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/ApproximateSearch",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
