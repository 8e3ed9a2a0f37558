/// MAP@R (Musgrave, Belongie, Lim, "A Metric Learning Reality Check", ECCV 2020).
///
///     MAP@R = (1 / R) * sum over i = 1 ... R of P(i) * rel_i,   P(i) = hits@i / i
///
/// The list is cut at each query's own R. Saeki et al. 2023, Table 3: with R = 4,
/// [1,0,1,0,...] scores (1 + 2/3) / 4 = 0.417.
public enum MAPAtR {
    /// MAP@R of one ranked list (1 = relevant) whose query has R = `relevantCount` relevant
    /// references: AP over the first R ranks, divided by R.
    @inlinable
    public static func value(_ relevance: UnsafeBufferPointer<UInt8>, relevantCount: Int) -> Double {
        AveragePrecision.value(relevance, k: relevantCount, relevantCount: relevantCount, denominator: .r)
    }
}
