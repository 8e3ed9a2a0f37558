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

    var job: TrainingJob {
        var configuration = TrainingConfiguration()
        configuration.epochs = epochs
        configuration.batchSize = batchSize
        configuration.outputDimension = dim
        configuration.headLearningRate = lr
        configuration.proxyLearningRate = proxyLr
        configuration.weightDecay = weightDecay
        configuration.initialization = initialization
        configuration.evaluateEvery = evaluateEvery
        configuration.seed = seed
        var job = TrainingJob(
            features: features, labels: labels, test: test.count == 2 ? (test[0], test[1]) : nil, losses: losses,
            proxyCounts: proxyCounts, hyperparameters: hyperparameters.overrides(proxies: nil), configuration: configuration,
            repeats: repeats, store: storeOptions.location, toolVersion: DMLEval.version)
        job.headPath = out
        return job
    }

    func run() throws {
        let job = self.job
        var printer = EpochPrinter(format: format, hasTest: test.count == 2, dimension: dim,
                                   names: job.configuration.testMetrics.map(\.name))
        let outcome = try job.run(progress: ProgressPrinter().handler, events: { printer.show($0) })
        let names = outcome.metricNames
        if !isGrid {
            if let id = outcome.trainingRunID, let path = outcome.storePath {
                printError("training run \(id) stored in \(path)" + (outcome.evaluationRunID.map { "; the final head's test evaluation is run \($0)" } ?? ""))
            }
            return
        }
        print(format == .json ? JSON.array(outcome.cells.map { gridJSON($0, names: names) }).rendered() : gridTable(outcome).render(format))
        if format == .table || format == .markdown {
            print("\nfinal test metrics after \(epochs) epochs, x100" + (repeats > 1 ? ": mean (std) over \(repeats) runs" : ", one run"))
        }
        if let path = outcome.storePath { printError("every run stored in \(path): 'dmleval runs training' lists them") }
    }

    /// A grid cell's row: "mean (std)" of each metric x100, or the mean of one run.
    static func gridRow(_ cell: TrainingJob.GridCell) -> [String] {
        [cell.loss.rawValue, String(cell.proxiesPerClass)]
            + zip(cell.means, cell.spreads).map { cell.runs > 1 ? percent($0) + " (" + percent($1) + ")" : percent($0) }
    }

    private func gridTable(_ outcome: TrainingJob.Outcome) -> TextTable {
        TextTable(header: ["loss", "K"] + outcome.metricNames, rows: outcome.cells.map(Self.gridRow),
                  rightAligned: Set(1 ..< outcome.metricNames.count + 2))
    }

    private func gridJSON(_ cell: TrainingJob.GridCell, names: [String]) -> JSON {
        .object([("loss", .string(cell.loss.rawValue)), ("proxies", .int(cell.proxiesPerClass)), ("runs", .int(cell.runs)),
                 ("training_runs", storeOptions.noStore ? .null : .array(cell.storedRuns.map { .int(Int($0)) })),
                 ("mean", .object(zip(names, cell.means).map { ($0, .number($1)) })),
                 ("std", .object(zip(names, cell.spreads).map { ($0, .number($1)) }))])
    }

}

/// Prints a training job's events as they come: the run's heading, its epochs (a table with
/// fixed column widths), the head written, and each grid cell.
struct EpochPrinter {
    let format: OutputFormat
    let hasTest: Bool
    /// The head's output dimension, and the test metrics' names.
    let dimension: Int
    let names: [String]
    /// The epochs so far, for the formats printed once training ends.
    private var table = TextTable(header: [], rows: [])
    private var widths: [Int] = []

    init(format: OutputFormat, hasTest: Bool, dimension: Int, names: [String]) {
        self.format = format
        self.hasTest = hasTest
        self.dimension = dimension
        self.names = names
    }

    private func historyJSON(_ history: [EpochRecord]) -> JSON {
        .array(history.map { r in
            .object([("epoch", .int(r.epoch)), ("loss", r.loss.map { .number($0) } ?? .null),
                     ("test", .object(zip(names, r.test).map { ($0, .number($1)) })), ("seconds", .number(r.seconds))])
        })
    }

    private func line(_ cells: [String]) -> String {
        zip(cells, widths).map { String(repeating: " ", count: max(0, $1 - $0.count)) + $0 }.joined(separator: "  ")
    }

    mutating func show(_ event: TrainingJob.Event) {
        switch event {
        case .started(let loss, let k, let inputDimension, let rows, let classes, let test):
            printError("training \(loss.rawValue) (K = \(k)): head \(inputDimension) -> \(dimension), "
                + "\(rows) items in \(classes) classes"
                + (test.map { "; test \($0.rows) items in \($0.classes) classes" } ?? "; no test set"))
            table = TextTable(header: ["epoch", "loss"] + (hasTest ? names : []) + ["seconds"], rows: [],
                              rightAligned: Set(0 ..< names.count + 3))
            // Epoch lines are printed as they come, so every column gets a fixed width.
            widths = table.header.map { max($0.count, 8) }
            if format == .table {
                print(line(table.header))
                print(widths.map { String(repeating: "-", count: $0) }.joined(separator: "  "))
            }
        case .epoch(let record):
            let test = record.test.isEmpty && hasTest ? names.map { _ in "" } : record.test.map { percent($0) }
            let row = [String(record.epoch), record.loss.map { formatFixed($0, decimals: 4) } ?? "-"]
                + test + [formatFixed(record.seconds, decimals: 2)]
            table.rows.append(row)
            if format == .table {
                print(line(row))
                fflush(nil)
            }
        case .trained(let history):
            if format != .table { print(format == .json ? historyJSON(history).rendered() : table.render(format)) }
        case .headWritten(let head, let rows, let columns, let proxies, let proxyRows, let proxyColumns):
            printError("head written to \(head) (\(rows) x \(columns)), proxies to \(proxies) (\(proxyRows) x \(proxyColumns))")
        case .cellFinished(let cell):
            if format == .table {
                printError("done: \(TrainCommand.gridRow(cell).joined(separator: "  "))"
                    + (cell.storedRuns.isEmpty ? "" : " (training runs \(cell.storedRuns.map(String.init).joined(separator: ", ")))"))
            }
        }
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
