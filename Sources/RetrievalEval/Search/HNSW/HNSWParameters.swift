/// The settings of a hierarchical navigable small-world graph (Malkov & Yashunin 2018).
public struct HNSWParameters: Sendable, Hashable {
    /// Links per node on the upper levels; level 0 keeps up to 2M.
    public var m: Int
    /// The candidate list's size while inserting: larger builds a better graph, slower.
    public var efConstruction: Int
    /// Seeds the level draw. With one build thread the graph is a function of the data, the
    /// parameters and this seed, bit for bit.
    public var seed: UInt64

    /// Parameters; by default M = 16, efConstruction = 200 and seed 1.
    public init(m: Int = 16, efConstruction: Int = 200, seed: UInt64 = 1) {
        self.m = m
        self.efConstruction = efConstruction
        self.seed = seed
    }

    /// The candidate list's size while searching when none is given: max(64, k).
    public static func defaultEfSearch(k: Int) -> Int { max(64, k) }

    /// The level multiplier m_L = 1 / ln M: a node reaches level l with probability M^-l.
    var levelMultiplier: Double { 1 / log(Double(m)) }

    /// - Throws: `SearchError` naming the parameter, its value and the valid range.
    public func validate() throws {
        guard m >= 2 else { throw SearchError("HNSW M must be at least 2, found \(m); 16 is a good default (--m)") }
        guard m <= 4096 else { throw SearchError("HNSW M must be at most 4096, found \(m); values between 8 and 64 are usual (--m)") }
        guard efConstruction >= 1 && efConstruction <= 100_000 else {
            throw SearchError("HNSW efConstruction must be in 1...100000, found \(efConstruction); 200 is a good default (--ef-construction)")
        }
    }

    /// The settings as stored with a run or an index.
    public var description: [(String, String)] {
        [("m", String(m)), ("ef_construction", String(efConstruction)), ("seed", String(seed))]
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
