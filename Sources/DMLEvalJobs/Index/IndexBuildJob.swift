import RetrievalEval
import RetrievalEvalStore

/// An index build as one library call: read the embeddings, build, write the index to a file
/// and/or store it under the embeddings' hash.
public struct IndexBuildJob: Sendable {
    /// The embeddings indexed.
    public var embeddings: String
    /// How they are read.
    public var reading: ReadSettings
    /// The index (hnsw or ivf) and its settings.
    public var build: IndexBuildSettings
    /// The similarity.
    public var distance: Distance
    /// Also write the index to this file.
    public var outputPath: String?
    /// The store keeping the index; nil keeps it only in the file.
    public var store: StoreLocation?
    /// Threads building, unless the build settings say otherwise.
    public var threads: Int

    /// A build of `embeddings` with `build`.
    public init(embeddings: String, reading: ReadSettings = .init(), build: IndexBuildSettings, distance: Distance = .cosine,
                outputPath: String? = nil, store: StoreLocation?, threads: Int = ExactSearch.defaultThreads) {
        self.embeddings = embeddings
        self.reading = reading
        self.build = build
        self.distance = distance
        self.outputPath = outputPath
        self.store = store
        self.threads = threads
    }

    /// What the build made.
    public struct Outcome: Sendable {
        /// The index built, with its build time and threads.
        public let index: ProvidedIndex
        /// The embeddings' content hash (nil when nothing is stored: it reads every value).
        public let embeddingsHash: String?
        /// The stored index's id.
        public let storedID: Int64?
    }

    /// Runs the build; the file is written first, then the index stored.
    public func run(progress: ProgressHandler? = nil) throws -> Outcome {
        try store?.checkCreatable()
        let vectors = try reading.readEmbeddings(embeddings)
        let hash = store == nil ? nil : vectors.contentHash()
        let provided = try IndexProvider.provide(
            IndexSearchSettings(build: build, rebuild: true), vectors: vectors, distance: distance, store: nil,
            threads: threads, progress: progress)
        if let outputPath {
            let folders = try OutputFolders.create(forFile: outputPath)
            do { try IndexFile.write(provided.index, to: outputPath) } catch { OutputFolders.remove(folders); throw error }
        }
        let storedID = try store.map {
            try $0.open().saveIndex(provided.index, embeddingsHash: hash!, buildSeconds: provided.buildSeconds,
                                    buildThreads: provided.buildThreads, toolVersion: $0.toolVersion)
        }
        return Outcome(index: provided, embeddingsHash: hash, storedID: storedID)
    }
}
