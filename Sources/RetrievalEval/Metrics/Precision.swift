/// Precision@k = hits@k / k, the fraction of the first k retrieved items that are relevant.
///
/// The denominator is always k, even when R < k (so a perfect ranking of a query with
/// R < k scores R / k), as in trec_eval `P_k`, ranx `precision@k` and Saeki et al. 2023, Table 3.
public enum Precision {
    @inlinable
    public static func value(_ relevance: UnsafeBufferPointer<UInt8>, k: Int) -> Double {
        Double(Hits.count(relevance, upTo: k)) / Double(k)
    }
}
