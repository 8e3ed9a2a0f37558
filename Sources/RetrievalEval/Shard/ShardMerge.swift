/// Joins the N parts of a sharded evaluation into one report, after proving they belong
/// together: all N shards present once each, from the same data, settings and tool version.
///
/// The per-query values are copied, never recomputed, and the means are summed in query
/// order over the scored queries, exactly as `MetricStream.report` sums them, so the merged
/// report equals the unsharded one bit for bit.
public struct ShardMerge: Sendable {
    /// A part and where it came from (named in errors).
    public struct Source: Sendable {
        /// The path the part was read from.
        public let path: String
        /// The part as read.
        public let part: PartialResult
        /// A part read from `path`.
        public init(path: String, part: PartialResult) {
            self.path = path
            self.part = part
        }
    }

    /// N: the number of shards merged.
    public let shards: Int
    /// The queries of the whole evaluation.
    public let totalQueries: Int
    /// The metrics scored, in report order.
    public let metrics: [Metric]
    /// The depth of the whole evaluation, as the run records it.
    public let depth: Int
    /// The dmleval version that wrote every part.
    public let toolVersion: String
    /// The run's parameters (those of the first part).
    public let parameters: [(String, String)]
    /// How to read the inputs again (those of the first part), to record the dataset in a store.
    public let inputs: [(String, String)]
    /// The references, as every part identifies them.
    public let dataset: Baseline.DatasetIdentity
    /// The separate queries; nil in self-retrieval.
    public let queryDataset: Baseline.DatasetIdentity?
    /// The merged report: per-query values copied in query order, means summed as the unsharded run
    /// sums them.
    public let report: MetricReport
    /// R of every query, in query order.
    public let relevantCounts: [Int]
    /// The Recall@k and Precision@k curves from the summed counts; nil when the parts kept none.
    public let curves: RetrievalCurves?
    /// Per shard, in shard order: seconds reading, searching and scoring.
    public let shardTimings: [[(String, Double)]]

    /// The sum over the shards of one stage's seconds.
    public func totalSeconds(_ stage: String) -> Double {
        shardTimings.reduce(0) { sum, timings in sum + (timings.first { $0.0 == stage }?.1 ?? 0) }
    }

    /// Merges `parts`, given in any order.
    ///
    /// - Parameters:
    ///   - perClass: also compute per-class (macro) means, as `RetrievalEvaluation` does.
    ///   - partPath: the path a missing part would have, for the error (default: its file name).
    /// - Throws: `ShardError` naming the part that is missing, duplicated or mismatched.
    public static func merge(
        _ parts: [Source], perClass: Bool = false, partPath: (Shard) -> String = { $0.fileName }
    ) throws -> ShardMerge {
        guard let first = parts.min(by: { $0.part.shard.index < $1.part.shard.index }) else {
            throw ShardError(.noParts, "expected the parts of a sharded run (part-I-of-N files), found none; run the shards first (dmleval EMB LABELS --shard I/N --partial-out DIR)")
        }
        let n = first.part.shard.count
        let reference = first.part
        func mismatch(_ source: Source, _ what: String, _ expected: String, _ found: String) -> ShardError {
            ShardError(.mismatchedPart, "\(source.path): expected \(what) \(expected) like \(first.path), found \(found); this part belongs to another run: remove it, or rerun that shard with the same data, settings and dmleval")
        }
        var byIndex = [Source?](repeating: nil, count: n)
        for source in parts {
            let part = source.part
            guard part.shard.count == n else {
                throw mismatch(source, "shards of", "\(n)", "\(part.shard.count) (shard \(part.shard)); keep one sharded run per folder")
            }
            if let earlier = byIndex[part.shard.index] {
                throw ShardError(.duplicatePart, "\(source.path): expected one part per shard, found shard \(part.shard) twice (also in \(earlier.path)); remove the copy")
            }
            guard part.toolVersion == reference.toolVersion else {
                throw mismatch(source, "dmleval version", reference.toolVersion, part.toolVersion)
            }
            guard part.dataset == reference.dataset else {
                throw mismatch(source, "the data with hash", String(reference.dataset.hash.prefix(12)), "hash \(part.dataset.hash.prefix(12))")
            }
            guard part.queryDataset == reference.queryDataset else {
                throw mismatch(source, "queries with hash", reference.queryDataset.map { String($0.hash.prefix(12)) } ?? "none (self-retrieval)",
                               part.queryDataset.map { "hash " + $0.hash.prefix(12) } ?? "none (self-retrieval)")
            }
            guard part.metrics == reference.metrics else {
                throw mismatch(source, "metrics", reference.metrics.map(\.name).joined(separator: ","), part.metrics.map(\.name).joined(separator: ","))
            }
            let settings = { (p: PartialResult) in p.parameters.filter { !PartialResult.pathParameters.contains($0.0) } }
            let (mine, theirs) = (settings(part), settings(reference))
            if mine.count != theirs.count || zip(mine, theirs).contains(where: { $0 != $1 }) {
                let differing = zip(theirs, mine).first { $0 != $1 }
                let found = differing.map { "\($0.1.0) = \($0.1.1)" } ?? "\(mine.count) settings instead of \(theirs.count)"
                throw mismatch(source, "the setting", differing.map { "\($0.0.0) = \($0.0.1)" } ?? "list", found)
            }
            guard part.totalQueries == reference.totalQueries, part.depth == reference.depth,
                  part.curveDepth == reference.curveDepth, part.classCount == reference.classCount else {
                throw mismatch(source, "queries, depth, curve depth and classes", "\(reference.totalQueries), \(reference.depth), \(reference.curveDepth), \(reference.classCount)",
                               "\(part.totalQueries), \(part.depth), \(part.curveDepth), \(part.classCount)")
            }
            byIndex[part.shard.index] = source
        }
        if let missing = byIndex.firstIndex(where: { $0 == nil }) {
            let shard = try Shard(index: missing, count: n)
            let count = byIndex.filter { $0 == nil }.count
            throw ShardError(.missingPart, "\(partPath(shard)): expected all \(n) parts, found no part for shard \(shard)" + (count > 1 ? " (and \(count - 1) more missing)" : "") + "; its task failed or has not finished: rerun it (--shard \(shard)) before merging")
        }
        let ordered = byIndex.map { $0!.part }

        // The report, exactly as MetricStream.report builds it over all queries.
        let total = reference.totalQueries, m = reference.metrics.count
        var perQuery = [[Double]](repeating: [Double](repeating: .nan, count: total), count: m)
        var relevantCounts = [Int](repeating: 0, count: total)
        var classes = [Int32](repeating: 0, count: total)
        for part in ordered {
            let lo = part.rows.lowerBound
            for i in 0 ..< part.rows.count {
                relevantCounts[lo + i] = part.relevantCounts[i]
                classes[lo + i] = part.classes[i]
                for k in 0 ..< m { perQuery[k][lo + i] = part.values[i * m + k] }
            }
        }
        var sums = [Double](repeating: 0, count: m)
        var scored = 0
        for q in 0 ..< total where relevantCounts[q] > 0 {
            for k in 0 ..< m { sums[k] += perQuery[k][q] }
            scored += 1
        }
        let means = sums.map { scored > 0 ? $0 / Double(scored) : .nan }
        let perClassReport = perClass
            ? Evaluator.macro(perQuery: perQuery, classes: classes.map { max($0, 0) }, classCount: reference.classCount)
            : nil
        let report = MetricReport(metrics: reference.metrics, perQuery: perQuery, means: means, scoredQueries: scored,
                                  excludedQueries: total - scored, perClass: perClassReport)
        var curves: RetrievalCurves?
        if reference.curveDepth > 0 {
            var firstHits = [Int](repeating: 0, count: reference.curveDepth + 1)
            var hitsAt = [Int](repeating: 0, count: reference.curveDepth)
            for part in ordered {
                for k in firstHits.indices { firstHits[k] += part.firstHits[k] }
                for k in hitsAt.indices { hitsAt[k] += part.hitsAt[k] }
            }
            curves = MetricStream.curves(firstHits: firstHits, hitsAt: hitsAt)
        }
        return ShardMerge(
            shards: n, totalQueries: total, metrics: reference.metrics, depth: reference.depth, toolVersion: reference.toolVersion,
            parameters: reference.parameters, inputs: reference.inputs, dataset: reference.dataset, queryDataset: reference.queryDataset,
            report: report, relevantCounts: relevantCounts, curves: curves, shardTimings: ordered.map(\.timings))
    }
}
