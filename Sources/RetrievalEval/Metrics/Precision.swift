/// Precision@k = hits@k / k, the fraction of the first k retrieved items that are relevant.
///
/// The denominator is always k, even when R < k (so a perfect ranking of a query with
/// R < k scores R / k), as in trec_eval `P_k`, ranx `precision@k` and Saeki et al. 2023, Table 3.
public enum Precision {
    /// Precision@k of one ranked list (1 = relevant): hits among the first k, divided by k (a list
    /// shorter than k counts its missing places as not relevant).
    @inlinable
    public static func value(_ relevance: UnsafeBufferPointer<UInt8>, k: Int) -> Double {
        Double(Hits.count(relevance, upTo: k)) / Double(k)
    }
}
