import Dispatch

/// Scores queries block by block, as a search hands over their final lists, so that the
/// N x depth neighbour matrix need never exist.
///
/// Each query is scored exactly as `Evaluator.evaluate` scores it (the same metric code on
/// the same first items of its list), and the means are summed in query order at the end, so
/// the report is bit for bit the evaluator's on the full lists, whatever the blocks. A list
/// may be shorter than the others: it needs only as deep as the query's own metrics read.
public struct MetricStream {
    public let metrics: [Metric]
    let judgments: RelevanceJudgments
    let threads: Int
    /// `values[q * metrics.count + m]`: metric m of query q; NaN while unscored or when R = 0.
    private var values: [Double]
    /// The first query whose list the judgments contradict, with the error.
    private var failure: (query: Int, error: MetricError)?

    public init(judgments: RelevanceJudgments, metrics: [Metric], threads: Int = 1) {
        self.judgments = judgments
        self.metrics = metrics
        self.threads = max(1, threads)
        values = [Double](repeating: .nan, count: judgments.queryClasses.count * metrics.count)
    }

    /// Scores the queries of `block` (those with R > 0).
    ///
    /// - Throws: `MetricError.listTooShort` for a list shorter than a metric needs;
    ///   `invalidRelevantCount` for one holding more relevant items than R.
    public mutating func consume(_ block: NeighborBlock) throws {
        let count = block.queries.count
        let entries = block.offsets[count]
        let workers = min(threads, max(1, entries / 65_536), max(1, count))
        let metrics = self.metrics, m = metrics.count
        let width = (0 ..< count).map { block.offsets[$0 + 1] - block.offsets[$0] }.max() ?? 0
        var failures = [(query: Int, error: MetricError)?](repeating: nil, count: workers)
        values.withUnsafeMutableBufferPointer { values in
            block.indices.withUnsafeBufferPointer { ix in
                judgments.referenceClasses.withUnsafeBufferPointer { refs in
                    failures.withUnsafeMutableBufferPointer { failures in
                        let shared = UnsafeSendableBox((values.baseAddress!, ix, refs, failures.baseAddress!))
                        let judgments = self.judgments
                        DispatchQueue.concurrentPerform(iterations: workers) { w in
                            let (values, ix, refs, failures) = shared.value
                            var relevance = [UInt8](repeating: 0, count: width)
                            relevance.withUnsafeMutableBufferPointer { rel in
                                for i in count * w / workers ..< count * (w + 1) / workers {
                                    let q = block.queries.lowerBound + i
                                    let r = judgments.relevantCounts[q]
                                    guard r > 0 else { continue }
                                    let start = block.offsets[i], length = block.offsets[i + 1] - start
                                    let c = judgments.queryClasses[q]
                                    var hits = 0
                                    for p in 0 ..< length {
                                        let hit: UInt8 = refs[Int(ix[start + p])] == c ? 1 : 0
                                        rel[p] = hit
                                        hits += Int(hit)
                                    }
                                    let list = UnsafeBufferPointer(rebasing: rel[0 ..< length])
                                    guard hits <= r else {
                                        failures[w] = (q, MetricError(.invalidRelevantCount, "query \(q): its ranked list holds \(hits) relevant items but R = \(r); R counts every relevant reference, so it must be at least \(hits)"))
                                        return
                                    }
                                    for (k, metric) in metrics.enumerated() {
                                        if let needed = metric.requiredDepth(relevantCount: r), needed > length {
                                            failures[w] = (q, MetricError.listTooShort(query: q, metric: metric, needed: needed, found: length))
                                            return
                                        }
                                        values[q * m + k] = metric.value(list, relevantCount: r)
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        if let first = failures.compactMap({ $0 }).min(by: { $0.query < $1.query }) { throw first.error }
    }

    /// The report of every query consumed so far: per-query values, means summed in query
    /// order, and per-class (macro) means when `queryClasses` is given.
    public func report(queryClasses: [Int32]? = nil, classCount: Int = 0) -> MetricReport {
        let n = judgments.queryClasses.count, m = metrics.count
        var perQuery = [[Double]](repeating: [Double](repeating: .nan, count: n), count: m)
        var sums = [Double](repeating: 0, count: m)
        var scored = 0
        for q in 0 ..< n where judgments.relevantCounts[q] > 0 {
            for k in 0 ..< m {
                let v = values[q * m + k]
                perQuery[k][q] = v
                sums[k] += v
            }
            scored += 1
        }
        let means = sums.map { scored > 0 ? $0 / Double(scored) : .nan }
        var perClass: PerClassReport?
        if let queryClasses {
            precondition(queryClasses.count == n)
            perClass = Evaluator.macro(perQuery: perQuery, classes: queryClasses, classCount: classCount)
        }
        return MetricReport(
            metrics: metrics, perQuery: perQuery, means: means, scoredQueries: scored,
            excludedQueries: n - scored, perClass: perClass)
    }
}
