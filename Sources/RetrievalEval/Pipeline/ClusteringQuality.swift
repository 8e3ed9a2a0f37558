/// The clustering stage of the main job (`--nmi`, `--ami`): k-means on the evaluated
/// embeddings with as many clusters as classes, scored against the classes by NMI and AMI
/// (docs/metrics.md, "Clustering quality").
///
/// As pytorch-metric-learning's AccuracyCalculator does, the clustering is plain k-means
/// (here k-means++ starts, Lloyd's iterations with BLAS assignments, the best of `restarts` by
/// inertia) on the rows as the search sees them: L2-normalised for cosine, as they are for
/// inner product and L2.
public struct ClusteringQuality: Sendable {
    /// The number of clusters: the number of classes.
    public let clusters: Int
    /// Normalised mutual information of the clusters and the classes, in [0, 1].
    public let nmi: Double
    /// Adjusted mutual information (chance-corrected): 0 for a random clustering, 1 at best.
    public let ami: Double
    /// Each row's cluster.
    public let assignment: [Int32]
    /// The k-means objective of the clustering kept: the sum of squared L2 distances to the
    /// centroids.
    public let inertia: Double
    /// The k-means runs from different starts; the one with the lowest inertia is kept.
    public let restarts: Int
    /// Lloyd iterations per run, at most.
    public let iterations: Int
    /// The seed of the k-means++ starts.
    public let seed: UInt64
    /// Seconds spent clustering.
    public let clusteringSeconds: Double
    /// Seconds spent scoring the clusters (NMI and AMI).
    public let scoringSeconds: Double

    /// Clusters `data` and scores the clustering against its labels.
    /// - Precondition: the data holds at least as many rows as classes.
    public static func run(
        _ data: LabeledEmbeddings, distance: Distance, restarts: Int = 1, iterations: Int = 100, seed: UInt64 = 1,
        threads: Int = ExactSearch.defaultThreads
    ) throws -> ClusteringQuality {
        let clock = ContinuousClock()
        var t = clock.now
        let rows = distance == .cosine
            ? try data.embeddings.unitRows(rowName: "row", alternatives: "use --distance ip or l2, or drop --nmi and --ami")
            : data.embeddings
        let k = data.labels.classCount
        let result = KMeans(clusters: k, iterations: iterations, initialization: .kmeansPlusPlus, seed: seed, threads: threads)
            .cluster(rows, restarts: restarts)
        let clustering = (clock.now - t).seconds
        t = clock.now
        let mi = MutualInformation(classes: data.labels.classIndex, clusters: result.assignment)
        let nmi = mi.normalized, ami = mi.adjusted
        return ClusteringQuality(
            clusters: k, nmi: nmi, ami: ami, assignment: result.assignment, inertia: result.inertia, restarts: restarts,
            iterations: iterations, seed: seed, clusteringSeconds: clustering, scoringSeconds: (clock.now - t).seconds)
    }
}
