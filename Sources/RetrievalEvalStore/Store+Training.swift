import RetrievalEval
import Foundation
import GRDB

/// A training run to record: what was trained on, how, and its curves.
public struct TrainingInput: Sendable {
    /// The store's id of the dataset trained on.
    public var trainingDatasetID: Int64
    /// The store's id of the test set evaluated after each epoch, if any.
    public var testDatasetID: Int64?
    /// The run that evaluated the final head's test embeddings, if any.
    public var evaluationRunID: Int64?
    /// The loss as the command line names it (`LossName`), e.g. "mpa-dw".
    public var loss: String
    /// The dmleval version that trained.
    public var toolVersion: String
    /// Every setting, in order.
    public var parameters: [(String, String)]
    /// The test metrics' names, in the order of each epoch's values.
    public var metricNames: [String]
    /// Per epoch: its number, mean loss (nil for epoch 0), test values (empty if not
    /// evaluated) and seconds.
    public var epochs: [(epoch: Int, loss: Double?, test: [Double], seconds: Double)]

    /// A training run to record.
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
            try TrainingRunRow(
                id: nil, createdAt: Store.now(), toolVersion: training.toolVersion, loss: training.loss,
                parameters: NamedValues(training.parameters), trainingDatasetId: training.trainingDatasetID,
                testDatasetId: training.testDatasetID, evaluationRunId: training.evaluationRunID, metricNames: training.metricNames
            ).insert(db)
            let id = db.lastInsertedRowID
            for e in training.epochs {
                // A non-finite value (a diverged epoch) is stored as NULL and read back as NaN:
                // never as 0, which would read as a real, terrible score.
                try TrainingEpochRow(trainingRunId: id, epoch: e.epoch, loss: e.loss.flatMap(Store.finite),
                                     test: e.test.map(Store.finite), seconds: e.seconds).insert(db)
            }
            return (id, evaluationID)
        }
    }

    /// A training run's curves: per epoch, the loss and the test values by metric name.
    /// A loss that was not finite is NaN (epoch 0, the untrained head, has none: nil); a test
    /// value that was not finite is NaN.
    public func trainingCurves(id: Int64) throws -> [(epoch: Int, loss: Double?, test: [String: Double])] {
        try read { db in
            guard let run = try TrainingRunRow.fetchOne(db, key: id) else { throw StoreError("no training run \(id) in \(path)") }
            return try TrainingEpochRow.fetchAll(db, sql: "SELECT * FROM trainingEpoch WHERE trainingRunId = ? ORDER BY epoch",
                                                 arguments: [id]).map { row in
                let loss = row.loss ?? (row.epoch == 0 ? nil : .nan)
                return (row.epoch, loss, Dictionary(uniqueKeysWithValues: zip(run.metricNames, row.test.map { $0 ?? .nan })))
            }
        }
    }
}

/// A stored training run, with its last epoch.
public struct TrainingRunSummary: Sendable {
    /// The store's id of the training run.
    public let id: Int64
    /// When it was recorded: ISO 8601, UTC.
    public let createdAt: String
    /// The loss's name.
    public let loss: String
    /// Every setting, in order.
    public let parameters: [(String, String)]
    /// The test metrics' names, in the order of `lastTest`.
    public let metricNames: [String]
    /// The run that evaluated the final head's test embeddings, if any.
    public let evaluationRunID: Int64?
    /// The last epoch's number (0 when none was recorded).
    public let lastEpoch: Int
    /// The last epoch's mean loss; nil when that is epoch 0 (before any training) or no epoch was
    /// recorded.
    public let lastLoss: Double?
    /// The last epoch's test values, in `metricNames` order; empty if it was not evaluated.
    public let lastTest: [Double]

    /// The value of the setting `name`, if the run has it.
    public func parameter(_ name: String) -> String? { parameters.first { $0.0 == name }?.1 }
}

extension Store {
    /// The most recent training runs, newest first.
    public func trainingRuns(limit: Int) throws -> [TrainingRunSummary] {
        try read { db in
            try TrainingRunRow.fetchAll(db, sql: "SELECT * FROM trainingRun ORDER BY id DESC LIMIT ?", arguments: [limit]).map { run in
                let last = try TrainingEpochRow.fetchOne(
                    db, sql: "SELECT * FROM trainingEpoch WHERE trainingRunId = ? ORDER BY epoch DESC LIMIT 1", arguments: [run.id])
                let epoch = last?.epoch ?? 0
                return TrainingRunSummary(
                    id: run.id ?? 0, createdAt: run.createdAt, loss: run.loss, parameters: run.parameters.pairs,
                    metricNames: run.metricNames, evaluationRunID: run.evaluationRunId, lastEpoch: epoch,
                    lastLoss: last?.loss ?? (epoch == 0 ? nil : .nan), lastTest: last?.test.map { $0 ?? .nan } ?? [])
            }
        }
    }
}
