import RetrievalEval
import RetrievalEvalStore

/// The CI gate as one library call: re-run a baseline's evaluation (or re-score its TREC run)
/// under its conventions, refuse another test set, pair the queries, test, and give the verdict.
public struct BaselineGate: Sendable {
    /// Where the baseline comes from.
    public enum BaselineSource: Sendable {
        /// A baseline file.
        case file(String)
        /// A stored run of `store` (read even when the check's run is not recorded).
        case storedRun(Int64)
    }

    /// The baseline.
    public var baseline: BaselineSource
    /// What is checked: embeddings and labels (or a stored dataset), or a TREC run and its
    /// qrels as the two files for a baseline made by `TrecRunJob`.
    public var source: EvaluationSource
    /// A query set, as the baseline's protocol needs.
    public var queries: QueryFiles?
    /// How files are read.
    public var reading: ReadSettings
    /// The store: where a stored-run baseline is read and the check's run is recorded.
    public var store: StoreLocation
    /// Whether the check's run is recorded in the store.
    public var recordRun: Bool
    /// Check only these metrics of the baseline (by name; empty: all).
    public var metricNames: [String]
    /// The largest drop that passes, in points (x100 scale).
    public var tolerancePoints: Double
    /// Fail only drops that are also significant at this level (Holm-corrected).
    public var significance: Double?
    /// The number of sign flips of the randomization test.
    public var permutations: Int
    /// The seed of the randomization test's sign flips.
    public var seed: UInt64
    /// Bootstrap intervals of the differences.
    public var interval: Bootstrap.Settings?
    /// Compare even when the baseline was made on another test set or protocol.
    public var allowDatasetChange: Bool
    /// Threads searching.
    public var threads: Int
    /// The tool version recorded with the check's run.
    public var toolVersion: String

    /// A gate with the default tolerance (0.5 points) and no significance test.
    public init(baseline: BaselineSource, source: EvaluationSource, queries: QueryFiles? = nil, reading: ReadSettings = .init(),
                store: StoreLocation, recordRun: Bool = true, toolVersion: String) {
        self.baseline = baseline
        self.source = source
        self.queries = queries
        self.reading = reading
        self.store = store
        self.recordRun = recordRun
        self.metricNames = []
        self.tolerancePoints = 0.5
        self.significance = nil
        self.permutations = 10_000
        self.seed = 0
        self.interval = nil
        self.allowDatasetChange = false
        self.threads = ExactSearch.defaultThreads
        self.toolVersion = toolVersion
    }

    /// Something the gate says on its way that does not stop it.
    public enum Notice: Sendable, Equatable {
        /// The stored run's clustering values (no per-query values) are not checked.
        case clusteringNotChecked([String])
        /// The baseline used this approximate index; the check searches exactly.
        case approximateBaseline(search: String)
        /// The queries differ from the baseline's: no paired test, only the tolerance.
        case unpaired
    }

    /// What the gate found.
    public struct Outcome: Sendable {
        /// The baseline's name: its file, or "run N in STORE".
        public let baselineName: String
        /// The baseline checked against, as read.
        public let baseline: Baseline
        /// One verdict per checked metric, in the baseline's order.
        public let results: [RegressionGate.Result]
        /// Whether the queries were paired with the baseline's.
        public let paired: Bool
        /// Whether the embeddings (or the run file) are the baseline's own.
        public let sameEmbeddings: Bool
        /// The check's run in the store, if recorded.
        public let runID: Int64?
        /// The store the check's run went to (nil when nothing was recorded).
        public let storePath: String?
        /// Seconds the whole gate took.
        public let seconds: Double

        /// Whether no metric regressed.
        public var passed: Bool { !results.contains(where: \.regressed) }
    }

    /// Runs the gate.
    /// - Parameters:
    ///   - progress: the evaluation's stages.
    ///   - notify: notices, as they arise.
    /// - Throws: `JobError` for a baseline that does not fit (another test set, protocol or
    ///   metric), the readers', search's and store's errors; a regression is not an error
    ///   (`Outcome.passed`).
    public func run(progress: ProgressHandler? = nil, notify: (@Sendable (Notice) -> Void)? = nil) throws -> Outcome {
        let started = JobClock.now()
        // 1. The baseline, and which of its metrics to check.
        let (base, baseName) = try loadBaseline(notify: notify)
        var selected = Array(base.metrics.indices)
        if !metricNames.isEmpty {
            selected = []
            for name in metricNames {
                guard let metric = Metric(name: name), let i = base.metrics.firstIndex(of: metric) else {
                    throw JobError.unknownBaselineMetric(baseline: baseName, available: base.metrics.map(\.name), name: name)
                }
                selected.append(i)
            }
        }
        let metrics = selected.map { base.metrics[$0] }

        // 2. The same evaluation, under the baseline's conventions.
        let rerun = base.isTrec ? try rescoreTrecRun(base, baseName: baseName, metrics: metrics)
            : try reevaluate(base, baseName: baseName, metrics: metrics, progress: progress, notify: notify)
        let report = rerun.report
        // A current mean that is not a number cannot show that nothing dropped: fail closed.
        if let m = metrics.indices.first(where: { !report.means[$0].isFinite }) {
            throw MetricError(.invalidInput, "\(metrics[m].name): no query could be scored on the new \(base.isTrec ? "run" : "embeddings") (the mean is \(report.means[m])), so the check cannot pass; check the \(base.isTrec ? "qrels" : "labels")")
        }
        let paired = rerun.sameTestSet && report.perQuery.first?.count == base.perQuery.first?.count
        if !paired && significance != nil { notify?(.unpaired) }

        // 3. The verdicts.
        let results = RegressionGate.check(
            metrics: metrics, baselineMeans: selected.map { base.means[$0] }, baselinePerQuery: selected.map { base.perQuery[$0] },
            currentMeans: report.means, currentPerQuery: report.perQuery, paired: paired,
            tolerancePoints: tolerancePoints, significance: significance, permutations: permutations, seed: seed,
            interval: interval)
        return Outcome(baselineName: baseName, baseline: base, results: results, paired: paired,
                       sameEmbeddings: rerun.systemHash == base.dataset.embeddingsHash, runID: rerun.runID,
                       storePath: rerun.storePath, seconds: JobClock.now() - started)
    }

    /// The baseline and its name; a stored run is validated as strictly as a file.
    func loadBaseline(notify: (@Sendable (Notice) -> Void)?) throws -> (Baseline, String) {
        switch baseline {
        case .file(let file):
            return (try Baseline.read(file), file)
        case .storedRun(let id):
            let opened = try store.openExisting()
            let record = try opened.run(id: id)
            let base = try Baseline(run: record, perQuery: try opened.perQueryValues(runID: record.id))
            let baseName = "run \(record.id) in \(opened.path)"
            let clustering = record.metrics.filter { ClusteringMetric(rawValue: $0.metric) != nil }.map(\.metric)
            if !clustering.isEmpty { notify?(.clusteringNotChecked(clustering)) }
            // A stored run is as untrusted as a file: the store may have been edited or damaged.
            do { try base.validate() } catch let error as BaselineFieldError {
                throw StoreError("\(baseName): cannot serve as a baseline: expected \(error.expected), found \(error.found); check against another run or a baseline file")
            }
            return (base, baseName)
        }
    }

    /// What re-running a baseline's evaluation produced.
    struct Rerun {
        let report: MetricReport
        /// Whether the test set is the baseline's (labels, or qrels, hash equal).
        let sameTestSet: Bool
        /// The embeddings' (or the run file's) hash.
        let systemHash: String
        let runID: Int64?
        let storePath: String?
    }

    /// The evaluation job on the source, with the baseline's metrics and distance.
    func reevaluate(_ base: Baseline, baseName: String, metrics: [Metric], progress: ProgressHandler?,
                    notify: (@Sendable (Notice) -> Void)?) throws -> Rerun {
        if base.search != "exact" { notify?(.approximateBaseline(search: base.search)) }
        if (base.queryDataset == nil) != (queries == nil) && !allowDatasetChange {
            throw JobError.protocolMismatch(baseline: baseName, baselineHasQueries: base.queryDataset != nil)
        }
        var job = EvaluationJob(source: source, queries: queries, reading: reading, store: recordRun ? store : nil,
                                metrics: metrics, distance: base.distance ?? .cosine, toolVersion: toolVersion)
        job.threads = threads
        job.name = "check against \(baseName)"
        job.purpose = .check(baseline: baseName)
        // The test set must be the baseline's (the labels and their order), checked on the
        // data as read, before the search.
        let allowDatasetChange = self.allowDatasetChange
        nonisolated(unsafe) var sameLabels = false
        let outcome = try job.run(progress: progress, beforeSearch: { references, queries in
            let hash = LabeledEmbeddings.labelsHash(references.labels)
            let queryHash = queries.map { LabeledEmbeddings.labelsHash($0.labels) }
            sameLabels = hash == base.dataset.labelsHash && queryHash == base.queryDataset?.labelsHash
            // The labels hash covers the rows and their classes: a baseline that claims this test
            // set with other counts was edited.
            if sameLabels && (base.dataset.rows != references.labels.count || base.dataset.classes != references.labels.classCount
                              || (queries.map { $0.labels.count != base.queryDataset?.rows } ?? false)) {
                throw JobError.editedBaseline(baseline: baseName, rows: references.labels.count, classes: references.labels.classCount,
                                              claimedRows: base.dataset.rows, claimedClasses: base.dataset.classes)
            }
            if !sameLabels && !allowDatasetChange {
                throw JobError.testSetMismatch(
                    baseline: baseName, expectedLabelsHash: base.dataset.labelsHash, expectedRows: base.dataset.rows,
                    foundLabelsHash: hash, foundRows: references.labels.count, foundQueryLabelsHash: queryHash)
            }
        })
        return Rerun(report: outcome.evaluation.report, sameTestSet: sameLabels, systemHash: outcome.references.embeddingsHash,
                     runID: outcome.runID, storePath: outcome.storePath)
    }

    /// `TrecRunJob` on the two files, read as run and qrels, with the baseline's metrics,
    /// relevance level and query set: a baseline made by `TrecRunJob` gates a new run file.
    func rescoreTrecRun(_ base: Baseline, baseName: String, metrics: [Metric]) throws -> Rerun {
        guard case .files(let runFile, let qrels) = source, let qrelsFile = qrels, queries == nil else {
            throw JobError.trecBaselineNeedsFiles(baseline: baseName, foundDataset: source.datasetName != nil)
        }
        let stored = Dictionary(base.parameters, uniquingKeysWith: { a, _ in a })
        guard let level = stored["relevance_level"].flatMap({ Int($0) }), (1...TrecQrels.maximumGrade).contains(level),
              let querySet = stored["query_set"].flatMap(TrecQuerySet.init(rawValue:)) else {
            throw InputError(.baselineMismatch, file: baseName, expected: "\"parameters\" with relevance_level and query_set, as score-run records them",
                             found: "relevance_level \(stored["relevance_level"] ?? "none"), query_set \(stored["query_set"] ?? "none")",
                             remedy: Baseline.remedy)
        }
        var sameQrels = false
        let job = TrecRunJob(runPath: runFile, qrelsPath: qrelsFile, metrics: metrics, relevanceLevel: level, querySet: querySet,
                             name: "check against \(baseName)", toolVersion: toolVersion, extraParameters: [("baseline", baseName)])
        if recordRun { try store.checkCreatable() }
        let store = self.store
        let outcome = try job.run(openStore: recordRun ? { try store.open() } : nil, beforeScoring: { _, qrels in
            sameQrels = qrels.contentHash == base.dataset.labelsHash
            if !sameQrels && !allowDatasetChange {
                throw JobError.qrelsMismatch(
                    baseline: baseName, expectedHash: base.dataset.labelsHash, expectedQueries: base.dataset.rows,
                    file: qrelsFile, foundHash: qrels.contentHash, foundQueries: qrels.judgments.count)
            }
        })
        return Rerun(report: outcome.evaluation.report, sameTestSet: sameQrels, systemHash: outcome.dataset.embeddingsHash,
                     runID: outcome.runID, storePath: outcome.storePath)
    }
}
