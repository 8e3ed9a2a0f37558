/// The settings of an inverted-file index with exhaustive lists (IVF-Flat).
public struct IVFParameters: Sendable, Hashable {
    /// The number of k-means lists; nil for 4 sqrt(N), at most N.
    public var nlist: Int?
    /// How the first centroids are chosen.
    public var initialization: KMeans.Initialization
    /// Lloyd iterations at most.
    public var iterations: Int
    /// Training points per list at most: k-means runs on a seeded sample of at most
    /// `trainingPerList * nlist` points.
    public var trainingPerList: Int
    /// Seeds the training sample and the k-means starts.
    public var seed: UInt64

    /// Parameters; by default nlist = 4 sqrt(N), random starts, 20 iterations, 256 training points
    /// per list, seed 1.
    public init(nlist: Int? = nil, initialization: KMeans.Initialization = .random, iterations: Int = 20,
                trainingPerList: Int = 256, seed: UInt64 = 1) {
        self.nlist = nlist
        self.initialization = initialization
        self.iterations = iterations
        self.trainingPerList = trainingPerList
        self.seed = seed
    }

    /// The list count for `n` references: as given, or 4 sqrt(n) rounded, at least 1.
    public func lists(for n: Int) -> Int { nlist ?? max(1, min(n, Int((4 * Double(n).squareRoot()).rounded()))) }

    /// Lists probed when none is given: an eighth of them, at least 1 (recall@10 about 0.94
    /// on the Debian embeddings of docs/benchmarks.md, nlist 570; the check against exact
    /// search tells each run what it cost).
    public static func defaultProbes(lists: Int) -> Int { max(1, (lists + 7) / 8) }

    /// - Throws: `SearchError` naming the parameter, its value and the valid range.
    public func validate(references n: Int) throws {
        if let nlist {
            guard nlist >= 1 else { throw SearchError("IVF nlist must be at least 1, found \(nlist) (--nlist)") }
            guard nlist <= n else {
                throw SearchError("IVF nlist (\(nlist)) cannot exceed the number of references (\(n)): each list needs a centroid drawn from them; lower --nlist")
            }
        }
        guard iterations >= 1 else { throw SearchError("k-means iterations must be at least 1, found \(iterations)") }
        guard trainingPerList >= 1 else { throw SearchError("training points per list must be at least 1, found \(trainingPerList)") }
    }

    /// The settings as stored with a run or an index.
    public func description(references n: Int) -> [(String, String)] {
        [("nlist", String(lists(for: n))), ("kmeans_init", initialization.rawValue), ("kmeans_iterations", String(iterations)),
         ("training_per_list", String(trainingPerList)), ("seed", String(seed))]
    }
}
