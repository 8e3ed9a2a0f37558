import RetrievalEval

/// The index sweep as one library call: build an index once, compute the exact top k of every
/// query, then search with each efSearch (HNSW) or nprobe (IVF) and measure recall@k and time.
public struct IndexSweep: Sendable {
    /// The references' file.
    public var references: String
    /// The queries' file (nil: every reference, itself excluded).
    public var queries: String?
    /// How files are read.
    public var reading: ReadSettings
    /// The index built (hnsw or ivf).
    public var build: IndexBuildSettings
    /// The efSearch or nprobe values measured (nil: `defaultEfforts`).
    public var efforts: [Int]?
    /// The similarity.
    public var distance: Distance
    /// Neighbours per query.
    public var k: Int
    /// Threads searching (and building, unless the build settings say otherwise).
    public var threads: Int
    /// Timed searches per setting; the median is reported.
    public var repeats: Int

    /// A sweep of an index of `build.kind` over its default settings.
    public init(references: String, queries: String? = nil, reading: ReadSettings = .init(), build: IndexBuildSettings,
                efforts: [Int]? = nil, distance: Distance = .cosine, k: Int = 10, threads: Int = ExactSearch.defaultThreads,
                repeats: Int = 3) {
        self.references = references
        self.queries = queries
        self.reading = reading
        self.build = build
        self.efforts = efforts
        self.distance = distance
        self.k = k
        self.threads = threads
        self.repeats = repeats
    }

    /// The settings measured when none are given: efSearch 16 to 256 (at least k), or nprobe
    /// 1 to 64 (at most the lists).
    public static func defaultEfforts(kind: IndexKind, k: Int, lists: Int = .max) -> [Int] {
        kind == .hnsw ? Set([16, 32, 64, 128, 256].map { max($0, k) }).sorted()
            : Set([1, 2, 4, 8, 16, 32, 64].map { min($0, lists) }).sorted()
    }

    /// One measured setting.
    public struct Point: Sendable {
        /// efSearch or nprobe.
        public let effort: Int
        /// The share of the exact top k found.
        public let recall: Double
        /// The median seconds of a search of every query.
        public let seconds: Double
    }

    /// What the sweep measured.
    public struct Outcome: Sendable {
        /// The index swept, built or loaded.
        public let index: ProvidedIndex
        /// The number of references.
        public let referenceRows: Int
        /// The dimension of the vectors.
        public let dimension: Int
        /// The number of queries searched.
        public let queryCount: Int
        /// k as searched (at most the references available).
        public let depth: Int
        /// The number of threads each search ran on.
        public let searchThreads: Int
        /// One point per setting measured, in increasing effort.
        public let points: [Point]
    }

    /// Runs the sweep. Nothing is stored.
    /// - Throws: `JobError.probesExceedLists` for an nprobe above the lists (checked before
    ///   the build), the readers' and search's errors.
    public func run(progress: ProgressHandler? = nil) throws -> Outcome {
        let referenceMatrix = try reading.readEmbeddings(references)
        let queryMatrix = try queries.map { try reading.readEmbeddings($0) }
        var efforts = self.efforts ?? Self.defaultEfforts(kind: build.kind, k: k)
        if build.kind == .ivf {
            // Checked before the build: nprobe cannot exceed the number of lists.
            let lists = build.ivfParameters.lists(for: referenceMatrix.rows)
            if self.efforts == nil {
                efforts = Self.defaultEfforts(kind: .ivf, k: k, lists: lists)
            } else if let high = efforts.first(where: { $0 > lists }) {
                throw JobError.probesExceedLists(lists: lists, found: high)
            }
        }
        let provided = try IndexProvider.provide(
            IndexSearchSettings(build: build, rebuild: true), vectors: referenceMatrix, distance: distance, store: nil,
            threads: threads, progress: progress)
        let exact = try ExactSearch(references: referenceMatrix, queries: queryMatrix, distance: distance, threads: threads)
            .search(k: k)
        let search = try IndexedSearch(index: provided.index, queries: queryMatrix, threads: threads)
        var points: [Point] = []
        let stage = StageProgress("sweeping", progress)
        try stage.run {
            for (i, effort) in efforts.enumerated() {
                var s = search
                s.effort = effort
                var times: [Double] = []
                var found: Neighbors?
                for _ in 0 ..< repeats {
                    let t = JobClock.now()
                    found = try s.search(k: k, progress: nil)
                    times.append(JobClock.now() - t)
                }
                times.sort()
                points.append(Point(effort: effort, recall: ApproximationCheck.overlap(found!, exact, first: exact.depth),
                                    seconds: times[times.count / 2]))
                stage.update(Double(i + 1) / Double(efforts.count))
            }
        }
        return Outcome(index: provided, referenceRows: referenceMatrix.rows, dimension: referenceMatrix.columns,
                       queryCount: exact.queries, depth: exact.depth, searchThreads: threads, points: points)
    }
}
