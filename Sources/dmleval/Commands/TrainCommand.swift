import ArgumentParser
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MetricLearning
import DMLEvalJobs
import RetrievalEval
import RetrievalEvalStore

extension LinearHead.Initialization: ExpressibleByArgument {}

/// `dmleval train`: a linear head on frozen features, with any of the six losses.
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a linear projection head (and proxies) on frozen features.",
        discussion: """
            Prints the mean batch loss and the test metrics (recall@1, ndcg@2,4,8, map@r by
            exact retrieval on the projected test features) after every epoch; epoch 0 is the
            untrained head. Writes the head (D x d) to --out and the proxies (C*K x d) next
            to it as NAME-proxies.npy. --epochs 0 writes the untrained head.

            With several losses and/or several --proxies values, runs the grid --repeats
            times each (seeds seed, seed+1, ...) and prints mean (std) of the final test
            metrics, one row per loss and K, as the paper's tables do.
            """
    )

    @Argument(help: ArgumentHelp("Training features (N x D).", valueName: "features"))
    var features: String

    @Argument(help: ArgumentHelp("Their class labels.", valueName: "labels"))
    var labels: String

    @Option(parsing: .upToNextOption, help: ArgumentHelp("Test features and labels (two files).", valueName: "features labels"))
    var test: [String] = []

    @Option(help: "Loss, or comma-separated losses for a grid: proxy-nca, proxy-anchor, soft-triple, mpa, mpa-dw, mpa-ap.")
    var loss: String = "mpa-ap"

    @Option(help: ArgumentHelp("K, or comma-separated values for a grid (default: the loss's).", valueName: "K,..."))
    var proxies: String?

    @Option(help: ArgumentHelp("d, the output dimension.", valueName: "d"))
    var dim: Int = 128

    @Option(help: "Epochs.")
    var epochs: Int = 60

    @Option(help: "Batch size.")
    var batchSize: Int = 180

    @Option(help: ArgumentHelp("AdamW learning rate of the head (the paper's backbone rate).", valueName: "lr"))
    var lr: Double = 1e-4

    @Option(help: ArgumentHelp("AdamW learning rate of the proxies.", valueName: "lr"))
    var proxyLr: Double = 1e-2

    @Option(help: ArgumentHelp("AdamW decoupled weight decay.", valueName: "wd"))
    var weightDecay: Double = 0.01

    @Option(help: "How the head starts: random (seeded) or identity (needs --dim = D).")
    var initialization: LinearHead.Initialization = .random

    @Option(help: "Seed of the initialisation and the batches.")
    var seed: UInt64 = 0

    @Option(help: "Runs per grid cell (seeds seed, seed+1, ...).")
    var repeats: Int = 1

    @Option(help: ArgumentHelp("Evaluate the test set every N epochs (and after the last); a grid evaluates only after the last.", valueName: "N"))
    var evaluateEvery: Int = 1

    @Option(help: ArgumentHelp("Where to write the head (.npy); the proxies go to NAME-proxies.npy.", valueName: "head.npy"))
    var out: String?

    @OptionGroup var hyperparameters: LossHyperparameters

    @Option(help: "Output format of the results: table, json, csv or markdown.")
    var format: OutputFormat = .table

    @OptionGroup var storeOptions: StoreOptions


    var losses: [LossName] = []
    var proxyCounts: [Int?] = [nil]

    enum CodingKeys: String, CodingKey {
        case features, labels, test, loss, proxies, dim, epochs, batchSize, lr, proxyLr, weightDecay, initialization,
             seed, repeats, evaluateEvery, out, hyperparameters, format, storeOptions
    }

    mutating func validate() throws {
        losses = []
        for name in loss.split(separator: ",") {
            guard let l = LossName(rawValue: String(name.trimmingSpaces())) else {
                throw ValidationError("--loss: unknown loss '\(name)'; expected \(LossName.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            losses.append(l)
        }
        guard !losses.isEmpty else { throw ValidationError("--loss: expected at least one loss") }
        proxyCounts = try proxies.map { try parseCutoffs($0, flag: "--proxies").map { Optional($0) } } ?? [nil]
        if !test.isEmpty && test.count != 2 { throw ValidationError("--test takes two files: FEATURES LABELS") }
        if dim < 1 || batchSize < 1 || epochs < 0 || repeats < 1 || evaluateEvery < 1 {
            throw ValidationError("--dim, --batch-size, --repeats and --evaluate-every must be at least 1, --epochs at least 0")
        }
        if epochs > 100_000 || repeats > 1_000 {
            throw ValidationError("--epochs: expected at most 100,000 and --repeats at most 1,000, found \(epochs) and \(repeats)")
        }
        for (flag, v) in [("--lr", lr), ("--proxy-lr", proxyLr), ("--weight-decay", weightDecay)] where !(v >= 0 && v.isFinite) {
            throw ValidationError("\(flag): expected a finite number >= 0, found \(v)")
        }
        if isGrid && out != nil { throw ValidationError("--out writes one head; leave it out for a grid of several runs") }
        for l in losses {
            for k in proxyCounts(for: l) { _ = try hyperparameters.make(l, proxies: k) }
        }
    }

    var isGrid: Bool { losses.count > 1 || proxyCounts.count > 1 || repeats > 1 }

    /// The K values a loss runs with: ProxyAnchor has one proxy per class, so in a grid over
    /// several K it runs once, at K = 1 (a single run with another K is still refused).
    func proxyCounts(for loss: LossName) -> [Int?] {
        loss == .proxyAnchor && proxyCounts.count > 1 ? [1] : proxyCounts
    }

    func run() throws {
        // Files are read by their extension: --dim here is the head's output dimension.
        try storeOptions.checkWritable()
        let training = try LabeledEmbeddings.read(embeddings: features, labels: labels)
        let testData = test.count == 2 ? try LabeledEmbeddings.read(embeddings: test[0], labels: test[1]) : nil
        // What the largest run of the grid holds, checked before anything is allocated: the head
        // and the proxies with their two AdamW moments each, the projected sets, a batch's
        // similarities to every proxy.
        for l in losses {
            for k in proxyCounts(for: l) {
                let proxiesPerClass = try hyperparameters.make(l, proxies: k).proxiesPerClass
                let proxyRows = MemoryBudget.product(training.labels.classCount, proxiesPerClass)
                let floats = MemoryBudget.sum(
                    MemoryBudget.product(3, training.embeddings.columns, dim),
                    proxyRows.flatMap { MemoryBudget.product(3, $0, dim) },
                    MemoryBudget.product(training.embeddings.rows + (testData?.embeddings.rows ?? 0), dim),
                    proxyRows.flatMap { MemoryBudget.product(4, min(batchSize, training.embeddings.rows), $0) })
                try MemoryBudget.require(floats.flatMap { MemoryBudget.product(4, $0) },
                                         for: "training \(l.rawValue) with --dim \(dim) and K = \(proxiesPerClass)")
            }
        }
        var configuration = TrainingConfiguration()
        configuration.epochs = epochs
        configuration.batchSize = batchSize
        configuration.outputDimension = dim
        configuration.headLearningRate = lr
        configuration.proxyLearningRate = proxyLr
        configuration.weightDecay = weightDecay
        configuration.initialization = initialization
        configuration.evaluateEvery = isGrid ? 0 : evaluateEvery
        let names = configuration.testMetrics.map(\.name)

        if !isGrid {
            let lossFunction = try hyperparameters.make(losses[0], proxies: proxyCounts[0])
            configuration.seed = seed
            printError("training \(losses[0].rawValue) (K = \(lossFunction.proxiesPerClass)): head \(training.embeddings.columns) -> \(dim), "
                + "\(training.embeddings.rows) items in \(training.labels.classCount) classes"
                + (testData.map { "; test \($0.embeddings.rows) items in \($0.labels.classCount) classes" } ?? "; no test set"))
            var table = TextTable(header: ["epoch", "loss"] + (testData == nil ? [] : names) + ["seconds"], rows: [],
                                  rightAligned: Set(0 ..< names.count + 3))
            // Epoch lines are printed as they come, so every column gets a fixed width.
            let widths = table.header.map { max($0.count, 8) }
            func line(_ cells: [String]) -> String {
                zip(cells, widths).map { String(repeating: " ", count: max(0, $1 - $0.count)) + $0 }.joined(separator: "  ")
            }
            if format == .table {
                print(line(table.header))
                print(widths.map { String(repeating: "-", count: $0) }.joined(separator: "  "))
            }
            let bar = ProgressBar("epoch")
            let result = try Trainer.train(
                loss: lossFunction, training: training, test: testData, configuration: configuration,
                onEpoch: { record in
                    bar.finish()
                    let test = record.test.isEmpty && testData != nil ? names.map { _ in "" } : record.test.map { percent($0) }
                    let row = [String(record.epoch), record.loss.map { formatFixed($0, decimals: 4) } ?? "-"]
                        + test + [formatFixed(record.seconds, decimals: 2)]
                    table.rows.append(row)
                    if format == .table {
                        print(line(row))
                        fflush(nil)
                    }
                },
                onBatch: { bar.update($0) })
            if format != .table {
                print(format == .json ? historyJSON(result.history, names: names).rendered() : table.render(format))
            }
            if let out {
                try createFolder(forFile: out)
                try ArrayWriter.writeNpy(result.head.weights, to: out)
                let proxiesPath = (out.hasSuffix(".npy") ? String(out.dropLast(4)) : out) + "-proxies.npy"
                try ArrayWriter.writeNpy(result.proxies, to: proxiesPath)
                printError("head written to \(out) (\(result.head.inputDimension) x \(result.head.outputDimension)), proxies to \(proxiesPath) (\(result.proxies.rows) x \(result.proxies.columns))")
            }
            if !storeOptions.noStore {
                let inputs = try storeInputs(training: training, test: testData)
                let (id, evaluationRun) = try record(
                    result, in: inputs, lossName: losses[0].rawValue, loss: lossFunction, configuration: configuration)
                printError("training run \(id) stored in \(inputs.store.path)" + (evaluationRun.map { "; the final head's test evaluation is run \($0)" } ?? ""))
            }
            return
        }

        // The grid: final test metrics, mean (std) over repeats.
        guard testData != nil else { throw ValidationError("a grid compares test metrics: give --test FEATURES LABELS") }
        var grid = TextTable(header: ["loss", "K"] + names, rows: [], rightAligned: Set(1 ..< names.count + 2))
        var jsonRows: [JSON] = []
        // Every run of the grid is stored with its settings (naming the grid and the repeat) and
        // curves, whose last epoch holds the final test metrics. Unlike a single run, the
        // projected test embeddings are not stored as a dataset with an evaluation run: a grid
        // of 60 runs would add 60 copies of the test set. The store is opened, and the inputs
        // stored, once the first run has succeeded.
        var inputs: StoredInputs?
        let gridSetting = ("grid", "losses \(losses.map(\.rawValue).joined(separator: ",")); proxies \(proxyCounts.map { $0.map(String.init) ?? "default" }.joined(separator: ",")); repeats \(repeats)")
        for l in losses {
            for k in proxyCounts(for: l) {
                let lossFunction = try hyperparameters.make(l, proxies: k)
                var finals: [[Double]] = []
                var storedRuns: [Int64] = []
                for r in 0 ..< repeats {
                    configuration.seed = seed &+ UInt64(r)
                    let bar = ProgressBar("\(l.rawValue) K=\(lossFunction.proxiesPerClass) run \(r + 1)/\(repeats)")
                    let result = try Trainer.train(loss: lossFunction, training: training, test: testData,
                                                   configuration: configuration,
                                                   onBatch: { bar.update($0) })
                    bar.finish()
                    finals.append(result.history.last!.test)
                    if !storeOptions.noStore {
                        if inputs == nil { inputs = try storeInputs(training: training, test: testData) }
                        storedRuns.append(try record(
                            result, in: inputs!, lossName: l.rawValue, loss: lossFunction, configuration: configuration,
                            extra: [gridSetting, ("repeat", "\(r + 1) of \(repeats)")], storeEvaluation: false).0)
                    }
                }
                let stats = names.indices.map { m -> (Double, Double) in
                    let values = finals.map { $0[m] }
                    let mean = values.reduce(0, +) / Double(values.count)
                    let variance = values.count > 1 ? values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count - 1) : 0
                    return (mean, variance.squareRoot())
                }
                grid.rows.append([l.rawValue, String(lossFunction.proxiesPerClass)]
                    + stats.map { repeats > 1 ? percent($0.0) + " (" + percent($0.1) + ")" : percent($0.0) })
                jsonRows.append(.object([("loss", .string(l.rawValue)), ("proxies", .int(lossFunction.proxiesPerClass)),
                                         ("runs", .int(repeats)),
                                         ("training_runs", storeOptions.noStore ? .null : .array(storedRuns.map { .int(Int($0)) })),
                                         ("mean", .object(zip(names, stats).map { ($0, .number($1.0)) })),
                                         ("std", .object(zip(names, stats).map { ($0, .number($1.1)) }))]))
                if format == .table {
                    printError("done: \(grid.rows.last!.joined(separator: "  "))"
                        + (storedRuns.isEmpty ? "" : " (training runs \(storedRuns.map(String.init).joined(separator: ", ")))"))
                }
            }
        }
        print(format == .json ? JSON.array(jsonRows).rendered() : grid.render(format))
        if format == .table || format == .markdown {
            print("\nfinal test metrics after \(epochs) epochs, x100" + (repeats > 1 ? ": mean (std) over \(repeats) runs" : ", one run"))
        }
        if let inputs { printError("every run stored in \(inputs.store.path): 'dmleval runs training' lists them") }
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
            let projectedRecord = try store.ingest(projected, embeddingsPath: out).dataset
            evaluation = RunInput(
                datasetID: projectedRecord.id, name: "\(lossName) head on \(self.test[0])", toolVersion: DMLEval.version,
                search: "exact", distance: .cosine, depth: result.depth,
                parameters: [("metrics", configuration.testMetrics.map(\.name).joined(separator: ","))] + settings,
                report: result.report, timings: [("search", result.searchSeconds), ("metrics", result.metricSeconds)])
        }
        // The training run and its test evaluation in one transaction: never one without the other.
        let ids = try store.record(TrainingInput(
            trainingDatasetID: inputs.training.id, testDatasetID: inputs.test?.id, evaluationRunID: nil,
            loss: lossName, toolVersion: DMLEval.version, parameters: settings,
            metricNames: configuration.testMetrics.map(\.name),
            epochs: result.history.map { ($0.epoch, $0.loss, $0.test, $0.seconds) }), evaluation: evaluation)
        return (ids.training, ids.evaluation)
    }

    /// The store and the training and test sets as stored (once per command, however many runs).
    private struct StoredInputs {
        let store: Store
        let training: DatasetRecord
        let test: DatasetRecord?
    }

    private func storeInputs(training: LabeledEmbeddings, test: LabeledEmbeddings?) throws -> StoredInputs {
        let store = try storeOptions.open()
        return StoredInputs(
            store: store, training: try store.ingest(training, embeddingsPath: features, labelsPath: labels).dataset,
            test: try test.map { try store.ingest($0, embeddingsPath: self.test[0], labelsPath: self.test[1]).dataset })
    }

    /// Every setting of a training run, as stored.
    private func parameters(lossName: String, loss: any ProxyLoss, configuration c: TrainingConfiguration) -> [(String, String)] {
        let p: [(String, String)] = [
            ("loss", lossName), ("proxies", String(loss.proxiesPerClass)), ("dim", String(c.outputDimension)),
            ("epochs", String(c.epochs)), ("batch_size", String(c.batchSize)), ("lr", "\(c.headLearningRate)"),
            ("proxy_lr", "\(c.proxyLearningRate)"), ("weight_decay", "\(c.weightDecay)"),
            ("decay", "x\(c.decayFactor) every \(c.decayEvery) epochs"), ("initialization", c.initialization.rawValue),
            ("seed", String(c.seed)), ("features", features), ("labels", labels),
        ]
        return p + hyperparameters.given
    }

    private func historyJSON(_ history: [EpochRecord], names: [String]) -> JSON {
        .array(history.map { r in
            .object([("epoch", .int(r.epoch)), ("loss", r.loss.map { .number($0) } ?? .null),
                     ("test", .object(zip(names, r.test).map { ($0, .number($1)) })), ("seconds", .number(r.seconds))])
        })
    }
}

/// `dmleval project`: apply a trained head to features.
struct ProjectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "project",
        abstract: "Apply a trained head to features: z = normalize(W^T f), written as .npy or .fbin.")

    @Argument(help: ArgumentHelp("The head (D x d .npy from 'dmleval train').", valueName: "head.npy"))
    var head: String

    @Argument(help: ArgumentHelp("Features (N x D).", valueName: "features"))
    var features: String

    @Option(name: .shortAndLong, help: ArgumentHelp("The embeddings to write (.npy or .fbin).", valueName: "file"))
    var output: String

    @OptionGroup var input: InputOptions

    func run() throws {
        let weights = try EmbeddingReader.read(head, format: .npy)
        let f = try input.readEmbeddings(features)
        guard f.columns == weights.rows else {
            throw InputError(.badShape, file: features, expected: "\(weights.rows) dimensions, the input of \(head)",
                             found: "\(f.columns)", remedy: "project the features the head was trained on")
        }
        let z = LinearHead(weights: weights).project(f)
        let folders = try createFolder(forFile: output)
        do { try ArrayWriter.write(z, to: output) } catch { removeFolders(folders); throw error }
        print("\(z.rows) embeddings of \(z.columns) dimensions written to \(output)")
    }
}
