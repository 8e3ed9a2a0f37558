
/// The kinds of search `dmleval` runs.
public enum IndexKind: String, Sendable, CaseIterable, Hashable {
    /// Every pair scored: the reference ranking.
    case exact
    /// A hierarchical navigable small-world graph (approximate).
    case hnsw
    /// An inverted file of k-means lists, scanned exhaustively (approximate).
    case ivf
}

/// An approximate index over a fixed set of reference vectors.
public protocol VectorIndex: AnyObject, Sendable {
    var kind: IndexKind { get }
    var distance: Distance { get }
    /// The number of references.
    var count: Int { get }
    var dimension: Int { get }
    /// The memory the index holds (vectors included), in bytes.
    var memoryBytes: Int { get }
    /// A hash of the vectors it was built on: a saved index only loads onto the same vectors.
    var vectorHash: UInt64 { get }
    /// The build settings, as stored with runs and indexes.
    var settings: [(String, String)] { get }
    /// The k best references of every query (self-retrieval over the references when
    /// `queries` is nil, each query excluding itself), best first, ties to the lower index,
    /// with the canonical kernel's scores (equal to the exact search's to float rounding).
    ///
    /// - Parameter effort: how hard to look: efSearch for HNSW, nprobe for IVF; nil for the
    ///   index's default.
    func search(_ queries: Matrix?, k: Int, effort: Int?, threads: Int, progress: SearchProgress?) throws -> Neighbors
    /// The index without its vectors, to store or write to a file (see `IndexFile`).
    func serialized() -> [UInt8]
}

/// An index searched through the protocol every search shares.
public struct IndexedSearch: NeighborSearch, @unchecked Sendable {
    /// The index searched.
    public let index: any VectorIndex
    /// The queries; nil for self-retrieval over the index's references.
    public let queries: Matrix?
    /// efSearch for HNSW, nprobe for IVF; nil for the index's default.
    public var effort: Int?
    /// The number of threads searching.
    public var threads: Int

    /// A search of `index`; throws when the queries' dimension differs from the index's.
    public init(index: any VectorIndex, queries: Matrix? = nil, effort: Int? = nil, threads: Int = ExactSearch.defaultThreads) throws {
        if let queries, queries.columns != index.dimension {
            throw SearchError("the queries have \(queries.columns) dimensions but the index \(index.dimension); embed both with the same model")
        }
        self.index = index
        self.queries = queries
        self.effort = effort
        self.threads = threads
    }

    /// The index's similarity.
    public var distance: Distance { index.distance }
    /// Whether the queries are the references themselves (each excluding itself).
    public var isSelfRetrieval: Bool { queries == nil }
    /// The deepest list possible: the references, less the query itself in self-retrieval.
    public var availableDepth: Int { isSelfRetrieval ? index.count - 1 : index.count }

    /// The k best references of every query, best first.
    public func search(k: Int, progress: SearchProgress?) throws -> Neighbors {
        try index.search(queries, k: k, effort: effort, threads: threads, progress: progress)
    }
}

/// What the approximate indexes share: preparing queries, and turning a candidate list into a
/// final one (self excluded, canonical scores, a full scan when the index found too few).
enum ApproximateLists {
    /// The queries as an index compares them: normalised for cosine.
    static func prepareQueries(_ queries: Matrix, distance: Distance, dimension: Int) throws -> Matrix {
        guard queries.columns == dimension else {
            throw SearchError("the queries have \(queries.columns) dimensions but the index \(dimension); embed both with the same model")
        }
        // HNSW refuses ip, so l2 is the alternative both indexes take.
        return distance == .cosine ? try queries.unitRows(rowName: "query row", alternatives: "l2") : queries
    }

    /// Writes the final list of one query into `indices`/`scores` (`depth` entries).
    ///
    /// - Parameters:
    ///   - found: candidate references, in any order (the query itself may be among them).
    ///   - exclude: the query's own index in self-retrieval.
    ///   - vector: a reference's vector, as stored.
    ///   - count: the number of references (for the full scan when fewer than `depth` were found).
    static func finish(
        query: UnsafePointer<Float>, found: [Int32], exclude: Int32?, depth: Int, dimension: Int,
        distance: Distance, count: Int, vector: (Int32) -> UnsafePointer<Float>,
        pairs: inout [(Float, Int32)], indices: UnsafeMutablePointer<Int32>, scores: UnsafeMutablePointer<Float>
    ) {
        pairs.removeAll(keepingCapacity: true)
        for r in found where r != exclude {
            pairs.append((ExactSearch.canonicalScore(query, vector(r), dimension, distance), r))
        }
        if pairs.count < depth {
            // The index reached fewer references than asked for (a tiny or disconnected set):
            // score them all rather than return a short list.
            pairs.removeAll(keepingCapacity: true)
            for r in 0 ..< Int32(count) where r != exclude {
                pairs.append((ExactSearch.canonicalScore(query, vector(r), dimension, distance), r))
            }
        }
        pairs.sort { ExactSearch.ranksBefore($0, $1) }
        for i in 0 ..< depth {
            scores[i] = pairs[i].0
            indices[i] = pairs[i].1
        }
    }

    /// Runs `body(query)` for every query on `threads` workers, each with its own state made
    /// by `makeState`; the first worker reports progress for all.
    static func forEachQuery<State>(
        _ n: Int, threads: Int, progress: SearchProgress?, makeState: @Sendable () -> State, _ body: @Sendable (Int, State) -> Void
    ) {
        let workers = max(1, min(threads, n / 64))
        parallelFor(workers: workers) { w in
            let state = makeState()
            let mine = n * w / workers ..< n * (w + 1) / workers
            for q in mine {
                if w == 0, (q - mine.lowerBound) % 256 == 0 {
                    progress?(Double(q - mine.lowerBound) / Double(max(1, mine.count)))
                }
                body(q, state)
            }
        }
        progress?(1)
    }
}

extension ApproximateLists {
    /// Moves the `first` smallest keys, in increasing order, to the front of `keys`.
    static func partialSort(_ keys: inout [UInt64], first: Int) {
        guard first < keys.count else { keys.sort(); return }
        var heap = KeyHeap(capacity: first + 1)
        // A max-heap (complemented) of the best `first` so far.
        for key in keys {
            if heap.count < first { heap.push(~key) } else if key < ~heap.top { heap.pop(); heap.push(~key) }
        }
        var best: [UInt64] = []
        while !heap.isEmpty { best.append(~heap.pop()) }
        best.reverse()
        for (i, key) in best.enumerated() { keys[i] = key }
    }
}
