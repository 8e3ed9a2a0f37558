/// Side-by-side comparison of runs against the first one, with paired tests.
public enum RunComparison {
    /// One metric of one run compared with the first run.
    public struct Cell: Sendable {
        /// This run's mean of the metric.
        public let mean: Double
        /// mean - first run's mean, in points (x100); 0 for the first run.
        public let deltaPoints: Double
        /// Two-sided paired t-test p-value, Holm-adjusted across the metrics.
        public let tTestP: Double?
        /// Two-sided paired randomization p-value, Holm-adjusted across the metrics.
        public let randomizationP: Double?
        /// Queries where this run scores higher than the first; nil when the runs cannot be paired.
        public let wins: Int?
        /// Queries where both runs score the same.
        public let ties: Int?
        /// Queries where this run scores lower than the first.
        public let losses: Int?
        /// The bootstrap interval of the mean paired difference (this run - the first), in
        /// points (x100), when asked for and the runs can be paired.
        public var deltaInterval: Bootstrap.Interval? = nil
    }

    /// Compares every run with the first on `metrics`.
    ///
    /// - Parameters:
    ///   - means: `means[run][metric]`.
    ///   - perQuery: `perQuery[run][metric]`, NaN for excluded queries.
    ///   - pairable: whether run i's queries are the first run's (same labels, same order).
    ///   - interval: also a percentile bootstrap interval of each paired difference.
    /// - Returns: `cells[run][metric]`.
    public static func compare(
        metrics: [Metric], means: [[Double]], perQuery: [[[Float]]], pairable: [Bool],
        permutations: Int = 10_000, seed: UInt64 = 0, interval: Bootstrap.Settings? = nil
    ) -> [[Cell]] {
        compare(metricCount: metrics.count, means: means, perQuery: perQuery, pairable: pairable,
                permutations: permutations, seed: seed, interval: interval)
    }

    /// Compares every run with the first on `metricCount` values, some of which may have no
    /// per-query values (an empty array: NMI, AMI): those get means and deltas only, and stay
    /// out of the Holm family.
    public static func compare(
        metricCount: Int, means: [[Double]], perQuery: [[[Float]]], pairable: [Bool],
        permutations: Int = 10_000, seed: UInt64 = 0, interval: Bootstrap.Settings? = nil
    ) -> [[Cell]] {
        let metricIndices = 0 ..< metricCount
        return means.indices.map { run in
            var tP: [Double?] = [], rP: [Double?] = []
            var counts: [(Int, Int, Int)?] = []
            for m in metricIndices {
                let base = perQuery[0][m], mine = perQuery[run][m]
                guard run > 0, pairable[run], !base.isEmpty, base.count == mine.count else {
                    tP.append(nil); rP.append(nil); counts.append(nil)
                    continue
                }
                var differences: [Double] = []
                var wins = 0, ties = 0, losses = 0
                for (b, c) in zip(base, mine) where b.isFinite && c.isFinite {
                    let d = Double(c) - Double(b)
                    differences.append(d)
                    if d > 0 { wins += 1 } else if d < 0 { losses += 1 } else { ties += 1 }
                }
                tP.append(PairedTTest.test(differences)?.p)
                rP.append(RandomizationTest.pValue(differences, alternative: .twoSided, permutations: permutations, seed: seed &+ UInt64(m)))
                counts.append((wins, ties, losses))
            }
            let tAdjusted = adjust(tP), rAdjusted = adjust(rP)
            return metricIndices.map { m in
                var cell = Cell(mean: means[run][m], deltaPoints: (means[run][m] - means[0][m]) * 100,
                                tTestP: tAdjusted[m], randomizationP: rAdjusted[m],
                                wins: counts[m]?.0, ties: counts[m]?.1, losses: counts[m]?.2)
                if let interval, counts[m] != nil, !perQuery[0][m].isEmpty,
                   let i = Bootstrap.differenceInterval(reference: perQuery[0][m], current: perQuery[run][m], settings: interval) {
                    cell.deltaInterval = Bootstrap.Interval(lower: i.lower * 100, upper: i.upper * 100)
                }
                return cell
            }
        }
    }

    /// For every ordered pair of runs, whether run `i` is significantly better than run `j`
    /// on each metric: a higher mean and a two-sided paired randomization p-value below
    /// `alpha`, Holm-corrected across the metrics of that pair. This is what ranx marks with
    /// superscript letters in its comparison tables.
    /// - Returns: `better[i][j][metric]`; false when the runs cannot be paired.
    public static func pairwiseSignificance(
        metricCount: Int, means: [[Double]], perQuery: [[[Float]]], pairable: [[Bool]],
        alpha: Double, permutations: Int = 10_000, seed: UInt64 = 0
    ) -> [[[Bool]]] {
        let runs = means.count
        var better = [[[Bool]]](repeating: [[Bool]](repeating: [Bool](repeating: false, count: metricCount), count: runs), count: runs)
        for i in 0 ..< runs {
            for j in i + 1 ..< max(i + 1, runs) where pairable[i][j] {
                let cells = compare(metricCount: metricCount, means: [means[i], means[j]], perQuery: [perQuery[i], perQuery[j]],
                                    pairable: [true, true], permutations: permutations, seed: seed)
                for m in 0 ..< metricCount {
                    guard let p = cells[1][m].randomizationP, p < alpha else { continue }
                    if means[j][m] > means[i][m] { better[j][i][m] = true } else if means[i][m] > means[j][m] { better[i][j][m] = true }
                }
            }
        }
        return better
    }

    /// Holm-adjusts the p-values that exist, leaving the missing ones missing.
    static func adjust(_ values: [Double?]) -> [Double?] {
        let present = Holm.adjust(values.compactMap { $0 })
        var next = 0
        return values.map { v in
            guard v != nil else { return nil }
            defer { next += 1 }
            return present[next]
        }
    }
}
