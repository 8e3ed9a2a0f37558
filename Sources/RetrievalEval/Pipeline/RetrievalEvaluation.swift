/// The main job as one library call: search the neighbours, judge their relevance, score.
///
/// The CLI, the training loop and the CI gate all evaluate embeddings through this, so they
/// agree on depth, exclusions and conventions.
public struct RetrievalEvaluation: Sendable {
    /// The k-NN lists (self excluded in self-retrieval), best first.
    public let neighbors: Neighbors
    /// Per-query values and means.
    public let report: MetricReport
    /// R of every query.
    public let relevantCounts: [Int]
    /// Seconds spent searching and scoring.
    public let searchSeconds: Double
    public let metricSeconds: Double

    /// Evaluates `references` by self-retrieval, or `queries` against `references`.
    ///
    /// - Parameters:
    ///   - metrics: what to report; retrieval goes as deep as they need (largest k, and the
    ///     largest R for MAP@R and R-Precision).
    ///   - perClass: also compute per-class (macro) means.
    ///   - minimumDepth: retrieve at least this deep (e.g. to save neighbour lists).
    ///   - index: search this approximate index (built on `references` with `distance`)
    ///     instead of the exact search.
    /// - Throws: `SearchError` (zero-norm rows for cosine, dimension mismatch) or
    ///   `MetricError` (a list shorter than a metric needs: too few references).
    public static func run(
        references: LabeledEmbeddings, queries: LabeledEmbeddings? = nil, metrics: [Metric],
        distance: Distance = .cosine, perClass: Bool = false, minimumDepth: Int = 0,
        threads: Int = ExactSearch.defaultThreads, tileSize: Int = 1024, index: ApproximateSettings? = nil,
        progress: SearchProgress? = nil
    ) throws -> RetrievalEvaluation {
        let judgments = queries.map { RelevanceJudgments(queries: $0.labels, references: references.labels) }
            ?? RelevanceJudgments(selfRetrieval: references.labels)
        let search: any NeighborSearch
        if let index {
            precondition(index.index.distance == distance && index.index.count == references.embeddings.rows)
            search = try IndexedSearch(index: index.index, queries: queries?.embeddings, effort: index.effort, threads: threads)
        } else {
            search = try ExactSearch(
                references: references.embeddings, queries: queries?.embeddings, distance: distance,
                tileSize: tileSize, threads: threads)
        }
        let depth = max(judgments.depthNeeded(for: metrics), minimumDepth)
        let clock = ContinuousClock()
        let searchStart = clock.now
        let neighbors = try search.search(k: depth, progress: progress)
        let searchTime = clock.now - searchStart
        let metricStart = clock.now
        let table = judgments.table(for: neighbors)
        let classes = perClass ? judgments.queryClasses : nil
        // Queries whose label no reference has (query/reference mode) carry class -1; they
        // have R = 0, are excluded, and take no part in the per-class means.
        let report = try Evaluator.evaluate(
            table, metrics: metrics, queryClasses: classes.map { $0.map { max($0, 0) } },
            classCount: references.labels.classCount)
        let metricTime = clock.now - metricStart
        return RetrievalEvaluation(
            neighbors: neighbors, report: report, relevantCounts: judgments.relevantCounts,
            searchSeconds: searchTime.seconds, metricSeconds: metricTime.seconds)
    }
}

extension Duration {
    /// The duration in seconds.
    public var seconds: Double {
        let (s, attoseconds) = components
        return Double(s) + Double(attoseconds) * 1e-18
    }
}

/// An approximate index to search, and how hard.
public struct ApproximateSettings: @unchecked Sendable {
    public var index: any VectorIndex
    /// efSearch for HNSW, nprobe for IVF; nil for the index's default.
    public var effort: Int?

    public init(index: any VectorIndex, effort: Int?) {
        self.index = index
        self.effort = effort
    }
}
