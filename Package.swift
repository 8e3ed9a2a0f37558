// swift-tools-version: 6.1
// dmleval: exact, fast evaluation of embeddings for metric learning and retrieval.

import PackageDescription

let package = Package(
    name: "dmleval",
    // What the code needs on Apple platforms: Synchronization's Atomic (macOS 15, iOS 18) in
    // the core's indexes; ContinuousClock (macOS 13, iOS 16) and GRDB 7 (macOS 10.15,
    // iOS 13) need less. Linux has no minimum.
    platforms: [.macOS(.v15), .iOS(.v18)],
    products: [
        .library(name: "RetrievalEval", targets: ["RetrievalEval"]),
        .library(name: "MetricLearning", targets: ["MetricLearning"]),
        .executable(name: "dmleval", targets: ["dmleval"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // Links the system libsqlite3 (Debian libsqlite3-dev).
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.0.0"),
        // .npz archives (zip of .npy members, stored or deflated). Links the system zlib on
        // Linux (Debian zlib1g-dev, through pkg-config).
        .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.19"),
        // `make docs`: the DocC catalogues of the libraries (swift package generate-documentation).
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.4.0"),
    ],
    targets: [
        // MARK: - System libraries

        // OpenBLAS through its C interface. On Debian it comes from libopenblas-dev, whose
        // pkg-config file adds the include path of the pthread flavour (cblas.h) and links
        // libopenblas. `make deps` installs it when missing. Apple platforms use Accelerate
        // instead (see Linear/BLAS.swift), so this target is only linked on Linux.
        .systemLibrary(
            name: "CBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]
        ),

        // SHA-256 from OpenSSL's libcrypto (Debian libssl-dev); Apple platforms use CryptoKit.
        .systemLibrary(
            name: "CCrypto",
            pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"])]
        ),

        // Distance kernels for the approximate indexes (AVX-512, AVX2+FMA or SSE2 chosen at run
        // time, so one binary serves every x86-64 machine), prefetch, spin locks; for the exact
        // search, the canonical score (the Swift kernel's bits, AVX2 or portable) and the
        // candidate folds' threshold scans.
        .target(name: "CKernels"),

        // MARK: - Libraries

        // The core: readers and writers, linear algebra, search (exact and approximate),
        // metrics, statistics. No SQLite, no printing, no argument parsing, no exits: what an
        // app that only scores embeddings links.
        .target(
            name: "RetrievalEval",
            dependencies: [
                .target(name: "CBLAS", condition: .when(platforms: [.linux])),
                .target(name: "CCrypto", condition: .when(platforms: [.linux])),
                "CKernels",
                .product(name: "ZIPFoundation", package: "ZIPFoundation"),
            ]
        ),

        // The store: SQLite through GRDB (migrations, datasets, runs, per-query values,
        // indexes, training runs), on top of the core.
        .target(
            name: "RetrievalEvalStore",
            dependencies: [
                "RetrievalEval",
                .product(name: "GRDB", package: "GRDB.swift"),
            ]
        ),

        // MARK: - Training

        // Proxy-based metric-learning losses (ProxyNCA, ProxyAnchor, SoftTriple and the MPA
        // family of Saeki et al. 2023) with analytic backward passes. Depends on RetrievalEval
        // only for `Matrix` and the BLAS wrapper; no optimiser, no I/O.
        .target(
            name: "MetricLearning",
            dependencies: ["RetrievalEval"]
        ),

        // MARK: - Jobs

        // Every job the CLI runs, one entry point each: the evaluation (read, index, search,
        // check, score, record), the baseline gate, training runs and grids, run comparison,
        // the index sweep, reports. What a Swift program or another front end calls.
        .target(
            name: "DMLEvalJobs",
            dependencies: ["RetrievalEval", "RetrievalEvalStore", "MetricLearning"]
        ),

        // MARK: - Command-line tool

        // Argument parsing and output formatting only; every computation is a library call.
        .executableTarget(
            name: "dmleval",
            dependencies: [
                "RetrievalEval",
                "RetrievalEvalStore",
                "DMLEvalJobs",
                "MetricLearning",
                "CKernels",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // MARK: - Tests

        .testTarget(
            name: "RetrievalEvalTests",
            dependencies: [
                "RetrievalEval", "RetrievalEvalStore", "DMLEvalJobs", "CKernels", .product(name: "GRDB", package: "GRDB.swift"),
            ]
        ),
        // Every job's one entry point, run on small synthetic data and temporary stores,
        // without the CLI.
        .testTarget(
            name: "DMLEvalJobsTests",
            dependencies: ["DMLEvalJobs", "RetrievalEval", "RetrievalEvalStore", "MetricLearning"]
        ),
        // Analytic gradients of every loss against central finite differences.
        .testTarget(
            name: "MetricLearningTests",
            dependencies: ["MetricLearning", "RetrievalEval"]
        ),
        // Runs the built `dmleval` binary as a user would; depends on the executable so
        // `swift test` builds it first.
        .testTarget(
            name: "EndToEndTests",
            // GRDB to damage stores and hold their locks the way other processes would.
            dependencies: ["dmleval", .product(name: "GRDB", package: "GRDB.swift")]
        ),
    ]
)
