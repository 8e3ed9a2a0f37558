import RetrievalEval
import RetrievalEvalStore

/// One query shard of the main job as one library call: search the shard's queries against
/// every reference, score them, and write the part `directory/part-I-of-N`. It opens no store:
/// shards may run on nodes that share only a file system.
public struct ShardJob: Sendable {
    public var references: LabeledEmbeddings
    /// The separate queries, or nil for self-retrieval.
    public var queries: LabeledEmbeddings?
    public var shard: Shard
    public var metrics: [Metric]
    public var distance: Distance
    public var threads: Int
    public var tileSize: Int
    public var path: ExactSearchPath
    /// The folder the part is written to (it must exist).
    public var directory: String
    public var toolVersion: String
    /// How the merge can read the inputs again: absolute paths and reader options
    /// (`ShardMergeJob.InputKey`).
    public var inputs: [(String, String)]
    /// Seconds spent reading the inputs, recorded in the part.
    public var readSeconds: Double

    public init(references: LabeledEmbeddings, queries: LabeledEmbeddings?, shard: Shard, metrics: [Metric],
                distance: Distance, threads: Int, tileSize: Int = 1024, path: ExactSearchPath = .automatic,
                directory: String, toolVersion: String, inputs: [(String, String)], readSeconds: Double) {
        self.references = references
        self.queries = queries
        self.shard = shard
        self.metrics = metrics
        self.distance = distance
        self.threads = threads
        self.tileSize = tileSize
        self.path = path
        self.directory = directory
        self.toolVersion = toolVersion
        self.inputs = inputs
        self.readSeconds = readSeconds
    }

    /// Runs the shard and writes its part.
    ///
    /// - Parameter parameters: every setting and convention of the run given its depth,
    ///   exactly as the unsharded main job records them (the merge records them).
    /// - Returns: the part and its path.
    public func run(parameters: (Int) -> [(String, String)], progress: SearchProgress? = nil) throws -> (part: PartialResult, path: String) {
        let evaluation = try ShardEvaluation.run(
            references: references, queries: queries, shard: shard, metrics: metrics, distance: distance,
            threads: threads, tileSize: tileSize, path: path, progress: progress)
        let part = evaluation.partial(
            toolVersion: toolVersion, parameters: parameters(evaluation.depth), inputs: inputs,
            dataset: ShardMergeJob.identity(references), queryDataset: queries.map(ShardMergeJob.identity),
            readSeconds: readSeconds)
        return (part, try part.write(to: directory))
    }
}
