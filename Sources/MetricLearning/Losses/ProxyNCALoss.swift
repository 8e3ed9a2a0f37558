/// ProxyNCA (Movshovitz-Attias et al. 2017) in pytorch-metric-learning's form: a softmax over
/// classes of the negative scaled squared distance between the normalised embedding and the
/// class, averaged over the batch:
///
///     L = (1/N) sum_i -log( exp(-s D(z_i, c_i)) / sum_c exp(-s D(z_i, c)) )
///
/// with `s = scale`. The positive class is in the denominator (as in pytorch-metric-learning,
/// unlike the original paper). For unit vectors `||z - p||^2 = 2 - 2 z.p`; this module takes
/// `D(z, c) = 2 - 2 S(z, c)` with S the class similarity of eq. (1), so K = 1 (the default)
/// is exactly ProxyNCA and K > 1 a multi-proxy generalisation. Since the constant 2 cancels
/// in the softmax, the logits are `2 s S(z_i, c)`, and
///
///     dL/dS_ic = (2 s / N) (softmax_c - [c = c_i]).
///
/// There is no regulariser (tau = 0), as in ProxyNCA. PMLProxyNCATests checks the loss against
/// pytorch-metric-learning 2.9.0's ProxyNCALoss at its default scale and at s = 3.
public struct ProxyNCALoss: ProxyLoss {
    /// Hyperparameters of `ProxyNCALoss`.
    public struct Configuration: Sendable {
        /// The softmax scale s (inverse temperature). 1 is pytorch-metric-learning's default
        /// (`softmax_scale=1`), kept so numbers compare with it; ProxyNCA++ (Teh et al.
        /// 2020) reports much better training with a low temperature, s = 9 or so.
        public var scale: Double = 1
        /// K; 1 is plain ProxyNCA.
        public var proxiesPerClass: Int = 1
        /// gamma of eq. (1), used only when K > 1.
        public var gamma: Double = 0.1

        /// A configuration; s = 1, K = 1 and gamma = 0.1 by default.
        public init(scale: Double = 1, proxiesPerClass: Int = 1, gamma: Double = 0.1) {
            self.scale = scale
            self.proxiesPerClass = proxiesPerClass
            self.gamma = gamma
        }
    }

    /// The hyperparameters.
    public var configuration: Configuration

    /// ProxyNCA with `configuration` (pytorch-metric-learning's defaults unless given).
    public init(_ configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    /// K, from the configuration.
    public var proxiesPerClass: Int { configuration.proxiesPerClass }
    /// gamma, from the configuration; unused when K = 1.
    public var similarityTemperature: Double { configuration.gamma }
    /// 0: ProxyNCA has no regulariser.
    public var regularizerWeight: Double { 0 }

    /// The ProxyNCA loss of the class similarities `s` (N x C) and its gradient dL/dS.
    public func similarityLoss(_ s: DoubleMatrix, labels: [Int]) -> LossAndGradient {
        let n = s.rows, classes = s.columns
        let factor = 2 * configuration.scale
        var gradient = DoubleMatrix(zeros: n, classes)
        var total = 0.0
        for i in 0 ..< n {
            let logits = (0 ..< classes).map { factor * s[i, $0] }
            let (lse, softmax) = StableMath.logSumExp(logits)
            total += lse - logits[labels[i]]
            for c in 0 ..< classes {
                let indicator = c == labels[i] ? 1.0 : 0.0
                gradient[i, c] = factor * (softmax[c] - indicator) / Double(n)
            }
        }
        return LossAndGradient(value: total / Double(n), gradient: gradient)
    }
}
