import RetrievalEval
import RetrievalEvalStore
/// `dmleval score-run` as one library call: read a TREC run and its qrels, score, record.
///
/// `score-run` and `check` (against a baseline made by `score-run`) both go through here, so
/// a check re-scores exactly as the run that made the baseline.
public struct TrecRunJob: Sendable {
    /// The TREC run file (`qid Q0 docid rank score tag` lines).
    public var runPath: String
    /// The qrels file (`qid iter docid grade` lines).
    public var qrelsPath: String
    /// The metrics to score, in report order.
    public var metrics: [Metric]
    /// The lowest grade that counts as relevant (trec_eval `-l`).
    public var relevanceLevel: Int
    /// Which queries are averaged: those with a relevant document (the default), every judged one,
    /// or all (trec_eval `-c`).
    public var querySet: TrecQuerySet
    /// The run's name in the store.
    public var name: String?
    /// The dmleval version recorded with the run.
    public var toolVersion: String
    /// Parameters recorded after the job's own (e.g. the baseline a check ran against).
    public var extraParameters: [(String, String)]

    /// A job; relevant from grade 1, the queries with relevant documents scored, unless given.
    public init(runPath: String, qrelsPath: String, metrics: [Metric], relevanceLevel: Int = 1,
                querySet: TrecQuerySet = .relevant, name: String? = nil, toolVersion: String,
                extraParameters: [(String, String)] = []) {
        self.runPath = runPath
        self.qrelsPath = qrelsPath
        self.metrics = metrics
        self.relevanceLevel = relevanceLevel
        self.querySet = querySet
        self.name = name
        self.toolVersion = toolVersion
        self.extraParameters = extraParameters
    }

    /// What a finished job produced.
    public struct Outcome: Sendable {
        /// The scored queries, their per-query values and the means.
        public let evaluation: TrecEvaluation
        /// The run and qrels as a dataset: the run file's hash for the embeddings', the qrels'
        /// for the labels', the qrels' queries for rows.
        public let dataset: Baseline.DatasetIdentity
        /// The run's id in the store (nil when nothing was stored).
        public let runID: Int64?
        /// The store the run was recorded in (nil when nothing was stored).
        public let storePath: String?
        /// The parameters recorded with the run, in order.
        public let parameters: [(String, String)]
        /// Seconds per stage, in order: "read", "metrics", then "store" and "total" when stored.
        public let timings: [(String, Double)]
    }

    /// Every setting and convention of the job, as stored.
    public var parameters: [(String, String)] {
        [("metrics", metrics.map(\.name).joined(separator: ",")),
         ("mode", "trec-run"),
         ("relevance_level", String(relevanceLevel)),
         ("query_set", querySet.rawValue),
         ("r_zero_queries", querySet == .relevant ? "excluded" : "scored 0 (nDCG from the grades)"),
         ("missing_queries", querySet == .all ? "scored 0 (empty ranking)" : "excluded"),
         ("ranking", "score descending, equal scores by docid in decreasing byte order (trec_eval)"),
         ("short_rankings", "read as they are: nothing relevant past the end (trec_eval)"),
         ("ndcg_grades", "graded gains, whatever the relevance level (trec_eval ndcg_cut)"),
         ("run", runPath), ("qrels", qrelsPath)] + extraParameters
    }

    /// The dataset identity of a run and its qrels (the same hash `Store.ingestTrec` stores).
    public static func identity(run: TrecRun, qrels: TrecQrels) -> Baseline.DatasetIdentity {
        Baseline.DatasetIdentity(
            hash: Store.trecDatasetHash(runHash: run.contentHash, qrelsHash: qrels.contentHash),
            embeddingsHash: run.contentHash, labelsHash: qrels.contentHash, rows: qrels.judgments.count,
            dimensions: 0, classes: 0)
    }

    /// Runs the job. The store is opened (by `openStore`) only once the scores exist, so a
    /// failed job leaves no trace; nil skips the store.
    /// - Parameter beforeScoring: sees the files as read, and may refuse them, before scoring.
    /// - Throws: `InputError` for a malformed file (nothing is stored), `StoreError`.
    public func run(
        openStore: (() throws -> Store)?, beforeScoring: ((TrecRun, TrecQrels) throws -> Void)? = nil
    ) throws -> Outcome {
        let clock = ContinuousClock()
        let started = clock.now
        var t = clock.now
        let run = try TrecRun.read(runPath)
        let qrels = try TrecQrels.read(qrelsPath)
        var timings: [(String, Double)] = [("read", (clock.now - t).seconds)]
        try beforeScoring?(run, qrels)
        t = clock.now
        let evaluation = TrecEvaluation.run(
            run: run, qrels: qrels, metrics: metrics, relevanceLevel: relevanceLevel, querySet: querySet)
        timings.append(("metrics", (clock.now - t).seconds))
        var identity = Self.identity(run: run, qrels: qrels)
        var runID: Int64?
        var storePath: String?
        if let openStore {
            let store = try openStore()
            storePath = store.path
            t = clock.now
            let (record, created) = try store.ingestTrec(
                runHash: run.contentHash, qrelsHash: qrels.contentHash, queries: qrels.judgments.count,
                runPath: runPath, qrelsPath: qrelsPath)
            identity = Baseline.DatasetIdentity(record)
            timings.append(("store", (clock.now - t).seconds))
            timings.append(("total", (clock.now - started).seconds))
            do {
                runID = try store.record(RunInput(
                    datasetID: record.id, name: name, toolVersion: toolVersion, search: Baseline.trecSearch, distance: nil,
                    depth: evaluation.depth, parameters: parameters, report: evaluation.report, timings: timings))
            } catch {
                // Exit 2 promises the store as it was.
                if created { try? store.removeDatasets([record.id]) }
                throw error
            }
        } else {
            timings.append(("total", (clock.now - started).seconds))
        }
        return Outcome(evaluation: evaluation, dataset: identity, runID: runID, storePath: storePath,
                       parameters: parameters, timings: timings)
    }
}
