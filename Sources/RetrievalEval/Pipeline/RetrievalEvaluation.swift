/// The main job as one library call: search the neighbours, judge their relevance, score.
///
/// The CLI, the training loop and the CI gate all evaluate embeddings through this, so they
/// agree on depth, exclusions and conventions.
public struct RetrievalEvaluation: Sendable {
    /// The depth of the lists as reported and saved: the largest any metric needs (and at least
    /// `minimumDepth`), capped by the references available. An exact search takes each query
    /// only as deep as its own metrics read (see `queryDepths`); a saved file holds every query
    /// at this depth.
    public let depth: Int
    /// The k-NN lists (self excluded in self-retrieval), best first, `depth` deep; kept only
    /// for an approximate search or when asked (`keepNeighbors`), nil otherwise.
    public let neighbors: Neighbors?
    /// Per-query values and means.
    public let report: MetricReport
    /// R of every query.
    public let relevantCounts: [Int]
    /// Seconds spent searching (the ranking included).
    public let searchSeconds: Double
    /// Seconds spent scoring the metrics.
    public let metricSeconds: Double
    /// Seconds spent writing the saved lists (0 when none are saved).
    public let saveSeconds: Double
    /// The exact search's path (nil for an approximate index).
    public let path: ExactSearchPath?
    /// With `timeProducts`: the seconds the exact search's products alone took, measured
    /// after the search in the same process (`ExactSearch.productsSeconds`).
    public var productsSeconds: Double? = nil
    /// The timings a run records from this evaluation, by stage: the search, the metrics, and
    /// the products alone when they were timed.
    public var stageTimings: [(String, Double)] {
        [("search", searchSeconds), ("metrics", metricSeconds)] + (productsSeconds.map { [("products", $0)] } ?? [])
    }
    /// The saved lists (`saveNeighbors`), complete under a temporary name until committed.
    public var neighborsFile: ArrayWriter.PendingFile? = nil
    /// Recall@k (hit rate) and Precision@k for k = 1 up to the depth every scored query was
    /// searched to (for an exact search, at least the largest k asked for).
    public var curves: RetrievalCurves? = nil

    /// Evaluates `references` by self-retrieval, or `queries` against `references`.
    ///
    /// - Parameters:
    ///   - metrics: what to report; retrieval goes as deep as they need (largest k, and the
    ///     largest R for MAP@R and R-Precision).
    ///   - perClass: also compute per-class (macro) means.
    ///   - minimumDepth: retrieve at least this deep.
    ///   - index: search this approximate index (built on `references` with `distance`)
    ///     instead of the exact search.
    ///   - saveNeighbors: write every query's list, `depth` deep, to this `.npy` (int64),
    ///     block by block as the search goes, under a temporary name: `neighborsFile.commit()`
    ///     puts it in place (once the run is recorded), and it is removed if never committed.
    ///   - keepNeighbors: return the lists (N x `depth` in memory).
    ///   - path: force the exact search's path (tests and measurements).
    ///   - productKernel: force how the exact search computes its products (tests and
    ///     measurements): the lists and metrics are the same either way; the scores kept with
    ///     `keepNeighbors` are the canonical scores g with `.canonical`, sgemm's outside
    ///     near-tie runs with `.blas`. Squared distances always use sgemm.
    ///   - timeProducts: after an exact search, time its products alone (`productsSeconds`):
    ///     the floor its time is measured against (measurements; no effect on the values).
    /// - Throws: `SearchError` (zero-norm rows for cosine, dimension mismatch, memory that
    ///   cannot be had), `MetricError` (a list shorter than a metric needs: too few
    ///   references), `InputError` (the neighbour file cannot be written). Every check on the
    ///   depths comes before any search.
    public static func run(
        references: LabeledEmbeddings, queries: LabeledEmbeddings? = nil, metrics: [Metric],
        distance: Distance = .cosine, perClass: Bool = false, minimumDepth: Int = 0,
        threads: Int = ExactSearch.defaultThreads, tileSize: Int = 1024, index: ApproximateSettings? = nil,
        saveNeighbors: String? = nil, keepNeighbors: Bool = false, path: ExactSearchPath = .automatic,
        productKernel: ExactProductKernel = .automatic, timeProducts: Bool = false, progress: SearchProgress? = nil
    ) throws -> RetrievalEvaluation {
        let judgments = queries.map { RelevanceJudgments(queries: $0.labels, references: references.labels) }
            ?? RelevanceJudgments(selfRetrieval: references.labels)
        let classes = perClass ? judgments.queryClasses : nil
        // Queries whose label no reference has (query/reference mode) carry class -1; they
        // have R = 0, are excluded, and take no part in the per-class means.
        let reportClasses = classes.map { $0.map { max($0, 0) } }
        let classCount = references.labels.classCount
        let requested = max(judgments.depthNeeded(for: metrics), minimumDepth)
        let clock = ContinuousClock()
        if let index {
            precondition(index.index.distance == distance && index.index.count == references.embeddings.rows)
            let search = try IndexedSearch(index: index.index, queries: queries?.embeddings, effort: index.effort, threads: threads)
            let searchStart = clock.now
            let neighbors = try search.search(k: requested, progress: progress)
            let searchTime = clock.now - searchStart
            let metricStart = clock.now
            let table = judgments.table(for: neighbors)
            let report = try Evaluator.evaluate(table, metrics: metrics, queryClasses: reportClasses, classCount: classCount)
            let metricTime = clock.now - metricStart
            let saveStart = clock.now
            let file = try saveNeighbors.map {
                try ArrayWriter.prepareNpy(
                    int64: neighbors.indices.map(Int64.init), rows: neighbors.queries, columns: neighbors.depth, to: $0)
            }
            return RetrievalEvaluation(
                depth: neighbors.depth, neighbors: neighbors, report: report, relevantCounts: judgments.relevantCounts,
                searchSeconds: searchTime.seconds, metricSeconds: metricTime.seconds,
                saveSeconds: (clock.now - saveStart).seconds, path: nil, neighborsFile: file,
                curves: neighbors.depth > 0 ? RetrievalCurves(table) : nil)
        }

        return try run(
            references: .matrix(references.embeddings), labels: references.labels, queries: queries, metrics: metrics,
            distance: distance, perClass: perClass, minimumDepth: minimumDepth, threads: threads, tileSize: tileSize,
            saveNeighbors: saveNeighbors, keepNeighbors: keepNeighbors, path: path, productKernel: productKernel,
            timeProducts: timeProducts, progress: progress)
    }

    /// Evaluates by exact search with the references read from `references`: in memory, or
    /// a mapped file read tile by tile (`MappedEmbeddings`), for sets larger than memory. The
    /// values are the same, bit for bit, whatever the source. Parameters as above.
    public static func run(
        references source: EmbeddingSource, labels: Labels, queries: LabeledEmbeddings? = nil, metrics: [Metric],
        distance: Distance = .cosine, perClass: Bool = false, minimumDepth: Int = 0,
        threads: Int = ExactSearch.defaultThreads, tileSize: Int = 1024,
        saveNeighbors: String? = nil, keepNeighbors: Bool = false, path: ExactSearchPath = .automatic,
        productKernel: ExactProductKernel = .automatic, timeProducts: Bool = false, progress: SearchProgress? = nil
    ) throws -> RetrievalEvaluation {
        precondition(labels.count == source.rows, "one label per reference row")
        let judgments = queries.map { RelevanceJudgments(queries: $0.labels, references: labels) }
            ?? RelevanceJudgments(selfRetrieval: labels)
        let classes = perClass ? judgments.queryClasses : nil
        let reportClasses = classes.map { $0.map { max($0, 0) } }
        let classCount = labels.classCount
        let requested = max(judgments.depthNeeded(for: metrics), minimumDepth)
        let clock = ContinuousClock()
        var search = try ExactSearch(
            references: source, queries: (queries?.embeddings).map { .matrix($0) }, distance: distance,
            tileSize: tileSize, threads: threads)
        search.path = path
        search.productKernel = productKernel
        let depth = min(requested, search.availableDepth)
        try checkDepth(judgments, metrics: metrics, depth: depth)
        let everyList = saveNeighbors != nil || keepNeighbors
        let depths = everyList
            ? [Int](repeating: depth, count: search.queryCount)
            : queryDepths(judgments, metrics: metrics, depth: depth, minimumDepth: min(minimumDepth, depth))
        // The curves go as deep as every scored query's list.
        let curveDepth = zip(depths, judgments.relevantCounts).filter { $0.1 > 0 }.map(\.0).min() ?? 0
        var stream = MetricStream(judgments: judgments, metrics: metrics, threads: threads, curveDepth: curveDepth)
        var kept: (indices: [Int32], scores: [Float])? = keepNeighbors ? ([], []) : nil
        var metricTime = Duration.zero, saveTime = Duration.zero
        let searchStart = clock.now
        func consume(_ block: NeighborBlock, _ file: ArrayWriter.Int64Rows?) throws {
            let t0 = clock.now
            try stream.consume(block)
            let t1 = clock.now
            if let file { for q in block.queries { try file.append(block.indices(of: q)) } }
            kept?.indices += block.indices
            kept?.scores += block.scores
            let t2 = clock.now
            metricTime += t1 - t0
            saveTime += t2 - t1
        }
        var neighborsFile: ArrayWriter.PendingFile?
        if let saveNeighbors {
            neighborsFile = try ArrayWriter.prepareNpyRows(int64: search.queryCount, columns: depth, to: saveNeighbors) { file in
                try search.search(depths: depths, progress: progress) { try consume($0, file) }
            }.1
        } else {
            try search.search(depths: depths, progress: progress) { try consume($0, nil) }
        }
        let searchTime = clock.now - searchStart - metricTime - saveTime
        let reportStart = clock.now
        let report = stream.report(queryClasses: reportClasses, classCount: classCount)
        metricTime += clock.now - reportStart
        let productsSeconds = timeProducts ? try search.productsSeconds(depths: depths) : nil
        var evaluation = RetrievalEvaluation(
            depth: depth,
            neighbors: kept.map { Neighbors(queries: search.queryCount, depth: depth, indices: $0.indices, scores: $0.scores) },
            report: report, relevantCounts: judgments.relevantCounts,
            searchSeconds: searchTime.seconds,
            metricSeconds: metricTime.seconds, saveSeconds: saveTime.seconds,
            path: search.plan(depths: depths).path,
            neighborsFile: neighborsFile, curves: stream.curves())
        evaluation.productsSeconds = productsSeconds
        return evaluation
    }

    /// Throws the error the evaluator would throw on lists `depth` deep: the first query (with
    /// R > 0), and its first metric, that needs a longer list than the references allow.
    static func checkDepth(_ judgments: RelevanceJudgments, metrics: [Metric], depth: Int) throws {
        for (q, r) in judgments.relevantCounts.enumerated() where r > 0 {
            for metric in metrics {
                if let needed = metric.requiredDepth(relevantCount: r), needed > depth {
                    throw MetricError.listTooShort(query: q, metric: metric, needed: needed, found: depth)
                }
            }
        }
    }

    /// How deep each query is searched: as deep as its own metrics read (its largest cutoff,
    /// its own R for MAP@R and R-Precision, the whole `depth` for MRR, which reads the whole
    /// list), at least `minimumDepth`; 0 for a query with R = 0, which no metric scores.
    /// Every metric reads only the first items of a list, and a shorter exact list is the
    /// prefix of a longer one, so the values are those of lists `depth` deep.
    public static func queryDepths(_ judgments: RelevanceJudgments, metrics: [Metric], depth: Int, minimumDepth: Int = 0) -> [Int] {
        let wholeList = metrics.contains { $0.requiredDepth(relevantCount: 1) == nil }
        let cutoff = metrics.compactMap(\.cutoff).max() ?? 0
        let needsR = metrics.contains(where: \.needsDepthR)
        return judgments.relevantCounts.map { r in
            guard r > 0 else { return minimumDepth }
            if wholeList { return depth }
            return min(depth, max(minimumDepth, cutoff, needsR ? r : 0))
        }
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
    /// The built or loaded index.
    public var index: any VectorIndex
    /// efSearch for HNSW, nprobe for IVF; nil for the index's default.
    public var effort: Int?

    /// Search `index` with `effort` (nil for its default).
    public init(index: any VectorIndex, effort: Int?) {
        self.index = index
        self.effort = effort
    }
}
