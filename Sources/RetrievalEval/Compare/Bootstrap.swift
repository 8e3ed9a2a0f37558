/// Percentile bootstrap confidence intervals over queries (Efron & Tibshirani 1993, ch. 13).
///
/// The scored queries are resampled with replacement B times; each resample's mean is
/// computed, and the interval at level 1 - alpha is the alpha/2 and 1 - alpha/2 quantiles of
/// those B means (linear interpolation between order statistics, numpy's default). Every
/// metric of a run is computed on the same resamples, so the intervals are consistent with
/// each other. The generator is SplitMix64 seeded by `seed`: the same seed gives the same
/// intervals, whatever the machine.
///
/// What this covers: the variation of the mean if the queries had been drawn again from the
/// same population, with everything else fixed. In self-retrieval the gallery is the query set
/// itself and is *not* resampled (each query keeps its own list and R), so the interval says
/// nothing about another gallery, another training run or another seed of the model.
public enum Bootstrap {
    /// A closed interval [lower, upper].
    public struct Interval: Sendable, Equatable {
        /// The lower end.
        public let lower: Double
        /// The upper end.
        public let upper: Double
        /// The interval [lower, upper].
        public init(lower: Double, upper: Double) {
            self.lower = lower
            self.upper = upper
        }
        /// upper - lower.
        public var width: Double { upper - lower }
        /// Whether `value` lies in the interval, ends included.
        public func contains(_ value: Double) -> Bool { lower <= value && value <= upper }
    }

    /// The settings of an interval.
    public struct Settings: Sendable, Equatable {
        /// The confidence level in (0, 1), e.g. 0.95.
        public var level: Double
        /// The number of resamples B.
        public var resamples: Int
        /// The seed of the resampling generator (`SplitMix64`): the same seed, the same interval.
        public var seed: UInt64
        /// Settings with a level in (0, 1) and at least one resample; 95% from 1000 resamples by
        /// default.
        public init(level: Double = 0.95, resamples: Int = 1000, seed: UInt64 = 0) {
            precondition(level > 0 && level < 1 && resamples >= 1)
            self.level = level
            self.resamples = resamples
            self.seed = seed
        }
    }

    /// Intervals of each metric's mean over the scored queries, and (with `classes`) of each
    /// metric's macro mean over classes.
    ///
    /// - Parameters:
    ///   - perQuery: `perQuery[metric][query]`; NaN marks an excluded query (NaN in the first
    ///     metric excludes the query from every metric, as the evaluation does).
    ///   - classes: each query's class index (for macro means), or nil.
    /// - Returns: nil intervals when fewer than 2 queries are scored.
    /// - Complexity: O(B (n m + classes m)) for n scored queries and m metrics.
    public static func intervals(
        _ perQuery: [[Double]], classes: [Int32]? = nil, classCount: Int = 0, settings: Settings
    ) -> (means: [Interval?], macro: [Interval?]?) {
        let metrics = perQuery.count
        guard metrics > 0 else { return ([], classes == nil ? nil : []) }
        let scored = perQuery[0].indices.filter { !perQuery[0][$0].isNaN }
        let n = scored.count
        guard n >= 2 else {
            let none = [Interval?](repeating: nil, count: metrics)
            return (none, classes == nil ? nil : none)
        }
        // Values of the scored queries, query-major, so a resample reads one row per draw.
        var rows = [Double](repeating: 0, count: n * metrics)
        for (i, q) in scored.enumerated() { for m in 0 ..< metrics { rows[i * metrics + m] = perQuery[m][q] } }
        let cls = classes.map { c in scored.map { Int(c[$0]) } }
        var means = [[Double]](repeating: [], count: metrics)
        var macros = [[Double]](repeating: [], count: metrics)
        var rng = SplitMix64(seed: settings.seed)
        var sums = [Double](repeating: 0, count: metrics)
        var classSums = [Double](repeating: 0, count: max(1, classCount) * metrics)
        var classCounts = [Int](repeating: 0, count: max(1, classCount))
        for _ in 0 ..< settings.resamples {
            for m in 0 ..< metrics { sums[m] = 0 }
            if cls != nil {
                for i in classSums.indices { classSums[i] = 0 }
                for i in classCounts.indices { classCounts[i] = 0 }
            }
            for _ in 0 ..< n {
                let i = Int(rng.next().multipliedFullWidth(by: UInt64(n)).high)
                let base = i * metrics
                for m in 0 ..< metrics { sums[m] += rows[base + m] }
                if let cls {
                    let c = cls[i]
                    classCounts[c] += 1
                    for m in 0 ..< metrics { classSums[c * metrics + m] += rows[base + m] }
                }
            }
            for m in 0 ..< metrics { means[m].append(sums[m] / Double(n)) }
            if cls != nil {
                let present = classCounts.indices.filter { classCounts[$0] > 0 }
                for m in 0 ..< metrics {
                    let total = present.reduce(0.0) { $0 + classSums[$1 * metrics + m] / Double(classCounts[$1]) }
                    macros[m].append(total / Double(present.count))
                }
            }
        }
        let alpha = 1 - settings.level
        func interval(_ values: [Double]) -> Interval {
            let sorted = values.sorted()
            return Interval(lower: quantile(sorted, alpha / 2), upper: quantile(sorted, 1 - alpha / 2))
        }
        return (means.map(interval), cls == nil ? nil : macros.map(interval))
    }

    /// The interval of the mean of `values` (NaNs left out); nil for fewer than 2 values.
    public static func meanInterval(_ values: [Double], settings: Settings) -> Interval? {
        intervals([values.filter { !$0.isNaN }], settings: settings).means[0]
    }

    /// The interval of the mean paired difference `current - reference` over the queries
    /// both score, in the units of the values; nil for fewer than 2 pairs or unequal counts.
    public static func differenceInterval(reference: [Float], current: [Float], settings: Settings) -> Interval? {
        guard reference.count == current.count else { return nil }
        var differences: [Double] = []
        for (a, b) in zip(reference, current) where a.isFinite && b.isFinite { differences.append(Double(b) - Double(a)) }
        return meanInterval(differences, settings: settings)
    }

    /// The q-quantile of sorted values, interpolating linearly between order statistics
    /// (Hyndman & Fan type 7, numpy's default).
    static func quantile(_ sorted: [Double], _ q: Double) -> Double {
        let position = q * Double(sorted.count - 1)
        let below = Int(position.rounded(.down))
        let above = min(below + 1, sorted.count - 1)
        let fraction = position - Double(below)
        return sorted[below] + (sorted[above] - sorted[below]) * fraction
    }
}
