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
    public let nmi: Double
    public let ami: Double
    /// Each row's cluster.
    public let assignment: [Int32]
    public let inertia: Double
    public let restarts: Int
    public let iterations: Int
    public let seed: UInt64
    /// Seconds spent clustering, and scoring.
    public let clusteringSeconds: Double
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
