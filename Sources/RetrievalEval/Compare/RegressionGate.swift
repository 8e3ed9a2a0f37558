/// The CI gate: did retrieval quality really drop against a baseline?
///
/// A metric regresses when it dropped by more than `tolerance` points (on the x100 scale)
/// and, when a significance level is given, the drop is also significant: the one-sided
/// paired randomization test over per-query values, with Holm's correction across the
/// metrics checked, gives an adjusted p below the level.
public enum RegressionGate {
    /// One metric's verdict.
    public struct Result: Sendable {
        /// The metric checked.
        public let metric: Metric
        /// The baseline's mean, in [0, 1].
        public let baseline: Double
        /// The current run's mean, in [0, 1].
        public let current: Double
        /// current - baseline, in points (x100).
        public var deltaPoints: Double { (current - baseline) * 100 }
        /// The one-sided randomization p-value of a drop, when the runs could be paired.
        public let pValue: Double?
        /// `pValue` after Holm's correction across the metrics checked.
        public let adjustedPValue: Double?
        /// Whether the drop exceeds the tolerance and, when a significance level is set, is
        /// significant.
        public let regressed: Bool
        /// The bootstrap interval of the mean paired difference (current - baseline), in
        /// points (x100), when asked for and the runs can be paired.
        public var deltaInterval: Bootstrap.Interval? = nil
    }

    /// Checks `current` against the baseline's means and per-query values.
    ///
    /// - Parameters:
    ///   - metrics: the metrics to check (each must be in both).
    ///   - tolerancePoints: the largest drop, in points, that never fails.
    ///   - significance: when set, a drop fails only if also significant at this level.
    ///   - paired: whether per-query values can be paired (same queries in the same order).
    public static func check(
        metrics: [Metric], baselineMeans: [Double], baselinePerQuery: [[Float]],
        currentMeans: [Double], currentPerQuery: [[Double]], paired: Bool,
        tolerancePoints: Double, significance: Double?, permutations: Int = 10_000, seed: UInt64 = 0,
        interval: Bootstrap.Settings? = nil
    ) -> [Result] {
        var pValues: [Double?] = []
        for m in metrics.indices {
            guard paired, baselinePerQuery[m].count == currentPerQuery[m].count else {
                pValues.append(nil)
                continue
            }
            var differences: [Double] = []
            differences.reserveCapacity(currentPerQuery[m].count)
            for (b, c) in zip(baselinePerQuery[m], currentPerQuery[m]) where b.isFinite && c.isFinite {
                // Both sides at float32 precision, as stored, so identical runs differ by 0.
                differences.append(Double(Float(c)) - Double(b))
            }
            pValues.append(RandomizationTest.pValue(differences, alternative: .less, permutations: permutations, seed: seed &+ UInt64(m)))
        }
        let adjusted = RunComparison.adjust(pValues)
        return metrics.indices.map { m in
            let drop = (baselineMeans[m] - currentMeans[m]) * 100
            var regressed = drop > tolerancePoints + 1e-9
            if regressed, let significance, let p = adjusted[m] { regressed = p < significance }
            var result = Result(metric: metrics[m], baseline: baselineMeans[m], current: currentMeans[m],
                                pValue: pValues[m], adjustedPValue: adjusted[m], regressed: regressed)
            if let interval, paired, baselinePerQuery[m].count == currentPerQuery[m].count,
               let i = Bootstrap.differenceInterval(reference: baselinePerQuery[m], current: currentPerQuery[m].map { Float($0) }, settings: interval) {
                result.deltaInterval = Bootstrap.Interval(lower: i.lower * 100, upper: i.upper * 100)
            }
            return result
        }
    }
}
