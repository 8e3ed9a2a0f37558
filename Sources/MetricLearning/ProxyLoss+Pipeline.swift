import RetrievalEval

/// The shared forward and backward passes of every `ProxyLoss` (see the protocol for the
/// steps). All arithmetic is in `Double`.
///
/// Inner products: for `DoubleMatrix` inputs, plain `Double` loops (exact; the intended use
/// is testing and small batches). For `Matrix` (`Float`) inputs, the unit vectors are
/// rounded to `Float` and the three products, `z^ p^T` forward and dL/da p^, dL/da^T z^
/// backward, go through sgemm once N C K d reaches `blasThreshold`; results are widened back
/// to `Double`. Everything else (softmaxes, the loss on S, the regulariser, the
/// normalisations) stays in `Double`.
extension ProxyLoss {
    /// The loss for `embeddings` (N x d), their `labels` (N values in 0 ..< C) and `proxies`
    /// (C K x d, row c K + k is proxy k of class c). Embeddings and proxies are normalised
    /// inside the loss.
    /// - Throws: `ProxyLossError` when the shapes or labels do not fit, or a row is zero.
    /// - Complexity: O(N C K d + C K^2 d).
    public func forward(embeddings: DoubleMatrix, labels: [Int], proxies: DoubleMatrix) throws -> Double {
        try evaluate(embeddings: embeddings, labels: labels, proxies: proxies, useBLAS: false, gradients: false).value
    }

    /// The loss and its analytic gradients with respect to the unnormalised `embeddings` and
    /// `proxies` (the chain rule runs through the normalisation).
    /// - Throws: `ProxyLossError` when the shapes or labels do not fit, or a row is zero.
    /// - Complexity: O(N C K d + C K^2 d).
    public func backward(embeddings: DoubleMatrix, labels: [Int], proxies: DoubleMatrix) throws -> LossGradients {
        try evaluate(embeddings: embeddings, labels: labels, proxies: proxies, useBLAS: false, gradients: true)
    }

    /// `forward` for `Float` inputs; the inner products use sgemm when large enough.
    public func forward(embeddings: Matrix, labels: [Int], proxies: Matrix) throws -> Double {
        try evaluate(embeddings: DoubleMatrix(embeddings), labels: labels, proxies: DoubleMatrix(proxies),
                     useBLAS: true, gradients: false).value
    }

    /// `backward` for `Float` inputs; the inner products use sgemm when large enough, the
    /// gradients are returned in `Double` (`floatMatrix` rounds them).
    public func backward(embeddings: Matrix, labels: [Int], proxies: Matrix) throws -> LossGradients {
        try evaluate(embeddings: DoubleMatrix(embeddings), labels: labels, proxies: DoubleMatrix(proxies),
                     useBLAS: true, gradients: true)
    }

    func evaluate(
        embeddings: DoubleMatrix, labels: [Int], proxies: DoubleMatrix, useBLAS: Bool, gradients: Bool
    ) throws -> LossGradients {
        let k = proxiesPerClass
        guard k >= 1, similarityTemperature > 0, similarityTemperature.isFinite else {
            throw ProxyLossError(
                code: .invalidConfiguration,
                message: "K = \(k) and gamma = \(similarityTemperature); K must be at least 1 and gamma positive")
        }
        try validate(embeddings: embeddings, labels: labels, proxies: proxies, proxiesPerClass: k)
        let z = try UnitRows(embeddings, what: "embedding")
        let p = try UnitRows(proxies, what: "proxy")
        let a = CosineProducts.products(z.unit, p.unit, useBLAS: useBLAS)
        let classSimilarity = ClassSimilarity(gamma: similarityTemperature, proxiesPerClass: k)
        let (s, similarityDerivatives) = classSimilarity.forward(products: a)
        let loss = similarityLoss(s, labels: labels)
        let regularizer = ProxyRegularizer(proxiesPerClass: k)
        var value = loss.value
        var regularizerGradient: DoubleMatrix?
        if regularizerWeight != 0 && k > 1 {
            let r = regularizer.valueAndGradient(proxies: p.unit)
            value += regularizerWeight * r.value
            regularizerGradient = r.gradient
        }
        guard gradients else {
            return LossGradients(value: value, embeddings: DoubleMatrix(zeros: 0, 0), proxies: DoubleMatrix(zeros: 0, 0))
        }
        let da = classSimilarity.backward(similarityGradient: loss.gradient, derivatives: similarityDerivatives)
        let dzUnit = CosineProducts.multiply(da, p.unit, useBLAS: useBLAS)
        var dpUnit = CosineProducts.multiplyTransposed(da, z.unit, useBLAS: useBLAS)
        if let rg = regularizerGradient {
            for j in dpUnit.values.indices { dpUnit.values[j] += regularizerWeight * rg.values[j] }
        }
        return LossGradients(value: value, embeddings: z.backward(dzUnit), proxies: p.backward(dpUnit))
    }
}

private func validate(embeddings: DoubleMatrix, labels: [Int], proxies: DoubleMatrix, proxiesPerClass k: Int) throws {
    guard embeddings.rows > 0 else {
        throw ProxyLossError(code: .emptyBatch, message: "the batch has no embeddings; pass at least one row")
    }
    guard embeddings.columns == proxies.columns else {
        throw ProxyLossError(
            code: .dimensionMismatch,
            message: "embeddings have \(embeddings.columns) dimensions but proxies have \(proxies.columns); they must match")
    }
    guard labels.count == embeddings.rows else {
        throw ProxyLossError(
            code: .labelCountMismatch,
            message: "\(embeddings.rows) embeddings but \(labels.count) labels; give one label per embedding")
    }
    guard proxies.rows > 0, proxies.rows % k == 0 else {
        throw ProxyLossError(
            code: .proxyCountNotMultipleOfK,
            message: "\(proxies.rows) proxy rows is not a positive multiple of K = \(k); expected C x \(k) rows")
    }
    let classes = proxies.rows / k
    if let bad = labels.firstIndex(where: { $0 < 0 || $0 >= classes }) {
        throw ProxyLossError(
            code: .labelOutOfRange,
            message: "label \(labels[bad]) of embedding \(bad) is outside 0..<\(classes) (the classes that have proxies)")
    }
}

/// Rows scaled to unit length, with what the backward pass needs.
struct UnitRows {
    let unit: DoubleMatrix
    let norms: [Double]

    init(_ m: DoubleMatrix, what: String) throws {
        var unit = m
        var norms = [Double](repeating: 0, count: m.rows)
        for i in 0 ..< m.rows {
            var sum = 0.0
            for j in 0 ..< m.columns { sum += m[i, j] * m[i, j] }
            let norm = sum.squareRoot()
            guard norm > 0, norm.isFinite else {
                throw ProxyLossError(
                    code: .zeroVector,
                    message: "\(what) row \(i) has norm \(norm); it cannot be normalised, so replace or drop it")
            }
            norms[i] = norm
            for j in 0 ..< m.columns { unit[i, j] /= norm }
        }
        self.unit = unit
        self.norms = norms
    }

    /// dL/dv from dL/du for u = v / ||v||: (dL/du - u (u . dL/du)) / ||v||.
    func backward(_ g: DoubleMatrix) -> DoubleMatrix {
        var out = g
        for i in 0 ..< g.rows {
            var dot = 0.0
            for j in 0 ..< g.columns { dot += unit[i, j] * g[i, j] }
            for j in 0 ..< g.columns { out[i, j] = (g[i, j] - unit[i, j] * dot) / norms[i] }
        }
        return out
    }
}
