import RetrievalEval

/// The shared forward and backward passes of every `ProxyLoss` (see the protocol for the
/// steps), in two implementations:
///
/// - `DoubleMatrix` inputs: every step in `Double`, the inner products in plain loops. Exact;
///   the gradient tests and `dmleval loss` use it.
/// - `Matrix` (`Float`) inputs: `ProxyLossWorkspace`, the training path: `Float` buffers, the
///   three products in sgemm, only `similarityLoss` in `Double`. The tests check that it
///   agrees with the `Double` path to `Float` precision.
extension ProxyLoss {
    /// The loss for `embeddings` (N x d), their `labels` (N values in 0 ..< C) and `proxies`
    /// (C K x d, row c K + k is proxy k of class c). Embeddings and proxies are normalised
    /// inside the loss.
    /// - Throws: `ProxyLossError` when the shapes or labels do not fit, or a row is zero.
    /// - Complexity: O(N C K d + C K^2 d).
    public func forward(embeddings: DoubleMatrix, labels: [Int], proxies: DoubleMatrix) throws -> Double {
        try evaluate(embeddings: embeddings, labels: labels, proxies: proxies, gradients: false).value
    }

    /// The loss and its analytic gradients with respect to the unnormalised `embeddings` and
    /// `proxies` (the chain rule runs through the normalisation).
    /// - Throws: `ProxyLossError` when the shapes or labels do not fit, or a row is zero.
    /// - Complexity: O(N C K d + C K^2 d).
    public func backward(embeddings: DoubleMatrix, labels: [Int], proxies: DoubleMatrix) throws -> LossGradients {
        try evaluate(embeddings: embeddings, labels: labels, proxies: proxies, gradients: true)
    }

    /// `forward` for `Float` inputs, through the training path (`ProxyLossWorkspace`).
    public func forward(embeddings: Matrix, labels: [Int], proxies: Matrix) throws -> Double {
        try ProxyLossWorkspace(self).evaluate(embeddings: embeddings, labels: labels, proxies: proxies, gradients: false)
    }

    /// `backward` for `Float` inputs, through the training path (`ProxyLossWorkspace`); the
    /// `Float` gradients are returned widened to `Double`.
    public func backward(embeddings: Matrix, labels: [Int], proxies: Matrix) throws -> LossGradients {
        let workspace = ProxyLossWorkspace(self)
        let value = try workspace.evaluate(embeddings: embeddings, labels: labels, proxies: proxies)
        return LossGradients(
            value: value,
            embeddings: DoubleMatrix(rows: embeddings.rows, columns: embeddings.columns,
                                     values: workspace.embeddingGradient.map(Double.init)),
            proxies: DoubleMatrix(rows: proxies.rows, columns: proxies.columns,
                                  values: workspace.proxyGradient.map(Double.init)))
    }

    func evaluate(embeddings: DoubleMatrix, labels: [Int], proxies: DoubleMatrix, gradients: Bool) throws -> LossGradients {
        let k = proxiesPerClass
        try validatePipeline(self, rows: embeddings.rows, columns: embeddings.columns, labels: labels,
                             proxyRows: proxies.rows, proxyColumns: proxies.columns)
        let z = try UnitRows(embeddings, what: "embedding")
        let p = try UnitRows(proxies, what: "proxy")
        let a = CosineProducts.products(z.unit, p.unit)
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
        let dzUnit = CosineProducts.multiply(da, p.unit)
        var dpUnit = CosineProducts.multiplyTransposed(da, z.unit)
        if let rg = regularizerGradient {
            for j in dpUnit.values.indices { dpUnit.values[j] += regularizerWeight * rg.values[j] }
        }
        return LossGradients(value: value, embeddings: z.backward(dzUnit), proxies: p.backward(dpUnit))
    }
}

/// Checks a loss's settings and the shapes and labels of its inputs, for both paths.
func validatePipeline(
    _ loss: any ProxyLoss, rows: Int, columns: Int, labels: [Int], proxyRows: Int, proxyColumns: Int
) throws {
    let k = loss.proxiesPerClass
    guard k >= 1, loss.similarityTemperature > 0, loss.similarityTemperature.isFinite else {
        throw ProxyLossError(
            code: .invalidConfiguration,
            message: "K = \(k) and gamma = \(loss.similarityTemperature); K must be at least 1 and gamma positive")
    }
    guard rows > 0 else {
        throw ProxyLossError(code: .emptyBatch, message: "the batch has no embeddings; pass at least one row")
    }
    guard columns == proxyColumns else {
        throw ProxyLossError(
            code: .dimensionMismatch,
            message: "embeddings have \(columns) dimensions but proxies have \(proxyColumns); they must match")
    }
    guard labels.count == rows else {
        throw ProxyLossError(
            code: .labelCountMismatch,
            message: "\(rows) embeddings but \(labels.count) labels; give one label per embedding")
    }
    guard proxyRows > 0, proxyRows % k == 0 else {
        throw ProxyLossError(
            code: .proxyCountNotMultipleOfK,
            message: "\(proxyRows) proxy rows is not a positive multiple of K = \(k); expected C x \(k) rows")
    }
    let classes = proxyRows / k
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
