/// How far an approximate search is from the exact one: on a seeded sample of the queries,
/// the exact lists are computed too, and compared with the approximate ones, list against list
/// (recall) and metric against metric.
public struct ApproximationCheck: Sendable {
    /// The sampled queries (indices into the queries), in increasing order.
    public let sample: [Int]
    /// The seed the sample was drawn with.
    public let seed: UInt64
    /// The depth compared: the lists' depth.
    public let depth: Int
    /// The fraction of the exact top 10 (or top depth when shallower) found by the approximate
    /// search, over the sample.
    public let recallAt10: Double
    /// The fraction of the exact top `depth` found by the approximate search, over the sample.
    public let recallAtDepth: Double
    /// The metrics compared, in report order.
    public let metrics: [Metric]
    /// Per metric, the mean over the scored queries of the sample on the approximate lists.
    public let approximateMeans: [Double]
    /// Per metric, the mean over the scored queries of the sample on the exact lists.
    public let exactMeans: [Double]
    /// The sampled queries scored (R > 0).
    public let scoredQueries: Int
    /// Seconds the check took: the exact search of the sample and the scoring.
    public let seconds: Double

    /// Checks `evaluation` (an approximate run over `references`, or `queries` against them).
    ///
    /// - Parameter sampleSize: queries to check (all when the set is smaller).
    public static func run(
        _ evaluation: RetrievalEvaluation, references: LabeledEmbeddings, queries: LabeledEmbeddings?, metrics: [Metric],
        distance: Distance, sampleSize: Int, seed: UInt64, threads: Int
    ) throws -> ApproximationCheck {
        let clock = ContinuousClock()
        let start = clock.now
        guard let neighbors = evaluation.neighbors else { preconditionFailure("the evaluation to check must keep its lists (an approximate search does; pass keepNeighbors for an exact one)") }
        let n = neighbors.queries
        let depth = neighbors.depth
        let sample = sampleIndices(count: n, size: sampleSize, seed: seed)
        let source = queries?.embeddings ?? references.embeddings
        let d = source.columns
        var values = [Float](repeating: 0, count: sample.count * d)
        for (row, q) in sample.enumerated() {
            for j in 0 ..< d { values[row * d + j] = source.values[q * d + j] }
        }
        let sampled = Matrix(rows: sample.count, columns: d, values: values)
        let selfRetrieval = queries == nil
        // Exact lists of the sample: as separate queries, one deeper in self-retrieval so that
        // each query's own row can be dropped.
        let exactSearch = try ExactSearch(references: references.embeddings, queries: sampled, distance: distance, threads: threads)
        let raw = try exactSearch.search(k: depth + (selfRetrieval ? 1 : 0))
        var exactIndices: [Int32] = [], exactScores: [Float] = []
        var approximateIndices: [Int32] = [], approximateScores: [Float] = []
        for (row, q) in sample.enumerated() {
            var kept = 0
            for i in 0 ..< raw.depth where kept < depth && !(selfRetrieval && raw.indices[row * raw.depth + i] == Int32(q)) {
                exactIndices.append(raw.indices[row * raw.depth + i])
                exactScores.append(raw.scores[row * raw.depth + i])
                kept += 1
            }
            approximateIndices += neighbors.indices[q * depth ..< (q + 1) * depth]
            approximateScores += neighbors.scores[q * depth ..< (q + 1) * depth]
        }
        let exact = Neighbors(queries: sample.count, depth: depth, indices: exactIndices, scores: exactScores)
        let approximate = Neighbors(queries: sample.count, depth: depth, indices: approximateIndices, scores: approximateScores)
        let judgments = (queries.map { RelevanceJudgments(queries: $0.labels, references: references.labels) }
            ?? RelevanceJudgments(selfRetrieval: references.labels)).subset(sample)
        let exactReport = try Evaluator.evaluate(judgments.table(for: exact), metrics: metrics)
        let approximateReport = try Evaluator.evaluate(judgments.table(for: approximate), metrics: metrics)
        return ApproximationCheck(
            sample: sample, seed: seed, depth: depth,
            recallAt10: overlap(approximate, exact, first: min(10, depth)), recallAtDepth: overlap(approximate, exact, first: depth),
            metrics: metrics, approximateMeans: approximateReport.means, exactMeans: exactReport.means,
            scoredQueries: exactReport.scoredQueries, seconds: (clock.now - start).seconds)
    }

    /// `size` distinct indices below `count` drawn with the seed, sorted (all when fewer).
    public static func sampleIndices(count: Int, size: Int, seed: UInt64) -> [Int] {
        guard size < count else { return Array(0 ..< count) }
        var rng = SplitMix64(seed: seed)
        return rng.distinctIndices(size, below: count).sorted()
    }

    /// The fraction of each exact list's first `first` found in the approximate list's first `first`.
    public static func overlap(_ approximate: Neighbors, _ exact: Neighbors, first: Int) -> Double {
        guard first > 0, exact.queries > 0 else { return 1 }
        var hits = 0
        for q in 0 ..< exact.queries {
            let truth = Set(exact.indices(of: q).prefix(first))
            hits += approximate.indices(of: q).prefix(first).filter(truth.contains).count
        }
        return Double(hits) / Double(exact.queries * first)
    }
}
