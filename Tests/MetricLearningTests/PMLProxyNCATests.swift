// ProxyNCALoss is "pytorch-metric-learning's form" (docs/training.md, ProxyNCALoss.swift):
// checked here against numbers from pytorch-metric-learning 2.9.0 itself,
//
//     loss = ProxyNCALoss(num_classes=3, embedding_size=3, softmax_scale=s).to(torch.float64)
//     loss.proxies.data = proxies; loss(embeddings, labels)
//
// with the float64 data below: 0.9733377319665146 at s = 1 (NCALoss's default softmax_scale)
// and 1.971508882917454 at s = 3. PML normalises embeddings and proxies and takes the squared
// L2 distance, so its logits are -s (2 - 2 cos), and the positive class stays in the softmax's
// denominator; dmleval's loss takes the cosines S.

import MetricLearning
import Testing

@Suite("ProxyNCA against pytorch-metric-learning")
struct PMLProxyNCATests {
    static let embeddings: [[Double]] = [[1.0, 0.2, -0.3], [0.1, 0.9, 0.4], [-0.5, 0.3, 0.8], [0.7, -0.6, 0.1]]
    static let labels = [0, 1, 2, 1]
    static let proxies: [[Double]] = [[0.9, 0.1, 0.0], [0.0, 1.0, 0.2], [-0.2, 0.1, 1.0]]

    static func unit(_ v: [Double]) -> [Double] {
        let n = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return v.map { $0 / n }
    }

    /// S: the cosine of every embedding with every proxy (K = 1), N x C.
    static var similarities: DoubleMatrix {
        let e = embeddings.map(unit), p = proxies.map(unit)
        let values = e.flatMap { z in p.map { q in zip(z, q).reduce(0) { $0 + $1.0 * $1.1 } } }
        return DoubleMatrix(rows: e.count, columns: p.count, values: values)
    }

    @Test(arguments: [(1.0, 0.9733377319665146), (3.0, 1.971508882917454)])
    func lossEqualsPMLs(scale: Double, pml: Double) {
        let loss = ProxyNCALoss(.init(scale: scale)).similarityLoss(Self.similarities, labels: Self.labels)
        #expect(abs(loss.value - pml) < 1e-12)
    }

    @Test func defaultScaleIsPMLsDefault() {
        #expect(ProxyNCALoss.Configuration().scale == 1)
    }
}
