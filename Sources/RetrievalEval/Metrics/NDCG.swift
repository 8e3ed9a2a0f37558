/// nDCG@k with binary gains (Järvelin & Kekäläinen 2002; Saeki et al. 2023, eq. 19-20).
///
///     DCG@k  = sum over i = 1 ... k of (2^rel_i - 1) / log2(i + 1)
///     nDCG@k = DCG@k / IDCG@k
///
/// IDCG@k is the DCG of the ideal ranking: min(k, R) relevant items at the top. With binary
/// relevance 2^rel_i - 1 = rel_i. Table 3: with R = 4, [1,0,0,0,0,0,0,0,0,0] scores
/// 1 / (1 + 1/log2 3 + 1/2 + 1/log2 5) = 0.390.
public enum NDCG {
    /// 1 / log2(i + 2) for ranks i = 0, 1, ... (a table, so the hot loop does no logarithms).
    @usableFromInline
    static let discounts: [Double] = (0 ..< 4096).map { 1 / log2(Double($0) + 2) }

    @inlinable
    static func discount(_ i: Int) -> Double {
        i < discounts.count ? discounts[i] : 1 / log2(Double(i) + 2)
    }

    @inlinable
    public static func value(_ relevance: UnsafeBufferPointer<UInt8>, k: Int, relevantCount: Int) -> Double {
        var dcg = 0.0
        for i in 0 ..< min(k, relevance.count) where relevance[i] != 0 { dcg += discount(i) }
        var ideal = 0.0
        for i in 0 ..< min(k, relevantCount) { ideal += discount(i) }
        return ideal == 0 ? 0 : dcg / ideal
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
