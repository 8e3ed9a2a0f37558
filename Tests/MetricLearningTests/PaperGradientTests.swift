import Foundation
import MetricLearning
import RetrievalEval
import Testing

/// Random class similarities S (N x C) in -1 ... 1 and labels, as the losses see them.
func randomSimilarities(n: Int, classes: Int, oneClass: Bool, seed: UInt64) -> (DoubleMatrix, [Int]) {
    var rng = SplitMix64(seed: seed)
    let s = randomMatrix(n, classes, &rng)
    let labels = oneClass
        ? Array(repeating: 1, count: n)
        : (0 ..< n).map { $0 < classes ? $0 : Int.random(in: 0 ..< classes, using: &rng) }
    return (s, labels)
}

/// dL/dS from the paper's printed formulas (plain exp, no stabilisation; fine for |S| <= 1
/// and alpha = 32) against the backward pass of each loss.
@Suite("The paper's gradient formulas")
struct PaperGradientTests {
    static let alpha = 32.0, delta = 0.1

    @Test("eq. (8) and (9): MPA", arguments: [true, false])
    func mpa(oneClass: Bool) {
        let (s, labels) = randomSimilarities(n: 9, classes: 4, oneClass: oneClass, seed: oneClass ? 1 : 2)
        let a = Self.alpha, delta = Self.delta
        let ours = MPALoss(.init(alpha: a, delta: delta)).similarityLoss(s, labels: labels).gradient
        let classes = 0 ..< s.columns, batch = 0 ..< s.rows
        let cPlus = Double(Set(labels).count)
        let cMinus = Double(classes.filter { c in labels.contains { $0 != c } }.count)
        func lPlus(_ i: Int, _ c: Int) -> Double { exp(-a * (s[i, c] - delta)) }
        func lMinus(_ i: Int, _ c: Int) -> Double { exp(a * (s[i, c] + delta)) }
        var eq8 = [Double](), eq9 = [Double]()
        for i in batch {
            for c in classes {
                if labels[i] == c {
                    let same = batch.filter { labels[$0] == c }
                    eq8.append(-a / cPlus * lPlus(i, c) / (1 + same.map { lPlus($0, c) }.reduce(0, +)))
                    let lS = exp(-a * (delta - s[i, c]))
                    eq9.append(-a / cPlus / (lS + same.map { exp(-a * (s[$0, c] - s[i, c])) }.reduce(0, +)))
                } else {
                    let other = batch.filter { labels[$0] != c }
                    eq8.append(a / cMinus * lMinus(i, c) / (1 + other.map { lMinus($0, c) }.reduce(0, +)))
                    let lS = exp(-a * (s[i, c] + delta))
                    eq9.append(a / cMinus / (lS + other.map { exp(a * (s[$0, c] - s[i, c])) }.reduce(0, +)))
                }
            }
        }
        #expect(relativeError(ours.values, eq8) < 1e-12)
        #expect(relativeError(ours.values, eq9) < 1e-12)
    }

    @Test("eq. (14): MPA-DW (with S_DR = S(x_i, c) - S(x_i, c'))", arguments: [true, false])
    func mpaDW(oneClass: Bool) {
        let (s, labels) = randomSimilarities(n: 9, classes: 4, oneClass: oneClass, seed: oneClass ? 3 : 4)
        let a = Self.alpha, delta = Self.delta
        let ours = MPADWLoss(.init(alpha: a, delta: delta)).similarityLoss(s, labels: labels).gradient
        let n = Double(s.rows)
        var eq14 = [Double]()
        for i in 0 ..< s.rows {
            for cPrime in 0 ..< s.columns {
                if cPrime == labels[i] {
                    eq14.append(-a / n / (exp(-a * (delta - s[i, cPrime])) + 1))
                } else {
                    let others = (0 ..< s.columns).filter { $0 != labels[i] }
                    let lDS = exp(-a * (s[i, cPrime] + delta))
                    eq14.append(a / n / (lDS + others.map { exp(a * (s[i, $0] - s[i, cPrime])) }.reduce(0, +)))
                }
            }
        }
        #expect(relativeError(ours.values, eq14) < 1e-12)
    }

    @Test("eq. (18): MPA-AP, through S' of eq. (15)", arguments: [true, false])
    func mpaAP(oneClass: Bool) {
        let (s, labels) = randomSimilarities(n: 9, classes: 4, oneClass: oneClass, seed: oneClass ? 5 : 6)
        let a = Self.alpha, delta = Self.delta
        let ours = MPAAPLoss(.init(alpha: a, delta: delta)).similarityLoss(s, labels: labels).gradient
        let n = Double(s.rows)
        var eq18 = [Double]()
        for i in 0 ..< s.rows {
            let sPrime = (0 ..< s.columns).map { $0 == labels[i] ? delta - s[i, $0] : s[i, $0] + delta }
            for cPrime in 0 ..< s.columns {
                let dPrime = a / n / (exp(-a * sPrime[cPrime]) + sPrime.map { exp(a * ($0 - sPrime[cPrime])) }.reduce(0, +))
                // dS'/dS = -1 for the true class, +1 otherwise.
                eq18.append(cPrime == labels[i] ? -dPrime : dPrime)
            }
        }
        #expect(relativeError(ours.values, eq18) < 1e-12)
    }

    /// Eq. (5) as printed sums ratios where the derivative has a ratio of sums, and writes
    /// l_R(c, c') for l_R(c', c); both agree with the derivative when there is one negative
    /// class. So: the printed form for C = 2, the corrected form for C = 4. Divided by N
    /// because our SoftTriple averages over the batch.
    @Test("eq. (5): SoftTriple, printed for C = 2 and corrected for C > 2", arguments: [2, 4])
    func softTriple(classes: Int) {
        let (s, labels) = randomSimilarities(n: 6, classes: classes, oneClass: false, seed: UInt64(20 + classes))
        let lambda = 20.0, delta = 0.01
        let ours = SoftTripleLoss(.init(lambda: lambda, delta: delta)).similarityLoss(s, labels: labels).gradient
        let n = Double(s.rows)
        var eq5 = [Double]()
        for i in 0 ..< s.rows {
            let own = labels[i]
            let others = (0 ..< classes).filter { $0 != own }
            func lR(_ c1: Int, _ c2: Int, margin: Double) -> Double { exp(lambda * (s[i, c1] - s[i, c2] - margin)) }
            for c in 0 ..< classes {
                if c == own {
                    let denominator = classes == 2
                        ? others.map { lR(own, $0, margin: delta) }.reduce(0, +) + 1
                        : exp(lambda * (s[i, own] - delta)) / others.map { exp(lambda * s[i, $0]) }.reduce(0, +) + 1
                    eq5.append(-lambda / denominator / n)
                } else {
                    let denominator = classes == 2
                        ? lR(own, c, margin: delta) + others.map { lR(c, $0, margin: 0) }.reduce(0, +)
                        : lR(own, c, margin: delta) + others.map { lR($0, c, margin: 0) }.reduce(0, +)
                    eq5.append(lambda / denominator / n)
                }
            }
        }
        #expect(relativeError(ours.values, eq5) < 1e-12)
    }

    @Test("MPA with K = 1 is ProxyAnchor", arguments: [UInt64(1), 2, 3])
    func mpaIsProxyAnchor(seed: UInt64) throws {
        // Two or more classes in the batch, so that every class has a negative and C- is all
        // classes, ProxyAnchor's normaliser. (In a one-class batch, ProxyAnchor divides the
        // negative term by C and MPA by C - 1.)
        let problem = Problem(n: 8, d: 5, classes: 4, k: 1, oneClass: false, seed: seed)
        let mpa = MPALoss(.init(alpha: 32, delta: 0.1, proxiesPerClass: 1))
        let anchor = ProxyAnchorLoss(.init(alpha: 32, delta: 0.1))
        let x = try mpa.backward(embeddings: problem.embeddings, labels: problem.labels, proxies: problem.proxies)
        let y = try anchor.backward(embeddings: problem.embeddings, labels: problem.labels, proxies: problem.proxies)
        #expect(abs(x.value - y.value) < 1e-12)
        #expect(maxAbsoluteDifference(x.embeddings.values, y.embeddings.values) < 1e-12)
        #expect(maxAbsoluteDifference(x.proxies.values, y.proxies.values) < 1e-12)
    }

    @Test("ProxyAnchor matches its definition written out with exp")
    func proxyAnchorDefinition() {
        let (s, labels) = randomSimilarities(n: 6, classes: 5, oneClass: false, seed: 8)
        let a = Self.alpha, delta = Self.delta
        let batch = 0 ..< s.rows, classes = 0 ..< s.columns
        let positive = Set(labels).map { c in
            log(1 + batch.filter { labels[$0] == c }.map { exp(-a * (s[$0, c] - delta)) }.reduce(0, +))
        }.reduce(0, +) / Double(Set(labels).count)
        let negative = classes.map { c in
            log(1 + batch.filter { labels[$0] != c }.map { exp(a * (s[$0, c] + delta)) }.reduce(0, +))
        }.reduce(0, +) / Double(s.columns)
        let value = ProxyAnchorLoss().similarityLoss(s, labels: labels).value
        #expect(abs(value - (positive + negative)) < 1e-12 * max(1, abs(value)))
    }
}
