import RetrievalEval

/// How a head is trained (Saeki et al. 2023, Sec. 4.2, where the paper gives a value).
public struct TrainingConfiguration: Sendable {
    /// The number of passes over the training set.
    public var epochs = 60
    /// The number of training items per batch (the last batch of an epoch may be smaller).
    public var batchSize = 180
    /// d, the embedding dimension the head projects to.
    public var outputDimension = 128
    /// AdamW learning rate of the head: the paper's 1e-4 for the backbone (here the head).
    public var headLearningRate = 1e-4
    /// AdamW learning rate of the proxies: the paper's 1e-2.
    public var proxyLearningRate = 1e-2
    /// AdamW's decoupled weight decay (the paper gives none; 0.01 is PyTorch's default).
    public var weightDecay = 0.01
    /// Both learning rates are multiplied by `decayFactor` every `decayEvery` epochs.
    public var decayEvery = 20
    /// The factor the learning rates are multiplied by every `decayEvery` epochs.
    public var decayFactor = 0.5
    /// Seeds the head's and the proxies' initialisation and the order of the batches.
    public var seed: UInt64 = 0
    /// How the head's weights start: random or the identity.
    public var initialization: LinearHead.Initialization = .random
    /// What is measured on the test set before the first epoch and after every
    /// `evaluateEvery`-th epoch and the last.
    public var testMetrics: [Metric] = [.recall(k: 1), .ndcg(k: 2), .ndcg(k: 4), .ndcg(k: 8), .mapAtR]
    /// Evaluate the test set every this many epochs (the last always; 0: only before the first and
    /// after the last).
    public var evaluateEvery = 1

    /// The paper's settings (Sec. 4.2) where it gives them.
    public init() {}
}

/// One epoch's figures; epoch 0 is the untrained head.
public struct EpochRecord: Sendable {
    /// The epoch's number, from 0.
    public let epoch: Int
    /// The mean batch loss (nil for epoch 0).
    public let loss: Double?
    /// The test metrics' means, in `testMetrics` order (empty without a test set, or for an
    /// epoch that was not evaluated).
    public let test: [Double]
    /// Seconds spent training this epoch (test evaluation excluded).
    public let seconds: Double
}

/// A trained head, its proxies and the curves.
public struct TrainingResult: Sendable {
    /// The trained head.
    public let head: LinearHead
    /// C K x d; row c K + k is proxy k of class c (class order: first appearance in the labels).
    public let proxies: Matrix
    /// Every epoch's figures, epoch 0 (the untrained head) first.
    public let history: [EpochRecord]
    /// The final head's test embeddings and their evaluation (nil without a test set).
    public let finalTest: (embeddings: LabeledEmbeddings, evaluation: RetrievalEvaluation)?
}

/// Trains a linear head and the proxies of a loss on frozen features.
public enum Trainer {
    /// Trains with seeded random batches; evaluates the test set by exact retrieval after
    /// every epoch and before the first.
    ///
    /// - Parameters:
    ///   - onEpoch: called after every epoch (and for epoch 0).
    ///   - onBatch: called with the fraction of the current epoch done.
    /// - Throws: `ProxyLossError` for bad settings or inputs, `SearchError`/`MetricError`
    ///   from the test evaluation.
    public static func train(
        loss: any ProxyLoss, training: LabeledEmbeddings, test: LabeledEmbeddings?,
        configuration c: TrainingConfiguration,
        onEpoch: (EpochRecord) -> Void = { _ in }, onBatch: ((Double) -> Void)? = nil
    ) throws -> TrainingResult {
        guard c.batchSize >= 1, c.epochs >= 0, c.outputDimension >= 1 else {
            throw ProxyLossError(code: .invalidConfiguration,
                                 message: "batch size \(c.batchSize), epochs \(c.epochs), dimension \(c.outputDimension): expected at least 1, 0, 1")
        }
        if let test, test.embeddings.columns != training.embeddings.columns {
            throw ProxyLossError(code: .dimensionMismatch,
                                 message: "the test features have \(test.embeddings.columns) dimensions, the training features \(training.embeddings.columns)")
        }
        let features = training.embeddings
        let labels = training.labels.classIndex.map(Int.init)
        let k = loss.proxiesPerClass
        let classes = training.labels.classCount
        var head = try LinearHead(inputDimension: features.columns, outputDimension: c.outputDimension,
                                  initialization: c.initialization, seed: c.seed)
        var rng = SplitMix64(seed: c.seed &+ 0x5EED)
        var proxies = Matrix(rows: classes * k, columns: c.outputDimension,
                             values: (0 ..< classes * k * c.outputDimension).map { _ in Float(rng.gaussian()) })
        var headOptimizer = AdamW(count: head.weights.values.count, weightDecay: c.weightDecay)
        var proxyOptimizer = AdamW(count: proxies.values.count, weightDecay: c.weightDecay)

        // The latest evaluation is kept: after the last epoch it is the final head's.
        var latest: (embeddings: LabeledEmbeddings, evaluation: RetrievalEvaluation)?
        func evaluate() throws -> [Double] {
            guard let test else { return [] }
            let projected = try LabeledEmbeddings(embeddings: head.project(test.embeddings), labels: test.labels)
            let evaluation = try RetrievalEvaluation.run(references: projected, metrics: c.testMetrics)
            latest = (projected, evaluation)
            return evaluation.report.means
        }

        var history = [EpochRecord(epoch: 0, loss: nil, test: try evaluate(), seconds: 0)]
        onEpoch(history[0])
        let clock = ContinuousClock()
        let workspace = ProxyLossWorkspace(loss)
        let inputDimension = features.columns, outputDimension = c.outputDimension
        var weightGradient = [Float](repeating: 0, count: inputDimension * outputDimension)
        var order = Array(0 ..< features.rows)
        for epoch in stride(from: 1, through: c.epochs, by: 1) {
            let start = clock.now
            // The test evaluation (exact search) leaves BLAS single-threaded; the products
            // here are the bulk of an epoch, so they get every core.
            BLAS.setThreads(workspace.threads)
            let decay = pow(c.decayFactor, Double((epoch - 1) / max(1, c.decayEvery)))
            order.shuffle(using: &rng)
            var total = 0.0, batches = 0
            for first in stride(from: 0, to: order.count, by: c.batchSize) {
                let rows = order[first ..< min(first + c.batchSize, order.count)]
                var batch = Matrix(zeros: rows.count, inputDimension)
                batch.values.withUnsafeMutableBufferPointer { out in
                    features.values.withUnsafeBufferPointer { source in
                        for (i, r) in rows.enumerated() {
                            let from = source.baseAddress! + r * inputDimension
                            (out.baseAddress! + i * inputDimension).update(from: from, count: inputDimension)
                        }
                    }
                }
                let value = try workspace.evaluate(embeddings: head.outputs(batch), labels: rows.map { labels[$0] },
                                                   proxies: proxies)
                // dL/dW = F^T dL/du.
                batch.values.withUnsafeBufferPointer { f in
                    workspace.embeddingGradient.withUnsafeBufferPointer { du in
                        weightGradient.withUnsafeMutableBufferPointer { dw in
                            BLAS.gemm(transposeA: true, transposeB: false, m: inputDimension, n: outputDimension,
                                      k: rows.count, a: f.baseAddress!, lda: inputDimension, b: du.baseAddress!,
                                      ldb: outputDimension, c: dw.baseAddress!, ldc: outputDimension)
                        }
                    }
                }
                headOptimizer.update(&head.weights.values, gradient: weightGradient,
                                     learningRate: c.headLearningRate * decay)
                proxyOptimizer.update(&proxies.values, gradient: workspace.proxyGradient,
                                      learningRate: c.proxyLearningRate * decay)
                total += value
                batches += 1
                onBatch?(Double(min(first + c.batchSize, order.count)) / Double(order.count))
            }
            let seconds = (clock.now - start).seconds
            let due = epoch == c.epochs || (c.evaluateEvery > 0 && epoch % c.evaluateEvery == 0)
            let record = EpochRecord(epoch: epoch, loss: total / Double(max(1, batches)), test: due ? try evaluate() : [],
                                     seconds: seconds)
            history.append(record)
            onEpoch(record)
        }
        return TrainingResult(head: head, proxies: proxies, history: history, finalTest: latest)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
