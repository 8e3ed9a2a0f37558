import MetricLearning
import RetrievalEval
import RetrievalEvalStore

/// Training as one library call: a linear head (and proxies) on frozen features, one run or a
/// grid of losses x K x repeats with the means and spreads of the final test metrics, each
/// run recorded with its settings and curves.
public struct TrainingJob: Sendable {
    /// The training features.
    public var features: String
    /// The training features' labels.
    public var labels: String
    /// The test features and their labels (needed by a grid).
    public var test: (features: String, labels: String)?
    /// The losses; several make a grid.
    public var losses: [LossName]
    /// K values (nil: the loss's default); several make a grid.
    public var proxyCounts: [Int?]
    /// Hyperparameters that override the losses' defaults (their `proxies` is not used).
    public var hyperparameters: LossName.Overrides
    /// The optimisation settings; `seed` is the first run's, `evaluateEvery` a single run's.
    public var configuration: TrainingConfiguration
    /// Runs per grid cell (seeds seed, seed + 1, ...).
    public var repeats: Int
    /// Where a single run writes its head (.npy); the proxies go to NAME-proxies.npy.
    public var headPath: String?
    /// The store recording the runs; nil records nothing.
    public var store: StoreLocation?
    /// The tool version recorded with the runs.
    public var toolVersion: String

    /// One run of `loss` with the default settings.
    public init(features: String, labels: String, test: (features: String, labels: String)? = nil, losses: [LossName],
                proxyCounts: [Int?] = [nil], hyperparameters: LossName.Overrides = .init(),
                configuration: TrainingConfiguration = .init(), repeats: Int = 1, store: StoreLocation?, toolVersion: String) {
        self.features = features
        self.labels = labels
        self.test = test
        self.losses = losses
        self.proxyCounts = proxyCounts
        self.hyperparameters = hyperparameters
        self.configuration = configuration
        self.repeats = repeats
        self.store = store
        self.toolVersion = toolVersion
    }

    /// Whether several runs are made (several losses, several K or repeats).
    public var isGrid: Bool { losses.count > 1 || proxyCounts.count > 1 || repeats > 1 }

    /// The K values a loss runs with: ProxyAnchor has one proxy per class, so in a grid over
    /// several K it runs once, at K = 1.
    public func proxyCounts(for loss: LossName) -> [Int?] {
        loss == .proxyAnchor && proxyCounts.count > 1 ? [1] : proxyCounts
    }

    /// `loss` made with the hyperparameters and K.
    public func make(_ loss: LossName, proxies: Int?) throws -> any ProxyLoss {
        var overrides = hyperparameters
        overrides.proxies = proxies
        return try loss.make(overrides)
    }

    /// The hyperparameters given, as stored with a run.
    public var givenHyperparameters: [(String, String)] {
        let h = hyperparameters
        return [("alpha", h.alpha), ("delta", h.delta), ("gamma", h.gamma), ("tau", h.tau), ("lambda", h.lambda), ("scale", h.scale)]
            .compactMap { name, value in value.map { (name, "\($0)") } }
    }

    /// Every setting of a training run, as stored.
    public func parameters(lossName: String, loss: any ProxyLoss, configuration c: TrainingConfiguration) -> [(String, String)] {
        let p: [(String, String)] = [
            ("loss", lossName), ("proxies", String(loss.proxiesPerClass)), ("dim", String(c.outputDimension)),
            ("epochs", String(c.epochs)), ("batch_size", String(c.batchSize)), ("lr", "\(c.headLearningRate)"),
            ("proxy_lr", "\(c.proxyLearningRate)"), ("weight_decay", "\(c.weightDecay)"),
            ("decay", "x\(c.decayFactor) every \(c.decayEvery) epochs"), ("initialization", c.initialization.rawValue),
            ("seed", String(c.seed)), ("features", features), ("labels", labels),
        ]
        return p + givenHyperparameters
    }

    /// What happens while the job runs, in order.
    public enum Event: Sendable {
        /// A single run starts: its loss and K, the training set's shape and the test set's.
        case started(loss: LossName, proxiesPerClass: Int, inputDimension: Int, trainingRows: Int, trainingClasses: Int,
                     test: (rows: Int, classes: Int)?)
        /// A single run finished an epoch (epoch 0: the untrained head).
        case epoch(EpochRecord)
        /// A single run finished training, before anything is written.
        case trained([EpochRecord])
        /// A single run's head and proxies were written.
        case headWritten(head: String, rows: Int, columns: Int, proxies: String, proxyRows: Int, proxyColumns: Int)
        /// A grid cell's runs are done.
        case cellFinished(GridCell)
    }

    /// A grid cell: one loss and K over the repeats.
    public struct GridCell: Sendable {
        /// The cell's loss.
        public let loss: LossName
        /// The cell's K, proxies per class.
        public let proxiesPerClass: Int
        /// The runs made (the repeats).
        public let runs: Int
        /// The training runs stored, in order (empty when nothing is stored).
        public let storedRuns: [Int64]
        /// Per test metric: the mean of the final values over the runs.
        public let means: [Double]
        /// Per test metric: the sample standard deviation of the final values over the runs (0 for
        /// one run).
        public let spreads: [Double]
    }

    /// What the job produced.
    public struct Outcome: Sendable {
        /// The test metrics' names.
        public let metricNames: [String]
        /// A single run's result (nil for a grid).
        public let single: TrainingResult?
        /// A single run's stored training run.
        public let trainingRunID: Int64?
        /// A single run's final head's test evaluation run in the store.
        public let evaluationRunID: Int64?
        /// A grid's cells, in order.
        public let cells: [GridCell]
        /// The store the runs went to (nil when nothing was stored).
        public let storePath: String?
    }

    /// The mean and the sample standard deviation of each column of `finals` (one row per run).
    public static func meansAndSpreads(_ finals: [[Double]]) -> (means: [Double], spreads: [Double]) {
        let columns = finals.first?.count ?? 0
        let stats = (0 ..< columns).map { m -> (Double, Double) in
            let values = finals.map { $0[m] }
            let mean = values.reduce(0, +) / Double(values.count)
            let variance = values.count > 1 ? values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count - 1) : 0
            return (mean, variance.squareRoot())
        }
        return (stats.map(\.0), stats.map(\.1))
    }

    /// Runs the job.
    /// - Parameters:
    ///   - progress: the batches of each run.
    ///   - events: what happens, as it happens.
    /// - Throws: `JobError.trainingExceedsMemory` (checked before anything is allocated),
    ///   `JobError.gridNeedsTestSet`, the readers', losses' and store's errors.
    public func run(progress: ProgressHandler? = nil, events: (Event) -> Void = { _ in }) throws -> Outcome {
        try store?.checkCreatable()
        // Files are read by their extension.
        let training = try LabeledEmbeddings.read(embeddings: features, labels: labels)
        let testData = try test.map { try LabeledEmbeddings.read(embeddings: $0.features, labels: $0.labels) }
        let dim = configuration.outputDimension, batchSize = configuration.batchSize
        // What the largest run of the grid holds, checked before anything is allocated: the head
        // and the proxies with their two AdamW moments each, the projected sets, a batch's
        // similarities to every proxy.
        for l in losses {
            for k in proxyCounts(for: l) {
                let proxiesPerClass = try make(l, proxies: k).proxiesPerClass
                let proxyRows = MemoryBudget.product(training.labels.classCount, proxiesPerClass)
                let floats = MemoryBudget.sum(
                    MemoryBudget.product(3, training.embeddings.columns, dim),
                    proxyRows.flatMap { MemoryBudget.product(3, $0, dim) },
                    MemoryBudget.product(training.embeddings.rows + (testData?.embeddings.rows ?? 0), dim),
                    proxyRows.flatMap { MemoryBudget.product(4, min(batchSize, training.embeddings.rows), $0) })
                let bytes = floats.flatMap { MemoryBudget.product(4, $0) }
                let limit = MemoryBudget.limitBytes
                if bytes == nil || bytes! > limit {
                    throw JobError.trainingExceedsMemory(loss: l.rawValue, dimension: dim, proxiesPerClass: proxiesPerClass,
                                                         bytes: bytes, limit: limit)
                }
            }
        }
        var configuration = self.configuration
        if isGrid { configuration.evaluateEvery = 0 }
        let names = configuration.testMetrics.map(\.name)

        if !isGrid {
            let loss = try make(losses[0], proxies: proxyCounts[0])
            events(.started(loss: losses[0], proxiesPerClass: loss.proxiesPerClass, inputDimension: training.embeddings.columns,
                            trainingRows: training.embeddings.rows, trainingClasses: training.labels.classCount,
                            test: testData.map { ($0.embeddings.rows, $0.labels.classCount) }))
            let stage = StageProgress("epoch", progress)
            let result = try Trainer.train(
                loss: loss, training: training, test: testData, configuration: configuration,
                onEpoch: { record in
                    stage.finish()
                    events(.epoch(record))
                },
                onBatch: { stage.update($0) })
            events(.trained(result.history))
            if let headPath {
                try OutputFolders.create(forFile: headPath)
                try ArrayWriter.writeNpy(result.head.weights, to: headPath)
                let proxiesPath = (headPath.hasSuffix(".npy") ? String(headPath.dropLast(4)) : headPath) + "-proxies.npy"
                try ArrayWriter.writeNpy(result.proxies, to: proxiesPath)
                events(.headWritten(head: headPath, rows: result.head.inputDimension, columns: result.head.outputDimension,
                                    proxies: proxiesPath, proxyRows: result.proxies.rows, proxyColumns: result.proxies.columns))
            }
            var ids: (Int64, Int64?)?
            var storePath: String?
            if store != nil {
                let inputs = try storeInputs(training: training, test: testData)
                ids = try record(result, in: inputs, lossName: losses[0].rawValue, loss: loss, configuration: configuration)
                storePath = inputs.store.path
            }
            return Outcome(metricNames: names, single: result, trainingRunID: ids?.0, evaluationRunID: ids?.1 ?? nil,
                           cells: [], storePath: storePath)
        }

        // The grid: final test metrics, mean (std) over repeats.
        guard testData != nil else { throw JobError.gridNeedsTestSet }
        // Every run of the grid is stored with its settings (naming the grid and the repeat) and
        // curves, whose last epoch holds the final test metrics. Unlike a single run, the
        // projected test embeddings are not stored as a dataset with an evaluation run: a grid
        // of 60 runs would add 60 copies of the test set. The store is opened, and the inputs
        // stored, once the first run has succeeded.
        var inputs: StoredInputs?
        var cells: [GridCell] = []
        let gridSetting = ("grid", "losses \(losses.map(\.rawValue).joined(separator: ",")); proxies \(proxyCounts.map { $0.map(String.init) ?? "default" }.joined(separator: ",")); repeats \(repeats)")
        for l in losses {
            for k in proxyCounts(for: l) {
                let loss = try make(l, proxies: k)
                var finals: [[Double]] = []
                var storedRuns: [Int64] = []
                for r in 0 ..< repeats {
                    configuration.seed = self.configuration.seed &+ UInt64(r)
                    let stage = StageProgress("\(l.rawValue) K=\(loss.proxiesPerClass) run \(r + 1)/\(repeats)", progress)
                    let result = try Trainer.train(loss: loss, training: training, test: testData, configuration: configuration,
                                                   onBatch: { stage.update($0) })
                    stage.finish()
                    finals.append(result.history.last!.test)
                    if store != nil {
                        if inputs == nil { inputs = try storeInputs(training: training, test: testData) }
                        storedRuns.append(try record(
                            result, in: inputs!, lossName: l.rawValue, loss: loss, configuration: configuration,
                            extra: [gridSetting, ("repeat", "\(r + 1) of \(repeats)")], storeEvaluation: false).0)
                    }
                }
                let (means, spreads) = Self.meansAndSpreads(finals)
                let cell = GridCell(loss: l, proxiesPerClass: loss.proxiesPerClass, runs: repeats, storedRuns: storedRuns,
                                    means: means, spreads: spreads)
                cells.append(cell)
                events(.cellFinished(cell))
            }
        }
        return Outcome(metricNames: names, single: nil, trainingRunID: nil, evaluationRunID: nil, cells: cells,
                       storePath: inputs?.store.path)
    }

    /// Stores the training data, the run's curves and, with a test set, the final head's test
    /// evaluation (the trainer's own, not a second one) as an ordinary run, so it can be
    /// compared, exported and checked.
    /// - Returns: the training run's id and its test evaluation run's.
    private func record(
        _ result: TrainingResult, in inputs: StoredInputs, lossName: String, loss: any ProxyLoss,
        configuration: TrainingConfiguration, extra: [(String, String)] = [], storeEvaluation: Bool = true
    ) throws -> (Int64, Int64?) {
        let store = inputs.store
        let settings = parameters(lossName: lossName, loss: loss, configuration: configuration) + extra
        var evaluation: RunInput?
        if storeEvaluation, let (projected, result) = result.finalTest {
            let projectedRecord = try store.ingest(projected, embeddingsPath: headPath).dataset
            evaluation = RunInput(
                datasetID: projectedRecord.id, name: "\(lossName) head on \(test!.features)", toolVersion: toolVersion,
                search: "exact", distance: .cosine, depth: result.depth,
                parameters: [("metrics", configuration.testMetrics.map(\.name).joined(separator: ","))] + settings,
                report: result.report, timings: [("search", result.searchSeconds), ("metrics", result.metricSeconds)])
        }
        // The training run and its test evaluation in one transaction: never one without the other.
        let ids = try store.record(TrainingInput(
            trainingDatasetID: inputs.training.id, testDatasetID: inputs.test?.id, evaluationRunID: nil,
            loss: lossName, toolVersion: toolVersion, parameters: settings,
            metricNames: configuration.testMetrics.map(\.name),
            epochs: result.history.map { ($0.epoch, $0.loss, $0.test, $0.seconds) }), evaluation: evaluation)
        return (ids.training, ids.evaluation)
    }

    /// The store and the training and test sets as stored (once per job, however many runs).
    private struct StoredInputs {
        let store: Store
        let training: DatasetRecord
        let test: DatasetRecord?
    }

    private func storeInputs(training: LabeledEmbeddings, test: LabeledEmbeddings?) throws -> StoredInputs {
        let store = try self.store!.open()
        return StoredInputs(
            store: store, training: try store.ingest(training, embeddingsPath: features, labelsPath: labels).dataset,
            test: try test.map { try store.ingest($0, embeddingsPath: self.test!.features, labelsPath: self.test!.labels).dataset })
    }
}
