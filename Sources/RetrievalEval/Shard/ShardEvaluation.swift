/// The exact evaluation of one query shard: its rows searched against every reference and
/// scored, exactly as the unsharded `RetrievalEvaluation.run` scores them.
///
/// Every quantity the whole evaluation decides (the depth, each query's own depth, the depth
/// of the curves, R) is computed over all the queries first and then sliced, so each shard
/// makes the same decisions as one machine would. In self-retrieval the shard's rows of the
/// references are the queries, each excluding itself (`ExactSearch`'s `queryRows`). The lists are the canonical ranking (`ExactSearch`: ties to the lower index, near-ties
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
        path: ExactSearchPath = .automatic, productKernel: ExactProductKernel = .automatic, progress: SearchProgress? = nil
    ) throws -> ShardEvaluation {
        try run(references: .matrix(references.embeddings), labels: references.labels, queries: queries, shard: shard,
                metrics: metrics, distance: distance, threads: threads, tileSize: tileSize, path: path, productKernel: productKernel,
                progress: progress)
    }

    /// Evaluates shard `shard` as above, with the references read from `references`: in
    /// memory, or a mapped file read in tiles (`MappedEmbeddings`), so that a node whose memory
    /// is smaller than the reference file still finishes its shard. The values are the same
    /// either way, bit for bit.
    ///
    /// - Parameter labels: the references' labels, one per row.
    public static func run(
        references source: EmbeddingSource, labels: Labels, queries: LabeledEmbeddings? = nil, shard: Shard,
        metrics: [Metric], distance: Distance = .cosine, threads: Int = ExactSearch.defaultThreads, tileSize: Int = 1024,
        path: ExactSearchPath = .automatic, productKernel: ExactProductKernel = .automatic, progress: SearchProgress? = nil
    ) throws -> ShardEvaluation {
        precondition(labels.count == source.rows, "one label per reference row")
        let judgments = queries.map { RelevanceJudgments(queries: $0.labels, references: labels) }
            ?? RelevanceJudgments(selfRetrieval: labels)
        if let queries, queries.embeddings.columns != source.columns {
            throw SearchError("the queries have \(queries.embeddings.columns) dimensions but the references \(source.columns); embed both with the same model")
        }
        let total = queries?.embeddings.rows ?? source.rows
        let rows = shard.rows(of: total)
        // The whole evaluation's decisions, as RetrievalEvaluation.run makes them.
        let available = queries == nil ? source.rows - 1 : source.rows
        let depth = min(judgments.depthNeeded(for: metrics), available)
        try RetrievalEvaluation.checkDepth(judgments, metrics: metrics, depth: depth)
        let allDepths = RetrievalEvaluation.queryDepths(judgments, metrics: metrics, depth: depth)
        let curveDepth = zip(allDepths, judgments.relevantCounts).filter { $0.1 > 0 }.map(\.0).min() ?? 0
        let local = judgments.subset(Array(rows))
        let depths = Array(allDepths[rows])

        // Self-retrieval searches the shard's rows of the references, each excluding itself;
        // a query set is sliced to the shard's rows.
        var search: ExactSearch
        if let queries {
            let d = queries.embeddings.columns
            let slice = Matrix(rows: rows.count, columns: d,
                               values: Array(queries.embeddings.values[rows.lowerBound * d ..< rows.upperBound * d]))
            search = try ExactSearch(references: source, queries: .matrix(slice), distance: distance, tileSize: tileSize, threads: threads)
        } else {
            search = try ExactSearch(references: source, queryRows: rows, distance: distance, tileSize: tileSize, threads: threads)
        }
        search.path = path
        search.productKernel = productKernel
        var stream = MetricStream(judgments: local, metrics: metrics, threads: threads, curveDepth: curveDepth)
        let clock = ContinuousClock()
        var metricTime = Duration.zero
        let start = clock.now
        if rows.count > 0 {
            try search.search(depths: depths, progress: progress) { block in
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
            classCount: labels.classCount, relevantCounts: local.relevantCounts, classes: local.queryClasses,
            values: values, firstHits: counts.firstHits, hitsAt: counts.hitsAt,
            searchSeconds: searchTime.seconds, metricSeconds: metricTime.seconds)
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
