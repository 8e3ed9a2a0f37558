import RetrievalEval
import RetrievalEvalStore

/// One query shard of the main job as one library call: search the shard's queries against
/// every reference, score them, and write the part `directory/part-I-of-N`. It opens no store:
/// shards may run on nodes that share only a file system.
public struct ShardJob: Sendable {
    /// The main job's settings: its input files, metrics, distance, threads, tiles and path,
    /// and the parameters it records.
    public var evaluation: EvaluationJob
    /// Which shard of how many.
    public var shard: Shard
    /// The folder the part is written to (created if missing).
    public var directory: String
    /// How the merge can read the inputs again: absolute paths and reader options
    /// (`ShardMergeJob.InputKey`).
    public var inputs: [(String, String)]

    /// A shard of `evaluation`, written to `directory`.
    public init(evaluation: EvaluationJob, shard: Shard, directory: String, inputs: [(String, String)]) {
        self.evaluation = evaluation
        self.shard = shard
        self.directory = directory
        self.inputs = inputs
    }

    /// Reads the inputs, runs the shard and writes its part. The references are read from
    /// disk in tiles when the evaluation's `streaming` says so (always, or when loading them
    /// would not fit in memory), so a node smaller than the reference file still finishes.
    /// - Parameter note: receives a line for the user when the references are streamed.
    /// - Returns: the part, its path, and the number of references searched.
    /// - Throws: the readers', search's and metrics' errors, `ShardError` when the part cannot
    ///   be written.
    public func run(progress: SearchProgress? = nil, note: (@Sendable (String) -> Void)? = nil)
        throws -> (part: PartialResult, path: String, references: Int) {
        let clock = ContinuousClock()
        let started = clock.now
        // A shard touches no store, so only the store-free conditions of streaming apply.
        var settings = evaluation
        settings.store = nil
        var notes: ProgressHandler?
        if let note {
            notes = { event in
                if case .note(let line) = event { note(line) }
            }
        }
        let references: EmbeddingSource, labels: Labels, identity: Baseline.DatasetIdentity
        let queries: LabeledEmbeddings?
        if let mapped = try settings.streamedReferences(progress: notes) {
            labels = try settings.streamedLabels(mapped)
            queries = try settings.queries.map { try settings.reading.read(embeddings: $0.embeddings, labels: $0.labels) }
            references = .mapped(mapped)
            identity = EvaluationJob.identity(mapped, labels: labels)
        } else {
            let (data, queryData, _) = try settings.readInputs(store: nil)
            (references, labels, queries) = (.matrix(data.embeddings), data.labels, queryData)
            identity = EvaluationJob.identity(data)
        }
        let readSeconds = (clock.now - started).seconds
        try OutputFolders.create(directory)
        let result = try ShardEvaluation.run(
            references: references, labels: labels, queries: queries, shard: shard, metrics: evaluation.metrics,
            distance: evaluation.distance, threads: evaluation.threads, tileSize: evaluation.tileSize,
            path: evaluation.searchPath, productKernel: evaluation.searchProducts, progress: progress)
        let part = result.partial(
            toolVersion: evaluation.toolVersion, parameters: evaluation.parameters(depth: result.depth), inputs: inputs,
            dataset: identity, queryDataset: queries.map(EvaluationJob.identity), readSeconds: readSeconds)
        return (part, try part.write(to: directory), references.rows)
    }
}
