#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Overflow-free log-sum-exp forms shared by the losses.
///
/// Every loss here is a sum of `log(sum exp(...))` or `log(1 + sum exp(...))` terms whose
/// arguments reach `alpha * (1 + delta) = 35.2` with the default `alpha = 32`; the largest
/// argument is factored out before exponentiating, so no intermediate exceeds 1.
enum StableMath {
    /// `log(sum_i exp(x_i))` and its gradient `softmax(x)`.
    /// - Precondition: `x` is not empty.
    static func logSumExp(_ x: [Double]) -> (value: Double, softmax: [Double]) {
        precondition(!x.isEmpty, "logSumExp of an empty list")
        let m = x.max()!
        var sum = 0.0
        var weights = x.map { exp($0 - m) }
        for w in weights { sum += w }
        for i in weights.indices { weights[i] /= sum }
        return (m + log(sum), weights)
    }

    /// `log(1 + sum_i exp(x_i))` (the "soft-plus with summation" of eq. 10) and its gradient
    /// `exp(x_j) / (1 + sum_i exp(x_i))` (eq. 11). An empty `x` gives 0 and no gradient.
    static func logOnePlusSumExp(_ x: [Double]) -> (value: Double, gradient: [Double]) {
        let m = max(0, x.max() ?? 0)
        var weights = x.map { exp($0 - m) }
        var sum = exp(-m)
        for w in weights { sum += w }
        for i in weights.indices { weights[i] /= sum }
        return (m + log(sum), weights)
    }

    /// `log(1 + exp(x))` and its derivative, the logistic sigmoid.
    static func softplus(_ x: Double) -> (value: Double, derivative: Double) {
        if x > 0 {
            let e = exp(-x)
            return (x + log1p(e), 1 / (1 + e))
        } else {
            let e = exp(x)
            return (log1p(e), e / (1 + e))
        }
    }
}
