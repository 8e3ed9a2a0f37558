/// A retrieval metric with its conventions, scored from one query's ranked binary relevance
/// and R, the number of references relevant to the query (the query itself excluded).
///
/// Names are stable and appear in every output: `recall@k`, `precision@k`, `map@k`,
/// `map@r`, `r-precision`, `ndcg@k`, `mrr`; a non-default convention is appended in
/// brackets: `recall@10[ir]`, `map@10[denominator=r]`, `ndcg@10[gain=exponential]`. See
/// docs/metrics.md.
public enum Metric: Hashable, Sendable, CustomStringConvertible {
    /// Recall@k under a convention (default: hit rate, as in the metric-learning literature).
    case recall(k: Int, convention: RecallConvention = .hit)
    /// Precision@k = hits@k / k.
    case precision(k: Int)
    /// MAP@k with a chosen denominator (default: k, as in the paper's Table 3).
    case map(k: Int, denominator: MAPDenominator = .k)
    /// MAP@R (Musgrave et al. 2020).
    case mapAtR
    /// R-Precision = hits@R / R.
    case rPrecision
    /// nDCG@k (the paper's eq. 19-20). With binary relevance both gains give the same number;
    /// with graded judgments (TREC qrels) the gain decides how grades count.
    case ndcg(k: Int, gain: NDCGGain = .linear)
    /// Reciprocal rank of the first relevant item in the retrieved list.
    case mrr

    /// The metric's canonical name, e.g. `map@10[denominator=r]`.
    public var name: String { spelled(cutoff: cutoff.map { String($0) } ?? "") }

    /// The name with `k` in place of the cutoff, e.g. `map@k[denominator=r]`: the metric's
    /// family, as the cross-walk (`PeerNames`) and docs/metrics.md name it. The same as
    /// `name` for the metrics without a cutoff.
    public var namePattern: String { spelled(cutoff: "k") }

    private func spelled(cutoff k: String) -> String {
        switch self {
        case .recall(_, let c): "recall@\(k)" + (c == .hit ? "" : "[\(c.rawValue)]")
        case .precision: "precision@\(k)"
        case .map(_, let d): "map@\(k)" + (d == .k ? "" : "[denominator=\(d.rawValue)]")
        case .mapAtR: "map@r"
        case .rPrecision: "r-precision"
        case .ndcg(_, let g): "ndcg@\(k)" + (g == .linear ? "" : "[gain=\(g.rawValue)]")
        case .mrr: "mrr"
        }
    }

    public var description: String { name }

    /// The cutoff k, for the metrics that have one.
    public var cutoff: Int? {
        switch self {
        case .recall(let k, _), .precision(let k), .map(let k, _), .ndcg(let k, _): k
        case .mapAtR, .rPrecision, .mrr: nil
        }
    }

    /// Whether the metric reads R items deep (MAP@R, R-Precision), so retrieval must return
    /// the largest R of any query.
    public var needsDepthR: Bool {
        switch self {
        case .mapAtR, .rPrecision: true
        default: false
        }
    }

    /// How many ranked items the metric needs for a query with `relevantCount` relevant
    /// references; `nil` when it uses whatever the list holds (MRR).
    public func requiredDepth(relevantCount: Int) -> Int? {
        if let k = cutoff { return k }
        return needsDepthR ? relevantCount : nil
    }

    /// Scores one query.
    ///
    /// - Parameters:
    ///   - relevance: the ranked list's binary relevance (non-zero = relevant), best first,
    ///     at least `requiredDepth(relevantCount:)` items long.
    ///   - relevantCount: R, greater than zero.
    /// - Returns: a value in [0, 1].
    @inlinable
    public func value(_ relevance: UnsafeBufferPointer<UInt8>, relevantCount: Int) -> Double {
        switch self {
        case .recall(let k, let c): Recall.value(relevance, k: k, relevantCount: relevantCount, convention: c)
        case .precision(let k): Precision.value(relevance, k: k)
        case .map(let k, let d): AveragePrecision.value(relevance, k: k, relevantCount: relevantCount, denominator: d)
        case .mapAtR: MAPAtR.value(relevance, relevantCount: relevantCount)
        case .rPrecision: RPrecision.value(relevance, relevantCount: relevantCount)
        case .ndcg(let k, _): NDCG.value(relevance, k: k, relevantCount: relevantCount)
        case .mrr: ReciprocalRank.value(relevance)
        }
    }

    /// Scores one query given as an array of 0/1 (or Bool-like) values.
    public func value(_ relevance: [UInt8], relevantCount: Int) -> Double {
        relevance.withUnsafeBufferPointer { value($0, relevantCount: relevantCount) }
    }
}

/// The gain of a graded judgment in nDCG; with binary relevance (0/1) both give 0 and 1.
public enum NDCGGain: String, Sendable, CaseIterable, Hashable {
    /// gain = grade: Järvelin & Kekäläinen (2002), trec_eval ndcg_cut, ranx ndcg, ir_measures nDCG.
    case linear
    /// gain = 2^grade - 1: Burges et al. (2005), ranx ndcg_burges.
    case exponential
}

/// How Recall@k is defined; the literatures disagree.
public enum RecallConvention: String, Sendable, CaseIterable, Hashable {
    /// 1 if any of the top k is relevant, else 0 (the hit rate): the paper's and the
    /// metric-learning literature's Recall@k, pytorch-metric-learning's precision_at_1 at k=1.
    case hit
    /// hits@k / R: the information-retrieval recall of trec_eval and ranx.
    case ir
}

/// The denominator of MAP@k = (sum over i <= k of P(i) rel_i) / D; each tool picks another.
/// `PeerNames` lists which tool uses which, each entry checked against the tool's own cases.
public enum MAPDenominator: String, Sendable, CaseIterable, Hashable {
    /// D = k: the paper's Table 3.
    case k
    /// D = R, all relevant references: trec_eval map_cut_k, ranx map@k, ir_measures AP@k and
    /// pytorch-metric-learning's mean_average_precision (with AccuracyCalculator(k=k)).
    case r
    /// D = min(k, R): the largest number of relevant items the top k can hold.
    case minKR = "min-k-r"
    /// D = hits@k (0 when there are none): torchmetrics RetrievalMAP(top_k=k).
    case hits
}
