#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The paired t-test on per-query differences (Student 1908), two-sided.
///
/// t = mean(d) / (sd(d) / sqrt(n)) with n - 1 degrees of freedom; the p-value is
/// P(|T| >= |t|) = I_{nu / (nu + t^2)}(nu / 2, 1 / 2), the regularised incomplete beta
/// function, evaluated by its continued fraction (modified Lentz).
public enum PairedTTest {
    /// The t statistic and two-sided p-value, or nil for fewer than two differences.
    /// All-equal differences give p = 1 when their mean is 0, else p = 0.
    public static func test(_ differences: [Double]) -> (t: Double, p: Double)? {
        let n = differences.count
        guard n >= 2 else { return nil }
        let mean = differences.reduce(0, +) / Double(n)
        let variance = differences.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(n - 1)
        if variance <= 1e-24 {
            return abs(mean) <= 1e-12 ? (0, 1) : (mean > 0 ? .infinity : -.infinity, 0)
        }
        let t = mean / (variance / Double(n)).squareRoot()
        let nu = Double(n - 1)
        return (t, regularizedIncompleteBeta(x: nu / (nu + t * t), a: nu / 2, b: 0.5))
    }

    /// I_x(a, b), accurate to about 1e-12 for a, b > 0 and x in [0, 1].
    public static func regularizedIncompleteBeta(x: Double, a: Double, b: Double) -> Double {
        if x <= 0 { return 0 }
        if x >= 1 { return 1 }
        let logFront = lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log(1 - x)
        // The continued fraction converges fast for x < (a + 1) / (a + b + 2); use the
        // symmetry I_x(a, b) = 1 - I_{1-x}(b, a) otherwise.
        if x < (a + 1) / (a + b + 2) {
            return exp(logFront) * continuedFraction(x: x, a: a, b: b) / a
        }
        return 1 - exp(logFront) * continuedFraction(x: 1 - x, a: b, b: a) / b
    }

    private static func continuedFraction(x: Double, a: Double, b: Double) -> Double {
        let tiny = 1e-300
        var c = 1.0
        var d = 1 - (a + b) * x / (a + 1)
        if abs(d) < tiny { d = tiny }
        d = 1 / d
        var h = d
        for m in 1 ... 500 {
            let m = Double(m)
            // Even step.
            var numerator = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m))
            d = 1 + numerator * d
            if abs(d) < tiny { d = tiny }
            c = 1 + numerator / c
            if abs(c) < tiny { c = tiny }
            d = 1 / d
            h *= d * c
            // Odd step.
            numerator = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
            d = 1 + numerator * d
            if abs(d) < tiny { d = tiny }
            c = 1 + numerator / c
            if abs(c) < tiny { c = tiny }
            d = 1 / d
            let delta = d * c
            h *= delta
            if abs(delta - 1) < 1e-15 { break }
        }
        return h
    }
}
