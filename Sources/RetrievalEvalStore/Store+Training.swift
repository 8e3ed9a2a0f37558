import RetrievalEval
import Foundation
import GRDB

/// A training run to record: what was trained on, how, and its curves.
public struct TrainingInput: Sendable {
    public var trainingDatasetID: Int64
    public var testDatasetID: Int64?
    /// The run that evaluated the final head's test embeddings, if any.
    public var evaluationRunID: Int64?
    public var loss: String
    public var toolVersion: String
    /// Every setting, in order.
    public var parameters: [(String, String)]
    /// The test metrics' names, in the order of each epoch's values.
    public var metricNames: [String]
    /// Per epoch: its number, mean loss (nil for epoch 0), test values (empty if not
    /// evaluated) and seconds.
    public var epochs: [(epoch: Int, loss: Double?, test: [Double], seconds: Double)]

    public init(trainingDatasetID: Int64, testDatasetID: Int64?, evaluationRunID: Int64?, loss: String, toolVersion: String,
                parameters: [(String, String)], metricNames: [String],
                epochs: [(epoch: Int, loss: Double?, test: [Double], seconds: Double)]) {
        self.trainingDatasetID = trainingDatasetID
        self.testDatasetID = testDatasetID
        self.evaluationRunID = evaluationRunID
        self.loss = loss
        self.toolVersion = toolVersion
        self.parameters = parameters
        self.metricNames = metricNames
        self.epochs = epochs
    }
}

extension Store {
    /// The tables of training runs and their per-epoch curves.
    static func registerTrainingMigration(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v2: training runs and curves") { db in
            try db.create(table: "trainingRun") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("createdAt", .text).notNull()
                t.column("toolVersion", .text).notNull()
                t.column("loss", .text).notNull()
                t.column("parameters", .text).notNull()  // JSON array of [name, value] pairs
                t.column("trainingDatasetId", .integer).notNull().references("dataset")
                t.column("testDatasetId", .integer).references("dataset")
                t.column("evaluationRunId", .integer).references("run")
                t.column("metricNames", .text).notNull()  // JSON array
            }
            try db.create(table: "trainingEpoch") { t in
                t.column("trainingRunId", .integer).notNull().references("trainingRun", onDelete: .cascade)
                t.column("epoch", .integer).notNull()
                t.column("loss", .double)
                t.column("test", .text).notNull()  // JSON array of values in metricNames order, [] if not evaluated
                t.column("seconds", .double).notNull()
                t.primaryKey(["trainingRunId", "epoch"])
            }
        }
    }

    /// Records a training run and its curves in one transaction, with the run that evaluated
    /// its final head when given (then `training.evaluationRunID` is set to that run's id):
    /// a process killed at any point leaves both or neither.
    /// - Returns: the training run's id and the evaluation run's.
    @discardableResult
    public func record(_ training: TrainingInput, evaluation: RunInput? = nil) throws -> (training: Int64, evaluation: Int64?) {
        try write { db in
            var training = training
            var evaluationID: Int64?
            if let evaluation {
                evaluationID = try Store.insert(evaluation, into: db)
                training.evaluationRunID = evaluationID
            }
            try db.execute(
                sql: """
                    INSERT INTO trainingRun (createdAt, toolVersion, loss, parameters, trainingDatasetId, testDatasetId,
                                             evaluationRunId, metricNames)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [Store.now(), training.toolVersion, training.loss,
                            Store.encodeObject(training.parameters.map { ($0.0, $0.1 as Any) }),
                            training.trainingDatasetID, training.testDatasetID, training.evaluationRunID,
                            String(decoding: try JSONSerialization.data(withJSONObject: training.metricNames), as: UTF8.self)])
            let id = db.lastInsertedRowID
            let statement = try db.makeStatement(
                sql: "INSERT INTO trainingEpoch (trainingRunId, epoch, loss, test, seconds) VALUES (?, ?, ?, ?, ?)")
            for e in training.epochs {
                // A non-finite value (a diverged epoch) is stored as NULL and read back as NaN:
                // never as 0, which would read as a real, terrible score.
                let test = String(decoding: try JSONSerialization.data(withJSONObject: e.test.map { $0.isFinite ? $0 as Any : NSNull() }), as: UTF8.self)
                try statement.execute(arguments: [id, e.epoch, e.loss.flatMap { $0.isFinite ? $0 : nil }, test, e.seconds])
            }
            return (id, evaluationID)
        }
    }

    /// A training run's curves: per epoch, the loss and the test values by metric name.
    /// A loss that was not finite is NaN (epoch 0, the untrained head, has none: nil); a test
    /// value that was not finite is NaN.
    public func trainingCurves(id: Int64) throws -> [(epoch: Int, loss: Double?, test: [String: Double])] {
        try read { db in
            guard let names = try String.fetchOne(db, sql: "SELECT metricNames FROM trainingRun WHERE id = ?", arguments: [id]),
                  let metricNames = try? JSONSerialization.jsonObject(with: Data(names.utf8)) as? [String]
            else { throw StoreError("no training run \(id) in \(path)") }
            return try Row.fetchAll(db, sql: "SELECT epoch, loss, test FROM trainingEpoch WHERE trainingRunId = ? ORDER BY epoch",
                                    arguments: [id]).map { row in
                let values = Store.decodeValues(row["test"])
                let epoch: Int = row["epoch"]
                let loss: Double? = row["loss"] ?? (epoch == 0 ? nil : .nan)
                return (epoch, loss, Dictionary(uniqueKeysWithValues: zip(metricNames, values)))
            }
        }
    }
}

/// A stored training run, with its last epoch.
public struct TrainingRunSummary: Sendable {
    public let id: Int64
    public let createdAt: String
    public let loss: String
    /// Every setting, in order.
    public let parameters: [(String, String)]
    public let metricNames: [String]
    public let evaluationRunID: Int64?
    /// The last epoch: its number, mean loss, and test values (in `metricNames` order; empty
    /// if it was not evaluated).
    public let lastEpoch: Int
    public let lastLoss: Double?
    public let lastTest: [Double]

    public func parameter(_ name: String) -> String? { parameters.first { $0.0 == name }?.1 }
}

extension Store {
    /// The most recent training runs, newest first.
    public func trainingRuns(limit: Int) throws -> [TrainingRunSummary] {
        try read { db in
            try Row.fetchAll(db, sql: """
                SELECT r.id, r.createdAt, r.loss, r.parameters, r.metricNames, r.evaluationRunId, e.epoch, e.loss AS lastLoss, e.test
                FROM trainingRun r
                LEFT JOIN trainingEpoch e ON e.trainingRunId = r.id
                    AND e.epoch = (SELECT MAX(epoch) FROM trainingEpoch WHERE trainingRunId = r.id)
                ORDER BY r.id DESC LIMIT ?
                """, arguments: [limit]).map { row in
                let names = (try? JSONSerialization.jsonObject(with: Data((row["metricNames"] as String).utf8)) as? [String]) ?? []
                let test = (row["test"] as String?).map(Store.decodeValues) ?? []
                return TrainingRunSummary(
                    id: row["id"], createdAt: row["createdAt"], loss: row["loss"],
                    parameters: Store.decodeObject(row["parameters"]).map { ($0.0, "\($0.1)") }, metricNames: names,
                    evaluationRunID: row["evaluationRunId"], lastEpoch: row["epoch"] ?? 0,
                    lastLoss: row["lastLoss"] ?? ((row["epoch"] ?? 0) == 0 ? nil : .nan), lastTest: test)
            }
        }
    }
}

extension Store {
    /// A JSON array of numbers in which `null` stands for a non-finite value: NaN.
    static func decodeValues(_ text: String) -> [Double] {
        guard let array = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [Any] else { return [] }
        return array.map { ($0 as? NSNumber)?.doubleValue ?? .nan }
    }
}
