// The approximate indexes (RetrievalEval.HNSWIndex, IVFIndex) on synthetic clustered
// embeddings: building, and searching 2,000 held-out queries for their 10 nearest
// neighbours with one thread and with every core. The data and (for searches) the index are
// made in setup, which is not timed. scripts/ann-benchmark.py compares the same indexes with
// hnswlib and faiss on real embeddings.

import Benchmark
import BenchmarkData
import RetrievalEval

private let rows = 50_000, queryCount = 2_000, dimensions = 128

private struct Data: @unchecked Sendable {
    let references: Matrix
    let queries: Matrix

    init() {
        let all = ClusteredEmbeddings(rows: rows + queryCount, dimensions: dimensions, classes: rows / 100, spread: 2, seed: 0x5EED_0A)
        let d = dimensions
        references = Matrix(rows: rows, columns: d, values: Array(all.embeddings.values[0 ..< rows * d]))
        queries = Matrix(rows: queryCount, columns: d, values: Array(all.embeddings.values[rows * d ..< (rows + queryCount) * d]))
    }
}

/// Queries and an index built on the references.
private struct Indexed: @unchecked Sendable {
    let queries: Matrix
    let index: any VectorIndex
}

let benchmarks: @Sendable () -> Void = {
    let configuration = Benchmark.Configuration(
        metrics: [.wallClock, .cpuTotal, .peakMemoryResident],
        timeUnits: .milliseconds,
        warmupIterations: 0,
        maxDuration: .seconds(30),
        maxIterations: 3
    )
    let threads = ExactSearch.defaultThreads

    Benchmark("HNSW build N=50,000 d=128 M=16 efC=200, \(threads) threads", configuration: configuration) { benchmark, data in
        for _ in benchmark.scaledIterations {
            blackHole(try HNSWIndex.build(data.references, distance: .cosine, threads: threads))
        }
    } setup: {
        Data()
    }

    Benchmark("IVF build N=50,000 d=128 nlist=894, \(threads) threads", configuration: configuration) { benchmark, data in
        for _ in benchmark.scaledIterations {
            blackHole(try IVFIndex.build(data.references, distance: .cosine, threads: threads))
        }
    } setup: {
        Data()
    }

    for searchThreads in Set([1, threads]).sorted() {
        Benchmark("HNSW search 2,000 queries k=10 efSearch=64, \(searchThreads) thread(s)", configuration: configuration) {
            (benchmark: Benchmark, setup: Indexed) in
            for _ in benchmark.scaledIterations {
                blackHole(try setup.index.search(setup.queries, k: 10, effort: 64, threads: searchThreads, progress: nil))
            }
        } setup: {
            let data = Data()
            return Indexed(queries: data.queries, index: try HNSWIndex.build(data.references, distance: .cosine, threads: threads))
        }

        Benchmark("IVF search 2,000 queries k=10 nprobe=112, \(searchThreads) thread(s)", configuration: configuration) {
            (benchmark: Benchmark, setup: Indexed) in
            for _ in benchmark.scaledIterations {
                blackHole(try setup.index.search(setup.queries, k: 10, effort: 112, threads: searchThreads, progress: nil))
            }
        } setup: {
            let data = Data()
            return Indexed(queries: data.queries, index: try IVFIndex.build(data.references, distance: .cosine, threads: threads))
        }
    }
}
