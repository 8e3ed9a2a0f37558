/// Holm's step-down correction for testing several hypotheses at once (Holm 1979).
///
/// With the m p-values sorted ascending, p_(1) <= ... <= p_(m), the adjusted values are
/// p~_(i) = max over j <= i of min(1, (m - j + 1) p_(j)). Rejecting where p~ < alpha controls
/// the family-wise error rate at alpha, and is never less powerful than Bonferroni.
public enum Holm {
    /// The adjusted p-values, in the order of `pValues`.
    public static func adjust(_ pValues: [Double]) -> [Double] {
        let m = pValues.count
        let order = pValues.indices.sorted { pValues[$0] < pValues[$1] || (pValues[$0] == pValues[$1] && $0 < $1) }
        var adjusted = [Double](repeating: 1, count: m)
        var running = 0.0
        for (rank, index) in order.enumerated() {
            running = max(running, min(1, Double(m - rank) * pValues[index]))
            adjusted[index] = running
        }
        return adjusted
    }
}
