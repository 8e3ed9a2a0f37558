/// SoftTriple (Qian et al. 2019; Saeki et al. 2023, eq. 2-4): a smoothed softmax loss over
/// the class similarities of eq. (1), with a margin on the true class, plus the proxy
/// regulariser of eq. (3):
///
///     L_Sim(z_i) = -log( exp(lambda (S_ic_i - delta)) /
///                        (exp(lambda (S_ic_i - delta)) + sum_{c != c_i} exp(lambda S_ic)) )  (2)
///     L = (1/N) sum_i L_Sim(z_i) + tau R                                                    (4)
///
/// Eq. (4) writes a sum over the batch; this module takes the mean, as SoftTriple's reference
/// code does, so that tau keeps its meaning across batch sizes. With logits
/// `l_ic = lambda (S_ic - delta [c = c_i])`,
///
///     dL/dS_ic = (lambda / N) (softmax_c(l_i) - [c = c_i])
///
/// which is eq. (5) divided by N.
public struct SoftTripleLoss: ProxyLoss {
    /// Hyperparameters of `SoftTripleLoss` (the SoftTriple paper's defaults).
    public struct Configuration: Sendable {
        /// The scale lambda.
        public var lambda: Double = 20
        /// The class-similarity temperature gamma of eq. (1).
        public var gamma: Double = 0.1
        /// The regulariser weight tau.
        public var tau: Double = 0.2
        /// The margin delta.
        public var delta: Double = 0.01
        /// K, proxies per class.
        public var proxiesPerClass: Int = 10

        /// A configuration; lambda = 20, gamma = 0.1, tau = 0.2, delta = 0.01 and K = 10 by
        /// default.
        public init(lambda: Double = 20, gamma: Double = 0.1, tau: Double = 0.2, delta: Double = 0.01,
                    proxiesPerClass: Int = 10) {
            self.lambda = lambda
            self.gamma = gamma
            self.tau = tau
            self.delta = delta
            self.proxiesPerClass = proxiesPerClass
        }
    }

    /// The hyperparameters.
    public var configuration: Configuration

    /// SoftTriple with `configuration` (the SoftTriple paper's defaults unless given).
    public init(_ configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    /// K, from the configuration.
    public var proxiesPerClass: Int { configuration.proxiesPerClass }
    /// gamma, from the configuration.
    public var similarityTemperature: Double { configuration.gamma }
    /// tau, from the configuration.
    public var regularizerWeight: Double { configuration.tau }

    /// The SoftTriple loss of the class similarities `s` (N x C), eq. (2) averaged over the batch,
    /// and its gradient dL/dS.
    public func similarityLoss(_ s: DoubleMatrix, labels: [Int]) -> LossAndGradient {
        let n = s.rows, classes = s.columns
        let lambda = configuration.lambda, delta = configuration.delta
        var gradient = DoubleMatrix(zeros: n, classes)
        var total = 0.0
        for i in 0 ..< n {
            let logits = (0 ..< classes).map { lambda * (s[i, $0] - ($0 == labels[i] ? delta : 0)) }
            let (lse, softmax) = StableMath.logSumExp(logits)
            total += lse - logits[labels[i]]
            for c in 0 ..< classes {
                gradient[i, c] = lambda * (softmax[c] - (c == labels[i] ? 1 : 0)) / Double(n)
            }
        }
        return LossAndGradient(value: total / Double(n), gradient: gradient)
    }
}
