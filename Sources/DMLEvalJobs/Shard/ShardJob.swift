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

    /// Reads the inputs, runs the shard and writes its part.
    /// - Returns: the part, its path, and the number of references searched.
    /// - Throws: the readers', search's and metrics' errors, `ShardError` when the part cannot
    ///   be written.
    public func run(progress: SearchProgress? = nil) throws -> (part: PartialResult, path: String, references: Int) {
        let clock = ContinuousClock()
        let started = clock.now
        let (references, queries, _) = try evaluation.readInputs(store: nil)
        let readSeconds = (clock.now - started).seconds
        try OutputFolders.create(directory)
        let result = try ShardEvaluation.run(
            references: references, queries: queries, shard: shard, metrics: evaluation.metrics,
            distance: evaluation.distance, threads: evaluation.threads, tileSize: evaluation.tileSize,
            path: evaluation.searchPath, progress: progress)
        let part = result.partial(
            toolVersion: evaluation.toolVersion, parameters: evaluation.parameters(depth: result.depth), inputs: inputs,
            dataset: EvaluationJob.identity(references), queryDataset: queries.map(EvaluationJob.identity),
            readSeconds: readSeconds)
        return (part, try part.write(to: directory), references.embeddings.rows)
    }
}
