import MetricLearning
import RetrievalEval
import Testing

/// A loss and K for the training-path checks: K = 1 and the paper's K = 10 for every loss
/// that has more than one proxy per class.
struct TrainingPathCase: CustomStringConvertible, Sendable {
    let loss: LossKind
    let k: Int
    var description: String { "\(loss.rawValue), K = \(k)" }

    static let all: [TrainingPathCase] = LossKind.allCases.flatMap { loss in
        (loss == .proxyAnchor ? [1] : [1, 10]).map { TrainingPathCase(loss: loss, k: $0) }
    }
}

@Suite("The Float training path (ProxyLossWorkspace) against the exact Double path")
struct TrainingPathTests {
    /// The same `Float` inputs through both paths.
    static func compare(_ loss: any ProxyLoss, _ problem: Problem) throws -> (value: Double, embeddings: Double, proxies: Double) {
        let ef = problem.embeddings.floatMatrix, pf = problem.proxies.floatMatrix
        let exact = try loss.backward(embeddings: DoubleMatrix(ef), labels: problem.labels, proxies: DoubleMatrix(pf))
        let workspace = ProxyLossWorkspace(loss)
        let value = try workspace.evaluate(embeddings: ef, labels: problem.labels, proxies: pf)
        return (abs(value - exact.value) / max(1, abs(exact.value)),
                relativeError(workspace.embeddingGradient.map(Double.init), exact.embeddings.values),
                relativeError(workspace.proxyGradient.map(Double.init), exact.proxies.values))
    }

    @Test("loss and both gradients agree to 1e-4", arguments: TrainingPathCase.all)
    func agreesWithDouble(_ c: TrainingPathCase) throws {
        let loss = c.loss.make(k: c.k)
        // 40 embeddings of 24 classes (some classes without a positive), d = 70 (not a
        // multiple of 4, so the kernels' tails run too).
        let problem = Problem(n: 40, d: 70, classes: 24, k: c.k, oneClass: false, seed: UInt64(17 + c.k))
        let errors = try Self.compare(loss, problem)
        #expect(errors.value < 1e-4, "loss: relative error \(errors.value)")
        #expect(errors.embeddings < 1e-4, "dL/dEmbeddings: relative error \(errors.embeddings)")
        #expect(errors.proxies < 1e-4, "dL/dProxies: relative error \(errors.proxies)")
    }

    @Test("agrees on a batch of a single class", arguments: [LossKind.mpa, .softTriple, .mpaAP])
    func oneClass(_ kind: LossKind) throws {
        let problem = Problem(n: 12, d: 33, classes: 5, k: 10, oneClass: true, seed: 4)
        let errors = try Self.compare(kind.make(k: 10), problem)
        #expect(errors.value < 1e-4 && errors.embeddings < 1e-4 && errors.proxies < 1e-4, "\(errors)")
    }

    @Test("forward alone gives the value of evaluate with gradients")
    func forwardOnly() throws {
        let loss = MPAAPLoss(.init(proxiesPerClass: 10))
        let problem = Problem(n: 20, d: 16, classes: 6, k: 10, oneClass: false, seed: 8)
        let ef = problem.embeddings.floatMatrix, pf = problem.proxies.floatMatrix
        let workspace = ProxyLossWorkspace(loss)
        let full = try workspace.evaluate(embeddings: ef, labels: problem.labels, proxies: pf)
        let valueOnly = try workspace.evaluate(embeddings: ef, labels: problem.labels, proxies: pf, gradients: false)
        #expect(full == valueOnly)
        #expect(try loss.forward(embeddings: ef, labels: problem.labels, proxies: pf) == full)
    }

    @Test("a reused workspace gives what a fresh one gives, across batch sizes and thread counts")
    func reuse() throws {
        let loss = SoftTripleLoss(.init(proxiesPerClass: 10))
        let big = Problem(n: 64, d: 40, classes: 8, k: 10, oneClass: false, seed: 21)
        let small = Problem(n: 9, d: 40, classes: 8, k: 10, oneClass: false, seed: 22)
        let reused = ProxyLossWorkspace(loss, threads: 2)
        _ = try reused.evaluate(embeddings: big.embeddings.floatMatrix, labels: big.labels, proxies: big.proxies.floatMatrix)
        let again = try reused.evaluate(embeddings: small.embeddings.floatMatrix, labels: small.labels,
                                        proxies: small.proxies.floatMatrix)
        let fresh = ProxyLossWorkspace(loss, threads: 1)
        let once = try fresh.evaluate(embeddings: small.embeddings.floatMatrix, labels: small.labels,
                                      proxies: small.proxies.floatMatrix)
        #expect(abs(again - once) <= 1e-6 * abs(once))
        #expect(relativeError(reused.embeddingGradient.map(Double.init), fresh.embeddingGradient.map(Double.init)) < 1e-6)
        #expect(relativeError(reused.proxyGradient.map(Double.init), fresh.proxyGradient.map(Double.init)) < 1e-6)
    }

    @Test("a zero row is refused with the same error as the Double path")
    func zeroRow() throws {
        let loss = MPALoss(.init(proxiesPerClass: 2))
        let e = Matrix(rows: 2, columns: 3, values: [1, 0, 0, 0, 0, 0])
        let p = Matrix(rows: 4, columns: 3, values: Array(repeating: 1, count: 12))
        do {
            _ = try ProxyLossWorkspace(loss).evaluate(embeddings: e, labels: [0, 1], proxies: p)
            Issue.record("a zero embedding was accepted")
        } catch let error as ProxyLossError {
            #expect(error.code == .zeroVector)
            #expect(error.message.contains("embedding row 1"))
        }
    }
}

@Suite("AdamW in Float")
struct AdamWTests {
    @Test("five steps match the update written out in Double", arguments: [1, 2])
    func matchesFormula(threads: Int) {
        // More values than one worker's minimum, so two threads split the update.
        let count = 70_001
        var rng = SplitMix64(seed: 31)
        var parameters = (0 ..< count).map { _ in Float(rng.gaussian()) }
        let initial = parameters
        var reference = parameters.map(Double.init)
        var m = [Double](repeating: 0, count: count), v = [Double](repeating: 0, count: count)
        var optimizer = AdamW(count: count, weightDecay: 0.01, threads: threads)
        let lr = 1e-2
        for step in 1 ... 5 {
            let gradient = (0 ..< count).map { _ in Float(rng.gaussian() * 0.1) }
            optimizer.update(&parameters, gradient: gradient, learningRate: lr)
            let c1 = 1 - pow(0.9, Double(step)), c2 = 1 - pow(0.999, Double(step))
            for i in 0 ..< count {
                let g = Double(gradient[i])
                m[i] = 0.9 * m[i] + 0.1 * g
                v[i] = 0.999 * v[i] + 0.001 * g * g
                reference[i] -= lr * (m[i] / c1) / ((v[i] / c2).squareRoot() + 1e-8) + lr * 0.01 * reference[i]
            }
        }
        let error = maxAbsoluteDifference(parameters.map(Double.init), reference)
        // Each step moves a value by about lr; Float keeps that to a few 1e-7 relative.
        #expect(error < 1e-5, "max |Float - Double| = \(error)")
        // The check is not vacuous: the parameters moved by far more than that.
        #expect(maxAbsoluteDifference(parameters.map(Double.init), initial.map(Double.init)) > 1e-2)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
