import RetrievalEval
import Foundation
import GRDB

/// What a run produced, ready to be recorded.
public struct RunInput: Sendable {
    public var datasetID: Int64
    /// The query set's dataset in query/reference mode, nil in self-retrieval.
    public var queryDatasetID: Int64?
    public var name: String?
    public var toolVersion: String
    /// "exact", the approximate index used, or "trec-run" for a ranking read from a file.
    public var search: String
    /// The similarity searched with; nil when the ranking was not searched here (a TREC run),
    /// stored as "none".
    public var distance: Distance?
    public var depth: Int
    /// Every setting and convention, in order (stored as a JSON object).
    public var parameters: [(String, String)]
    public var report: MetricReport
    /// Seconds per stage, in order.
    public var timings: [(String, Double)]
    /// Recall@k and Precision@k at every k, for reports (stored since migration v4).
    public var curves: RetrievalCurves?
    /// Values without per-query values (NMI, AMI), stored after the metrics with an empty
    /// per-query array.
    public var clustering: [(ClusteringMetric, Double)] = []

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
    public struct MetricValue: Sendable, Equatable {
        public let metric: String
        public let mean: Double
        public let macroMean: Double?
    }

    public let id: Int64
    public let createdAt: String
    public let dataset: DatasetRecord
    public let queryDataset: DatasetRecord?
    public let name: String?
    public let toolVersion: String
    public let search: String
    public let distance: String
    public let depth: Int
    public let parameters: [(String, String)]
    public let scoredQueries: Int
    public let excludedQueries: Int
    public let metrics: [MetricValue]
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
            try db.execute(
                sql: """
                    INSERT INTO run (datasetId, queryDatasetId, name, createdAt, toolVersion, search, distance, depth,
                                     parameters, scoredQueries, excludedQueries, timings)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [run.datasetID, run.queryDatasetID, run.name, Store.now(), run.toolVersion, run.search,
                            run.distance?.rawValue ?? "none", run.depth, Store.encodeObject(run.parameters.map { ($0.0, $0.1 as Any) }),
                            run.report.scoredQueries, run.report.excludedQueries,
                            Store.encodeObject(run.timings.map { ($0.0, $0.1 as Any) })])
            let id = db.lastInsertedRowID
            let statement = try db.makeStatement(
                sql: "INSERT INTO runMetric (runId, position, metric, mean, macroMean, perQuery) VALUES (?, ?, ?, ?, ?, ?)")
            for (m, metric) in run.report.metrics.enumerated() {
                let values = run.report.perQuery[m].map { Float($0) }
                let blob = values.withUnsafeBytes { Data($0) }
                let mean = run.report.means[m]
                let macro = run.report.perClass?.macroMeans[m]
                try statement.execute(arguments: [id, m, metric.name, mean.isFinite ? mean : nil,
                                                  macro.flatMap { $0.isFinite ? $0 : nil }, blob])
            }
            if let curves = run.curves {
                let point = try db.makeStatement(sql: "INSERT INTO runCurve (runId, k, recall, precision) VALUES (?, ?, ?, ?)")
                for k in 0 ..< curves.depth {
                    let (r, p) = (curves.recall[k], curves.precision[k])
                    try point.execute(arguments: [id, k + 1, r.isFinite ? r : nil, p.isFinite ? p : nil])
                }
            }
            for (c, (metric, value)) in run.clustering.enumerated() {
                try statement.execute(arguments: [id, run.report.metrics.count + c, metric.rawValue,
                                                  value.isFinite ? value : nil, nil, Data()])
            }
            return id
    }

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
            return try Row.fetchAll(db, sql: sql, arguments: arguments).map { try runRecord(db, $0) }
        }
    }

    /// The run with this id.
    /// - Throws: `StoreError` when there is none.
    public func run(id: Int64) throws -> RunRecord {
        try read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM run WHERE id = ?", arguments: [id]) else {
                let last = try Int64.fetchOne(db, sql: "SELECT max(id) FROM run")
                throw StoreError("no run \(id) in \(path)" + (last.map { "; runs go up to \($0) ('dmleval runs list')" } ?? "; it holds no runs yet"))
            }
            return try runRecord(db, row)
        }
    }

    /// The per-query values of every metric of a run (NaN for excluded queries), in order.
    public func perQueryValues(runID: Int64) throws -> [(metric: String, values: [Float])] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT metric, perQuery FROM runMetric WHERE runId = ? ORDER BY position", arguments: [runID]).map { row in
                let data: Data = row["perQuery"]
                let values = data.withUnsafeBytes { raw in
                    (0 ..< data.count / 4).map { raw.loadUnaligned(fromByteOffset: 4 * $0, as: Float.self) }
                }
                return (row["metric"], values)
            }
        }
    }

    /// The run's Recall@k and Precision@k curves, k = 1 ... depth; nil for a run recorded
    /// without them (before migration v4, or from a search that kept no lists).
    public func curves(runID: Int64) throws -> RetrievalCurves? {
        try read { db in
            let rows = try Row.fetchAll(db, sql: "SELECT k, recall, precision FROM runCurve WHERE runId = ? ORDER BY k", arguments: [runID])
            guard !rows.isEmpty else { return nil }
            let scored = try Int.fetchOne(db, sql: "SELECT scoredQueries FROM run WHERE id = ?", arguments: [runID]) ?? 0
            guard rows.enumerated().allSatisfy({ $0.offset + 1 == ($0.element["k"] as Int) }) else {
                throw StoreError("\(path): run \(runID) has damaged curves (a missing k); record the run again")
            }
            return RetrievalCurves(recall: rows.map { ($0["recall"] as Double?) ?? .nan },
                                   precision: rows.map { ($0["precision"] as Double?) ?? .nan }, scoredQueries: scored)
        }
    }

    private func runRecord(_ db: Database, _ row: Row) throws -> RunRecord {
        let datasetID: Int64 = row["datasetId"]
        let queryID: Int64? = row["queryDatasetId"]
        guard let dataset = try Store.fetchDataset(db, whereSQL: "id = ?", arguments: [datasetID]).first else {
            throw StoreError("\(path): run \(row["id"] as Int64) names a missing dataset")
        }
        let queryDataset = try queryID.flatMap { try Store.fetchDataset(db, whereSQL: "id = ?", arguments: [$0]).first }
        let metrics = try Row.fetchAll(
            db, sql: "SELECT metric, mean, macroMean FROM runMetric WHERE runId = ? ORDER BY position", arguments: [row["id"] as Int64]
        ).map { RunRecord.MetricValue(metric: $0["metric"], mean: ($0["mean"] as Double?) ?? .nan, macroMean: $0["macroMean"]) }
        return RunRecord(
            id: row["id"], createdAt: row["createdAt"], dataset: dataset, queryDataset: queryDataset, name: row["name"],
            toolVersion: row["toolVersion"], search: row["search"], distance: row["distance"], depth: row["depth"],
            parameters: Store.decodeObject(row["parameters"]).map { ($0.0, "\($0.1)") },
            scoredQueries: row["scoredQueries"], excludedQueries: row["excludedQueries"], metrics: metrics,
            timings: Store.decodeObject(row["timings"]).map { ($0.0, ($0.1 as? Double) ?? ($0.1 as? NSNumber)?.doubleValue ?? .nan) })
    }

    // MARK: - Ordered JSON objects

    /// Encodes ordered pairs as a JSON array of [key, value] pairs, keeping the order.
    static func encodeObject(_ pairs: [(String, Any)]) -> String {
        let array = pairs.map { [$0.0, $0.1] as [Any] }
        guard let data = try? JSONSerialization.data(withJSONObject: array) else { return "[]" }
        return String(decoding: data, as: UTF8.self)
    }

    static func decodeObject(_ text: String) -> [(String, Any)] {
        guard let array = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[Any]] else { return [] }
        return array.compactMap { pair in
            guard pair.count == 2, let key = pair[0] as? String else { return nil }
            return (key, pair[1])
        }
    }
}
