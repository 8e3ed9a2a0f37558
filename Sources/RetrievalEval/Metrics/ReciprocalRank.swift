/// Reciprocal rank: 1 / (rank of the first relevant item), 0 when the retrieved list holds
/// none. MRR is its mean over queries (trec_eval `recip_rank`, ranx `mrr`). It reads the
/// whole retrieved list, so it depends on how deep retrieval went; dmleval reports that depth.
public enum ReciprocalRank {
    /// 1 / the rank of the first relevant item in the list (1 = relevant); 0 when there is none.
    @inlinable
    public static func value(_ relevance: UnsafeBufferPointer<UInt8>) -> Double {
        for i in 0 ..< relevance.count where relevance[i] != 0 { return 1 / Double(i + 1) }
        return 0
    }
}
