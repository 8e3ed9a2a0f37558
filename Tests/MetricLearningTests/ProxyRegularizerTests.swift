import MetricLearning
import RetrievalEval
import Testing

@Suite("Proxy regulariser, eq. (3)")
struct ProxyRegularizerTests {
    @Test("is zero, with zero gradient, when K = 1")
    func singleProxy() {
        var rng = SplitMix64(seed: 3)
        let p = randomMatrix(5, 4, &rng)
        let r = ProxyRegularizer(proxiesPerClass: 1).valueAndGradient(proxies: p)
        #expect(r.value == 0)
        #expect(r.gradient.values.allSatisfy { $0 == 0 })
    }

    @Test("matches the formula for one class of two unit proxies")
    func twoProxies() {
        // p_1 . p_2 = 0: sqrt(2 + eps) / (1 * 2 * 1).
        let p = DoubleMatrix(rows: 2, columns: 2, values: [1, 0, 0, 1])
        let value = ProxyRegularizer(proxiesPerClass: 2).value(proxies: p)
        #expect(abs(value - (2 + 1e-5).squareRoot() / 2) < 1e-15)
    }

    @Test("gradient matches finite differences", arguments: [2, 3, 5])
    func gradient(k: Int) {
        var rng = SplitMix64(seed: UInt64(200 + k))
        var p = randomMatrix(3 * k, 4, &rng)
        // Unit rows, as the losses use it (so 2 - 2 p.q stays non-negative).
        for i in 0 ..< p.rows {
            let norm = (0 ..< 4).reduce(0.0) { $0 + p[i, $1] * p[i, $1] }.squareRoot()
            for j in 0 ..< 4 { p[i, j] /= norm }
        }
        let reg = ProxyRegularizer(proxiesPerClass: k)
        let analytic = reg.valueAndGradient(proxies: p).gradient.values
        let numeric = numericalGradient(p.values) { reg.value(proxies: DoubleMatrix(rows: p.rows, columns: 4, values: $0)) }
        #expect(relativeError(analytic, numeric) < gradientTolerance)
    }
}
