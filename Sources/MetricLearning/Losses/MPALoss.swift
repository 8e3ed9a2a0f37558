/// Multi-proxies anchor loss, MPA (Saeki, Kawahara, Aman 2023, eq. 6-7): ProxyAnchor's
/// class-wise soft-plus terms over the multi-proxy class similarity of eq. (1), plus the
/// proxy regulariser of eq. (3):
///
///     L_MPASim = (1/|C+|) sum_{c in C+} log(1 + sum_{x in X_c+} exp(-alpha (S(x, c) - delta)))
///              + (1/|C-|) sum_{c in C-} log(1 + sum_{x in X_c-} exp( alpha (S(x, c) + delta)))   (6)
///     L_MPA    = L_MPASim + tau R                                                               (7)
///
/// C+ is the set of classes with at least one embedding in the batch, C- the set of classes
/// with at least one embedding of another class in the batch (every class when the batch
/// holds two or more classes). An empty C- (a single class overall) contributes 0.
/// The gradient with respect to S is eq. (8):
///
///     dL/dS(x, c) = -(alpha / |C+|) l+(x, c) / (1 + sum_{x' in X_c+} l+(x', c))   for x in X_c+
///                   +(alpha / |C-|) l-(x, c) / (1 + sum_{x' in X_c-} l-(x', c))   for x in X_c-
///
/// with l+ = exp(-alpha (S - delta)), l- = exp(alpha (S + delta)), computed here in the
/// overflow-free form of `StableMath.logOnePlusSumExp`.
///
/// With K = 1 and a batch of two or more classes this is ProxyAnchor (the tests check it).
public struct MPALoss: MPAFamilyLoss {
    /// The hyperparameters.
    public var configuration: MPAConfiguration

    /// MPA with `configuration` (the paper's defaults unless given).
    public init(_ configuration: MPAConfiguration = MPAConfiguration()) {
        self.configuration = configuration
    }

    /// The MPA loss of the class similarities `s` (N x C) and its gradient dL/dS.
    public func similarityLoss(_ s: DoubleMatrix, labels: [Int]) -> LossAndGradient {
        let n = s.rows, classes = s.columns
        let alpha = configuration.alpha, delta = configuration.delta
        var positives: [[Int]] = Array(repeating: [], count: classes)
        var negatives: [[Int]] = Array(repeating: [], count: classes)
        for c in 0 ..< classes {
            for i in 0 ..< n {
                if labels[i] == c { positives[c].append(i) } else { negatives[c].append(i) }
            }
        }
        let positiveClassCount = positives.filter { !$0.isEmpty }.count
        let negativeClassCount = negatives.filter { !$0.isEmpty }.count
        var gradient = DoubleMatrix(zeros: n, classes)
        var value = 0.0
        for c in 0 ..< classes {
            if !positives[c].isEmpty {
                let scale = 1 / Double(positiveClassCount)
                let (term, weights) = StableMath.logOnePlusSumExp(positives[c].map { -alpha * (s[$0, c] - delta) })
                value += scale * term
                for (w, i) in zip(weights, positives[c]) { gradient[i, c] += -alpha * scale * w }
            }
            if !negatives[c].isEmpty {
                let scale = 1 / Double(negativeClassCount)
                let (term, weights) = StableMath.logOnePlusSumExp(negatives[c].map { alpha * (s[$0, c] + delta) })
                value += scale * term
                for (w, i) in zip(weights, negatives[c]) { gradient[i, c] += alpha * scale * w }
            }
        }
        return LossAndGradient(value: value, gradient: gradient)
    }
}
