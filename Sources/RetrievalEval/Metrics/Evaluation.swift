/// Ranked binary relevance for a batch of queries, stored flat: query q's list is
/// `relevance[q * width ..< q * width + lengths[q]]`, best first.
public struct RelevanceTable: Sendable {
    /// 1 = relevant, 0 = not, `queries * width` entries.
    public var relevance: [UInt8]
    /// The number of queries (lists).
    public let queries: Int
    /// The stride between two queries' lists.
    public let width: Int
    /// The number of ranked items each query really has (at most `width`).
    public var lengths: [Int]
    /// R for each query: its number of relevant references (the query itself excluded).
    public var relevantCounts: [Int]

    /// A table from flat relevance, `queries * width` entries; every list `width` long unless
    /// `lengths` says otherwise.
    public init(relevance: [UInt8], queries: Int, width: Int, lengths: [Int]? = nil, relevantCounts: [Int]) {
        precondition(relevance.count == queries * width)
        precondition(relevantCounts.count == queries)
        self.relevance = relevance
        self.queries = queries
        self.width = width
        self.lengths = lengths ?? [Int](repeating: width, count: queries)
        self.relevantCounts = relevantCounts
    }

    /// A table from one list per query (lists may differ in length).
    public init(lists: [[UInt8]], relevantCounts: [Int]) {
        let width = lists.map(\.count).max() ?? 0
        var flat = [UInt8](repeating: 0, count: lists.count * width)
        for (q, list) in lists.enumerated() {
            for (i, r) in list.enumerated() { flat[q * width + i] = r == 0 ? 0 : 1 }
        }
        self.init(relevance: flat, queries: lists.count, width: width, lengths: lists.map(\.count), relevantCounts: relevantCounts)
    }
}

/// The scores of a batch of queries: per-query values, means and what was excluded.
public struct MetricReport: Sendable {
    /// The metrics scored, in report order.
    public let metrics: [Metric]
    /// `perQuery[m][q]`: metric m of query q; NaN for queries excluded because R = 0.
    public let perQuery: [[Double]]
    /// Mean of each metric over the scored queries (NaN when no query was scored).
    public let means: [Double]
    /// Queries scored (R > 0).
    public let scoredQueries: Int
    /// Queries left out of every mean because nothing relevant to them exists (R = 0).
    public let excludedQueries: Int
    /// Per-class (macro) results, when asked for.
    public let perClass: PerClassReport?

    /// The mean of `metric`, if it was computed.
    public func mean(of metric: Metric) -> Double? {
        metrics.firstIndex(of: metric).map { means[$0] }
    }
}

extension MetricReport {
    /// The report of `perQuery` (NaN for excluded queries) whose scored values add up to
    /// `sums` over `scored` of `queries` queries: the means, and the per-class means when
    /// `queryClasses` is given. The one tail of `Evaluator.evaluate` and `MetricStream.report`.
    init(metrics: [Metric], perQuery: [[Double]], sums: [Double], scored: Int, queries: Int,
         queryClasses: [Int32]?, classCount: Int) {
        var perClass: PerClassReport?
        if let queryClasses {
            precondition(queryClasses.count == queries)
            perClass = Evaluator.macro(perQuery: perQuery, classes: queryClasses, classCount: classCount)
        }
        self.init(metrics: metrics, perQuery: perQuery, means: sums.map { scored > 0 ? $0 / Double(scored) : .nan },
                  scoredQueries: scored, excludedQueries: queries - scored, perClass: perClass)
    }
}

/// Per-class means and their macro average.
public struct PerClassReport: Sendable {
    /// For each class index: the number of scored queries of that class.
    public let scoredQueries: [Int]
    /// `classMeans[c][m]`: the mean of metric m over the scored queries of class c (NaN if none).
    public let classMeans: [[Double]]
    /// For each metric: the mean over classes that have scored queries of their class means.
    public let macroMeans: [Double]
}

/// Turns ranked relevance into metric values.
public enum Evaluator {
    /// Scores every query with every metric.
    ///
    /// Queries with R = 0 get NaN and are counted in `excludedQueries`, never averaged in.
    /// - Parameters:
    ///   - table: the ranked relevance and R of each query.
    ///   - metrics: what to compute.
    ///   - queryClasses: each query's class index, for per-class (macro) means.
    ///   - classCount: the number of classes `queryClasses` draws from.
    /// - Throws: `MetricError.listTooShort` naming the first query whose list is shorter than
    ///   a metric needs; `invalidRelevantCount` for a negative R or one smaller than the
    ///   relevant items the list itself holds (values would leave [0, 1]).
    /// - Complexity: O(queries x sum of the metrics' depths).
    public static func evaluate(
        _ table: RelevanceTable, metrics: [Metric], queryClasses: [Int32]? = nil, classCount: Int = 0
    ) throws -> MetricReport {
        let n = table.queries
        var perQuery = [[Double]](repeating: [Double](repeating: .nan, count: n), count: metrics.count)
        var sums = [Double](repeating: 0, count: metrics.count)
        var scored = 0
        try table.relevance.withUnsafeBufferPointer { all in
            for q in 0 ..< n {
                let r = table.relevantCounts[q]
                guard r >= 0 else {
                    throw MetricError(.invalidRelevantCount, "query \(q): R must be at least 0, found \(r)")
                }
                if r == 0 { continue }
                let length = table.lengths[q]
                let list = UnsafeBufferPointer(rebasing: all[q * table.width ..< q * table.width + length])
                let hits = Hits.count(list, upTo: length)
                guard hits <= r else {
                    throw MetricError(.invalidRelevantCount, "query \(q): its ranked list holds \(hits) relevant items but R = \(r); R counts every relevant reference, so it must be at least \(hits)")
                }
                for (m, metric) in metrics.enumerated() {
                    if let needed = metric.requiredDepth(relevantCount: r), needed > length {
                        throw MetricError.listTooShort(query: q, metric: metric, needed: needed, found: length)
                    }
                    let v = metric.value(list, relevantCount: r)
                    perQuery[m][q] = v
                    sums[m] += v
                }
                scored += 1
            }
        }
        return MetricReport(metrics: metrics, perQuery: perQuery, sums: sums, scored: scored, queries: n,
                            queryClasses: queryClasses, classCount: classCount)
    }

    static func macro(perQuery: [[Double]], classes: [Int32], classCount: Int) -> PerClassReport {
        let metricCount = perQuery.count
        var counts = [Int](repeating: 0, count: classCount)
        var sums = [[Double]](repeating: [Double](repeating: 0, count: metricCount), count: classCount)
        for (q, c) in classes.enumerated() where metricCount > 0 && !perQuery[0][q].isNaN {
            counts[Int(c)] += 1
            for m in 0 ..< metricCount { sums[Int(c)][m] += perQuery[m][q] }
        }
        let classMeans = (0 ..< classCount).map { c in
            sums[c].map { counts[c] > 0 ? $0 / Double(counts[c]) : .nan }
        }
        let withQueries = (0 ..< classCount).filter { counts[$0] > 0 }
        let macroMeans = (0 ..< metricCount).map { m -> Double in
            guard !withQueries.isEmpty else { return .nan }
            return withQueries.reduce(0.0) { $0 + classMeans[$1][m] } / Double(withQueries.count)
        }
        return PerClassReport(scoredQueries: counts, classMeans: classMeans, macroMeans: macroMeans)
    }
}
