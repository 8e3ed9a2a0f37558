import ArgumentParser
import DMLEvalJobs
import RetrievalEval
import RetrievalEvalStore

/// The main job's clustering stage: --nmi, --ami and the k-means settings.
struct ClusteringOptions {
    /// The values asked for, in order.
    var metrics: [ClusteringMetric]
    var restarts: Int
    var iterations: Int
    var seed: UInt64

    /// k-means on `data` (the queries with --queries, else the embeddings), k = its classes.
    /// - Throws: `MetricError` when there are fewer rows than classes.
    func run(_ data: LabeledEmbeddings, distance: Distance, threads: Int) throws -> ClusteringQuality {
        guard data.labels.classCount >= 2 else {
            throw MetricError(.invalidInput, "--nmi and --ami need at least 2 classes to cluster into, found \(data.labels.classCount)")
        }
        let bar = ProgressBar("clustering")
        bar.update(0)
        defer { bar.finish() }
        return try ClusteringQuality.run(data, distance: distance, restarts: restarts, iterations: iterations, seed: seed, threads: threads)
    }

    /// The stored values, in the order asked.
    func values(_ quality: ClusteringQuality) -> [(ClusteringMetric, Double)] {
        metrics.map { ($0, $0.value(quality)) }
    }

    /// What a run records about the clustering.
    var parameters: [(String, String)] {
        [("clustering", metrics.map(\.rawValue).joined(separator: ",")),
         ("kmeans", "k = classes, k-means++ starts, Lloyd iterations (squared L2; rows L2-normalised for cosine)"),
         ("kmeans_restarts", String(restarts)), ("kmeans_iterations", String(iterations)), ("kmeans_seed", String(seed)),
         ("nmi_normalisation", "arithmetic mean of the entropies (scikit-learn, PML)")]
    }
}
