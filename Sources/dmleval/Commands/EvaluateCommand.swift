import ArgumentParser
import DMLEvalJobs
import RetrievalEval
import RetrievalEvalStore

extension ExactSearchPath: ExpressibleByArgument {}
extension ExactProductKernel: ExpressibleByArgument {}

/// `dmleval EMBEDDINGS LABELS`: the main job. Exact k-NN, the metrics, a stored run.
struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Score embeddings by k-NN retrieval, exact or approximate (the default command).",
        discussion: """
            Every item is a query against all the others (itself excluded), or, with --queries, \
            the queries are searched among the embeddings. A reference is relevant to a query \
            when their labels are equal. Retrieval goes as deep as the metrics need: the largest \
            k, and the largest R (class size - 1) when MAP@R or R-Precision is asked for.

            --index hnsw or ivf searches an approximate index instead (built, or loaded from the \
            store or --index-file), and compares it with exact search on --ann-check sampled \
            queries: their recall, and how far each metric moved.

            With no metric flag the paper's set is reported: recall@1,2,4,8, ndcg@2,4,8, map@r. \
            With any metric flag, exactly the metrics asked for.

            The run (parameters, conventions, timings, means and per-query values) is recorded \
            in the store unless --no-store; the dataset is stored once per content.

            Examples:
              dmleval embeddings.npy labels.txt
              dmleval embeddings.bin labels.txt --ndcg 2,4,8
              dmleval gallery.npy gallery.txt --queries q.npy --query-labels q.txt
              dmleval evaluate --dataset cub-test --map 10 --map-denominator r
              dmleval embeddings.npy labels.txt --recall 1,10 --index hnsw --ef-search 128

            Exit codes: 0 success; 2 unusable input (one 'error:' line on stderr
            names the file, the place, what was expected and what to do; the store
            is left as it was); 64 bad usage.
            """
    )

    @OptionGroup var source: DataSourceOptions

    // MARK: Metrics

    @OptionGroup var metricOptions: MetricOptions

    @Flag(help: "Also report per-class means and their macro average.")
    var perClass = false

    @OptionGroup(title: "Confidence intervals")
    var interval: IntervalOptions

    // MARK: Clustering

    @Flag(help: "Normalized mutual information of a k-means clustering (k = the classes) with the classes.")
    var nmi = false

    @Flag(help: "Adjusted mutual information (scikit-learn's adjusted_mutual_info_score) of the same clustering.")
    var ami = false

    @Option(help: ArgumentHelp("k-means runs from new k-means++ starts; the lowest inertia is kept.", valueName: "n"))
    var kmeansRestarts: Int = 1

    @Option(help: ArgumentHelp("Lloyd iterations per k-means run at most (fewer when no assignment changes).", valueName: "n"))
    var kmeansIterations: Int = 100

    @Option(help: ArgumentHelp("Seed of the k-means starts.", valueName: "n"))
    var kmeansSeed: UInt64 = 1

    // MARK: Search

    @Option(help: "Similarity: cosine (rows L2-normalised), ip (inner product) or l2 (squared Euclidean).")
    var distance: Distance = .cosine

    @Option(help: ArgumentHelp("Threads for the search (default: every core).", valueName: "n"))
    var threads: Int?

    @Option(help: .hidden)
    var tileSize: Int = 1024

    @Flag(help: "Read the embeddings from disk in tiles (memory-mapped) instead of loading them: for sets larger than memory. Automatic with --no-store or --shard when they would not fit. Same values; .npy float32, .fbin, .fvecs or raw only; self-retrieval or with --queries; needs --no-store (or --shard).")
    var streamReferences = false

    /// Forces the exact search's path (candidate buffers or whole score rows), for measurements.
    @Option(help: .hidden)
    var searchPath: ExactSearchPath = .automatic

    /// Forces how the exact search computes its products (sgemm, or in the canonical order),
    /// for measurements; the lists and metrics are the same either way.
    @Option(help: .hidden)
    var searchProducts: ExactProductKernel = .automatic

    /// Times the exact search's products alone after the search, in the same process (timing
    /// "products"), for measurements (scripts/compare-reference.py).
    @Flag(help: .hidden)
    var timeProducts = false

    @OptionGroup(title: "Approximate search")
    var indexOptions: IndexOptions

    @Option(help: ArgumentHelp("With --index hnsw or ivf: compare with exact search on this many sampled queries (seeded by --seed), reporting recall and how far each metric moved; 0 to skip.", valueName: "n"))
    var annCheck: Int = 1000

    @Option(help: ArgumentHelp("Write the neighbour indices (int64, queries x depth, self excluded, best first) to this .npy file.", valueName: "file.npy"))
    var saveNeighbors: String?

    @Option(help: ArgumentHelp("Write the k-NN lists as a TREC run (qid Q0 docid rank score dmleval; qid and docid are row indices, or --ids).", valueName: "file.trec"))
    var saveRun: String?

    @Option(help: ArgumentHelp("Write the judgments the labels imply as TREC qrels (qid 0 docid 1 for every relevant reference).", valueName: "file"))
    var saveQrels: String?

    @Option(help: ArgumentHelp("Names of the embeddings' rows for --save-run and --save-qrels, one per line (default: row indices).", valueName: "file"))
    var ids: String?

    @Option(help: ArgumentHelp("Names of the --queries rows for --save-run and --save-qrels, one per line (default: row indices).", valueName: "file"))
    var queryIds: String?

    // MARK: Output and store

    @Option(help: "Output format: table, json, csv or markdown.")
    var format: OutputFormat = .table

    @Option(help: ArgumentHelp("A name for this run in the store.", valueName: "name"))
    var name: String?

    @Option(help: ArgumentHelp("Also write this run as a baseline file for 'dmleval check'.", valueName: "file.json"))
    var saveBaseline: String?

    @Option(help: ArgumentHelp("Also write every query's values to this file: CSV (.csv) or JSON Lines (.jsonl): query index, label, R, every metric.", valueName: "file"))
    var perQuery: String?

    @OptionGroup var input: InputOptions
    @OptionGroup var storeOptions: StoreOptions
    @OptionGroup(title: "Sharding (one query shard per task; then dmleval merge)") var shardOptions: ShardOptions

    var requestedMetrics: [Metric] = []

    enum CodingKeys: String, CodingKey {
        case source, metricOptions, perClass, nmi, ami, kmeansRestarts, kmeansIterations, kmeansSeed, distance, threads, tileSize, streamReferences, searchPath, searchProducts, timeProducts, indexOptions, annCheck, saveNeighbors,
             saveRun, saveQrels, ids, queryIds,
             format, name, saveBaseline, perQuery, interval, input, storeOptions, shardOptions
    }

    mutating func validate() throws {
        try source.validate(with: input)
        try checkThreads(threads)
        if !(0...10_000_000).contains(annCheck) { throw ValidationError("--ann-check: expected 0 to 10,000,000 queries, found \(annCheck)") }
        if !(16...65_536).contains(tileSize) { throw ValidationError("--tile-size: expected 16 to 65536, found \(tileSize)") }
        if let perQuery, PerQueryExport.Format.fromExtension(of: perQuery) == nil {
            throw ValidationError("--per-query: expected a file name ending in .csv or .jsonl, found '\(perQuery)'")
        }
        if source.dataset != nil && storeOptions.noStore {
            throw ValidationError("--dataset reads the store, so it cannot go with --no-store")
        }
        if (ids != nil || queryIds != nil) && saveRun == nil && saveQrels == nil {
            throw ValidationError("--ids and --query-ids name the rows of --save-run and --save-qrels; add one of those")
        }
        if !(1...1000).contains(kmeansRestarts) { throw ValidationError("--kmeans-restarts: expected 1 to 1000, found \(kmeansRestarts)") }
        if !(1...100_000).contains(kmeansIterations) { throw ValidationError("--kmeans-iterations: expected 1 to 100,000, found \(kmeansIterations)") }
        if queryIds != nil && source.queries == nil { throw ValidationError("--query-ids names the rows of --queries; add --queries") }
        try validateShard()
        if timeProducts && (indexOptions.index != .exact || shardOptions.shard != nil) {
            throw ValidationError("--time-products times the exact search's products and cannot go with "
                + (shardOptions.shard != nil ? "--shard" : "--index \(indexOptions.index.rawValue)"))
        }
        if streamReferences {
            let refused = [(!storeOptions.noStore && shardOptions.shard == nil, "a store (add --no-store: a dataset larger than memory is not copied into the store)"),
                           (source.dataset != nil, "--dataset"), (indexOptions.index != .exact, "--index \(indexOptions.index.rawValue)"),
                           (nmi || ami, "--nmi/--ami"), (saveRun != nil || saveQrels != nil, "--save-run/--save-qrels"),
                           (interval.settings != nil, "confidence intervals")]
            if let what = refused.first(where: \.0) {
                throw ValidationError("--stream-references reads the embeddings in tiles and cannot go with \(what.1)")
            }
        }
        var metrics = try metricOptions.metrics()
        if metrics.isEmpty { metrics = Metric.paperSet }
        requestedMetrics = metrics
    }

    var job: EvaluationJob {
        var job = EvaluationJob(source: source.evaluationSource, queries: source.queryFiles, reading: input.settings,
                                store: storeOptions.location, metrics: requestedMetrics, distance: distance, toolVersion: DMLEval.version)
        job.perClass = perClass
        job.threads = threads ?? ExactSearch.defaultThreads
        job.tileSize = tileSize
        job.name = name
        job.saveNeighbors = saveNeighbors
        job.saveBaseline = saveBaseline
        job.perQuery = perQuery
        job.search = indexOptions.settings
        job.annCheck = annCheck
        job.searchPath = searchPath
        job.searchProducts = searchProducts
        job.timeProducts = timeProducts
        job.trecOutput = saveRun == nil && saveQrels == nil ? nil
            : TrecOutput(runPath: saveRun, qrelsPath: saveQrels, idsPath: ids, queryIDsPath: queryIds)
        job.clustering = clustering
        job.confidence = interval.settings
        job.recallConvention = metricOptions.recallConvention
        job.mapDenominator = metricOptions.mapDenominator
        job.streaming = streamReferences ? .always : .whenTooLarge
        return job
    }

    /// The clustering stage, when --nmi or --ami asks for it.
    var clustering: ClusteringSettings? {
        let metrics = (nmi ? [ClusteringMetric.nmi] : []) + (ami ? [.ami] : [])
        guard !metrics.isEmpty else { return nil }
        return ClusteringSettings(metrics: metrics, restarts: kmeansRestarts, iterations: kmeansIterations, seed: kmeansSeed)
    }

    func run() throws {
        if shardOptions.shard != nil { return try runShard() }
        let job = self.job
        let outcome = try job.run(progress: ProgressPrinter().handler)
        print(EvaluationSummary(outcome, job: job).render(format))
        if let runID = outcome.runID, let path = outcome.storePath {
            printError("run \(runID) stored in \(path)")
        }
        if let saveBaseline { printError("baseline written to \(saveBaseline)") }
        if let perQuery { printError("per-query values written to \(perQuery)") }
    }
}
