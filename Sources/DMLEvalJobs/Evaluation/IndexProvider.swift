import RetrievalEval
import RetrievalEvalStore

/// How an approximate index is built: its kind and build settings (nil: the defaults).
public struct IndexBuildSettings: Sendable {
    /// exact (no index), hnsw or ivf.
    public var kind: IndexKind
    /// HNSW: links per node on the upper levels (default 16).
    public var m: Int?
    /// HNSW: candidates kept while inserting (default 200).
    public var efConstruction: Int?
    /// IVF: number of k-means lists (default 4 sqrt(N)).
    public var nlist: Int?
    /// IVF: the k-means initialisation (default random).
    public var kmeansInit: KMeans.Initialization?
    /// Seed of the build (HNSW levels, k-means) and of the approximation check's sample.
    public var seed: UInt64
    /// Threads building the index (nil: the job's threads).
    public var buildThreads: Int?

    /// Settings of an index of `kind`, defaults elsewhere.
    public init(kind: IndexKind, m: Int? = nil, efConstruction: Int? = nil, nlist: Int? = nil,
                kmeansInit: KMeans.Initialization? = nil, seed: UInt64 = 1, buildThreads: Int? = nil) {
        self.kind = kind
        self.m = m
        self.efConstruction = efConstruction
        self.nlist = nlist
        self.kmeansInit = kmeansInit
        self.seed = seed
        self.buildThreads = buildThreads
    }

    /// The HNSW parameters these settings give.
    public var hnswParameters: HNSWParameters {
        HNSWParameters(m: m ?? 16, efConstruction: efConstruction ?? 200, seed: seed)
    }

    /// The IVF parameters these settings give.
    public var ivfParameters: IVFParameters {
        IVFParameters(nlist: nlist, initialization: kmeansInit ?? .random, seed: seed)
    }

    /// The settings an index built with these on `rows` vectors records.
    public func settings(rows: Int) -> [(String, String)] {
        kind == .hnsw ? hnswParameters.description : ivfParameters.description(references: rows)
    }
}

/// The search a job runs: exact, or an approximate index with its build and search settings.
public struct IndexSearchSettings: Sendable {
    /// How the index is built (or which one is reused).
    public var build: IndexBuildSettings
    /// HNSW: candidates kept while searching (default max(64, k)).
    public var efSearch: Int?
    /// IVF: lists scanned per query (default nlist / 8, rounded up).
    public var nprobe: Int?
    /// Load the index from this file instead of the store or a new build.
    public var indexFile: String?
    /// Build again even when the store holds an index for these embeddings and settings.
    public var rebuild: Bool

    /// A search with these settings.
    public init(build: IndexBuildSettings, efSearch: Int? = nil, nprobe: Int? = nil, indexFile: String? = nil, rebuild: Bool = false) {
        self.build = build
        self.efSearch = efSearch
        self.nprobe = nprobe
        self.indexFile = indexFile
        self.rebuild = rebuild
    }

    /// The index kind (exact for none).
    public var kind: IndexKind { build.kind }

    /// efSearch or nprobe, as given.
    public var effort: Int? { kind == .hnsw ? efSearch : kind == .ivf ? nprobe : nil }

    /// The search-time setting as stored with a run.
    public func effortDescription(depth: Int, index built: any VectorIndex) -> (String, String) {
        if let ivf = built as? IVFIndex { return ("nprobe", String(nprobe ?? IVFParameters.defaultProbes(lists: ivf.lists))) }
        return ("ef_search", String(efSearch ?? HNSWParameters.defaultEfSearch(k: depth)))
    }
}

/// Where a provided index came from.
public enum IndexOrigin: Sendable, Equatable {
    /// Loaded from this file.
    case file(String)
    /// The store's index with this id, built earlier in these seconds.
    case stored(id: Int64, buildSeconds: Double)
    /// Built now, in these seconds on these threads.
    case built(seconds: Double, threads: Int)
}

/// An index ready to search, and where it came from.
public struct ProvidedIndex: @unchecked Sendable {
    /// The index.
    public let index: any VectorIndex
    /// Where it came from.
    public let origin: IndexOrigin
    /// Seconds its build took (0 for a file).
    public let buildSeconds: Double
    /// Threads its build used (0 for a file).
    public let buildThreads: Int
    /// Built here, so worth storing.
    public var isNew: Bool { if case .built = origin { return true } else { return false } }
    /// The embeddings' content hash, when it was computed (to store or look up the index).
    public let embeddingsHash: String?
}

/// Finds or builds the approximate index a search uses.
public enum IndexProvider {
    /// The index for `vectors`: from the settings' index file, else the store's for the same
    /// embeddings and settings (unless `rebuild`), else a new build. The store is only read
    /// here, and only if it exists; a new index is stored by the caller once its run has
    /// succeeded.
    /// - Parameters:
    ///   - vectorsHash: the embeddings' content hash when already known (computed while reading).
    ///   - store: the store to look in; nil when nothing is stored.
    /// - Throws: `JobError.indexMismatch` for a file of another kind or distance; the
    ///   readers' and builders' errors.
    public static func provide(
        _ settings: IndexSearchSettings, vectors: Matrix, vectorsHash: String? = nil, distance: Distance, store: StoreLocation?,
        threads: Int, progress: ProgressHandler? = nil
    ) throws -> ProvidedIndex {
        let options = settings.build
        if let file = settings.indexFile {
            let index = try IndexFile.read(file, vectors: vectors)
            if index.kind != options.kind || index.distance != distance {
                throw JobError.indexMismatch(file: file, expected: (options.kind, distance), found: (index.kind, index.distance))
            }
            return ProvidedIndex(index: index, origin: .file(file), buildSeconds: 0, buildThreads: 0, embeddingsHash: nil)
        }
        var hash: String?
        if let store {
            hash = vectorsHash ?? vectors.contentHash()
            if !settings.rebuild, store.exists {
                if let (info, data) = try store.open().findIndex(
                    embeddingsHash: hash!, kind: options.kind, distance: distance, settings: options.settings(rows: vectors.rows)) {
                    let index = try IndexFile.load(data, vectors: vectors, name: "\(store.path): stored index \(info.id)")
                    return ProvidedIndex(index: index, origin: .stored(id: info.id, buildSeconds: info.buildSeconds),
                                         buildSeconds: info.buildSeconds, buildThreads: info.buildThreads, embeddingsHash: hash)
                }
            }
        }
        let buildThreads = options.buildThreads ?? threads
        let stage = StageProgress("building \(options.kind.rawValue) index", progress)
        let clock = ContinuousClock()
        let start = clock.now
        let index: any VectorIndex = try stage.run {
            switch options.kind {
            case .hnsw:
                try HNSWIndex.build(vectors, distance: distance, parameters: options.hnswParameters, threads: buildThreads,
                                    progress: stage.search)
            case .ivf:
                try IVFIndex.build(vectors, distance: distance, parameters: options.ivfParameters, threads: buildThreads,
                                   progress: stage.search)
            case .exact:
                preconditionFailure("no index to build for exact search")
            }
        }
        let elapsed = (clock.now - start).seconds
        return ProvidedIndex(index: index, origin: .built(seconds: elapsed, threads: buildThreads),
                             buildSeconds: elapsed, buildThreads: buildThreads, embeddingsHash: hash)
    }
}
