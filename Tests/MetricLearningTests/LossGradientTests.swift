import MetricLearning
import RetrievalEval
import Testing

/// The six losses, built with their default hyperparameters except K.
enum LossKind: String, CaseIterable, Sendable {
    case proxyNCA, proxyAnchor, softTriple, mpa, mpaDW, mpaAP

    func make(k: Int) -> any ProxyLoss {
        switch self {
        case .proxyNCA: ProxyNCALoss(.init(scale: 3, proxiesPerClass: k))
        case .proxyAnchor: ProxyAnchorLoss()
        case .softTriple: SoftTripleLoss(.init(proxiesPerClass: k))
        case .mpa: MPALoss(.init(proxiesPerClass: k))
        case .mpaDW: MPADWLoss(.init(proxiesPerClass: k))
        case .mpaAP: MPAAPLoss(.init(proxiesPerClass: k))
        }
    }

    /// ProxyAnchor has one proxy per class by definition; 10 is the paper's K for CUB-200.
    var proxyCounts: [Int] { self == .proxyAnchor ? [1] : [1, 3, 10] }
}

struct GradientCase: CustomStringConvertible, Sendable {
    let loss: LossKind
    let k: Int
    let oneClass: Bool
    var description: String { "\(loss.rawValue), K = \(k), \(oneClass ? "one class" : "many classes")" }

    static let all: [GradientCase] = LossKind.allCases.flatMap { loss in
        loss.proxyCounts.flatMap { k in [true, false].map { GradientCase(loss: loss, k: k, oneClass: $0) } }
    }
}

@Suite("Analytic gradients vs finite differences")
struct LossGradientTests {
    @Test("dL/dEmbeddings and dL/dProxies", arguments: GradientCase.all)
    func gradients(_ c: GradientCase) throws {
        let loss = c.loss.make(k: c.k)
        let seed = UInt64(c.k * 10 + (c.oneClass ? 1 : 0)) &+ UInt64(c.loss.rawValue.utf8.count * 1000)
        let problem = Problem(n: 7, d: 5, classes: 4, k: c.k, oneClass: c.oneClass, seed: seed)
        let e = problem.embeddings, p = problem.proxies, labels = problem.labels
        let analytic = try loss.backward(embeddings: e, labels: labels, proxies: p)
        let value = try loss.forward(embeddings: e, labels: labels, proxies: p)
        #expect(abs(analytic.value - value) < 1e-14)
        #expect(analytic.embeddings.rows == e.rows && analytic.embeddings.columns == e.columns)
        #expect(analytic.proxies.rows == p.rows && analytic.proxies.columns == p.columns)

        let de = numericalGradient(e.values) {
            (try? loss.forward(embeddings: DoubleMatrix(rows: e.rows, columns: e.columns, values: $0),
                               labels: labels, proxies: p)) ?? .nan
        }
        let dp = numericalGradient(p.values) {
            (try? loss.forward(embeddings: e, labels: labels,
                               proxies: DoubleMatrix(rows: p.rows, columns: p.columns, values: $0))) ?? .nan
        }
        let errorE = relativeError(analytic.embeddings.values, de)
        let errorP = relativeError(analytic.proxies.values, dp)
        #expect(errorE < gradientTolerance, "embeddings: relative error \(errorE)")
        #expect(errorP < gradientTolerance, "proxies: relative error \(errorP)")
        // The check is not vacuous: gradients are non-zero.
        #expect(de.contains { $0 != 0 })
    }

    @Test("the check fails on a gradient that is off by 0.1% in one coordinate")
    func checkCanFail() throws {
        let loss = MPAAPLoss(.init(proxiesPerClass: 3))
        let problem = Problem(n: 6, d: 4, classes: 3, k: 3, oneClass: false, seed: 99)
        var analytic = try loss.backward(embeddings: problem.embeddings, labels: problem.labels,
                                         proxies: problem.proxies).embeddings.values
        let numeric = numericalGradient(problem.embeddings.values) {
            (try? loss.forward(embeddings: DoubleMatrix(rows: 6, columns: 4, values: $0), labels: problem.labels,
                               proxies: problem.proxies)) ?? .nan
        }
        let largest = analytic.indices.max { abs(analytic[$0]) < abs(analytic[$1]) }!
        analytic[largest] *= 1.001
        #expect(relativeError(analytic, numeric) > gradientTolerance)
    }

    @Test("no overflow with a huge scale and similarities of 1", arguments: LossKind.allCases)
    func stability(_ kind: LossKind) throws {
        // Every embedding equals every proxy: all cosines are 1, so alpha (S + delta) = 1100
        // and exp would overflow without the log-sum-exp shift.
        let loss: any ProxyLoss = switch kind {
        case .proxyNCA: ProxyNCALoss(.init(scale: 1000, proxiesPerClass: 2))
        case .proxyAnchor: ProxyAnchorLoss(.init(alpha: 1000))
        case .softTriple: SoftTripleLoss(.init(lambda: 1000, proxiesPerClass: 2))
        case .mpa: MPALoss(.init(alpha: 1000, proxiesPerClass: 2))
        case .mpaDW: MPADWLoss(.init(alpha: 1000, proxiesPerClass: 2))
        case .mpaAP: MPAAPLoss(.init(alpha: 1000, proxiesPerClass: 2))
        }
        let d = 3
        let k = loss.proxiesPerClass
        let e = DoubleMatrix(rows: 4, columns: d, values: Array(repeating: 1, count: 4 * d))
        let p = DoubleMatrix(rows: 3 * k, columns: d, values: Array(repeating: 2, count: 3 * k * d))
        let result = try loss.backward(embeddings: e, labels: [0, 1, 2, 0], proxies: p)
        #expect(result.value.isFinite)
        #expect(result.embeddings.values.allSatisfy { $0.isFinite })
        #expect(result.proxies.values.allSatisfy { $0.isFinite })
    }

    @Test("the Float entry points agree with the Double path", arguments: LossKind.allCases)
    func floatPath(_ kind: LossKind) throws {
        let loss = kind.make(k: kind == .proxyAnchor ? 1 : 2)
        let k = loss.proxiesPerClass
        // Through the public Float entry points (which run ProxyLossWorkspace), K = 1 and 2.
        let problem = Problem(n: 32, d: 64, classes: 40 / k, k: k, oneClass: false, seed: 5)
        let ef = problem.embeddings.floatMatrix, pf = problem.proxies.floatMatrix
        let exact = try loss.backward(embeddings: DoubleMatrix(ef), labels: problem.labels, proxies: DoubleMatrix(pf))
        let fast = try loss.backward(embeddings: ef, labels: problem.labels, proxies: pf)
        #expect(abs(fast.value - exact.value) <= 1e-4 * max(1, abs(exact.value)))
        #expect(relativeError(fast.embeddings.values, exact.embeddings.values) < 1e-4)
        #expect(relativeError(fast.proxies.values, exact.proxies.values) < 1e-4)
    }

    @Test("bad inputs throw errors that say what is wrong")
    func errors() {
        let loss = MPALoss(.init(proxiesPerClass: 2))
        let e = DoubleMatrix(rows: 2, columns: 3, values: [1, 0, 0, 0, 1, 0])
        let p = DoubleMatrix(rows: 4, columns: 3, values: Array(repeating: 1, count: 12))
        #expect(throws: ProxyLossError.self) { try loss.forward(embeddings: e, labels: [0, 2], proxies: p) }
        #expect(throws: ProxyLossError.self) { try loss.forward(embeddings: e, labels: [0], proxies: p) }
        let odd = DoubleMatrix(rows: 3, columns: 3, values: Array(repeating: 1, count: 9))
        #expect(throws: ProxyLossError.self) { try loss.forward(embeddings: e, labels: [0, 1], proxies: odd) }
        let zero = DoubleMatrix(rows: 2, columns: 3, values: [1, 0, 0, 0, 0, 0])
        do {
            _ = try loss.forward(embeddings: zero, labels: [0, 1], proxies: p)
            Issue.record("a zero embedding was accepted")
        } catch let error as ProxyLossError {
            #expect(error.code == .zeroVector)
            #expect(error.message.contains("embedding row 1"))
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }
}
