import Testing
@testable import RetrievalEval

/// Percentile bootstrap intervals: coverage, width and determinism on synthetic per-query
/// values of known mean.
@Suite("Bootstrap confidence intervals")
struct BootstrapTests {
    /// n values from N(mean, 1), seeded.
    static func sample(_ n: Int, mean: Double, seed: UInt64) -> [Double] {
        var rng = SplitMix64(seed: seed)
        return (0 ..< n).map { _ in mean + rng.gaussian() }
    }

    @Test("about 95% of 1,000 seeded experiments cover the true mean")
    func coverage() {
        var covered = 0
        for experiment in 0 ..< 1000 {
            let values = Self.sample(100, mean: 0.5, seed: UInt64(experiment) &* 7919 &+ 1)
            let interval = Bootstrap.meanInterval(values, settings: .init(level: 0.95, resamples: 500, seed: UInt64(experiment) &+ 1_000_003))!
            if interval.contains(0.5) { covered += 1 }
        }
        // The percentile bootstrap runs slightly below its nominal level at small n; the
        // standard error of a coverage over 1,000 experiments is 0.7 points.
        #expect(covered >= 925 && covered <= 970, "covered \(covered) of 1000")
    }

    @Test("a 99% interval is wider than a 90% one, and covers more often")
    func levels() {
        var (c90, c99) = (0, 0)
        for experiment in 0 ..< 300 {
            let values = Self.sample(60, mean: 0, seed: UInt64(experiment) + 10_000)
            let narrow = Bootstrap.meanInterval(values, settings: .init(level: 0.90, resamples: 300, seed: 1))!
            let wide = Bootstrap.meanInterval(values, settings: .init(level: 0.99, resamples: 300, seed: 1))!
            #expect(wide.width > narrow.width)
            if narrow.contains(0) { c90 += 1 }
            if wide.contains(0) { c99 += 1 }
        }
        #expect(c99 > c90)
        #expect(c90 >= 240 && c90 <= 285, "90%: \(c90) of 300")
    }

    @Test("the width shrinks as 1/sqrt(n): 16 times the queries, a quarter of the width")
    func width() {
        func meanWidth(_ n: Int) -> Double {
            var total = 0.0
            for e in 0 ..< 20 {
                let values = Self.sample(n, mean: 0, seed: UInt64(e + 500))
                let settings = Bootstrap.Settings(resamples: 400, seed: UInt64(e))
                total += Bootstrap.meanInterval(values, settings: settings)!.width
            }
            return total / 20
        }
        let small = meanWidth(100), large = meanWidth(1600)
        // For N(0, 1) the 95% width is 2 * 1.96 / sqrt(n): 0.392 at n = 100.
        #expect(abs(small - 0.392) < 0.04, "\(small)")
        #expect(abs(small / large - 4) < 0.4, "ratio \(small / large)")
    }

    @Test("the same seed gives the same numbers; another seed, others")
    func determinism() {
        let values = Self.sample(200, mean: 0.3, seed: 99)
        let a = Bootstrap.intervals([values, values.map { $0 * 2 }], settings: .init(resamples: 500, seed: 42))
        let b = Bootstrap.intervals([values, values.map { $0 * 2 }], settings: .init(resamples: 500, seed: 42))
        let c = Bootstrap.intervals([values, values.map { $0 * 2 }], settings: .init(resamples: 500, seed: 43))
        #expect(a.means == b.means)
        #expect(a.means != c.means)
        // Every metric is resampled with the same draws: a metric twice another has an
        // interval exactly twice as wide.
        #expect(abs(a.means[1]!.lower - 2 * a.means[0]!.lower) < 1e-12)
        #expect(abs(a.means[1]!.upper - 2 * a.means[0]!.upper) < 1e-12)
    }

    @Test("excluded queries (NaN) are left out; fewer than 2 scored give no interval")
    func exclusions() {
        let settings = Bootstrap.Settings(resamples: 200, seed: 3)
        #expect(Bootstrap.meanInterval([1], settings: settings) == nil)
        #expect(Bootstrap.meanInterval([.nan, 1, .nan], settings: settings) == nil)
        let constant = Bootstrap.meanInterval([.nan, 0.25, 0.25, 0.25], settings: settings)!
        #expect(constant.lower == 0.25 && constant.upper == 0.25)
        let withNaN = Bootstrap.intervals([[0, 1, .nan, 1, 0, 1]], settings: settings).means[0]!
        #expect(withNaN.lower >= 0 && withNaN.upper <= 1 && withNaN.width > 0)
    }

    @Test("quantiles interpolate as numpy's default does")
    func quantiles() {
        let sorted: [Double] = [1, 2, 3, 4, 5]
        #expect(Bootstrap.quantile(sorted, 0) == 1)
        #expect(Bootstrap.quantile(sorted, 1) == 5)
        #expect(Bootstrap.quantile(sorted, 0.025) == 1.1)   // numpy.quantile([1,2,3,4,5], 0.025)
        #expect(Bootstrap.quantile(sorted, 0.5) == 3)
        #expect(abs(Bootstrap.quantile(sorted, 0.975) - 4.9) < 1e-12)
    }

    @Test("macro intervals: per-class means averaged within each resample")
    func macro() {
        // Class 0 always scores 1, class 1 always 0: the macro mean is 0.5 in every resample
        // that draws both classes, while the mean over queries moves with the class mix.
        let values: [Double] = [1, 1, 1, 1, 1, 1, 0, 0]
        let classes: [Int32] = [0, 0, 0, 0, 0, 0, 1, 1]
        let (means, macro) = Bootstrap.intervals([values], classes: classes, classCount: 2, settings: .init(resamples: 500, seed: 5))
        #expect(means[0]!.width > 0.2)
        #expect(macro![0]!.lower >= 0.5 && macro![0]!.upper <= 1)
        #expect(macro![0]!.lower == 0.5)
    }

    @Test("the paired difference interval is that of the mean difference")
    func difference() {
        let reference: [Float] = [0.5, 0.25, 1, .nan, 0.75]
        let current: [Float] = [0.75, 0.5, 1, 0.5, 1]
        let i = Bootstrap.differenceInterval(reference: reference, current: current, settings: .init(resamples: 300, seed: 1))!
        // Differences over the 4 scored pairs: 0.25, 0.25, 0, 0.25.
        #expect(i.lower >= 0 && i.upper <= 0.25 && i.contains(0.1875))
        #expect(Bootstrap.differenceInterval(reference: [1], current: [1, 2], settings: .init()) == nil)
    }
}
