import RetrievalEval
import RetrievalEvalStore

/// The main job as one library call: read or load, search (exact, or through a reused or new
/// index), check the approximation, score, and record.
///
/// `dmleval EMBEDDINGS LABELS` (`evaluate`) and the baseline gate both go through here, so a
/// check re-runs a baseline exactly as the evaluation that made it.
public struct EvaluationJob: Sendable {
    /// What the references are.
    public var source: EvaluationSource
    /// A separate query set (nil: self-retrieval).
    public var queries: QueryFiles?
    /// How files are read.
    public var reading: ReadSettings
    /// The store that holds datasets and records the run; nil records nothing.
    public var store: StoreLocation?
    /// The metrics, in order.
    public var metrics: [Metric]
    /// The similarity.
    public var distance: Distance
    /// Also compute per-class (macro) means.
    public var perClass: Bool
    /// Threads searching.
    public var threads: Int
    /// The exact search's tile of references.
    public var tileSize: Int
    /// The run's name in the store.
    public var name: String?
    /// Write the neighbour indices to this .npy file.
    public var saveNeighbors: String?
    /// Also write the run as a baseline file here.
    public var saveBaseline: String?
    /// Also write every query's values here (CSV or JSON Lines, by the extension).
    public var perQuery: String?
    /// An approximate index and its settings; nil (or kind exact) for exact search.
    public var search: IndexSearchSettings?
    /// Queries on which an approximate search is compared with the exact one (0: none).
    public var annCheck: Int
    /// The exact search's path; automatic unless a measurement forces one.
    public var searchPath: ExactSearchPath
    /// How the exact search computes its products; automatic unless a measurement forces one.
    public var searchProducts: ExactProductKernel
    /// Whether an exact search's products are then timed alone, in the same process (timing
    /// "products": the floor the search is measured against); for measurements.
    public var timeProducts = false
    /// Whether the embeddings are read from disk in tiles (memory-mapped) instead of loaded.
    public var streaming: Streaming
    /// The k-NN lists as a TREC run and the labels' judgments as TREC qrels.
    public var trecOutput: TrecOutput?
    /// The clustering stage (NMI, AMI).
    public var clustering: ClusteringSettings?
    /// Bootstrap intervals of the means (needs at least 2 scored queries).
    public var confidence: Bootstrap.Settings?
    /// The recall convention asked for, recorded as the run's convention.
    public var recallConvention: RecallConvention
    /// The MAP@k denominator asked for, recorded as the run's convention.
    public var mapDenominator: MAPDenominator
    /// What the run is, which decides the parameters it records.
    public var purpose: Purpose
    /// The tool version recorded with the run and the baseline.
    public var toolVersion: String

    /// When the job reads the embeddings from disk in tiles (`MappedEmbeddings`) rather than
    /// loading them. The values are the same either way, bit for bit.
    public enum Streaming: Sendable {
        /// Always load.
        case never
        /// Always stream (the file must be mappable: float32 .npy, .fbin, .fvecs or raw).
        case always
        /// Stream when loading would pass 80% of the memory the process may have and the file
        /// can be mapped; load otherwise.
        case whenTooLarge
    }

    /// Why a job runs: an evaluation of its own, or the re-run of a baseline by the gate.
    public enum Purpose: Sendable {
        /// An evaluation: every setting and convention is recorded.
        case evaluation
        /// A check against the named baseline: the metrics, distance and baseline are recorded.
        case check(baseline: String)
    }

    /// An exact evaluation of `source` with `metrics`; every other setting at its default.
    public init(source: EvaluationSource, queries: QueryFiles? = nil, reading: ReadSettings = .init(), store: StoreLocation?,
                metrics: [Metric], distance: Distance = .cosine, toolVersion: String) {
        self.source = source
        self.queries = queries
        self.reading = reading
        self.store = store
        self.metrics = metrics
        self.distance = distance
        self.perClass = false
        self.threads = ExactSearch.defaultThreads
        self.tileSize = 1024
        self.annCheck = 1000
        self.searchPath = .automatic
        self.searchProducts = .automatic
        self.streaming = .never
        self.recallConvention = .hit
        self.mapDenominator = .k
        self.purpose = .evaluation
        self.toolVersion = toolVersion
    }

    /// Bootstrap intervals of every mean, and of the macro means with per-class means.
    public struct Confidence: Sendable {
        /// The level, resamples and seed of the intervals.
        public let settings: Bootstrap.Settings
        /// The interval of each metric's mean, in metric order; nil when fewer than 2 queries are
        /// scored.
        public let means: [Bootstrap.Interval?]
        /// The interval of each metric's macro mean (over classes); nil without per-class means.
        public let macro: [Bootstrap.Interval?]?
    }

    /// What a finished job produced.
    public struct Outcome: Sendable {
        /// The search and the scores.
        public let evaluation: RetrievalEvaluation
        /// The run's id in the store (nil when nothing was stored).
        public let runID: Int64?
        /// The store the run was recorded in (nil when nothing was stored).
        public let storePath: String?
        /// The references' stored record (loaded, or stored by this run).
        public let datasetRecord: DatasetRecord?
        /// The identity of the references.
        public let references: Baseline.DatasetIdentity
        /// The identity of the separate queries; nil in self-retrieval.
        public let queries: Baseline.DatasetIdentity?
        /// The references' class names.
        public let classNames: [String]
        /// The number of queries of a separate query set; nil in self-retrieval.
        public let queryCount: Int?
        /// Every stage's seconds, in order.
        public let timings: [(String, Double)]
        /// The search used.
        public let search: SearchDescription
        /// For an approximate search, the check against exact search on a sample of the queries;
        /// nil otherwise.
        public let approximation: ApproximationCheck?
        /// The clustering stage's values, when asked for.
        public let clustering: ClusteringQuality?
        /// Intervals of the means, when asked for.
        public let confidence: Confidence?
        /// The parameters recorded with the run.
        public let parameters: [(String, String)]
    }

    /// Every setting and convention of the run, as stored (the index's own come after them).
    public func parameters(depth: Int) -> [(String, String)] {
        if case .check(let baseline) = purpose {
            return [("metrics", metrics.map(\.name).joined(separator: ",")), ("distance", distance.rawValue),
                    ("search", "exact"), ("baseline", baseline)]
        }
        var p: [(String, String)] = [
            ("metrics", metrics.map(\.name).joined(separator: ",")),
            ("recall_convention", recallConvention.rawValue),
            ("map_denominator", mapDenominator.rawValue),
            ("distance", distance.rawValue),
            ("search", (search?.kind ?? .exact).rawValue),
            ("depth", String(depth)),
            ("mode", queries == nil ? "self-retrieval" : "query-reference"),
            ("self_excluded", queries == nil ? "true" : "false"),
            ("ties", "lower reference index first"),
            ("r_zero_queries", "excluded"),
            ("per_class", perClass ? "true" : "false"),
        ]
        if let embeddings = source.embeddingsPath { p.append(("embeddings", embeddings)) }
        if let labels = source.labelsPath { p.append(("labels", labels)) }
        if let dataset = source.datasetName { p.append(("dataset", dataset)) }
        if let clustering { p += clustering.parameters }
        if let queries { p.append(("queries", queries.embeddings)) }
        if let queryLabels = queries?.labels { p.append(("query_labels", queryLabels)) }
        return p
    }

    /// Reads (or loads) the references and reads the queries, as the job does before any search.
    /// - Returns: the data, and the stored record of a stored dataset.
    public func readInputs(store opened: Store?) throws -> (references: LabeledEmbeddings, queries: LabeledEmbeddings?, record: DatasetRecord?) {
        let references: LabeledEmbeddings
        var record: DatasetRecord?
        switch source {
        case .dataset(let dataset):
            guard let opened else { throw JobError.datasetNeedsStore(dataset: dataset) }
            let found = try opened.findDataset(dataset)
            references = try opened.load(found)
            record = found
        case .files(let embeddings, let labels):
            references = try reading.read(embeddings: embeddings, labels: labels)
        }
        let queryData = try queries.map { try reading.read(embeddings: $0.embeddings, labels: $0.labels) }
        return (references, queryData, record)
    }

    /// Refuses intervals when fewer than 2 queries can be scored (R > 0): nothing to resample.
    /// - Returns: each query's class in the references' class space (for macro intervals).
    @discardableResult
    public static func checkScored(references: LabeledEmbeddings, queries: LabeledEmbeddings?) throws -> [Int32] {
        let judgments = queries.map { RelevanceJudgments(queries: $0.labels, references: references.labels) }
            ?? RelevanceJudgments(selfRetrieval: references.labels)
        let scored = judgments.relevantCounts.filter { $0 > 0 }.count
        if scored < 2 { throw JobError.tooFewScoredQueriesForIntervals(found: scored) }
        return judgments.queryClasses.map { max($0, 0) }
    }

    /// The identity of data not (yet) stored: its content hashes.
    public static func identity(_ data: LabeledEmbeddings) -> Baseline.DatasetIdentity {
        let h = data.contentHashes()
        return Baseline.DatasetIdentity(
            hash: h.dataset, embeddingsHash: h.embeddings, labelsHash: h.labels,
            rows: data.embeddings.rows, dimensions: data.embeddings.columns, classes: data.labels.classCount)
    }

    /// The per-query values asked for (`perQuery`), written under a temporary name.
    func perQueryFile(_ evaluation: RetrievalEvaluation, labels: Labels) throws -> ArrayWriter.PendingFile? {
        guard let perQuery, let format = PerQueryExport.Format.fromExtension(of: perQuery) else { return nil }
        let report = evaluation.report
        return try ArrayWriter.prepareText(PerQueryExport.render(
            format, metrics: report.metrics.map(\.name), labels: labels, relevantCounts: evaluation.relevantCounts,
            perQuery: report.perQuery.map { $0.map(Float.init) }), to: perQuery)
    }

    /// The baseline asked for (`saveBaseline`), naming the run when there is one, written
    /// under a temporary name.
    func baselineFile(
        _ evaluation: RetrievalEvaluation, references: Baseline.DatasetIdentity, queries: Baseline.DatasetIdentity?,
        search: IndexKind, parameters: [(String, String)], runID: Int64?
    ) throws -> ArrayWriter.PendingFile? {
        guard let saveBaseline else { return nil }
        let report = evaluation.report
        let baseline = Baseline(
            toolVersion: toolVersion, createdAt: JobClock.isoNow(), sourceRun: runID, name: name,
            dataset: references, queryDataset: queries, search: search.rawValue, distance: distance,
            depth: evaluation.depth, parameters: parameters,
            scoredQueries: report.scoredQueries, excludedQueries: report.excludedQueries,
            metrics: report.metrics, means: report.means, perQuery: report.perQuery.map { $0.map(Float.init) })
        return try ArrayWriter.prepareText(baseline.encoded(), to: saveBaseline)
    }

    /// Runs the job. The store is opened first only to load a stored dataset; otherwise only
    /// once the run has succeeded, so a failed run leaves no trace (not even a new, empty
    /// store). Output files and the record are put in place together: on any failure neither
    /// remains, and what the job added to the store goes again.
    /// - Parameters:
    ///   - progress: the stages' progress (building, searching, checking, clustering).
    ///   - beforeSearch: sees the data as read, and may refuse it, before any search.
    /// - Throws: `JobError`, and the readers', search's, metrics' and store's errors.
    public func run(
        progress: ProgressHandler? = nil,
        beforeSearch: ((LabeledEmbeddings, LabeledEmbeddings?) throws -> Void)? = nil
    ) throws -> Outcome {
        if let mapped = try streamedReferences(progress: progress) { return try runStreamed(mapped, progress: progress) }
        let (embeddings, labels) = (source.embeddingsPath, source.labelsPath)
        let started = JobClock.now()
        var timings: [(String, Double)] = []
        var opened: Store?
        if source.datasetName != nil { opened = try store?.open() }
        try store?.checkCreatable()

        // 1. Read (or load) and validate everything before any work.
        var t = JobClock.now()
        let (references, queryData, loadedRecord) = try readInputs(store: opened)
        var datasetRecord = loadedRecord
        timings.append(("read", JobClock.now() - t))
        // Refused before any search, so that nothing is stored.
        let scoredClasses = confidence != nil ? try Self.checkScored(references: references, queries: queryData) : nil
        try beforeSearch?(references, queryData)
        let trecNames = try trecOutput?.names(references: references, queries: queryData)

        // 2. Search (through an index when asked) and score.
        var provided: ProvidedIndex?
        if let search, search.kind != .exact {
            t = JobClock.now()
            provided = try IndexProvider.provide(search, vectors: references.embeddings, vectorsHash: references.embeddingsHash, distance: distance, store: store,
                                                 threads: threads, progress: progress)
            timings.append(("index", JobClock.now() - t))
        }
        let searching = StageProgress("searching", progress)
        let evaluation = try searching.run {
            try RetrievalEvaluation.run(
                references: references, queries: queryData, metrics: metrics, distance: distance,
                perClass: perClass, threads: threads, tileSize: tileSize,
                index: provided.map { ApproximateSettings(index: $0.index, effort: search?.effort) },
                saveNeighbors: saveNeighbors, keepNeighbors: trecOutput?.runPath != nil, path: searchPath,
                productKernel: searchProducts, timeProducts: timeProducts, progress: searching.search)
        }
        timings += evaluation.stageTimings
        var approximation: ApproximationCheck?
        if let search, provided != nil && annCheck > 0 && evaluation.depth > 0 {
            let checking = StageProgress("checking against exact search", progress)
            checking.update(0)
            approximation = try checking.run {
                try ApproximationCheck.run(
                    evaluation, references: references, queries: queryData, metrics: metrics, distance: distance,
                    sampleSize: annCheck, seed: search.build.seed, threads: threads)
            }
            timings.append(("ann-check", approximation!.seconds))
        }
        let clusteringQuality = try clustering.map { settings in
            let quality = try settings.run(queryData ?? references, distance: distance, threads: threads, progress: progress)
            timings.append(("kmeans", quality.clusteringSeconds))
            timings.append(("nmi-ami", quality.scoringSeconds))
            return quality
        }
        let description = SearchDescription(
            kind: provided?.index.kind ?? .exact, settings: provided.map { p in
                p.index.settings + [search!.effortDescription(depth: evaluation.depth, index: p.index)]
            } ?? [], origin: provided?.origin, memoryBytes: provided?.index.memoryBytes)
        let parameters = parameters(depth: evaluation.depth)

        // Output files are written under temporary names first and put in place together with
        // the run's record (inside its transaction), so that a failure at any step leaves
        // neither the files nor the record. Missing parent folders are made first, and taken
        // away again (when still empty: on failure) when the job ends.
        let outputs = try OutputFiles(for: [saveNeighbors, perQuery, saveBaseline])
        defer { outputs.close() }
        // The lists were written block by block during the search, under a temporary name.
        if let file = evaluation.neighborsFile {
            outputs.add(file)
            timings.append(("save-neighbors", evaluation.saveSeconds))
        }
        outputs.add(try perQueryFile(evaluation, labels: (queryData ?? references).labels))
        if let trecOutput, let trecNames {
            t = JobClock.now()
            outputs.add(try trecOutput.prepare(evaluation, references: references, queries: queryData, names: trecNames))
            timings.append(("save-trec", JobClock.now() - t))
        }
        // Without a store record the identities hash the data: once, however many outputs ask.
        var queryRecord: DatasetRecord?
        var hashedIdentities: (Baseline.DatasetIdentity, Baseline.DatasetIdentity?)?
        func identities() -> (Baseline.DatasetIdentity, Baseline.DatasetIdentity?) {
            if let datasetRecord, queryData == nil || queryRecord != nil {
                return (Baseline.DatasetIdentity(datasetRecord), queryRecord.map(Baseline.DatasetIdentity.init))
            }
            if hashedIdentities == nil {
                hashedIdentities = (datasetRecord.map(Baseline.DatasetIdentity.init) ?? Self.identity(references),
                                    queryRecord.map(Baseline.DatasetIdentity.init) ?? queryData.map(Self.identity))
            }
            return hashedIdentities!
        }
        /// Writes the baseline (naming the run, when there is one) and puts every file in place.
        func placeFiles(runID: Int64?) throws {
            if saveBaseline != nil {
                let (referenceIdentity, queryIdentity) = identities()
                outputs.add(try baselineFile(evaluation, references: referenceIdentity, queries: queryIdentity,
                                             search: description.kind, parameters: parameters, runID: runID))
            }
            try outputs.commit()
        }

        // 3. Record: the dataset once per content, then the run.
        var runID: Int64?
        // Datasets this job added, removed again if the run cannot be recorded.
        var added: [Int64] = []
        if opened == nil, let store { opened = try store.open() }
        if let opened {
            // A failure promises the store as it was: the files are not in place (or are taken
            // away), and what this job added to the store goes again.
            var savedIndex: Int64?
            do {
                t = JobClock.now()
                if datasetRecord == nil {
                    let (record, created) = try opened.ingest(references, embeddingsPath: embeddings, labelsPath: labels)
                    datasetRecord = record
                    if created { added.append(record.id) }
                }
                if let queryData {
                    let (record, created) = try opened.ingest(queryData, embeddingsPath: queries?.embeddings, labelsPath: queries?.labels)
                    queryRecord = record
                    if created { added.append(record.id) }
                }
                if let provided, provided.isNew {
                    savedIndex = try opened.saveIndex(
                        provided.index, embeddingsHash: provided.embeddingsHash ?? references.contentHashes().embeddings,
                        buildSeconds: provided.buildSeconds, buildThreads: provided.buildThreads, toolVersion: toolVersion)
                }
                timings.append(("store", JobClock.now() - t))
                timings.append(("total", JobClock.now() - started))
                runID = try opened.record(RunInput(
                    datasetID: datasetRecord!.id, queryDatasetID: queryRecord?.id, name: name,
                    toolVersion: toolVersion, search: description.kind.rawValue, distance: distance, depth: evaluation.depth,
                    parameters: parameters + description.storedParameters(approximation),
                    report: evaluation.report, timings: timings,
                    clustering: clustering.map { $0.values(clusteringQuality!) } ?? []
                ).with(curves: evaluation.curves),
                beforeCommit: { try placeFiles(runID: $0) })
            } catch {
                outputs.revert()
                if let savedIndex { try? opened.removeIndex(id: savedIndex) }
                try? opened.removeDatasets(added)
                throw error
            }
        } else {
            timings.append(("total", JobClock.now() - started))
            try placeFiles(runID: nil)
        }

        var intervals: Confidence?
        if let confidence {
            let (means, macro) = Bootstrap.intervals(
                evaluation.report.perQuery, classes: perClass ? scoredClasses : nil,
                classCount: references.labels.classNames.count, settings: confidence)
            intervals = Confidence(settings: confidence, means: means, macro: macro)
        }
        let (referenceIdentity, queryIdentity) = identities()
        return Outcome(
            evaluation: evaluation, runID: runID, storePath: opened?.path, datasetRecord: datasetRecord,
            references: referenceIdentity, queries: queryIdentity, classNames: references.labels.classNames,
            queryCount: queryData?.embeddings.rows, timings: timings, search: description, approximation: approximation,
            clustering: clusteringQuality, confidence: intervals, parameters: parameters)
    }
}
