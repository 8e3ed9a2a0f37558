import Foundation
import MetricLearning
import RetrievalEval
import Testing

@Suite("Class similarity, eq. (1)")
struct ClassSimilarityTests {
    @Test("K = 1 is the inner product")
    func singleProxy() {
        let s = ClassSimilarity(gamma: 0.1, proxiesPerClass: 1)
        #expect(s.value(embedding: [1, 2, 3], classProxies: [0.5, -1, 2]) == 4.5)
    }

    @Test("matches the definition written out with exp")
    func definition() {
        var rng = SplitMix64(seed: 11)
        let z = randomMatrix(1, 4, &rng).values, p = randomMatrix(3, 4, &rng).values
        let gamma = 0.3
        let a = (0 ..< 3).map { k in (0 ..< 4).reduce(0.0) { $0 + z[$1] * p[k * 4 + $1] } }
        let total = a.map { exp($0 / gamma) }.reduce(0, +)
        let expected = a.map { exp($0 / gamma) / total * $0 }.reduce(0, +)
        let value = ClassSimilarity(gamma: gamma, proxiesPerClass: 3).value(embedding: z, classProxies: p)
        #expect(abs(value - expected) < 1e-14)
    }

    @Test("gradient wrt z and every proxy matches finite differences", arguments: [1, 2, 5])
    func gradient(k: Int) {
        var rng = SplitMix64(seed: UInt64(100 + k))
        let d = 6
        let z = randomMatrix(1, d, &rng).values, p = randomMatrix(k, d, &rng).values
        let s = ClassSimilarity(gamma: 0.1, proxiesPerClass: k)
        let analytic = s.gradient(embedding: z, classProxies: p)
        let dz = numericalGradient(z) { s.value(embedding: $0, classProxies: p) }
        let dp = numericalGradient(p) { s.value(embedding: z, classProxies: $0) }
        #expect(relativeError(analytic.embedding, dz) < gradientTolerance)
        #expect(relativeError(analytic.proxies, dp) < gradientTolerance)
    }
}
