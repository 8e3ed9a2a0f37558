import DMLEvalJobs
import RetrievalEval
import RetrievalEvalStore

/// One evaluation as the commands run it: read or load, search and score, record.
///
/// `evaluate` and `check` both go through here, so a check re-runs a baseline exactly as
/// the evaluation that made it.
struct EvaluationJob {
    var source: DataSourceOptions
    var input: InputOptions
    var storeOptions: StoreOptions
    var metrics: [Metric]
    var distance: Distance
    var perClass: Bool
    var threads: Int
    var tileSize: Int
    var name: String?
    var saveNeighbors: String?
    /// Also write the run as a baseline file here.
    var saveBaseline: String? = nil
    /// Also write every query's values here (CSV or JSON Lines, by the extension).
    var perQuery: String? = nil
    /// An approximate index and its settings; nil (or --index exact) for exact search.
    var indexOptions: IndexOptions?
    /// Queries on which an approximate search is compared with the exact one (0: none).
    var annCheck = 1000
    /// The exact search's path; automatic unless a measurement forces one.
    var searchPath: ExactSearchPath = .automatic
    /// Read the embeddings from disk in tiles (`--stream-references`); or do so when they do
    /// not fit in memory and nothing else the job does needs them loaded.
    var streamReferences = false
    var automaticStreaming = false
    /// The k-NN lists as a TREC run and the labels' judgments as TREC qrels.
    var trecOutput: TrecOutput? = nil
    /// The clustering stage (--nmi, --ami).
    var clustering: ClusteringOptions? = nil

    /// What a finished job produced.
    struct Outcome {
        let evaluation: RetrievalEvaluation
        let summary: EvaluationSummary
        let runID: Int64?
        let storePath: String?
        let references: Baseline.DatasetIdentity
        let queries: Baseline.DatasetIdentity?
        let timings: [(String, Double)]
        /// For an approximate search: the index's description and the check against exact search.
        let search: SearchDescription
        let approximation: ApproximationCheck?
    }

    /// Runs the job. The store is opened first only to load a stored dataset; otherwise
    /// only once the run has succeeded, so a failed run leaves no trace (not even a new,
    /// empty store). `beforeSearch` sees the data as read, and may refuse it, before any
    /// search.
    func run(
        parameters: (Int) -> [(String, String)],
        beforeSearch: ((LabeledEmbeddings, LabeledEmbeddings?) throws -> Void)? = nil
    ) throws -> Outcome {
        if let mapped = try streamedReferences() { return try runStreamed(mapped, parameters: parameters) }
        let (embeddings, labels, dataset) = (source.embeddings, source.labels, source.dataset)
        let (queries, queryLabels) = (source.queries, source.queryLabels)
        let started = now()
        var timings: [(String, Double)] = []
        var store = dataset != nil ? try storeOptions.open() : nil
        try storeOptions.checkWritable()

        // 1. Read (or load) and validate everything before any work.
        var t = now()
        let references: LabeledEmbeddings
        var datasetRecord: DatasetRecord?
        let sourceDescription: String
        if let dataset, let store {
            let record = try store.findDataset(dataset)
            references = try store.load(record)
            datasetRecord = record
            sourceDescription = "stored dataset " + (record.names.first.map { "'\($0)' " } ?? "") + record.shortHash
        } else {
            references = try input.read(embeddings: embeddings!, labels: labels)
            sourceDescription = "\(embeddings!) + \(labels ?? input.labelsArray.map { "labels '\($0)'" } ?? "")"
        }
        var queryData: LabeledEmbeddings?
        if let queries {
            queryData = try input.read(embeddings: queries, labels: queryLabels)
        }
        timings.append(("read", now() - t))
        try beforeSearch?(references, queryData)
        let trecNames = try trecOutput?.names(references: references, queries: queryData)

        // 2. Search (through an index when asked) and score.
        var provided: ProvidedIndex?
        if let indexOptions, indexOptions.index != .exact {
            t = now()
            provided = try IndexProvider.provide(
                indexOptions.build, indexFile: indexOptions.indexFile, rebuild: indexOptions.rebuildIndex,
                vectors: references.embeddings, distance: distance, storeOptions: storeOptions, threads: threads)
            timings.append(("index", now() - t))
        }
        let bar = ProgressBar("searching")
        let evaluation: RetrievalEvaluation
        do {
            evaluation = try RetrievalEvaluation.run(
                references: references, queries: queryData, metrics: metrics, distance: distance,
                perClass: perClass, threads: threads, tileSize: tileSize,
                index: provided.map { ApproximateSettings(index: $0.index, effort: indexOptions?.effort) },
                saveNeighbors: saveNeighbors, keepNeighbors: trecOutput?.runPath != nil, path: searchPath,
                progress: { bar.update($0) })
        } catch {
            bar.finish()
            throw error
        }
        bar.finish()
        timings.append(("search", evaluation.searchSeconds))
        timings.append(("metrics", evaluation.metricSeconds))
        var approximation: ApproximationCheck?
        if let indexOptions, provided != nil && annCheck > 0 && evaluation.depth > 0 {
            let checkBar = ProgressBar("checking against exact search")
            checkBar.update(0)
            approximation = try ApproximationCheck.run(
                evaluation, references: references, queries: queryData, metrics: metrics, distance: distance,
                sampleSize: annCheck, seed: indexOptions.seed, threads: threads)
            checkBar.finish()
            timings.append(("ann-check", approximation!.seconds))
        }
        let clusteringQuality = try clustering.map { options in
            let quality = try options.run(queryData ?? references, distance: distance, threads: threads)
            timings.append(("kmeans", quality.clusteringSeconds))
            timings.append(("nmi-ami", quality.scoringSeconds))
            return quality
        }
        let search = SearchDescription(
            kind: provided?.index.kind ?? .exact, settings: provided.map { p in
                p.index.settings + [indexOptions!.effortDescription(depth: evaluation.depth, index: p.index)]
            } ?? [], origin: provided?.origin, memoryBytes: provided?.index.memoryBytes)

        // Output files are written under temporary names first and put in place together with
        // the run's record (inside its transaction), so that a failure at any step leaves
        // neither the files nor the record.
        // Missing parent folders are made first, and taken away again (when still empty: on
        // failure) when the job ends.
        var folders: [String] = []
        defer { removeFolders(folders) }
        for path in [saveNeighbors, perQuery, saveBaseline].compactMap({ $0 }) { folders += try createFolder(forFile: path) }
        var pending: [ArrayWriter.PendingFile] = []
        defer { pending.forEach { $0.discard() } }
        // The lists were written block by block during the search, under a temporary name.
        if let file = evaluation.neighborsFile {
            pending.append(file)
            timings.append(("save-neighbors", evaluation.saveSeconds))
        }
        if let perQuery, let format = PerQueryExport.Format.fromExtension(of: perQuery) {
            let report = evaluation.report
            pending.append(try ArrayWriter.prepareText(PerQueryExport.render(
                format, metrics: report.metrics.map(\.name), labels: (queryData ?? references).labels,
                relevantCounts: evaluation.relevantCounts, perQuery: report.perQuery.map { $0.map(Float.init) }), to: perQuery))
        }
        if let trecOutput, let trecNames {
            t = now()
            pending += try trecOutput.prepare(evaluation, references: references, queries: queryData, names: trecNames)
            timings.append(("save-trec", now() - t))
        }
        // Without a store record the identities hash the data: once, however many outputs ask.
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
            if let saveBaseline {
                let (referenceIdentity, queryIdentity) = identities()
                let report = evaluation.report
                let baseline = Baseline(
                    toolVersion: DMLEval.version, createdAt: isoNow(), sourceRun: runID, name: name,
                    dataset: referenceIdentity, queryDataset: queryIdentity, search: search.kind.rawValue, distance: distance,
                    depth: evaluation.depth, parameters: parameters(evaluation.depth),
                    scoredQueries: report.scoredQueries, excludedQueries: report.excludedQueries,
                    metrics: report.metrics, means: report.means, perQuery: report.perQuery.map { $0.map(Float.init) })
                pending.append(try ArrayWriter.prepareText(baseline.encoded(), to: saveBaseline))
            }
            for file in pending { try file.commit() }
        }

        // 3. Record: the dataset once per content, then the run.
        var runID: Int64?
        var queryRecord: DatasetRecord?
        // Datasets this job added, removed again if the run cannot be recorded.
        var added: [Int64] = []
        if store == nil && !storeOptions.noStore { store = try storeOptions.open() }
        if let store {
            // Exit 2 promises the store as it was: on any failure the files are not in place
            // (or are taken away), and what this job added to the store goes again.
            var savedIndex: Int64?
            do {
                t = now()
                if datasetRecord == nil {
                    let (record, created) = try store.ingest(references, embeddingsPath: embeddings, labelsPath: labels)
                    datasetRecord = record
                    if created { added.append(record.id) }
                }
                if let queryData {
                    let (record, created) = try store.ingest(queryData, embeddingsPath: queries, labelsPath: queryLabels)
                    queryRecord = record
                    if created { added.append(record.id) }
                }
                if let provided, provided.isNew {
                    savedIndex = try store.saveIndex(
                        provided.index, embeddingsHash: provided.embeddingsHash ?? references.embeddings.contentHash(),
                        buildSeconds: provided.buildSeconds, buildThreads: provided.buildThreads, toolVersion: DMLEval.version)
                }
                timings.append(("store", now() - t))
                timings.append(("total", now() - started))
                runID = try store.record(RunInput(
                    datasetID: datasetRecord!.id, queryDatasetID: queryRecord?.id, name: name,
                    toolVersion: DMLEval.version, search: search.kind.rawValue, distance: distance, depth: evaluation.depth,
                    parameters: parameters(evaluation.depth) + search.storedParameters(approximation),
                    report: evaluation.report, timings: timings,
                    clustering: clustering.map { $0.values(clusteringQuality!) } ?? []
                ).with(curves: evaluation.curves),
                beforeCommit: { try placeFiles(runID: $0) })
            } catch {
                pending.forEach { $0.revert() }
                if let savedIndex { try? store.removeIndex(id: savedIndex) }
                try? store.removeDatasets(added)
                throw error
            }
        } else {
            timings.append(("total", now() - started))
            try placeFiles(runID: nil)
        }

        let (referenceIdentity, queryIdentity) = identities()
        let summary = EvaluationSummary(
            run: runID, source: sourceDescription, dataset: referenceIdentity, datasetNames: datasetRecord?.names ?? [], embeddingsPath: datasetRecord?.embeddingsPath ?? embeddings,
            labelsPath: datasetRecord?.labelsPath ?? labels,
            classNames: references.labels.classNames, queryCount: queryData?.embeddings.rows,
            distance: distance, depth: evaluation.depth, report: evaluation.report, timings: timings,
            search: search, approximation: approximation, clustering: clusteringQuality, clusteringOptions: clustering)
        return Outcome(evaluation: evaluation, summary: summary, runID: runID, storePath: store?.path,
                       references: referenceIdentity, queries: queryIdentity, timings: timings,
                       search: search, approximation: approximation)
    }

    static func identity(_ data: LabeledEmbeddings) -> Baseline.DatasetIdentity {
        let h = data.contentHashes()
        return Baseline.DatasetIdentity(
            hash: h.dataset, embeddingsHash: h.embeddings, labelsHash: h.labels,
            rows: data.embeddings.rows, dimensions: data.embeddings.columns, classes: data.labels.classCount)
    }
}

/// The search a run used, as printed and stored.
struct SearchDescription {
    let kind: IndexKind
    /// The index's build settings and its search-time setting; empty for exact search.
    let settings: [(String, String)]
    let origin: String?
    let memoryBytes: Int?

    /// "exact", or "hnsw (m 16, ef_construction 200, seed 1, ef_search 64; built in 1.20 s)".
    var text: String {
        guard kind != .exact else { return "exact" }
        let list = settingsText(settings)
        return "\(kind.rawValue) (\(list)" + (origin.map { "; \($0)" } ?? "") + ")"
    }

    /// What a stored run records about the index and its check.
    func storedParameters(_ check: ApproximationCheck?) -> [(String, String)] {
        guard kind != .exact else { return [] }
        var p = settings.map { ("index_" + $0.0, $0.1) }
        if let check {
            p += [("ann_check_queries", String(check.sample.count)), ("ann_check_seed", String(check.seed)),
                  ("ann_check_recall_at_10", String(check.recallAt10)),
                  ("ann_check_recall_at_depth", String(check.recallAtDepth))]
        }
        return p
    }
}
