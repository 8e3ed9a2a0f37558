/// The proxy regulariser of SoftTriple and the MPA family (Saeki et al. 2023, eq. 3, after
/// Qian et al. 2019):
///
///     R = sum_c sum_{t < s} sqrt(2 - 2 p_cs.p_ct + eps) / (C K (K - 1))
///
/// which pulls the K proxies of each class together (for unit vectors, `2 - 2 p_s.p_t` is
/// their squared distance). `eps = 1e-5` keeps the square root differentiable when two
/// proxies coincide; it is the value in the SoftTriple authors' code and is not in the paper.
/// R is 0 when K = 1 (no pairs).
///
/// The losses apply it to the normalised proxies; these methods take the proxies as given.
public struct ProxyRegularizer: Sendable {
    /// K, the number of proxies of each class.
    public var proxiesPerClass: Int
    /// Added under the square root; 1e-5 as in SoftTriple's reference code.
    public var epsilon: Double

    /// A regulariser for K = `proxiesPerClass` proxies per class (at least 1).
    public init(proxiesPerClass: Int, epsilon: Double = 1e-5) {
        precondition(proxiesPerClass >= 1, "a class needs at least one proxy")
        self.proxiesPerClass = proxiesPerClass
        self.epsilon = epsilon
    }

    /// R for `proxies` (C K x d, row c K + k is proxy k of class c).
    /// - Complexity: O(C K^2 d).
    public func value(proxies: DoubleMatrix) -> Double {
        valueAndGradient(proxies: proxies).value
    }

    /// R and dR/dp (C K x d). For a pair (s, t) of class c, with `r = sqrt(2 - 2 p_s.p_t + eps)`,
    /// `dR/dp_s = -p_t / (r C K (K - 1))` and symmetrically for p_t.
    /// - Complexity: O(C K^2 d).
    public func valueAndGradient(proxies: DoubleMatrix) -> (value: Double, gradient: DoubleMatrix) {
        let k = proxiesPerClass
        let d = proxies.columns
        precondition(proxies.rows % k == 0, "\(proxies.rows) proxies is not a multiple of K = \(k)")
        var gradient = DoubleMatrix(zeros: proxies.rows, d)
        let classes = proxies.rows / k
        guard k > 1, classes > 0 else { return (0, gradient) }
        let scale = 1 / Double(classes * k * (k - 1))
        var total = 0.0
        proxies.values.withUnsafeBufferPointer { p in
            gradient.values.withUnsafeMutableBufferPointer { g in
                for c in 0 ..< classes {
                    for t in 0 ..< k {
                        for s in t + 1 ..< k {
                            let rowT = (c * k + t) * d, rowS = (c * k + s) * d
                            var dot = 0.0
                            for j in 0 ..< d { dot += p[rowT + j] * p[rowS + j] }
                            let r = (2 - 2 * dot + epsilon).squareRoot()
                            total += r
                            let coefficient = -scale / r
                            for j in 0 ..< d {
                                g[rowS + j] += coefficient * p[rowT + j]
                                g[rowT + j] += coefficient * p[rowS + j]
                            }
                        }
                    }
                }
            }
        }
        return (total * scale, gradient)
    }
}
