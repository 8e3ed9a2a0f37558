/// R-Precision = hits@R / R: precision at the query's own number of relevant references
/// (trec_eval `Rprec`; Musgrave et al. 2020).
public enum RPrecision {
    /// R-Precision of one ranked list (1 = relevant): hits among the first R = `relevantCount`
    /// ranks, divided by R.
    @inlinable
    public static func value(_ relevance: UnsafeBufferPointer<UInt8>, relevantCount: Int) -> Double {
        Double(Hits.count(relevance, upTo: relevantCount)) / Double(relevantCount)
    }
}
