import RetrievalEval
import RetrievalEvalStore

/// How embedding files are read: their format and which arrays hold what.
public struct ReadSettings: Sendable {
    /// The embeddings' format (nil: from the extension).
    public var format: EmbeddingFormat?
    /// The dimension of raw float32 files.
    public var dimension: Int?
    /// The embeddings' array (.npz) or tensor (.safetensors) (nil: the only one).
    public var member: String?
    /// The labels' array in a .npz or .safetensors file (the embeddings' own file when no
    /// labels file is given).
    public var labelsArray: String?

    /// Settings that read files by their extension unless told otherwise.
    public init(format: EmbeddingFormat? = nil, dimension: Int? = nil, member: String? = nil, labelsArray: String? = nil) {
        self.format = format
        self.dimension = dimension
        self.member = member
        self.labelsArray = labelsArray
    }

    /// Reads embeddings and their labels.
    public func read(embeddings: String, labels: String?) throws -> LabeledEmbeddings {
        try LabeledEmbeddings.read(embeddings: embeddings, labels: labels, format: format, dimension: dimension,
                                   array: member, labelsArray: labelsArray)
    }

    /// Reads embeddings alone (no labels).
    public func readEmbeddings(_ path: String) throws -> Matrix {
        try EmbeddingReader.read(path, format: format, dimension: dimension, array: member)
    }
}

/// What an evaluation searches among: embedding and label files, or a stored dataset.
public enum EvaluationSource: Sendable {
    /// Embeddings and labels files (labels nil: the embeddings' archive holds them).
    case files(embeddings: String, labels: String?)
    /// A stored dataset, by name or hash prefix.
    case dataset(String)

    /// The embeddings file, if any.
    public var embeddingsPath: String? { if case .files(let e, _) = self { return e } else { return nil } }
    /// The labels file, if any.
    public var labelsPath: String? { if case .files(_, let l) = self { return l } else { return nil } }
    /// The stored dataset's name or hash, if any.
    public var datasetName: String? { if case .dataset(let d) = self { return d } else { return nil } }
}

/// Query embeddings searched among the references, and their labels.
public struct QueryFiles: Sendable {
    /// The query embeddings.
    public var embeddings: String
    /// Their labels (nil: the archive's own, through `ReadSettings.labelsArray`).
    public var labels: String?

    /// Queries read from these files.
    public init(embeddings: String, labels: String?) {
        self.embeddings = embeddings
        self.labels = labels
    }
}

/// The k-means clustering stage of an evaluation: NMI and AMI against the classes.
public struct ClusteringSettings: Sendable {
    /// The values asked for, in order.
    public var metrics: [ClusteringMetric]
    /// k-means runs from new starts; the lowest inertia is kept.
    public var restarts: Int
    /// Lloyd iterations per run at most.
    public var iterations: Int
    /// Seed of the starts.
    public var seed: UInt64

    /// A clustering stage with these settings.
    public init(metrics: [ClusteringMetric], restarts: Int = 1, iterations: Int = 100, seed: UInt64 = 1) {
        self.metrics = metrics
        self.restarts = restarts
        self.iterations = iterations
        self.seed = seed
    }

    /// k-means on `data` (the queries with a query set, else the embeddings), k = its classes.
    /// - Throws: `JobError.tooFewClassesToCluster` with fewer than 2 classes.
    public func run(_ data: LabeledEmbeddings, distance: Distance, threads: Int, progress: ProgressHandler? = nil) throws -> ClusteringQuality {
        guard data.labels.classCount >= 2 else { throw JobError.tooFewClassesToCluster(found: data.labels.classCount) }
        let stage = StageProgress("clustering", progress)
        stage.update(0)
        return try stage.run {
            try ClusteringQuality.run(data, distance: distance, restarts: restarts, iterations: iterations, seed: seed, threads: threads)
        }
    }

    /// The stored values, in the order asked.
    public func values(_ quality: ClusteringQuality) -> [(ClusteringMetric, Double)] {
        metrics.map { ($0, $0.value(quality)) }
    }

    /// What a run records about the clustering.
    public var parameters: [(String, String)] {
        [("clustering", metrics.map(\.rawValue).joined(separator: ",")),
         ("kmeans", "k = classes, k-means++ starts, Lloyd iterations (squared L2; rows L2-normalised for cosine)"),
         ("kmeans_restarts", String(restarts)), ("kmeans_iterations", String(iterations)), ("kmeans_seed", String(seed)),
         ("nmi_normalisation", "arithmetic mean of the entropies (scikit-learn, PML)")]
    }
}

/// An evaluation's TREC outputs: its k-NN lists as a run and the judgments its labels imply
/// as qrels, which `TrecRunJob` scores to the evaluation's own numbers.
public struct TrecOutput: Sendable {
    /// The run file to write.
    public var runPath: String?
    /// The qrels file to write.
    public var qrelsPath: String?
    /// Names of the embeddings' rows (docids, and qids in self-retrieval); row indices if nil.
    public var idsPath: String?
    /// Names of the query rows (with queries); row indices if nil.
    public var queryIDsPath: String?

    /// Outputs to these files.
    public init(runPath: String? = nil, qrelsPath: String? = nil, idsPath: String? = nil, queryIDsPath: String? = nil) {
        self.runPath = runPath
        self.qrelsPath = qrelsPath
        self.idsPath = idsPath
        self.queryIDsPath = queryIDsPath
    }

    /// The rows' names, read and checked before any search, so a bad ids file costs nothing.
    public func names(references: LabeledEmbeddings, queries: LabeledEmbeddings?) throws -> (queries: TrecWriter.RowNames, references: TrecWriter.RowNames) {
        let referenceNames = try idsPath.map { try TrecWriter.RowNames.read($0, rows: references.embeddings.rows) } ?? .indices
        guard let queries else { return (referenceNames, referenceNames) }
        let queryNames = try queryIDsPath.map { try TrecWriter.RowNames.read($0, rows: queries.embeddings.rows) } ?? .indices
        return (queryNames, referenceNames)
    }

    /// Writes the files under temporary names, to be put in place with the run's record.
    public func prepare(
        _ evaluation: RetrievalEvaluation, references: LabeledEmbeddings, queries: LabeledEmbeddings?,
        names: (queries: TrecWriter.RowNames, references: TrecWriter.RowNames)
    ) throws -> [ArrayWriter.PendingFile] {
        var files: [ArrayWriter.PendingFile] = []
        if let runPath {
            // The job keeps the lists whenever a run file is asked for.
            files.append(try TrecWriter.prepareRun(evaluation.neighbors!, queries: names.queries, references: names.references, to: runPath))
        }
        if let qrelsPath {
            let judgments = queries.map { RelevanceJudgments(queries: $0.labels, references: references.labels) }
                ?? RelevanceJudgments(selfRetrieval: references.labels)
            files.append(try TrecWriter.prepareQrels(
                judgments, selfRetrieval: queries == nil, queries: names.queries, references: names.references, to: qrelsPath))
        }
        return files
    }
}

/// The search a run used, as reported and stored.
public struct SearchDescription: Sendable {
    /// exact, hnsw or ivf.
    public let kind: IndexKind
    /// The index's build settings and its search-time setting; empty for exact search.
    public let settings: [(String, String)]
    /// Where the index came from (nil for exact search).
    public let origin: IndexOrigin?
    /// The index's memory (nil for exact search).
    public let memoryBytes: Int?

    /// The exact search's description.
    public static let exact = SearchDescription(kind: .exact, settings: [], origin: nil, memoryBytes: nil)

    /// What a stored run records about the index and its check.
    public func storedParameters(_ check: ApproximationCheck?) -> [(String, String)] {
        guard kind != .exact else { return [] }
        var p = settings.map { ("index_" + $0.0, $0.1) }
        if let check {
            p += [("ann_check_queries", String(check.sample.count)), ("ann_check_seed", String(check.seed)),
                  ("ann_check_recall_at_10", String(check.recallAt10)),
                  ("ann_check_recall_at_depth", String(check.recallAtDepth))]
        }
        return p
    }
}
