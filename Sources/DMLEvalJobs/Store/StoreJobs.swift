import RetrievalEval
import RetrievalEvalStore

/// Ingest as one library call: read embeddings and labels, store them once per content.
public struct IngestJob: Sendable {
    /// The embeddings file.
    public var embeddings: String
    /// The labels file; nil when the embeddings archive holds its own labels.
    public var labels: String?
    /// A name to find the dataset by.
    public var name: String?
    /// How files are read.
    public var reading: ReadSettings
    /// The store (created when missing).
    public var store: StoreLocation

    /// An ingest of these files into `store`.
    public init(embeddings: String, labels: String?, name: String? = nil, reading: ReadSettings = .init(), store: StoreLocation) {
        self.embeddings = embeddings
        self.labels = labels
        self.name = name
        self.reading = reading
        self.store = store
    }

    /// Reads, then stores; nothing is written when the files are unusable.
    /// - Parameter afterChunk: called inside the transaction after each chunk (for tests).
    /// - Returns: the dataset's record, whether it is new, and the store's path.
    public func run(afterChunk: ((Int) -> Void)? = nil) throws -> (record: DatasetRecord, created: Bool, storePath: String) {
        let data = try reading.read(embeddings: embeddings, labels: labels)
        let opened = try store.open()
        let (record, created) = try opened.ingest(data, name: name, embeddingsPath: embeddings, labelsPath: labels,
                                                  afterChunk: afterChunk)
        return (record, created, opened.path)
    }
}

/// A stored run's export as one library call: its baseline file and/or its per-query values,
/// both put in place only when both could be written.
public struct RunExportJob: Sendable {
    /// The run.
    public var runID: Int64
    /// The store holding it (only read).
    public var store: StoreLocation
    /// Where to write the baseline.
    public var baselinePath: String?
    /// Where to write the per-query values (CSV or JSON Lines, by the extension).
    public var perQueryPath: String?

    /// An export of `runID`.
    public init(runID: Int64, store: StoreLocation, baselinePath: String? = nil, perQueryPath: String? = nil) {
        self.runID = runID
        self.store = store
        self.baselinePath = baselinePath
        self.perQueryPath = perQueryPath
    }

    /// The labels and R of a stored run's queries: the query set's in query/reference mode,
    /// else the dataset's (self-retrieval), from the labels the store holds.
    public static func storedQueries(_ record: RunRecord, store: Store) throws -> (Labels, [Int]) {
        let references = try store.labels(of: record.dataset)
        if let queryDataset = record.queryDataset {
            let queries = try store.labels(of: queryDataset)
            return (queries, RelevanceJudgments(queries: queries, references: references).relevantCounts)
        }
        return (references, RelevanceJudgments(selfRetrieval: references).relevantCounts)
    }

    /// Writes the files.
    /// - Returns: the run's record and its clustering metrics (left out of a baseline).
    /// - Throws: `StoreError` for a run that cannot serve as a baseline or a damaged store.
    public func run() throws -> (record: RunRecord, leftOut: [String]) {
        let opened = try store.openExisting()
        let record = try opened.run(id: runID)
        let values = try opened.perQueryValues(runID: runID)
        var files: [ArrayWriter.PendingFile] = []
        defer { files.forEach { $0.discard() } }
        if let baselinePath {
            let baseline = try Baseline(run: record, perQuery: values)
            do { try baseline.validate() } catch let error as BaselineFieldError {
                throw StoreError("run \(runID) in \(opened.path) cannot be exported as a baseline: expected \(error.expected), found \(error.found)")
            }
            try OutputFolders.create(forFile: baselinePath)
            files.append(try ArrayWriter.prepareText(baseline.encoded(), to: baselinePath))
        }
        if let perQueryPath, let format = PerQueryExport.Format.fromExtension(of: perQueryPath) {
            let (labels, relevant) = try Self.storedQueries(record, store: opened)
            // NMI and AMI have no per-query values.
            let values = values.filter { !$0.values.isEmpty }
            guard values.allSatisfy({ $0.values.count == labels.count }) else {
                throw StoreError("run \(runID) in \(opened.path): its per-query values do not match its \(labels.count) queries; the store is damaged")
            }
            try OutputFolders.create(forFile: perQueryPath)
            files.append(try ArrayWriter.prepareText(PerQueryExport.render(
                format, metrics: values.map(\.metric), labels: labels, relevantCounts: relevant, perQuery: values.map(\.values)), to: perQueryPath))
        }
        for file in files { try file.commit() }
        return (record, record.metrics.filter { ClusteringMetric(rawValue: $0.metric) != nil }.map(\.metric))
    }
}
