/// The exact evaluation of one query shard: its rows searched against every reference and
/// scored, exactly as the unsharded `RetrievalEvaluation.run` scores them.
///
/// Every quantity the whole evaluation decides (the depth, each query's own depth, the depth
/// of the curves, R) is computed over all the queries first and then sliced, so each shard
/// makes the same decisions as one machine would. The shard's rows are searched as separate
/// queries; in self-retrieval each is searched one deeper and its own row dropped from its
/// list. The lists are the canonical ranking (`ExactSearch`: ties to the lower index, near-ties
/// by a fixed-order score), so they are the unsharded lists, and so are the values, bit for bit.
/// The symmetric halving of self-retrieval is not available to a shard: each computes its
/// rows against all references.
public struct ShardEvaluation: Sendable {
    /// Which shard of how many was scored.
    public let shard: Shard
    /// The queries of the whole evaluation (the references themselves in self-retrieval).
    public let totalQueries: Int
    /// The metrics scored, in report order.
    public let metrics: [Metric]
    /// The depth of the whole evaluation, as `RetrievalEvaluation.depth`.
    public let depth: Int
    /// The depth of the Recall@k and Precision@k curves (0: none), decided over all queries so
    /// every shard agrees.
    public let curveDepth: Int
    /// The number of classes of the references (for per-class means).
    public let classCount: Int
    /// For the shard's rows: R of each query.
    public let relevantCounts: [Int]
    /// For the shard's rows: each query's class in the references' class space (-1: no reference
    /// has its label).
    public let classes: [Int32]
    /// For the shard's rows: `values[i * metrics.count + m]`, metric m of the i-th query; NaN when
    /// R = 0.
    public let values: [Double]
    /// Over the shard's scored queries: how many have their first relevant item at rank k
    /// (`firstHits[k - 1]`; `firstHits[curveDepth]`: none within the depth).
    public let firstHits: [Int]
    /// Over the shard's scored queries: relevant items at rank k (`hitsAt[k - 1]`).
    public let hitsAt: [Int]
    /// Seconds searching (the ranking included), as `RetrievalEvaluation` counts them.
    public let searchSeconds: Double
    /// Seconds scoring, as `RetrievalEvaluation` counts them.
    public let metricSeconds: Double

    /// The shard's query rows.
    public var rows: Range<Int> { shard.rows(of: totalQueries) }

    /// Evaluates shard `shard` of the queries (all rows of `references` in self-retrieval,
    /// else `queries`) against every reference, by exact search.
    ///
    /// - Throws: what `RetrievalEvaluation.run` throws on the same inputs (every shard refuses
    ///   the same inputs: the depth checks cover all queries, and cosine checks all references).
    public static func run(
        references: LabeledEmbeddings, queries: LabeledEmbeddings? = nil, shard: Shard, metrics: [Metric],
        distance: Distance = .cosine, threads: Int = ExactSearch.defaultThreads, tileSize: Int = 1024,
        path: ExactSearchPath = .automatic, progress: SearchProgress? = nil
    ) throws -> ShardEvaluation {
        let judgments = queries.map { RelevanceJudgments(queries: $0.labels, references: references.labels) }
            ?? RelevanceJudgments(selfRetrieval: references.labels)
        let selfRetrieval = queries == nil
        let referenceMatrix = references.embeddings
        let queryMatrix = queries?.embeddings ?? referenceMatrix
        if let queries, queries.embeddings.columns != referenceMatrix.columns {
            throw SearchError("the queries have \(queries.embeddings.columns) dimensions but the references \(referenceMatrix.columns); embed both with the same model")
        }
        let total = queryMatrix.rows
        let rows = shard.rows(of: total)
        // The whole evaluation's decisions, as RetrievalEvaluation.run makes them.
        let available = selfRetrieval ? referenceMatrix.rows - 1 : referenceMatrix.rows
        let depth = min(judgments.depthNeeded(for: metrics), available)
        try RetrievalEvaluation.checkDepth(judgments, metrics: metrics, depth: depth)
        let allDepths = RetrievalEvaluation.queryDepths(judgments, metrics: metrics, depth: depth)
        let curveDepth = zip(allDepths, judgments.relevantCounts).filter { $0.1 > 0 }.map(\.0).min() ?? 0
        let local = judgments.subset(Array(rows))
        let depths = Array(allDepths[rows])

        // The shard's rows as queries of their own; one deeper in self-retrieval, so that each
        // query's own row can be dropped.
        let d = queryMatrix.columns
        let shardQueries = Matrix(rows: rows.count, columns: d,
                                  values: Array(queryMatrix.values[rows.lowerBound * d ..< rows.upperBound * d]))
        var search = try ExactSearch(references: referenceMatrix, queries: shardQueries, distance: distance,
                                     tileSize: tileSize, threads: threads)
        search.path = path
        let searchDepths = selfRetrieval ? depths.map { $0 > 0 ? min($0 + 1, referenceMatrix.rows) : 0 } : depths
        var stream = MetricStream(judgments: local, metrics: metrics, threads: threads, curveDepth: curveDepth)
        let clock = ContinuousClock()
        var metricTime = Duration.zero
        let start = clock.now
        if rows.count > 0 {
            try search.search(depths: searchDepths, progress: progress) { raw in
                let block = selfRetrieval ? dropSelf(raw, depths: depths, firstRow: rows.lowerBound) : raw
                let t0 = clock.now
                try stream.consume(block)
                metricTime += clock.now - t0
            }
        }
        let searchTime = clock.now - start - metricTime
        let t0 = clock.now
        let report = stream.report()
        metricTime += clock.now - t0
        let m = metrics.count
        var values = [Double](repeating: .nan, count: rows.count * m)
        for k in 0 ..< m {
            for i in 0 ..< rows.count { values[i * m + k] = report.perQuery[k][i] }
        }
        let counts = stream.curveCounts
        return ShardEvaluation(
            shard: shard, totalQueries: total, metrics: metrics, depth: depth, curveDepth: curveDepth,
            classCount: references.labels.classCount, relevantCounts: local.relevantCounts, classes: local.queryClasses,
            values: values, firstHits: counts.firstHits, hitsAt: counts.hitsAt,
            searchSeconds: searchTime.seconds, metricSeconds: metricTime.seconds)
    }

    /// The lists of `raw` (searched one deeper) without each query's own row: the first
    /// `depths[i]` other references. A query whose own row is not in its list (more than its
    /// depth of duplicates with lower indices rank before it) keeps its first `depths[i]`.
    static func dropSelf(_ raw: NeighborBlock, depths: [Int], firstRow: Int) -> NeighborBlock {
        var block = NeighborBlock(queries: raw.queries, depths: depths[raw.queries])
        for q in raw.queries {
            let own = Int32(firstRow + q)
            let from = raw.range(of: q)
            var to = block.range(of: q).lowerBound
            let end = block.range(of: q).upperBound
            for p in from where to < end && raw.indices[p] != own {
                block.indices[to] = raw.indices[p]
                block.scores[to] = raw.scores[p]
                to += 1
            }
        }
        return block
    }

    /// This shard's part file contents.
    ///
    /// - Parameters:
    ///   - parameters: every setting and convention of the run, as the unsharded run records them.
    ///   - inputs: how the merge can read the inputs again.
    ///   - readSeconds: the seconds spent reading the inputs.
    public func partial(
        toolVersion: String, parameters: [(String, String)], inputs: [(String, String)],
        dataset: Baseline.DatasetIdentity, queryDataset: Baseline.DatasetIdentity?, readSeconds: Double
    ) -> PartialResult {
        PartialResult(
            toolVersion: toolVersion, shard: shard, totalQueries: totalQueries, metrics: metrics, depth: depth,
            curveDepth: curveDepth, classCount: classCount, parameters: parameters, inputs: inputs,
            dataset: dataset, queryDataset: queryDataset,
            timings: [("read", readSeconds), ("search", searchSeconds), ("metrics", metricSeconds)],
            relevantCounts: relevantCounts, classes: classes, values: values, firstHits: firstHits, hitsAt: hitsAt)
    }
}
