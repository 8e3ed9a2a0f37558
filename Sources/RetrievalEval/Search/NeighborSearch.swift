/// How two embeddings are compared. Every search ranks by a similarity, higher first.
public enum Distance: String, Sendable, CaseIterable, Hashable {
    /// Cosine similarity: rows are L2-normalised once, then compared by inner product.
    case cosine
    /// Raw inner product.
    case innerProduct = "ip"
    /// Squared Euclidean distance; reported as a similarity, its negative.
    case squaredL2 = "l2"
}

/// The k best references of every query, best first.
public struct Neighbors: Sendable, Equatable {
    /// The number of queries.
    public let queries: Int
    /// The depth of every list: min(requested k, references available to a query).
    public let depth: Int
    /// `queries * depth` reference indices; query q's list at `q * depth ..< (q + 1) * depth`.
    public var indices: [Int32]
    /// The matching similarities (cosine, inner product, or minus the squared L2 distance).
    public var scores: [Float]

    /// Lists from flat row-major arrays of `queries * depth` entries each.
    public init(queries: Int, depth: Int, indices: [Int32], scores: [Float]) {
        precondition(indices.count == queries * depth && scores.count == queries * depth)
        self.queries = queries
        self.depth = depth
        self.indices = indices
        self.scores = scores
    }

    /// Query q's neighbour indices, best first.
    public func indices(of q: Int) -> ArraySlice<Int32> { indices[q * depth ..< (q + 1) * depth] }
}

/// Reports how far a search has got: a fraction in [0, 1].
public typealias SearchProgress = @Sendable (Double) -> Void

/// Anything that finds the nearest references of a set of queries: the exact search here,
/// and the approximate indexes.
public protocol NeighborSearch {
    /// The comparison this search ranks by.
    var distance: Distance { get }
    /// Whether the queries are the references themselves (each query then excludes itself).
    var isSelfRetrieval: Bool { get }
    /// The number of references a query can retrieve (the reference count, minus one in
    /// self-retrieval).
    var availableDepth: Int { get }
    /// Finds the `k` best references of every query, ties broken by the lower reference index.
    func search(k: Int, progress: SearchProgress?) throws -> Neighbors
}

/// A search that cannot run as asked.
public struct SearchError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The one-line explanation of what cannot run and why.
    public var message: String
    /// An error with its message.
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
