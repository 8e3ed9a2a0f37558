/// A clustering-quality value of a run (`--nmi`, `--ami`): one number for the whole run,
/// with no per-query values.
///
/// Stored beside the retrieval metrics under these names with an empty per-query array, so
/// `runs list`, `runs show` and `runs compare` show them (compare without p-values). Baselines
/// and `check` hold the retrieval metrics only (docs/metrics.md, "Clustering quality").
public enum ClusteringMetric: String, Sendable, CaseIterable {
    /// Normalized mutual information (arithmetic mean of the entropies).
    case nmi
    /// Adjusted mutual information (Vinh, Epps & Bailey 2010).
    case ami

    /// Its value in a clustering.
    public func value(_ quality: ClusteringQuality) -> Double {
        switch self {
        case .nmi: quality.nmi
        case .ami: quality.ami
        }
    }
}
