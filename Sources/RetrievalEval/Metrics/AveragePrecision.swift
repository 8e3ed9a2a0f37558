/// MAP@k: average precision over the first k ranks, with an explicit denominator.
///
/// With P(i) = hits@i / i and rel_i in {0, 1}:
///
///     AP@k = (sum over i = 1 ... k of P(i) * rel_i) / D
///
/// where D is `k` (default; Saeki et al. 2023, Table 3: MAP@10 of [1,0,0,0,0,0,0,0,0,1] is
/// (1 + 2/10) / 10 = 0.12), `r` (R; trec_eval map_cut_k, ranx map@k, ir_measures AP@k,
/// pytorch-metric-learning's mean_average_precision), `min-k-r` (min(k, R)) or `hits` (hits@k,
/// 0 when there are none; torchmetrics RetrievalMAP(top_k=k)). MAP@k is the mean of AP@k over
/// queries. PeerConventionTests checks each of these against the tool's own test cases.
public enum AveragePrecision {
    /// AP@k of one ranked list (1 = relevant) whose query has `relevantCount` relevant references,
    /// divided by `denominator`; 0 when that is 0.
    @inlinable
    public static func value(
        _ relevance: UnsafeBufferPointer<UInt8>, k: Int, relevantCount: Int, denominator: MAPDenominator
    ) -> Double {
        var hits = 0
        var sum = 0.0
        for i in 0 ..< min(k, relevance.count) where relevance[i] != 0 {
            hits += 1
            sum += Double(hits) / Double(i + 1)
        }
        let d: Int
        switch denominator {
        case .k: d = k
        case .r: d = relevantCount
        case .minKR: d = min(k, relevantCount)
        case .hits: d = hits
        }
        return d == 0 ? 0 : sum / Double(d)
    }
}
