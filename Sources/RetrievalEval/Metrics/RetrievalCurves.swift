/// Recall@k (hit convention) and Precision@k at every cutoff k = 1 ... depth, averaged over the
/// scored queries (R > 0): the curves a report plots.
///
/// Recall@k here is the hit rate, 1 if any of the top k is relevant (the paper's convention,
/// docs/metrics.md); Precision@k is hits@k / k, a list shorter than k counting its missing
/// places as not relevant.
public struct RetrievalCurves: Sendable, Equatable {
    /// `recall[k - 1]`: mean Recall@k.
    public let recall: [Double]
    /// `precision[k - 1]`: mean Precision@k.
    public let precision: [Double]
    /// The queries averaged (R > 0).
    public let scoredQueries: Int

    /// Curves from their means at k = 1 ... depth (the two arrays equally long) and the number of
    /// queries averaged.
    public init(recall: [Double], precision: [Double], scoredQueries: Int) {
        precondition(recall.count == precision.count)
        self.recall = recall
        self.precision = precision
        self.scoredQueries = scoredQueries
    }

    /// The depth: the largest k.
    public var depth: Int { recall.count }

    /// The curves of a ranked relevance table, k = 1 ... its width.
    /// - Complexity: O(queries x width).
    public init(_ table: RelevanceTable) {
        let depth = table.width
        var recallSums = [Int](repeating: 0, count: depth + 1)   // queries whose first hit is at rank k
        var hitSums = [Int](repeating: 0, count: depth)          // relevant items at rank k, over queries
        var scored = 0
        table.relevance.withUnsafeBufferPointer { all in
            for q in 0 ..< table.queries where table.relevantCounts[q] > 0 {
                scored += 1
                var first = depth
                for i in 0 ..< table.lengths[q] where all[q * table.width + i] != 0 {
                    hitSums[i] += 1
                    if i < first { first = i }
                }
                recallSums[first] += 1
            }
        }
        var recall: [Double] = [], precision: [Double] = []
        var found = 0, hits = 0
        for k in 1 ... max(depth, 1) where depth > 0 {
            found += recallSums[k - 1]
            hits += hitSums[k - 1]
            recall.append(scored > 0 ? Double(found) / Double(scored) : .nan)
            precision.append(scored > 0 ? Double(hits) / Double(k * scored) : .nan)
        }
        self.init(recall: recall, precision: precision, scoredQueries: scored)
    }
}
