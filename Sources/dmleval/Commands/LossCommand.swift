import ArgumentParser
import MetricLearning
import DMLEvalJobs
import RetrievalEval
import RetrievalEvalStore

extension LossName: ExpressibleByArgument {}

/// The hyperparameter flags of the losses, shared by `loss` and `train`; a flag the chosen
/// loss does not have is refused when the loss is made.
struct LossHyperparameters: ParsableArguments {
    @Option(help: ArgumentHelp("alpha, the scale of ProxyAnchor and the MPA family (default 32).", valueName: "a"))
    var alpha: Double?

    @Option(help: ArgumentHelp("delta, the margin (default 0.1; soft-triple 0.01).", valueName: "d"))
    var delta: Double?

    @Option(help: ArgumentHelp("gamma, the temperature of the class similarity, eq. (1) (default 0.1).", valueName: "g"))
    var gamma: Double?

    @Option(help: ArgumentHelp("tau, the weight of the proxy regulariser, eq. (3) (default 0.2).", valueName: "t"))
    var tau: Double?

    @Option(help: ArgumentHelp("lambda of soft-triple (default 20).", valueName: "l"))
    var lambda: Double?

    @Option(help: ArgumentHelp("The softmax scale of proxy-nca (default 1).", valueName: "s"))
    var scale: Double?

    func validate() throws {
        if let gamma, !(gamma > 0) { throw ValidationError("--gamma: expected a positive temperature, found \(gamma)") }
        for (flag, value) in [("--alpha", alpha), ("--delta", delta), ("--tau", tau), ("--lambda", lambda), ("--scale", scale)] {
            if let value, !value.isFinite { throw ValidationError("\(flag): expected a finite number, found \(value)") }
        }
    }

    /// The settings that override a loss's defaults, with K.
    func overrides(proxies: Int?) -> LossName.Overrides {
        .init(proxies: proxies, alpha: alpha, delta: delta, gamma: gamma, tau: tau, lambda: lambda, scale: scale)
    }

    /// The settings given, as stored with a run.
    var given: [(String, String)] {
        [("alpha", alpha), ("delta", delta), ("gamma", gamma), ("tau", tau), ("lambda", lambda), ("scale", scale)]
            .compactMap { name, value in value.map { (name, "\($0)") } }
    }

    /// `loss` configured with these settings and K, or a usage error naming the problem.
    func make(_ loss: LossName, proxies: Int?) throws -> any ProxyLoss {
        do {
            return try loss.make(overrides(proxies: proxies))
        } catch let error as ProxyLossError {
            throw ValidationError(error.message)
        }
    }
}

/// The loss of `dmleval loss`: its name, K and hyperparameters.
struct LossOptions: ParsableArguments {
    @Option(help: "The loss: proxy-nca, proxy-anchor, soft-triple, mpa, mpa-dw or mpa-ap.")
    var loss: LossName

    @Option(help: ArgumentHelp("K, proxies per class (default: 10 for soft-triple and the MPA family, 1 otherwise).", valueName: "K"))
    var proxies: Int?

    @OptionGroup var hyperparameters: LossHyperparameters

    func validate() throws {
        if let proxies, proxies < 1 { throw ValidationError("--proxies: expected K >= 1, found \(proxies)") }
    }

    /// The configured loss.
    func make() throws -> any ProxyLoss {
        try hyperparameters.make(loss, proxies: proxies)
    }
}

/// `dmleval loss`: one loss value and its gradients, for cross-checking implementations.
struct LossCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "loss",
        abstract: "Evaluate a loss and its gradients on given embeddings and proxies.",
        discussion: """
            The embeddings and the proxies are taken as they are and normalised inside the
            loss; the gradients are with respect to the values given (through the
            normalisation), in float64. LABELS hold integer classes in [0, C); P.npy holds
            C*K rows, row c*K + k being proxy k of class c. With --grad-out DIR, writes
            DIR/grad_embeddings.npy (N x d) and DIR/grad_proxies.npy (C*K x d), float64.
            scripts/torch-losses.py checks them against PyTorch's autograd.
            """
    )

    @Argument(help: ArgumentHelp("Embeddings (N x d): .npy, .fbin/.bin, .fvecs, or raw with --dim.", valueName: "embeddings"))
    var embeddings: String

    @Argument(help: ArgumentHelp("Integer class labels in [0, C), one per row: .txt or .npy.", valueName: "labels"))
    var labels: String

    @Option(help: ArgumentHelp("The proxies, C*K x d (.npy, .fbin).", valueName: "P.npy"))
    var proxyFile: String

    @OptionGroup var options: LossOptions

    @Flag(help: "Print {\"loss\": value} instead of a line of text.")
    var json = false

    @Option(help: ArgumentHelp("Write the gradients to this folder.", valueName: "dir"))
    var gradOut: String?

    @OptionGroup var input: InputOptions

    func validate() throws {
        _ = try options.make()
    }

    func run() throws {
        let data = try input.read(embeddings: embeddings, labels: labels)
        let proxies = try EmbeddingReader.read(proxyFile)
        let loss = try options.make()
        let k = loss.proxiesPerClass
        guard proxies.rows % k == 0 else {
            throw InputError(.badShape, file: proxyFile, expected: "a multiple of K = \(k) rows (C classes x K proxies)",
                             found: "\(proxies.rows) rows", remedy: "write C*K proxies, or pass the --proxies they were made for")
        }
        let classes = proxies.rows / k
        let classOf = try integerClasses(data.labels, classes: classes)
        guard proxies.columns == data.embeddings.columns else {
            throw InputError(.badShape, file: proxyFile, expected: "\(data.embeddings.columns) dimensions, like \(embeddings)",
                             found: "\(proxies.columns)", remedy: "give proxies of the embeddings' dimension")
        }
        let result: LossGradients
        do {
            result = try loss.backward(embeddings: DoubleMatrix(data.embeddings), labels: classOf, proxies: DoubleMatrix(proxies))
        } catch let error as ProxyLossError {
            throw InputError(.badShape, file: embeddings, expected: "inputs the loss accepts", found: error.message,
                             remedy: "fix the inputs")
        }
        if let gradOut {
            try createFolder(gradOut)
            try ArrayWriter.writeNpy(float64: result.embeddings.values, rows: result.embeddings.rows,
                                     columns: result.embeddings.columns, to: gradOut + "/grad_embeddings.npy")
            try ArrayWriter.writeNpy(float64: result.proxies.values, rows: result.proxies.rows,
                                     columns: result.proxies.columns, to: gradOut + "/grad_proxies.npy")
        }
        if json {
            print(JSON.object([("loss", .number(result.value))]).rendered())
        } else {
            print("\(options.loss.rawValue) loss: \(result.value)  (N = \(data.embeddings.rows), d = \(data.embeddings.columns), C = \(classes), K = \(k))")
        }
    }

    /// The labels as class indices in [0, classes): integers as they are, text that spells
    /// integers parsed.
    private func integerClasses(_ labels: Labels, classes: Int) throws -> [Int] {
        var out: [Int] = []
        out.reserveCapacity(labels.count)
        for i in 0 ..< labels.count {
            let value: Int?
            switch labels.values {
            case .integers(let v): value = Int(exactly: v[i])
            case .strings(let s): value = Int(s[i])
            }
            guard let c = value, c >= 0, c < classes else {
                let location: InputError.Location = if case .strings = labels.values { .line(i + 1) } else { .row(i) }
                throw InputError(.badLabel, file: self.labels, at: location,
                                 expected: "an integer class in [0, \(classes)) (the proxy file holds \(classes) classes of K proxies)",
                                 found: "'\(labels.label(at: i))'", remedy: "number the classes 0 ..< C in the order of the proxies")
            }
            out.append(c)
        }
        return out
    }
}
