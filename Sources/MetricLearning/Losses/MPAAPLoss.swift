/// Data-wise and all-paired multi-proxies anchor loss, MPA-AP (Saeki, Kawahara, Aman 2023,
/// eq. 15-17): one soft-plus per embedding over the margin similarities of every class,
/// positive and negative together, plus the regulariser:
///
///     S'(x_i, c) = delta - S(x_i, c)   if c = c_i,   S(x_i, c) + delta   otherwise      (15)
///     L_MPAAPSim = (1/N) sum_i log(1 + sum_c exp(alpha S'(x_i, c)))                     (16)
///     L_MPAAP    = L_MPAAPSim + tau R                                                   (17)
///
/// The gradient with respect to S' is eq. (18):
///
///     dL/dS'(x_i, c') = (alpha / N) / (exp(-alpha S'(x_i, c')) + sum_c exp(alpha (S'(x_i, c) - S'(x_i, c'))))
///
/// and dL/dS = -dL/dS' for the true class, +dL/dS' for the others.
public struct MPAAPLoss: MPAFamilyLoss {
    /// The hyperparameters.
    public var configuration: MPAConfiguration

    /// MPA-AP with `configuration` (the paper's defaults unless given).
    public init(_ configuration: MPAConfiguration = MPAConfiguration()) {
        self.configuration = configuration
    }

    /// S' of eq. (15) from S(x_i, c), for c the true class of x_i or not.
    @inline(__always)
    func marginSimilarity(_ s: Double, isOwnClass: Bool) -> Double {
        isOwnClass ? configuration.delta - s : s + configuration.delta
    }

    /// The MPA-AP loss of the class similarities `s` (N x C) and its gradient dL/dS.
    public func similarityLoss(_ s: DoubleMatrix, labels: [Int]) -> LossAndGradient {
        let n = s.rows, classes = s.columns
        let alpha = configuration.alpha
        let scale = 1 / Double(n)
        var gradient = DoubleMatrix(zeros: n, classes)
        var value = 0.0
        for i in 0 ..< n {
            let arguments = (0 ..< classes).map { alpha * marginSimilarity(s[i, $0], isOwnClass: $0 == labels[i]) }
            let (term, weights) = StableMath.logOnePlusSumExp(arguments)
            value += scale * term
            for c in 0 ..< classes {
                let dPrime = alpha * scale * weights[c]
                gradient[i, c] = c == labels[i] ? -dPrime : dPrime
            }
        }
        return LossAndGradient(value: value, gradient: gradient)
    }
}
