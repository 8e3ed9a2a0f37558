// Exact k-NN search (RetrievalEval.ExactSearch) on synthetic clustered embeddings.
//
// The data are generated and the search prepared in each benchmark's setup, which is not
// timed; only `search(k:)` is measured. Every run takes seconds, so each benchmark does at
// most three iterations and no warm-up.

import Benchmark
import BenchmarkData
import RetrievalEval

/// One search case: self-retrieval of `rows` unit vectors in `dimensions` dimensions.
private struct SearchCase {
    let rows: Int
    let dimensions: Int
    let k: Int
    let useSymmetry: Bool
    /// Cluster noise (see ClusteredEmbeddings); chosen so that the neighbour lists look like
    /// a real model's: about recall@1 0.86 / MAP@R 0.20 at N=20,000 d=512 (spread 3), recall@1
    /// 0.67 / MAP@R 0.11 at N=60,000 d=128 (spread 2).
    let spread: Double
    let seed: UInt64

    /// ~100 items per cluster, like the test classes of CUB-200 and Cars196 (about 60-80).
    var classes: Int { max(1, rows / 100) }

    var name: String {
        let n = rows.formatted, d = dimensions
        return "self-retrieval N=\(n) d=\(d) k=\(k)" + (useSymmetry ? "" : " plain (no symmetry)")
    }

    func prepare() throws -> RetrievalEval.ExactSearch {
        let data = ClusteredEmbeddings(
            rows: rows, dimensions: dimensions, classes: classes, spread: spread, seed: seed)
        return try RetrievalEval.ExactSearch(
            references: data.embeddings, distance: .cosine, useSymmetry: useSymmetry)
    }
}

extension Int {
    /// 20000 -> "20,000".
    fileprivate var formatted: String {
        let digits = Array(String(self))
        var out = ""
        for (i, ch) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(ch)
        }
        return out
    }
}

private let cases = [
    SearchCase(rows: 20_000, dimensions: 512, k: 100, useSymmetry: true, spread: 3, seed: 0x5EED_0001),
    SearchCase(rows: 60_000, dimensions: 128, k: 100, useSymmetry: true, spread: 2, seed: 0x5EED_0002),
    // The same data as the first case, through the plain path (every tile pair computed).
    SearchCase(rows: 20_000, dimensions: 512, k: 100, useSymmetry: false, spread: 3, seed: 0x5EED_0001),
]

let benchmarks: @Sendable () -> Void = {
    let configuration = Benchmark.Configuration(
        metrics: [.wallClock, .cpuTotal, .peakMemoryResident, .peakMemoryResidentDelta],
        timeUnits: .milliseconds,
        warmupIterations: 0,
        maxDuration: .seconds(120),
        maxIterations: 3
    )

    for searchCase in cases {
        let k = searchCase.k
        Benchmark(searchCase.name, configuration: configuration) { benchmark, search in
            for _ in benchmark.scaledIterations {
                let neighbors = try search.search(k: k, progress: nil)
                precondition(neighbors.depth == k)
                blackHole(neighbors)
            }
        } setup: {
            try searchCase.prepare()
        }
    }

    // The floor of the first case: its products alone (the same tiles, workers and sgemm
    // calls, nothing kept), measured in the same process, so that the search's overhead over
    // the arithmetic can be read off.
    let floorCase = cases[0]
    Benchmark("products only N=\(floorCase.rows.formatted) d=\(floorCase.dimensions) (symmetric)", configuration: configuration) { benchmark, search in
        for _ in benchmark.scaledIterations {
            blackHole(try search.productsOnly())
        }
    } setup: {
        try floorCase.prepare()
    }

    // The k = 100 target, read as a ratio that the machine's drift cannot skew: the products
    // alone and the search, alternately in one process, five times each; each iteration
    // reports search / products (x1000) and both times. On this shared 2-core machine the
    // speed moves by 10-20% within minutes, so the separate cases above can be minutes and
    // tens of percent apart; here the two halves of a ratio are seconds apart.
    interleavedRatio(
        "search / products interleaved N=\(floorCase.rows.formatted) d=\(floorCase.dimensions) k=\(floorCase.k)",
        numerator: "search", denominator: "products",
        run: { search, numerator in
            if numerator {
                blackHole(try search.search(k: floorCase.k, progress: nil))
            } else {
                blackHole(try search.productsOnly())
            }
        },
        setup: { try floorCase.prepare() })

    // The products alone at the shape of the Debian sections (21,306 x 384, the real set the
    // deep case below reads): the floor of that job's search on this machine.
    Benchmark("products only N=21,306 d=384 (symmetric)", configuration: configuration) { benchmark, search in
        for _ in benchmark.scaledIterations {
            blackHole(try search.productsOnly())
        }
    } setup: {
        try RetrievalEval.ExactSearch(
            references: ClusteredEmbeddings(rows: 21_306, dimensions: 384, classes: 58, spread: 3, seed: 0x5EED_0004).embeddings,
            distance: .cosine)
    }

    // The canonical kernel's products (every score already the canonical g, no re-scoring;
    // chosen for deep lists) against sgemm's, on the same tiles, alternately in one process:
    // each iteration reports canonical / sgemm (x1000) and both times.
    canonicalAgainstSgemm("canonical / sgemm products interleaved N=21,306 d=384 (symmetric)") {
        try RetrievalEval.ExactSearch(
            references: ClusteredEmbeddings(rows: 21_306, dimensions: 384, classes: 58, spread: 3, seed: 0x5EED_0004).embeddings,
            distance: .cosine)
    }

    // Real data, when the machine has it (../shared/data, see docs/benchmarks.md): the main
    // job's default metric set (recall@1,2,4,8, nDCG@2,4,8, MAP@R; MAP@R up to 2,198 deep,
    // each query to its own R) on the Debian package descriptions by section. The cost model
    // takes the symmetric candidate path.
    let debian = "../../shared/data/debian-descriptions"
    if let embeddings = try? EmbeddingReader.read(debian + "/embeddings.npy"),
       let labels = try? LabelReader.read(debian + "/sections.txt") {
        Benchmark("evaluation default set, Debian sections N=21,306 d=384 (R up to 2,198)", configuration: configuration) { benchmark, data in
            for _ in benchmark.scaledIterations {
                blackHole(try RetrievalEvaluation.run(references: data, metrics: Metric.paperSet).report.means)
            }
        } setup: {
            try LabeledEmbeddings(embeddings: embeddings, labels: labels)
        }

        // The same two kernels on these real rows, whose two dimensions below 1e-30 made every
        // canonical product underflow until the search zeroed them (`NegligibleValues`): 1.5-1.6
        // before (50-51 against about 82 GFLOP/s), about the synthetic case's ratio since.
        canonicalAgainstSgemm("canonical / sgemm products interleaved, Debian rows N=21,306 d=384 (symmetric)") {
            try RetrievalEval.ExactSearch(references: embeddings, distance: .cosine)
        }
    }

    // Deep self-retrieval: MAP@R (R = 3,999 for every query) through the whole evaluation,
    // each query searched to its own R, metrics streamed; the candidate buffers (1.8 GB) would
    // not fit the memory budget, so the cost model picks the row path.
    for deep in deepCases {
        Benchmark(deep.name, configuration: configuration) { benchmark, data in
            for _ in benchmark.scaledIterations {
                let evaluation = try RetrievalEvaluation.run(references: data, metrics: deep.metrics)
                precondition(evaluation.depth == deep.rows / deep.classes - 1)
                blackHole(evaluation.report.means)
            }
        } setup: {
            let data = ClusteredEmbeddings(rows: deep.rows, dimensions: deep.dimensions, classes: deep.classes, spread: deep.spread, seed: deep.seed)
            return try LabeledEmbeddings(embeddings: data.embeddings, labels: Labels(integers: data.classes.map(Int64.init)))
        }
    }
}

/// A deep self-retrieval case: a few large classes, MAP@R.
private struct DeepCase {
    let rows: Int
    let dimensions: Int
    let classes: Int
    let metrics: [Metric]
    let metricNames: String
    /// Chosen so that the classes overlap (MAP@R about 0.3), as real large classes do.
    let spread: Double
    let seed: UInt64

    var name: String { "evaluation \(metricNames) N=\(rows.formatted) d=\(dimensions) \(classes) classes (R=\(rows / classes - 1))" }
}

private let deepCases = [
    DeepCase(rows: 40_000, dimensions: 384, classes: 10, metrics: [.mapAtR], metricNames: "MAP@R", spread: 4, seed: 0x5EED_0003),
    DeepCase(rows: 40_000, dimensions: 384, classes: 10, metrics: Metric.paperSet, metricNames: "paper set",
             spread: 4, seed: 0x5EED_0003),
]

/// The canonical kernel's products against sgemm's on the same tiles of `setup`'s search
/// (`interleavedRatio`).
private func canonicalAgainstSgemm(_ name: String, setup: @escaping @Sendable () throws -> RetrievalEval.ExactSearch) {
    interleavedRatio(
        name, numerator: "canonical", denominator: "sgemm",
        run: { search, numerator in
            var products = search
            products.productKernel = numerator ? .canonical : .blas
            blackHole(try products.productsOnly())
        },
        setup: setup)
}

/// A ratio that the machine's drift cannot skew: `run(search, false)` (the denominator) and
/// `run(search, true)` (the numerator) alternately in one process, ten times each, the order
/// within each pair alternating too; each iteration reports numerator / denominator (x1000)
/// and both times, in milliseconds.
private func interleavedRatio(
    _ name: String, numerator: String, denominator: String,
    run: @escaping @Sendable (_ search: RetrievalEval.ExactSearch, _ numerator: Bool) throws -> Void,
    setup: @escaping @Sendable () throws -> RetrievalEval.ExactSearch
) {
    let ratio = BenchmarkMetric.custom("\(numerator) / \(denominator) x1000")
    let (bottom, top) = (BenchmarkMetric.custom("\(denominator) (ms)"), BenchmarkMetric.custom("\(numerator) (ms)"))
    Benchmark(name, configuration: .init(metrics: [ratio, bottom, top], warmupIterations: 0, maxDuration: .seconds(180), maxIterations: 10)) { benchmark, search in
        let clock = ContinuousClock()
        for i in benchmark.scaledIterations {
            // Each pair in turn denominator first and numerator first, so that neither
            // always runs in the other's wake.
            var b = 0.0, t = 0.0
            if i % 2 == 0 {
                b = try clock.measure { try run(search, false) } / .milliseconds(1)
                t = try clock.measure { try run(search, true) } / .milliseconds(1)
            } else {
                t = try clock.measure { try run(search, true) } / .milliseconds(1)
                b = try clock.measure { try run(search, false) } / .milliseconds(1)
            }
            benchmark.measurement(ratio, Int((1000 * t / b).rounded()))
            benchmark.measurement(bottom, Int(b.rounded()))
            benchmark.measurement(top, Int(t.rounded()))
        }
    } setup: {
        try setup()
    }
}
