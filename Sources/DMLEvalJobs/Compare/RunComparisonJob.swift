import RetrievalEval
import RetrievalEvalStore

/// Run comparison as one library call: which stored runs pair with which, the metrics they
/// share, and the paired tests of every run against the first (and, when asked, between
/// every two runs).
public struct RunComparisonJob: Sendable {
    /// The runs; the first is the reference.
    public var runIDs: [Int64]
    /// The store holding them (only read).
    public var store: StoreLocation
    /// The number of sign flips of the randomization tests.
    public var permutations: Int
    /// The seed of the randomization tests' sign flips.
    public var seed: UInt64
    /// Bootstrap intervals of the paired differences.
    public var interval: Bootstrap.Settings?
    /// Also test every pair of runs at this level (ranx-style marks); nil: only against the first.
    public var pairwiseSignificance: Double?

    /// A comparison of `runIDs` in `store`, 10,000 sign flips, seed 0.
    public init(runIDs: [Int64], store: StoreLocation, permutations: Int = 10_000, seed: UInt64 = 0,
                interval: Bootstrap.Settings? = nil, pairwiseSignificance: Double? = nil) {
        self.runIDs = runIDs
        self.store = store
        self.permutations = permutations
        self.seed = seed
        self.interval = interval
        self.pairwiseSignificance = pairwiseSignificance
    }

    /// Whether two runs can be paired query by query: the same test set (labels, and query
    /// labels, hash equal).
    public static func pairable(_ a: RunRecord, _ b: RunRecord) -> Bool {
        a.dataset.labelsHash == b.dataset.labelsHash && a.queryDataset?.labelsHash == b.queryDataset?.labelsHash
    }

    /// The metrics every run has, in the first run's order (clustering values included).
    public static func sharedMetrics(_ runs: [RunRecord]) -> [String] {
        guard let first = runs.first else { return [] }
        return first.metrics.map(\.metric).filter { name in runs.allSatisfy { $0.metrics.contains { $0.metric == name } } }
    }

    /// What the comparison found.
    public struct Outcome: Sendable {
        /// The runs, in the order asked.
        public let runs: [RunRecord]
        /// The metrics all the runs have, in the first run's order.
        public let metrics: [String]
        /// How many of `metrics` have per-query values in every run, and so are tested.
        public let testedMetrics: Int
        /// `means[r][m]`: run r's mean of metric m.
        public let means: [[Double]]
        /// `cells[r][m]`: run r against the first on metric m.
        public let cells: [[RunComparison.Cell]]
        /// Whether each run pairs with the first.
        public let pairable: [Bool]
        /// With `pairwiseSignificance`: `better[i][j][m]`, run i significantly better than run j on metric m.
        public let better: [[[Bool]]]?

        /// The runs made on another test set than the first (no p-values).
        public var unpairedRuns: [Int64] { zip(runs, pairable).filter { !$0.1 }.map { $0.0.id } }
    }

    /// Runs the comparison.
    /// - Throws: `JobError.noStore`, `JobError.noSharedMetric`, `StoreError` for an unknown run.
    public func run() throws -> Outcome {
        let opened = try store.openExisting()
        let runs = try runIDs.map { try opened.run(id: $0) }
        let values = try runIDs.map { try opened.perQueryValues(runID: $0) }
        let names = Self.sharedMetrics(runs)
        guard !names.isEmpty else { throw JobError.noSharedMetric(runs: runIDs) }
        let tested = names.filter { Metric(name: $0) != nil }.count
        let means = runs.map { r in names.map { n in r.metrics.first { $0.metric == n }!.mean } }
        let perQuery = values.map { v in names.map { n in v.first { $0.metric == n }?.values ?? [] } }
        let pairable = runs.map { Self.pairable($0, runs[0]) }
        let cells = RunComparison.compare(metricCount: names.count, means: means, perQuery: perQuery, pairable: pairable,
                                          permutations: permutations, seed: seed, interval: interval)
        let better = pairwiseSignificance.map { alpha in
            RunComparison.pairwiseSignificance(
                metricCount: names.count, means: means, perQuery: perQuery,
                pairable: runs.map { a in runs.map { b in Self.pairable(a, b) } }, alpha: alpha,
                permutations: permutations, seed: seed)
        }
        return Outcome(runs: runs, metrics: names, testedMetrics: tested, means: means, cells: cells, pairable: pairable,
                       better: better)
    }
}
