/// Recall@k.
///
/// With hits@k the number of relevant items among the first k:
/// - convention `hit` (default): Recall@k = 1 if hits@k > 0, else 0. This is the
///   "Recall@k" of the metric-learning literature (Oh Song et al. 2016; Musgrave et al. 2020)
///   and of Saeki et al. 2023, Table 3 and Tables 4-8.
/// - convention `ir`: Recall@k = hits@k / R (trec_eval `recall_k`, ranx `recall@k`).
public enum Recall {
    /// Recall@k of one ranked list (1 = relevant) under `convention`, for a query with
    /// `relevantCount` relevant references.
    @inlinable
    public static func value(
        _ relevance: UnsafeBufferPointer<UInt8>, k: Int, relevantCount: Int, convention: RecallConvention
    ) -> Double {
        let hits = Hits.count(relevance, upTo: k)
        switch convention {
        case .hit: return hits > 0 ? 1 : 0
        case .ir: return Double(hits) / Double(relevantCount)
        }
    }
}

/// Counting relevant items in a prefix of a ranked list.
public enum Hits {
    /// hits@k: the number of non-zero entries among the first `k` (or fewer, if the list is shorter).
    @inlinable
    public static func count(_ relevance: UnsafeBufferPointer<UInt8>, upTo k: Int) -> Int {
        var hits = 0
        for i in 0 ..< min(k, relevance.count) where relevance[i] != 0 { hits += 1 }
        return hits
    }
}
