import RetrievalEval
import Foundation
import GRDB

/// What a run produced, ready to be recorded.
public struct RunInput: Sendable {
    /// The store's id of the dataset evaluated (the references).
    public var datasetID: Int64
    /// The query set's dataset in query/reference mode, nil in self-retrieval.
    public var queryDatasetID: Int64?
    /// The name given with `--name`, if any.
    public var name: String?
    /// The dmleval version that ran it.
    public var toolVersion: String
    /// "exact", the approximate index used, or "trec-run" for a ranking read from a file.
    public var search: String
    /// The similarity searched with; nil when the ranking was not searched here (a TREC run),
    /// stored as "none".
    public var distance: Distance?
    /// The depth of the ranked lists: the largest any metric needs.
    public var depth: Int
    /// Every setting and convention, in order (stored as a JSON object).
    public var parameters: [(String, String)]
    /// The metrics with their per-query values and means.
    public var report: MetricReport
    /// Seconds per stage, in order.
    public var timings: [(String, Double)]
    /// Recall@k and Precision@k at every k, for reports (stored since migration v4).
    public var curves: RetrievalCurves?
    /// Values without per-query values (NMI, AMI), stored after the metrics with an empty
    /// per-query array.
    public var clustering: [(ClusteringMetric, Double)] = []

    /// A run to record; the curves, when any, are set afterwards.
    public init(datasetID: Int64, queryDatasetID: Int64? = nil, name: String? = nil, toolVersion: String,
                search: String, distance: Distance?, depth: Int, parameters: [(String, String)],
                report: MetricReport, timings: [(String, Double)], clustering: [(ClusteringMetric, Double)] = []) {
        self.datasetID = datasetID
        self.queryDatasetID = queryDatasetID
        self.name = name
        self.toolVersion = toolVersion
        self.search = search
        self.distance = distance
        self.depth = depth
        self.parameters = parameters
        self.report = report
        self.timings = timings
        self.clustering = clustering
    }

    /// The same run, with its curves.
    public func with(curves: RetrievalCurves?) -> RunInput {
        var copy = self
        copy.curves = curves
        return copy
    }
}

/// A recorded run, as read back.
public struct RunRecord: Sendable {
    /// One metric of a run, without its per-query values.
    public struct MetricValue: Sendable, Equatable {
        /// The metric's name, e.g. "map@r" (or "nmi", "ami" for clustering values).
        public let metric: String
        /// The mean over the scored queries.
        public let mean: Double
        /// The mean over classes of the class means, when recorded; nil otherwise.
        public let macroMean: Double?
    }

    /// The store's id of the run.
    public let id: Int64
    /// When it was recorded: ISO 8601, UTC.
    public let createdAt: String
    /// The dataset evaluated (the references).
    public let dataset: DatasetRecord
    /// The separate query set; nil in self-retrieval.
    public let queryDataset: DatasetRecord?
    /// The name given with `--name`, if any.
    public let name: String?
    /// The dmleval version that ran it.
    public let toolVersion: String
    /// "exact", the approximate index used, or "trec-run".
    public let search: String
    /// The similarity's raw value ("cosine", "ip", "l2"), or "none" for a TREC run.
    public let distance: String
    /// The depth of the ranked lists.
    public let depth: Int
    /// Every setting and convention, in order.
    public let parameters: [(String, String)]
    /// The number of queries scored.
    public let scoredQueries: Int
    /// The number of queries left out because R = 0.
    public let excludedQueries: Int
    /// The metrics in order, with their means.
    public let metrics: [MetricValue]
    /// Seconds per stage, in order.
    public let timings: [(String, Double)]
}

extension Store {
    /// Records a run, its metric means and its per-query values in one transaction.
    ///
    /// `beforeCommit`, when given, runs inside the transaction once the run has its id (to put
    /// files that name the run in place): if it throws, nothing is recorded.
    /// - Returns: the run's id.
    @discardableResult
    public func record(_ run: RunInput, beforeCommit: (Int64) throws -> Void = { _ in }) throws -> Int64 {
        try write { db in
            let id = try Store.insert(run, into: db)
            try beforeCommit(id)
            return id
        }
    }

    /// Inserts a run and its metrics within the caller's transaction.
    static func insert(_ run: RunInput, into db: Database) throws -> Int64 {
        try RunRow(
            id: nil, datasetId: run.datasetID, queryDatasetId: run.queryDatasetID, name: run.name, createdAt: Store.now(),
            toolVersion: run.toolVersion, search: run.search, distance: run.distance?.rawValue ?? "none", depth: run.depth,
            parameters: NamedValues(run.parameters), scoredQueries: run.report.scoredQueries,
            excludedQueries: run.report.excludedQueries, timings: NamedValues(run.timings)
        ).insert(db)
        let id = db.lastInsertedRowID
        for (m, metric) in run.report.metrics.enumerated() {
            let values = run.report.perQuery[m].map { Float($0) }
            let macro = run.report.perClass?.macroMeans[m]
            try RunMetricRow(runId: id, position: m, metric: metric.name, mean: finite(run.report.means[m]),
                             macroMean: macro.flatMap(finite), perQuery: values.withUnsafeBytes { Data($0) }).insert(db)
        }
        if let curves = run.curves {
            for k in 0 ..< curves.depth {
                try RunCurveRow(runId: id, k: k + 1, recall: finite(curves.recall[k]), precision: finite(curves.precision[k])).insert(db)
            }
        }
        for (c, (metric, value)) in run.clustering.enumerated() {
            try RunMetricRow(runId: id, position: run.report.metrics.count + c, metric: metric.rawValue, mean: finite(value),
                             macroMean: nil, perQuery: Data()).insert(db)
        }
        return id
    }

    /// `value`, or nil (stored as NULL, read back as NaN) when it is not finite.
    static func finite(_ value: Double) -> Double? { value.isFinite ? value : nil }

    /// The most recent runs, newest first.
    public func runs(limit: Int = 50, dataset: DatasetRecord? = nil) throws -> [RunRecord] {
        try read { db in
            var sql = "SELECT * FROM run"
            var arguments: StatementArguments = []
            if let dataset {
                sql += " WHERE datasetId = ?"
                arguments = [dataset.id]
            }
            sql += " ORDER BY id DESC LIMIT ?"
            arguments += [limit]
            return try RunRow.fetchAll(db, sql: sql, arguments: arguments).map { try runRecord(db, $0) }
        }
    }

    /// The run with this id.
    /// - Throws: `StoreError` when there is none.
    public func run(id: Int64) throws -> RunRecord {
        try read { db in
            guard let row = try RunRow.fetchOne(db, key: id) else {
                let last = try Int64.fetchOne(db, sql: "SELECT max(id) FROM run")
                throw StoreError("no run \(id) in \(path)" + (last.map { "; runs go up to \($0) ('dmleval runs list')" } ?? "; it holds no runs yet"))
            }
            return try runRecord(db, row)
        }
    }

    /// The per-query values of every metric of a run (NaN for excluded queries), in order.
    public func perQueryValues(runID: Int64) throws -> [(metric: String, values: [Float])] {
        try read { db in
            try RunMetricRow.fetchAll(db, sql: "SELECT * FROM runMetric WHERE runId = ? ORDER BY position", arguments: [runID]).map { row in
                let data = row.perQuery ?? Data()
                let values = data.withUnsafeBytes { raw in
                    (0 ..< data.count / 4).map { raw.loadUnaligned(fromByteOffset: 4 * $0, as: Float.self) }
                }
                return (row.metric, values)
            }
        }
    }

    /// The run's Recall@k and Precision@k curves, k = 1 ... depth; nil for a run recorded
    /// without them (before migration v4, or from a search that kept no lists).
    public func curves(runID: Int64) throws -> RetrievalCurves? {
        try read { db in
            let rows = try RunCurveRow.fetchAll(db, sql: "SELECT * FROM runCurve WHERE runId = ? ORDER BY k", arguments: [runID])
            guard !rows.isEmpty else { return nil }
            let scored = try Int.fetchOne(db, sql: "SELECT scoredQueries FROM run WHERE id = ?", arguments: [runID]) ?? 0
            guard rows.enumerated().allSatisfy({ $0.offset + 1 == $0.element.k }) else {
                throw StoreError("\(path): run \(runID) has damaged curves (a missing k); record the run again")
            }
            return RetrievalCurves(recall: rows.map { $0.recall ?? .nan }, precision: rows.map { $0.precision ?? .nan },
                                   scoredQueries: scored)
        }
    }

    private func runRecord(_ db: Database, _ row: RunRow) throws -> RunRecord {
        let id = row.id ?? 0
        guard let dataset = try Store.fetchDataset(db, whereSQL: "id = ?", arguments: [row.datasetId]).first else {
            throw StoreError("\(path): run \(id) names a missing dataset")
        }
        let queryDataset = try row.queryDatasetId.flatMap { try Store.fetchDataset(db, whereSQL: "id = ?", arguments: [$0]).first }
        let metrics = try RunMetricRow.fetchAll(
            db, sql: "SELECT runId, position, metric, mean, macroMean FROM runMetric WHERE runId = ? ORDER BY position", arguments: [id])
            .map { RunRecord.MetricValue(metric: $0.metric, mean: $0.mean ?? .nan, macroMean: $0.macroMean) }
        return RunRecord(
            id: id, createdAt: row.createdAt, dataset: dataset, queryDataset: queryDataset, name: row.name,
            toolVersion: row.toolVersion, search: row.search, distance: row.distance, depth: row.depth,
            parameters: row.parameters.pairs, scoredQueries: row.scoredQueries, excludedQueries: row.excludedQueries,
            metrics: metrics, timings: row.timings.pairs)
    }
}
