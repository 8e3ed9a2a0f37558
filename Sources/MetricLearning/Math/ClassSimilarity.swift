#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The similarity between an embedding and a class represented by K proxies (Saeki et al.
/// 2023, eq. 1, after Qian et al. 2019, SoftTriple):
///
///     S(z, c) = sum_k softmax_k(z.p_ck / gamma) * z.p_ck
///
/// a soft maximum of the K inner products, with temperature `gamma`. With K = 1 it is the
/// inner product itself, whatever `gamma`.
///
/// Writing `a_k = z.p_ck` and `w = softmax(a / gamma)`, the derivative of S with respect to
/// each inner product is
///
///     dS/da_k = w_k * (1 + (a_k - S) / gamma)
///
/// so `dS/dz = sum_k (dS/da_k) p_ck` and `dS/dp_ck = (dS/da_k) z`.
///
/// The losses call the batched form on inner products of *normalised* vectors (cosines); the
/// single-vector methods work on whatever vectors they are given (no normalisation).
public struct ClassSimilarity: Sendable {
    /// The softmax temperature gamma of eq. (1).
    public var gamma: Double
    /// K, the number of proxies of each class.
    public var proxiesPerClass: Int

    /// - Precondition: `gamma > 0`, `proxiesPerClass >= 1`.
    public init(gamma: Double, proxiesPerClass: Int) {
        precondition(gamma > 0, "gamma must be positive")
        precondition(proxiesPerClass >= 1, "a class needs at least one proxy")
        self.gamma = gamma
        self.proxiesPerClass = proxiesPerClass
    }

    /// S and `dS/da_k` from the K inner products `a` of one embedding with one class's proxies.
    /// - Complexity: O(K).
    public func similarity(innerProducts a: [Double]) -> (value: Double, derivatives: [Double]) {
        precondition(a.count == proxiesPerClass, "expected \(proxiesPerClass) inner products, got \(a.count)")
        if a.count == 1 { return (a[0], [1]) }
        let m = a.max()!
        var w = a.map { exp(($0 - m) / gamma) }
        let total = w.reduce(0, +)
        var s = 0.0
        for k in w.indices {
            w[k] /= total
            s += w[k] * a[k]
        }
        let derivatives = w.indices.map { w[$0] * (1 + (a[$0] - s) / gamma) }
        return (s, derivatives)
    }

    /// S(z, c) for one embedding `z` (d values) and one class's proxies (K x d, row-major).
    /// - Complexity: O(K d).
    public func value(embedding z: [Double], classProxies p: [Double]) -> Double {
        similarity(innerProducts: innerProducts(z, p)).value
    }

    /// The gradient of S(z, c) with respect to `z` (d values) and to the class's proxies
    /// (K x d, row-major, row k is dS/dp_ck).
    /// - Complexity: O(K d).
    public func gradient(embedding z: [Double], classProxies p: [Double]) -> (embedding: [Double], proxies: [Double]) {
        let d = z.count
        let g = similarity(innerProducts: innerProducts(z, p)).derivatives
        var dz = [Double](repeating: 0, count: d)
        var dp = [Double](repeating: 0, count: p.count)
        for k in 0 ..< proxiesPerClass {
            for j in 0 ..< d {
                dz[j] += g[k] * p[k * d + j]
                dp[k * d + j] = g[k] * z[j]
            }
        }
        return (dz, dp)
    }

    private func innerProducts(_ z: [Double], _ p: [Double]) -> [Double] {
        let d = z.count
        precondition(p.count == proxiesPerClass * d, "expected \(proxiesPerClass) x \(d) proxy values, got \(p.count)")
        return (0 ..< proxiesPerClass).map { k in
            var dot = 0.0
            for j in 0 ..< d { dot += z[j] * p[k * d + j] }
            return dot
        }
    }

    /// S for a whole batch: `products` is N x (C K), row i holding z_i.p for every proxy in
    /// class-major order (column c K + k is proxy k of class c). Returns S (N x C) and the
    /// derivatives dS_ic/da_{i, cK+k} (N x C K) that `backward` needs.
    /// - Complexity: O(N C K).
    func forward(products: DoubleMatrix) -> (similarities: DoubleMatrix, derivatives: DoubleMatrix) {
        let k = proxiesPerClass
        let classes = products.columns / k
        var s = DoubleMatrix(zeros: products.rows, classes)
        var g = DoubleMatrix(zeros: products.rows, products.columns)
        for i in 0 ..< products.rows {
            for c in 0 ..< classes {
                let base = i * products.columns + c * k
                let (value, derivatives) = similarity(innerProducts: Array(products.values[base ..< base + k]))
                s[i, c] = value
                for l in 0 ..< k { g.values[base + l] = derivatives[l] }
            }
        }
        return (s, g)
    }

    /// Chains dL/dS (N x C) to dL/da (N x C K) through the derivatives from `forward`.
    /// - Complexity: O(N C K).
    func backward(similarityGradient ds: DoubleMatrix, derivatives g: DoubleMatrix) -> DoubleMatrix {
        let k = proxiesPerClass
        var da = DoubleMatrix(zeros: g.rows, g.columns)
        for i in 0 ..< g.rows {
            for c in 0 ..< ds.columns {
                let upstream = ds[i, c]
                let base = i * g.columns + c * k
                for l in 0 ..< k { da.values[base + l] = upstream * g.values[base + l] }
            }
        }
        return da
    }
}
