import RetrievalEval

/// The training path of a `ProxyLoss`: the pipeline of `ProxyLoss+Pipeline` in `Float`, on
/// buffers kept from one batch to the next.
///
/// Steps 1, 2, 3, 5 and 6 (normalisation, inner products, class similarities, regulariser and
/// the backward pass) run in `Float`: the three products through sgemm, the rest in
/// `FloatKernels` loops split over the cores. Step 4, the loss-specific `similarityLoss`,
/// runs in `Double` on the N x C class similarities, through the same code as the exact
/// `Double` path, so every loss has one definition. The tests check that both paths agree
/// to `Float` precision.
///
/// A workspace is not thread-safe: one per training loop.
public final class ProxyLossWorkspace {
    /// The loss this workspace evaluates.
    public let loss: any ProxyLoss
    /// How many threads the loops use (sgemm uses what `BLAS.setThreads` allows).
    public let threads: Int

    /// dL/dEmbeddings of the last `evaluate` with gradients, N x d row-major.
    public private(set) var embeddingGradient: [Float] = []
    /// dL/dProxies of the last `evaluate` with gradients, C K x d row-major.
    public private(set) var proxyGradient: [Float] = []

    private var unitEmbeddings: [Float] = []
    private var embeddingNorms: [Float] = []
    /// The unit proxies in k-major order (`ProxyOrder`), and their norms.
    private var unitProxies: [Float] = []
    private var proxyNorms: [Float] = []
    /// dL/dp^ in k-major order.
    private var unitProxyGradient: [Float] = []
    /// The inner products a (N x C K, columns in k-major order); then dS/da; then dL/da.
    private var products: [Float] = []
    /// The class similarities S (N x C), in `Double` for `similarityLoss`.
    private var similarities = DoubleMatrix(zeros: 0, 0)

    /// - Parameter threads: the loops' worker count; by default one per processor.
    public init(_ loss: any ProxyLoss, threads: Int = ExactSearch.defaultThreads) {
        self.loss = loss
        self.threads = max(1, threads)
    }

    /// The loss for `embeddings` (N x d), their `labels` (N values in 0 ..< C) and `proxies`
    /// (C K x d, row c K + k is proxy k of class c), normalised inside as in the `Double`
    /// path. With `gradients`, also fills `embeddingGradient` and `proxyGradient`.
    /// - Throws: `ProxyLossError` when the shapes or labels do not fit, or a row is zero.
    /// - Complexity: O(N C K d + C K^2 d), the three N C K d products in sgemm.
    public func evaluate(embeddings: Matrix, labels: [Int], proxies: Matrix, gradients: Bool = true) throws -> Double {
        let k = loss.proxiesPerClass
        try validatePipeline(loss, rows: embeddings.rows, columns: embeddings.columns, labels: labels,
                             proxyRows: proxies.rows, proxyColumns: proxies.columns)
        let n = embeddings.rows, d = embeddings.columns, m = proxies.rows, classes = m / k
        resize(n: n, d: d, m: m, classes: classes)

        let order = ProxyOrder(classes: classes, k: k)
        try normalize(embeddings.values, into: &unitEmbeddings, norms: &embeddingNorms, rows: n, d: d,
                      order: .identity(n), what: "embedding")
        try normalize(proxies.values, into: &unitProxies, norms: &proxyNorms, rows: m, d: d, order: order, what: "proxy")
        unitEmbeddings.withUnsafeBufferPointer { z in
            unitProxies.withUnsafeBufferPointer { p in
                products.withUnsafeMutableBufferPointer { a in
                    BLAS.gemmNT(m: n, n: m, k: d, a: z.baseAddress!, lda: d, b: p.baseAddress!, ldb: d,
                                c: a.baseAddress!, ldc: m)
                }
            }
        }
        classSimilarityForward(n: n, classes: classes, k: k)
        let lossPart = loss.similarityLoss(similarities, labels: labels)
        var value = lossPart.value
        let regularized = loss.regularizerWeight != 0 && k > 1
        guard gradients else {
            if regularized { value += loss.regularizerWeight * regularizer(classes: classes, k: k, d: d, addGradient: false) }
            return value
        }

        classSimilarityBackward(lossPart.gradient, n: n, classes: classes, k: k)
        products.withUnsafeBufferPointer { da in
            unitProxies.withUnsafeBufferPointer { p in
                embeddingGradient.withUnsafeMutableBufferPointer { dz in
                    BLAS.gemm(transposeA: false, transposeB: false, m: n, n: d, k: m,
                              a: da.baseAddress!, lda: m, b: p.baseAddress!, ldb: d, c: dz.baseAddress!, ldc: d)
                }
            }
            unitEmbeddings.withUnsafeBufferPointer { z in
                unitProxyGradient.withUnsafeMutableBufferPointer { dp in
                    BLAS.gemm(transposeA: true, transposeB: false, m: m, n: d, k: n,
                              a: da.baseAddress!, lda: m, b: z.baseAddress!, ldb: d, c: dp.baseAddress!, ldc: d)
                }
            }
        }
        if regularized {
            value += loss.regularizerWeight * regularizer(classes: classes, k: k, d: d, addGradient: true)
        }
        normalizationBackward(into: &embeddingGradient, unit: unitEmbeddings, norms: embeddingNorms, rows: n, d: d,
                              order: .identity(n))
        normalizationBackward(into: &proxyGradient, from: unitProxyGradient, unit: unitProxies, norms: proxyNorms,
                              rows: m, d: d, order: order)
        return value
    }

    // MARK: - Steps

    private func resize(n: Int, d: Int, m: Int, classes: Int) {
        func fit(_ buffer: inout [Float], _ count: Int) {
            if buffer.count != count { buffer = [Float](repeating: 0, count: count) }
        }
        fit(&unitEmbeddings, n * d)
        fit(&embeddingNorms, n)
        fit(&embeddingGradient, n * d)
        fit(&unitProxies, m * d)
        fit(&proxyNorms, m)
        fit(&proxyGradient, m * d)
        fit(&unitProxyGradient, m * d)
        fit(&products, n * m)
        if similarities.rows != n || similarities.columns != classes {
            similarities = DoubleMatrix(zeros: n, classes)
        }
    }

    private func normalize(
        _ source: [Float], into unit: inout [Float], norms: inout [Float], rows: Int, d: Int, order: ProxyOrder,
        what: String
    ) throws {
        var firstBad = [Int](repeating: Int.max, count: threads)
        source.withUnsafeBufferPointer { s in
            unit.withUnsafeMutableBufferPointer { u in
                norms.withUnsafeMutableBufferPointer { l in
                    firstBad.withUnsafeMutableBufferPointer { found in
                        let pointers = UncheckedSendable((s.baseAddress!, u.baseAddress!, l.baseAddress!, found.baseAddress!))
                        parallelRanges(rows, workers: threads, minimumPerWorker: 32) { worker, range in
                            let (s, u, l, found) = pointers.value
                            found[worker] = FloatKernels.normalizeRows(s, into: u, norms: l, rows: range, d: d, order: order) ?? Int.max
                        }
                    }
                }
            }
        }
        let bad = firstBad.min().flatMap { $0 == Int.max ? nil : $0 }
        if let bad {
            let norm = norms[bad]
            throw ProxyLossError(
                code: .zeroVector,
                message: "\(what) row \(order.classMajor(bad)) has norm \(norm); it cannot be normalised, so replace or drop it")
        }
    }

    /// S from the inner products by eq. (1), into `similarities`; `products` then holds dS/da
    /// (K > 1; with K = 1, S = a and dS/da = 1 is left implicit). The columns are in k-major
    /// order, so every loop below runs over the C classes of one k, which vectorises.
    private func classSimilarityForward(n: Int, classes: Int, k: Int) {
        let m = classes * k
        products.withUnsafeMutableBufferPointer { a in
            similarities.values.withUnsafeMutableBufferPointer { s in
                let pointers = UncheckedSendable((a.baseAddress!, s.baseAddress!))
                if k == 1 {
                    for j in 0 ..< n * m { pointers.value.1[j] = Double(pointers.value.0[j]) }
                    return
                }
                let inverseGamma = Float(1 / loss.similarityTemperature)
                func load(_ p: UnsafeMutablePointer<Float>) -> SIMD4<Float> { FloatKernels.load(p) }
                parallelRanges(n, workers: threads, minimumPerWorker: 16) { _, rows in
                    withUnsafeTemporaryAllocation(of: Float.self, capacity: m + 3 * classes) { scratch in
                        let e = scratch.baseAddress!, largest = e + m, total = largest + classes, weighted = total + classes
                        // Four classes at a time; `vector` is the last multiple of four.
                        let vector = classes & ~3
                        for i in rows {
                            let row = pointers.value.0 + i * m
                            // exp((a_k - max_k a_k) / gamma): the shifted softmax of eq. (1).
                            largest.update(from: row, count: classes)
                            for l in 1 ..< k {
                                let block = row + l * classes
                                for c in Swift.stride(from: 0, to: vector, by: 4) {
                                    FloatKernels.store(FloatKernels.maximum(load(largest + c), load(block + c)), largest + c)
                                }
                                for c in vector ..< classes { largest[c] = max(largest[c], block[c]) }
                            }
                            for l in 0 ..< k {
                                let block = row + l * classes, weights = e + l * classes
                                for c in Swift.stride(from: 0, to: vector, by: 4) {
                                    FloatKernels.store((load(block + c) - load(largest + c)) * inverseGamma, weights + c)
                                }
                                for c in vector ..< classes { weights[c] = (block[c] - largest[c]) * inverseGamma }
                            }
                            FloatKernels.expInPlace(e, m)
                            total.update(repeating: 0, count: classes)
                            weighted.update(repeating: 0, count: classes)
                            for l in 0 ..< k {
                                let block = row + l * classes, weights = e + l * classes
                                for c in Swift.stride(from: 0, to: vector, by: 4) {
                                    let w = load(weights + c)
                                    FloatKernels.store(load(total + c) + w, total + c)
                                    FloatKernels.store(load(weighted + c) + w * load(block + c), weighted + c)
                                }
                                for c in vector ..< classes {
                                    total[c] += weights[c]
                                    weighted[c] += weights[c] * block[c]
                                }
                            }
                            // From here, total holds 1 / sum_k w and weighted holds S.
                            for c in 0 ..< classes {
                                total[c] = 1 / total[c]
                                weighted[c] *= total[c]
                                pointers.value.1[i * classes + c] = Double(weighted[c])
                            }
                            // dS/da_k = w_k (1 + (a_k - S) / gamma).
                            for l in 0 ..< k {
                                let block = row + l * classes, weights = e + l * classes
                                for c in Swift.stride(from: 0, to: vector, by: 4) {
                                    let a = load(block + c)
                                    let g = load(weights + c) * load(total + c) * (1 + (a - load(weighted + c)) * inverseGamma)
                                    FloatKernels.store(g, block + c)
                                }
                                for c in vector ..< classes {
                                    block[c] = weights[c] * total[c] * (1 + (block[c] - weighted[c]) * inverseGamma)
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// dL/da = dL/dS dS/da, in place in `products` (k-major columns).
    private func classSimilarityBackward(_ ds: DoubleMatrix, n: Int, classes: Int, k: Int) {
        ds.values.withUnsafeBufferPointer { g in
            products.withUnsafeMutableBufferPointer { a in
                if k == 1 {
                    for j in 0 ..< n * classes { a[j] = Float(g[j]) }
                    return
                }
                withUnsafeTemporaryAllocation(of: Float.self, capacity: classes) { upstream in
                    for i in 0 ..< n {
                        for c in 0 ..< classes { upstream[c] = Float(g[i * classes + c]) }
                        for l in 0 ..< k {
                            let block = a.baseAddress! + i * classes * k + l * classes
                            for c in 0 ..< classes { block[c] *= upstream[c] }
                        }
                    }
                }
            }
        }
    }

    /// R of eq. (3) on the unit proxies (see `ProxyRegularizer`); with `addGradient`, adds
    /// tau dR/dp^ to `unitProxyGradient`. In k-major order, the K proxies of class c are the
    /// rows c, c + C, ..., C d values apart.
    private func regularizer(classes: Int, k: Int, d: Int, addGradient: Bool) -> Double {
        let epsilon = ProxyRegularizer(proxiesPerClass: k).epsilon
        let scale = 1 / Double(classes * k * (k - 1))
        let tau = loss.regularizerWeight
        var partial = [Double](repeating: 0, count: threads)
        unitProxies.withUnsafeBufferPointer { p in
            unitProxyGradient.withUnsafeMutableBufferPointer { g in
                partial.withUnsafeMutableBufferPointer { sums in
                    let pointers = UncheckedSendable((p.baseAddress!, g.baseAddress!, sums.baseAddress!))
                    parallelRanges(classes, workers: threads, minimumPerWorker: 8) { worker, range in
                        withUnsafeTemporaryAllocation(of: Float.self, capacity: k * k) { coefficients in
                            let (p, g, sums) = pointers.value
                            let coefficient = coefficients.baseAddress!
                            var total = 0.0
                            let stride = classes * d
                            for c in range {
                                let proxies = p + c * d, rows = g + c * d
                                for s in 0 ..< k {
                                    coefficient[s * k + s] = 0
                                    for t in s + 1 ..< k {
                                        let dot = Double(FloatKernels.dot(proxies + s * stride, proxies + t * stride, d))
                                        let r = (2 - 2 * dot + epsilon).squareRoot()
                                        total += r
                                        let weight = Float(-tau * scale / r)
                                        coefficient[s * k + t] = weight
                                        coefficient[t * k + s] = weight
                                    }
                                }
                                if addGradient {
                                    Self.addProduct(coefficient, proxies, to: rows, k: k, d: d, stride: stride)
                                }
                            }
                            sums[worker] = total
                        }
                    }
                }
            }
        }
        return partial.reduce(0, +) * scale
    }

    /// `rows += coefficients proxies` for a K x K matrix and K rows of d values, `stride`
    /// values apart. Sixteen columns at a time in four independent sums, so that the K
    /// additions into each do not wait on one another.
    private static func addProduct(
        _ coefficients: UnsafePointer<Float>, _ proxies: UnsafePointer<Float>, to rows: UnsafeMutablePointer<Float>,
        k: Int, d: Int, stride: Int
    ) {
        for s in 0 ..< k {
            let out = rows + s * stride, weights = coefficients + s * k
            var j = 0
            while j + 16 <= d {
                var s0 = FloatKernels.load(out + j), s1 = FloatKernels.load(out + j + 4)
                var s2 = FloatKernels.load(out + j + 8), s3 = FloatKernels.load(out + j + 12)
                for t in 0 ..< k {
                    let w = weights[t], row = proxies + t * stride + j
                    s0 += w * FloatKernels.load(row)
                    s1 += w * FloatKernels.load(row + 4)
                    s2 += w * FloatKernels.load(row + 8)
                    s3 += w * FloatKernels.load(row + 12)
                }
                FloatKernels.store(s0, out + j)
                FloatKernels.store(s1, out + j + 4)
                FloatKernels.store(s2, out + j + 8)
                FloatKernels.store(s3, out + j + 12)
                j += 16
            }
            while j < d {
                for t in 0 ..< k { out[j] += weights[t] * proxies[t * stride + j] }
                j += 1
            }
        }
    }

    /// The normalisation's backward pass from `gradient` into `out`, or in place in `out`
    /// when `gradient` is nil (rows in the same order only).
    private func normalizationBackward(
        into out: inout [Float], from gradient: [Float]? = nil, unit: [Float], norms: [Float], rows: Int, d: Int,
        order: ProxyOrder
    ) {
        out.withUnsafeMutableBufferPointer { o in
            unit.withUnsafeBufferPointer { u in
                norms.withUnsafeBufferPointer { l in
                    func run(_ g: UnsafePointer<Float>) {
                        let pointers = UncheckedSendable((g, o.baseAddress!, u.baseAddress!, l.baseAddress!))
                        parallelRanges(rows, workers: threads, minimumPerWorker: 32) { _, range in
                            let (g, o, u, l) = pointers.value
                            FloatKernels.normalizationBackward(g, into: o, unit: u, norms: l, rows: range, d: d, order: order)
                        }
                    }
                    if let gradient {
                        gradient.withUnsafeBufferPointer { run($0.baseAddress!) }
                    } else {
                        run(UnsafePointer(o.baseAddress!))
                    }
                }
            }
        }
    }
}
