/// ProxyAnchor (Kim, Kim, Cho, Kwak 2020), one proxy per class:
///
///     L = (1/|P+|) sum_{p in P+} log(1 + sum_{x in X_p+} exp(-alpha (s(x, p) - delta)))
///       + (1/|P|)  sum_{p in P}  log(1 + sum_{x in X_p-} exp( alpha (s(x, p) + delta)))
///
/// where s is the cosine, P all classes, P+ the classes with a positive in the batch, X_p+
/// the batch embeddings of class p and X_p- the others. The negative term is averaged over
/// all classes (as in the paper and its code), including classes whose log term is 0.
/// No regulariser.
public struct ProxyAnchorLoss: ProxyLoss {
    /// Hyperparameters of `ProxyAnchorLoss` (the paper's defaults).
    public struct Configuration: Sendable {
        /// The scale alpha.
        public var alpha: Double = 32
        /// The margin delta.
        public var delta: Double = 0.1

        /// A configuration; alpha = 32 and delta = 0.1 by default.
        public init(alpha: Double = 32, delta: Double = 0.1) {
            self.alpha = alpha
            self.delta = delta
        }
    }

    /// The hyperparameters.
    public var configuration: Configuration

    /// ProxyAnchor with `configuration` (the paper's defaults unless given).
    public init(_ configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    /// Always 1: ProxyAnchor has one proxy per class.
    public var proxiesPerClass: Int { 1 }
    /// Unused with one proxy per class (S = a).
    public var similarityTemperature: Double { 1 }
    /// 0: ProxyAnchor has no regulariser.
    public var regularizerWeight: Double { 0 }

    /// The ProxyAnchor loss of the class similarities `s` (N x C, cosines) and its gradient dL/dS.
    public func similarityLoss(_ s: DoubleMatrix, labels: [Int]) -> LossAndGradient {
        let n = s.rows, classes = s.columns
        let alpha = configuration.alpha, delta = configuration.delta
        var gradient = DoubleMatrix(zeros: n, classes)
        let positiveClasses = Set(labels)
        var positive = 0.0, negative = 0.0
        for p in 0 ..< classes {
            let members = (0 ..< n).filter { labels[$0] == p }
            let others = (0 ..< n).filter { labels[$0] != p }
            if !members.isEmpty {
                let (value, weights) = StableMath.logOnePlusSumExp(members.map { -alpha * (s[$0, p] - delta) })
                positive += value
                for (w, i) in zip(weights, members) {
                    gradient[i, p] += -alpha * w / Double(positiveClasses.count)
                }
            }
            let (value, weights) = StableMath.logOnePlusSumExp(others.map { alpha * (s[$0, p] + delta) })
            negative += value
            for (w, i) in zip(weights, others) {
                gradient[i, p] += alpha * w / Double(classes)
            }
        }
        return LossAndGradient(value: positive / Double(positiveClasses.count) + negative / Double(classes),
                               gradient: gradient)
    }
}
