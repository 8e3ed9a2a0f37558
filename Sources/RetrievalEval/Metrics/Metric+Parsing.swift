extension Metric {
    /// Parses a canonical metric name such as `recall@10[ir]`, `map@10[denominator=r]`,
    /// `map@r`, `r-precision`, `ndcg@8`, `ndcg@8[gain=exponential]` or `mrr` (case-insensitive). Returns nil for
    /// anything else, including k < 1.
    public init?(name: String) {
        var base = name.lowercased()
        var option: String?
        if let open = base.firstIndex(of: "["), base.hasSuffix("]") {
            option = String(base[base.index(after: open) ..< base.index(before: base.endIndex)])
            base = String(base[..<open])
        }
        switch base {
        case "map@r": if option == nil { self = .mapAtR; return }
        case "r-precision": if option == nil { self = .rPrecision; return }
        case "mrr": if option == nil { self = .mrr; return }
        default: break
        }
        let parts = base.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, let k = Int(parts[1]), k >= 1 else { return nil }
        switch parts[0] {
        case "recall":
            guard let c = option.map({ RecallConvention(rawValue: $0) }) ?? .hit else { return nil }
            self = .recall(k: k, convention: c)
        case "precision":
            guard option == nil else { return nil }
            self = .precision(k: k)
        case "map":
            var d = MAPDenominator.k
            if let option {
                guard option.hasPrefix("denominator="),
                      let parsed = MAPDenominator(rawValue: String(option.dropFirst("denominator=".count)))
                else { return nil }
                d = parsed
            }
            self = .map(k: k, denominator: d)
        case "ndcg":
            var gain = NDCGGain.linear
            if let option {
                guard option.hasPrefix("gain="), let parsed = NDCGGain(rawValue: String(option.dropFirst("gain=".count)))
                else { return nil }
                gain = parsed
            }
            self = .ndcg(k: k, gain: gain)
        default:
            return nil
        }
    }

    /// The paper's reporting set (Saeki et al. 2023, Tables 4-5): recall@1,2,4,8,
    /// ndcg@2,4,8 and map@r.
    public static let paperSet: [Metric] = [
        .recall(k: 1), .recall(k: 2), .recall(k: 4), .recall(k: 8),
        .ndcg(k: 2), .ndcg(k: 4), .ndcg(k: 8), .mapAtR,
    ]
}
