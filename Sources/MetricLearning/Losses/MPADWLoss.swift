/// Data-wise multi-proxies anchor loss, MPA-DW (Saeki, Kawahara, Aman 2023, eq. 12-13): the
/// soft-plus terms of MPA taken per embedding instead of per class, plus the regulariser:
///
///     L_MPADWSim = (1/N) sum_i ( log(1 + exp(-alpha (S(x_i, c_i) - delta)))
///                              + log(1 + sum_{c != c_i} exp(alpha (S(x_i, c) + delta))) )   (12)
///     L_MPADW    = L_MPADWSim + tau R                                                      (13)
///
/// The negative sum runs over every class other than c_i (all C, not only those in the batch).
/// The gradient with respect to S is eq. (14):
///
///     dL/dS(x_i, c') = -(alpha / N) / (exp(alpha (S(x_i, c_i) - delta)) + 1)           c' = c_i
///                      +(alpha / N) / (exp(-alpha (S(x_i, c') + delta))
///                                      + sum_{c != c_i} exp(alpha (S(x_i, c) - S(x_i, c'))))  c' != c_i
///
/// (the paper prints S_DR = S(x_i, c') - S(x_i, c'), a typo for S(x_i, c) - S(x_i, c')).
public struct MPADWLoss: MPAFamilyLoss {
    /// The hyperparameters.
    public var configuration: MPAConfiguration

    /// MPA-DW with `configuration` (the paper's defaults unless given).
    public init(_ configuration: MPAConfiguration = MPAConfiguration()) {
        self.configuration = configuration
    }

    /// The MPA-DW loss of the class similarities `s` (N x C) and its gradient dL/dS.
    public func similarityLoss(_ s: DoubleMatrix, labels: [Int]) -> LossAndGradient {
        let n = s.rows, classes = s.columns
        let alpha = configuration.alpha, delta = configuration.delta
        let scale = 1 / Double(n)
        var gradient = DoubleMatrix(zeros: n, classes)
        var value = 0.0
        for i in 0 ..< n {
            let own = labels[i]
            let positive = StableMath.softplus(-alpha * (s[i, own] - delta))
            value += scale * positive.value
            gradient[i, own] = -alpha * scale * positive.derivative
            let others = (0 ..< classes).filter { $0 != own }
            let (negative, weights) = StableMath.logOnePlusSumExp(others.map { alpha * (s[i, $0] + delta) })
            value += scale * negative
            for (w, c) in zip(weights, others) { gradient[i, c] = alpha * scale * w }
        }
        return LossAndGradient(value: value, gradient: gradient)
    }
}
