/// The paired randomization (sign-flip permutation) test on per-query differences.
///
/// Under the null hypothesis that two systems are exchangeable on every query, each paired
/// difference d_q = current_q - baseline_q is as likely to have either sign. The statistic is
/// the mean difference; its null distribution comes from flipping the signs at random
/// (Fisher 1935; Smucker, Allan, Carterette 2007 for IR evaluation). With `count` of the
/// N random sign assignments at least as extreme as the observed one, the p-value is
/// p = (count + 1) / (N + 1), which is never 0 and is exact for a Monte Carlo test (Phipson
/// & Smyth 2010). When 2^n <= N every assignment is enumerated instead, and
/// p = (count of extreme assignments) / 2^n exactly.
public enum RandomizationTest {
    /// Which differences count as extreme.
    public enum Alternative: String, Sendable {
        /// A drop: permuted means at or below the observed mean (the CI gate's question).
        case less
        /// Any change: permuted means at least as far from zero as the observed one.
        case twoSided = "two-sided"
    }

    /// The p-value of the observed mean of `differences`.
    ///
    /// - Parameters:
    ///   - differences: paired differences (NaNs must be removed by the caller).
    ///   - permutations: N, the number of random sign assignments.
    ///   - seed: the generator's seed.
    /// - Complexity: O(n N), or O(n 2^n) when enumerating.
    public static func pValue(
        _ differences: [Double], alternative: Alternative, permutations: Int = 10_000, seed: UInt64 = 0
    ) -> Double {
        let n = differences.count
        guard n > 0 else { return 1 }
        // Differences below rounding noise are ties: treat them as exact zeros, so that two
        // identical runs give p = 1 whatever order their values were summed in.
        let d = differences.map { abs($0) < 1e-12 ? 0 : $0 }
        let observed = d.reduce(0, +)
        let tolerance = 1e-9 * max(1, d.reduce(0) { $0 + abs($1) })
        func extreme(_ sum: Double) -> Bool {
            switch alternative {
            case .less: return sum <= observed + tolerance
            case .twoSided: return abs(sum) >= abs(observed) - tolerance
            }
        }
        if n < 63, (1 << n) <= permutations {
            var count = 0
            for mask in 0 ..< (1 << n) {
                var sum = 0.0
                for i in 0 ..< n { sum += (mask >> i) & 1 == 1 ? -d[i] : d[i] }
                if extreme(sum) { count += 1 }
            }
            return Double(count) / Double(1 << n)
        }
        var rng = SplitMix64(seed: seed)
        var count = 0
        for _ in 0 ..< permutations {
            var sum = 0.0
            var i = 0
            while i < n {
                var bits = rng.next()
                let end = min(n, i + 64)
                while i < end {
                    sum += bits & 1 == 1 ? -d[i] : d[i]
                    bits >>= 1
                    i += 1
                }
            }
            if extreme(sum) { count += 1 }
        }
        return Double(count + 1) / Double(permutations + 1)
    }
}
