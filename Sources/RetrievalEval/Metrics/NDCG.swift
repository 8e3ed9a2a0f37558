/// nDCG@k (Järvelin & Kekäläinen 2002; Burges et al. 2005; Saeki et al. 2023, eq. 19-20).
///
///     DCG@k  = sum over i = 1 ... k of gain(rel_i) / log2(i + 1)
///     nDCG@k = DCG@k / IDCG@k
///
/// with gain(g) = g (linear, Järvelin & Kekäläinen; trec_eval ndcg_cut) or 2^g - 1
/// (exponential, Burges et al.). IDCG@k is the DCG of the ideal ranking: the judged grades
/// sorted from the highest, cut at k; 0 when nothing is relevant, and then nDCG@k = 0. With
/// binary relevance both gains are rel_i, and the ideal ranking is min(k, R) relevant items. Table 3: with R = 4, [1,0,0,0,0,0,0,0,0,0] scores
/// 1 / (1 + 1/log2 3 + 1/2 + 1/log2 5) = 0.390.
public enum NDCG {
    /// 1 / log2(i + 2) for ranks i = 0, 1, ... (a table, so the hot loop does no logarithms).
    @usableFromInline
    static let discounts: [Double] = (0 ..< 4096).map { 1 / log2(Double($0) + 2) }

    @inlinable
    static func discount(_ i: Int) -> Double {
        i < discounts.count ? discounts[i] : 1 / log2(Double(i) + 2)
    }

    /// nDCG@k of one ranked list with binary relevance (1 = relevant) whose query has
    /// `relevantCount` relevant references; 0 when it has none.
    @inlinable
    public static func value(_ relevance: UnsafeBufferPointer<UInt8>, k: Int, relevantCount: Int) -> Double {
        var dcg = 0.0
        for i in 0 ..< min(k, relevance.count) where relevance[i] != 0 { dcg += discount(i) }
        var ideal = 0.0
        for i in 0 ..< min(k, relevantCount) { ideal += discount(i) }
        return ideal == 0 ? 0 : dcg / ideal
    }

    /// nDCG@k of graded judgments.
    ///
    /// - Parameters:
    ///   - grades: the ranked list's grades, best-ranked first (0 for documents judged not
    ///     relevant or not judged).
    ///   - ideal: every positive grade judged for the query, highest first.
    ///   - gain: how a grade counts.
    /// - Returns: a value in [0, 1]; 0 when `ideal` is empty.
    public static func value(grades: UnsafeBufferPointer<Int32>, ideal: [Int32], k: Int, gain: NDCGGain) -> Double {
        func g(_ grade: Int32) -> Double {
            gain == .linear ? Double(grade) : exp2(Double(grade)) - 1
        }
        var dcg = 0.0
        for i in 0 ..< min(k, grades.count) where grades[i] > 0 { dcg += g(grades[i]) * discount(i) }
        var best = 0.0
        for i in 0 ..< min(k, ideal.count) { best += g(ideal[i]) * discount(i) }
        return best == 0 ? 0 : dcg / best
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
