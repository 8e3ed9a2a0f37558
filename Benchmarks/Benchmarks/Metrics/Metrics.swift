// The metrics stage alone, on synthetic neighbour lists of 60,000 queries x depth 100:
//   - RelevanceJudgments.table(for:): neighbour indices -> ranked binary relevance;
//   - Evaluator.evaluate: relevance -> per-query values and means for the paper's metric set
//     (Metric.paperSet) plus MAP@R.
// The lists are generated in setup (not timed); they score like a real model's (recall@1
// 0.62, ndcg@8 0.61, MAP@R 0.28), so every metric does its usual amount of work.

import Benchmark
import BenchmarkData
import RetrievalEval

private let queries = 60_000
private let depth = 100
private let seed: UInt64 = 0x5EED_0003

/// Class sizes 20 ... 101, so R = size - 1 <= depth and MAP@R can be read from the lists.
private func makeNeighbors() -> SyntheticNeighbors {
    SyntheticNeighbors(queries: queries, depth: depth, classSizes: 20 ... depth + 1, seed: seed)
}

/// The paper's reporting set, with MAP@R added when it is not already part of it.
private let metricSet: [Metric] = {
    var metrics = Metric.paperSet
    if !metrics.contains(.mapAtR) { metrics.append(.mapAtR) }
    return metrics
}()

let benchmarks: @Sendable () -> Void = {
    let configuration = Benchmark.Configuration(
        metrics: [.wallClock, .cpuTotal, .peakMemoryResident, .peakMemoryResidentDelta, .mallocCountTotal],
        timeUnits: .milliseconds,
        warmupIterations: 1,
        maxDuration: .seconds(10),
        maxIterations: 50
    )

    let label = "\(queries / 1000)k x \(depth)"

    Benchmark("RelevanceJudgments.table \(label)", configuration: configuration) { benchmark, data in
        for _ in benchmark.scaledIterations {
            blackHole(data.judgments.table(for: data.neighbors))
        }
    } setup: {
        makeNeighbors()
    }

    // The metric set: recall@1,2,4,8, ndcg@2,4,8, map@r.
    Benchmark("Evaluator.evaluate paperSet \(label)", configuration: configuration) { benchmark, table in
        for _ in benchmark.scaledIterations {
            let report = try Evaluator.evaluate(table, metrics: metricSet)
            precondition(report.scoredQueries == queries)
            blackHole(report)
        }
    } setup: {
        let data = makeNeighbors()
        return data.judgments.table(for: data.neighbors)
    }
}
