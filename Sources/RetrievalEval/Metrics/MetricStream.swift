
/// Scores queries block by block, as a search hands over their final lists, so that the
/// N x depth neighbour matrix need never exist.
///
/// Each query is scored exactly as `Evaluator.evaluate` scores it (the same metric code on
/// the same first items of its list), and the means are summed in query order at the end, so
/// the report is bit for bit the evaluator's on the full lists, whatever the blocks. A list
/// may be shorter than the others: it needs only as deep as the query's own metrics read.
public struct MetricStream {
    /// The metrics scored, in report order.
    public let metrics: [Metric]
    let judgments: RelevanceJudgments
    let threads: Int
    /// `values[q * metrics.count + m]`: metric m of query q; NaN while unscored or when R = 0.
    private var values: [Double]
    /// The first query whose list the judgments contradict, with the error.
    private var failure: (query: Int, error: MetricError)?
    /// The depth of the Recall@k and Precision@k curves accumulated (0: none): every scored
    /// query's list must be at least this long.
    public let curveDepth: Int
    /// Over the scored queries: how many have their first relevant item at rank k
    /// (`firstHits[k - 1]`, `firstHits[curveDepth]` for none within the depth), and how many
    /// relevant items there are at rank k (`hitsAt[k - 1]`).
    private var firstHits: [Int]
    private var hitsAt: [Int]

    /// A stream over `judgments` that scores `metrics` on `threads` threads and, when `curveDepth`
    /// > 0, accumulates the curves to that depth.
    public init(judgments: RelevanceJudgments, metrics: [Metric], threads: Int = 1, curveDepth: Int = 0) {
        self.judgments = judgments
        self.metrics = metrics
        self.threads = max(1, threads)
        self.curveDepth = curveDepth
        firstHits = [Int](repeating: 0, count: curveDepth + 1)
        hitsAt = [Int](repeating: 0, count: curveDepth)
        values = [Double](repeating: .nan, count: judgments.queryClasses.count * metrics.count)
    }

    /// The curves k = 1 ... `curveDepth` over the queries consumed so far (nil without a depth).
    /// Integer counts, so the same whatever the blocks and threads.
    public func curves() -> RetrievalCurves? {
        MetricStream.curves(firstHits: firstHits, hitsAt: hitsAt)
    }

    /// The integer counts behind `curves()` (empty without a curve depth): what a query
    /// shard records, so that the merge can sum them.
    public var curveCounts: (firstHits: [Int], hitsAt: [Int]) {
        curveDepth > 0 ? (firstHits, hitsAt) : ([], [])
    }

    /// The curves of counts summed over queries (see `curveCounts`); nil when `hitsAt` is empty.
    public static func curves(firstHits: [Int], hitsAt: [Int]) -> RetrievalCurves? {
        let curveDepth = hitsAt.count
        guard curveDepth > 0 else { return nil }
        precondition(firstHits.count == curveDepth + 1)
        let scored = firstHits.reduce(0, +)
        var recall: [Double] = [], precision: [Double] = []
        var found = 0, hits = 0
        for k in 1 ... curveDepth {
            found += firstHits[k - 1]
            hits += hitsAt[k - 1]
            recall.append(scored > 0 ? Double(found) / Double(scored) : .nan)
            precision.append(scored > 0 ? Double(hits) / Double(k * scored) : .nan)
        }
        return RetrievalCurves(recall: recall, precision: precision, scoredQueries: scored)
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
        let curveDepth = self.curveDepth
        // Per worker: first-hit counts (curveDepth + 1) then hits per rank (curveDepth).
        var curveCounts = [Int](repeating: 0, count: workers * (2 * curveDepth + 1))
        curveCounts.withUnsafeMutableBufferPointer { curveCounts in
        let counts = UncheckedSendable(curveCounts.baseAddress!)
        values.withUnsafeMutableBufferPointer { values in
            block.indices.withUnsafeBufferPointer { ix in
                judgments.referenceClasses.withUnsafeBufferPointer { refs in
                    failures.withUnsafeMutableBufferPointer { failures in
                        let shared = UncheckedSendable((values.baseAddress!, ix, refs, failures.baseAddress!))
                        let judgments = self.judgments
                        parallelFor(workers: workers) { w in
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
                                    if curveDepth > 0 {
                                        let mine = counts.value + w * (2 * curveDepth + 1)
                                        var first = curveDepth
                                        for p in 0 ..< min(curveDepth, length) where rel[p] != 0 {
                                            mine[curveDepth + 1 + p] += 1
                                            if p < first { first = p }
                                        }
                                        mine[first] += 1
                                    }
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
        }
        if let first = failures.compactMap({ $0 }).min(by: { $0.query < $1.query }) { throw first.error }
        for w in 0 ..< workers {
            let base = w * (2 * curveDepth + 1)
            for k in 0 ... curveDepth { firstHits[k] += curveCounts[base + k] }
            for k in 0 ..< curveDepth { hitsAt[k] += curveCounts[base + curveDepth + 1 + k] }
        }
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
        return MetricReport(metrics: metrics, perQuery: perQuery, sums: sums, scored: scored, queries: n,
                            queryClasses: queryClasses, classCount: classCount)
    }
}
