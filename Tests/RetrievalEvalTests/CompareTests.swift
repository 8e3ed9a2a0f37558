import Foundation
import Testing
@testable import RetrievalEval
import RetrievalEvalStore
import DMLEvalJobs

@Suite("Significance tests")
struct SignificanceTests {
    /// The slow, obvious enumeration of every sign assignment.
    static func enumerate(_ d: [Double], twoSided: Bool) -> Double {
        let observed = d.reduce(0, +)
        var extreme = 0
        let total = 1 << d.count
        for mask in 0 ..< total {
            var sum = 0.0
            for (i, x) in d.enumerated() { sum += mask & (1 << i) != 0 ? -x : x }
            if twoSided ? abs(sum) >= abs(observed) - 1e-12 : sum <= observed + 1e-12 { extreme += 1 }
        }
        return Double(extreme) / Double(total)
    }

    static let samples: [[Double]] = [
        [0.1, -0.2, 0.05, -0.3, -0.1, 0.0, -0.25, 0.15, -0.05, -0.2],
        [1, 1, 1, 0, -1, 1, 1, 0, 1, 1, -1, 1],
        [-0.5, -0.4, -0.1, -0.3, -0.2, -0.6, 0.05, -0.2],
    ]

    @Test("small inputs are enumerated exactly", arguments: samples)
    func exactEnumeration(_ d: [Double]) {
        #expect(abs(RandomizationTest.pValue(d, alternative: .less, permutations: 1 << 14) - Self.enumerate(d, twoSided: false)) < 1e-12)
        #expect(abs(RandomizationTest.pValue(d, alternative: .twoSided, permutations: 1 << 14) - Self.enumerate(d, twoSided: true)) < 1e-12)
    }

    @Test("Monte Carlo agrees with the enumeration", arguments: samples)
    func monteCarlo(_ d: [Double]) {
        // 2^n > N forces sampling; with N = 200,000 the standard error is below 0.0012.
        let exact = Self.enumerate(d, twoSided: false)
        let sampled = RandomizationTest.pValue(d, alternative: .less, permutations: 200_000, seed: 42)
        #expect(abs(sampled - exact) < 0.006, "\(sampled) vs \(exact)")
        // Seeded: the same seed gives the same p.
        #expect(sampled == RandomizationTest.pValue(d, alternative: .less, permutations: 200_000, seed: 42))
    }

    @Test func identicalRunsGivePOne() {
        let zeros = [Double](repeating: 0, count: 500)
        #expect(RandomizationTest.pValue(zeros, alternative: .less) == 1)
        #expect(RandomizationTest.pValue(zeros, alternative: .twoSided) == 1)
        #expect(PairedTTest.test(zeros)?.p == 1)
    }

    @Test func monteCarloPValueIsNeverZero() {
        let drop = [Double](repeating: -1, count: 200)
        #expect(RandomizationTest.pValue(drop, alternative: .less, permutations: 999) == 1.0 / 1000)
    }

    @Test("Holm's correction on a worked example")
    func holm() {
        // Sorted: 0.005 x 4 = 0.02, 0.01 x 3 = 0.03, 0.03 x 2 = 0.06, 0.04 x 1 = 0.04 -> max so far 0.06.
        let adjusted = Holm.adjust([0.01, 0.04, 0.03, 0.005])
        for (a, b) in zip(adjusted, [0.03, 0.06, 0.06, 0.02]) { #expect(abs(a - b) < 1e-12) }
        #expect(Holm.adjust([0.5, 0.9]) == [1.0, 1.0])
        #expect(Holm.adjust([]) == [])
    }

    @Test("the paired t-test against scipy.stats.ttest_1samp")
    func tTest() throws {
        let a = try #require(PairedTTest.test([1, 2, 3, 4, 5]))
        #expect(abs(a.t - 4.242640687119285) < 1e-12)
        #expect(abs(a.p - 0.01323559956368269) < 1e-10)
        let b = try #require(PairedTTest.test([0.5, -0.2, 0.1, 0.3, -0.1, 0.4]))
        #expect(abs(b.p - 0.2052815052287265) < 1e-10)
        #expect(PairedTTest.test([1]) == nil)
    }

    @Test("the incomplete beta function against scipy.special.betainc")
    func incompleteBeta() {
        #expect(abs(PairedTTest.regularizedIncompleteBeta(x: 0.5, a: 2, b: 3) - 0.6875) < 1e-12)
        #expect(abs(PairedTTest.regularizedIncompleteBeta(x: 0.3, a: 0.5, b: 0.5) - 0.36901011956554536) < 1e-11)
        #expect(abs(PairedTTest.regularizedIncompleteBeta(x: 0.9, a: 10, b: 0.5) - 0.15164090963470994) < 1e-11)
    }
}

@Suite("The regression gate")
struct RegressionGateTests {
    static let metrics: [Metric] = [.recall(k: 1), .mapAtR]

    func gate(baseline: [[Float]], current: [[Double]], tolerance: Double, significance: Double?) -> [RegressionGate.Result] {
        RegressionGate.check(
            metrics: Self.metrics, baselineMeans: baseline.map { $0.reduce(0) { $0 + Double($1) } / Double($0.count) },
            baselinePerQuery: baseline, currentMeans: current.map { $0.reduce(0, +) / Double($0.count) },
            currentPerQuery: current, paired: true, tolerancePoints: tolerance, significance: significance)
    }

    @Test func identicalRunsPassWithPOne() {
        let values: [[Float]] = [(0 ..< 300).map { Float($0 % 3 == 0 ? 0 : 1) }, (0 ..< 300).map { Float($0 % 7) / 7 }]
        let results = gate(baseline: values, current: values.map { $0.map(Double.init) }, tolerance: 0, significance: 0.05)
        #expect(results.allSatisfy { !$0.regressed && $0.adjustedPValue == 1 && $0.deltaPoints == 0 })
    }

    @Test func aRealDropBeyondToleranceFails() {
        let base: [[Float]] = [[Float](repeating: 1, count: 400), [Float](repeating: 0.5, count: 400)]
        // recall@1 loses 40 of 400 queries: -10 points, clearly significant; map@r unchanged.
        let current: [[Double]] = [(0 ..< 400).map { $0 < 40 ? 0 : 1 }, [Double](repeating: 0.5, count: 400)]
        let results = gate(baseline: base, current: current, tolerance: 0.5, significance: 0.05)
        #expect(results[0].regressed && abs(results[0].deltaPoints + 10) < 1e-9)
        #expect(results[0].adjustedPValue! < 0.001)
        #expect(!results[1].regressed)
    }

    @Test func aDropWithinNoisePassesWithSignificanceOnly() {
        // 2 points down on average, but 26 queries lost and 24 gained: not significant.
        let base: [[Float]] = (0 ..< 2).map { _ in (0 ..< 100).map { Float($0 < 50 ? 1 : 0) } }
        let current: [[Double]] = (0 ..< 2).map { _ in (0 ..< 100).map { q in
            q < 26 ? 0 : q < 50 ? 1 : q < 74 ? 1 : 0
        } }
        #expect(abs((current[0].reduce(0, +) - 50) + 2) < 1e-12)
        let strict = gate(baseline: base, current: current, tolerance: 0.5, significance: nil)
        let lenient = gate(baseline: base, current: current, tolerance: 0.5, significance: 0.05)
        #expect(strict.contains { $0.regressed })
        #expect(!lenient.contains { $0.regressed })
    }

    @Test func unpairedRunsHaveNoPValue() {
        let base: [[Float]] = [[1, 1, 0], [0.5, 0.5, 0.5]]
        let results = RegressionGate.check(
            metrics: Self.metrics, baselineMeans: [2.0 / 3, 0.5], baselinePerQuery: base, currentMeans: [0.25, 0.5],
            currentPerQuery: [[0, 0, 0, 1], [0.5, 0.5, 0.5, 0.5]], paired: false, tolerancePoints: 0.5, significance: 0.05)
        #expect(results[0].pValue == nil && results[0].regressed)
    }
}

@Suite("Baseline files")
struct BaselineFileTests {
    @Test func aStoredRunRoundTripsThroughAFile() throws {
        let store = try Store()
        let data = try sampleData(rows: 60)
        let dataset = try store.ingest(data, name: "d").dataset
        let evaluation = try RetrievalEvaluation.run(references: data, metrics: [.recall(k: 1), .map(k: 5, denominator: .r)])
        let id = try store.record(RunInput(
            datasetID: dataset.id, toolVersion: "9.9", search: "exact", distance: .squaredL2, depth: evaluation.depth,
            parameters: [("distance", "l2")], report: evaluation.report, timings: []))
        let baseline = try Baseline(run: try store.run(id: id), perQuery: try store.perQueryValues(runID: id))
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dmleval-baseline-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("b.json").path
        try baseline.write(to: path)
        let read = try Baseline.read(path)
        #expect(read.metrics == [.recall(k: 1), .map(k: 5, denominator: .r)])
        #expect(read.means == baseline.means)
        #expect(read.perQuery == baseline.perQuery)
        #expect(read.dataset == baseline.dataset)
        #expect(read.distance == .squaredL2 && read.toolVersion == "9.9" && read.sourceRun == id)
    }

    @Test func aFileOfAnotherKindIsRefused() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dmleval-baseline-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("b.json").path
        try #"{"format": "something", "version": 1}"#.write(toFile: path, atomically: true, encoding: .utf8)
        #expect(throws: InputError.self) { try Baseline.read(path) }
        try #"{"format": "dmleval-baseline", "version": 99}"#.write(toFile: path, atomically: true, encoding: .utf8)
        #expect {
            try Baseline.read(path)
        } throws: { ($0 as? InputError)?.description.contains("found version 99") == true }
    }
}
