#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import RetrievalEval

/// Draws for the synthetic data, on the library's seeded SplitMix64 generator, so every
/// benchmark input is the same on every machine and every run.
extension SplitMix64 {
    /// A uniform integer in 0 ..< bound (bound > 0). The modulo bias is below 2^-40 for the
    /// bounds used here, which is irrelevant for synthetic data.
    public mutating func nextInt(below bound: Int) -> Int {
        Int(next() % UInt64(bound))
    }

    /// A pair of independent standard normal values (Box-Muller).
    public mutating func nextGaussianPair() -> (Double, Double) {
        let u1 = 1 - nextUnit() // (0, 1]: the logarithm stays finite
        let u2 = nextUnit()
        let radius = (-2 * log(u1)).squareRoot()
        let angle = 2 * Double.pi * u2
        return (radius * cos(angle), radius * sin(angle))
    }
}

/// Synthetic embeddings: `classes` Gaussian clusters in `dimensions` dimensions, every row
/// L2-normalised (as metric-learning embeddings usually are).
public struct ClusteredEmbeddings: Sendable {
    public let embeddings: Matrix
    /// The cluster of every row, 0 ..< classes; row i belongs to cluster i % classes.
    public let classes: [Int32]

    /// - Parameters:
    ///   - rows: number of embeddings.
    ///   - dimensions: their dimension.
    ///   - classes: number of clusters (rows are spread round-robin over them).
    ///   - spread: the expected norm of the Gaussian noise added to a member's unit-length
    ///     centre before normalising; the larger, the more the clusters overlap.
    ///   - seed: the SplitMix64 seed.
    public init(rows: Int, dimensions: Int, classes: Int, spread: Double = 1.0, seed: UInt64) {
        precondition(rows > 0 && dimensions > 0 && classes > 0)
        var rng = SplitMix64(seed: seed)
        // Centres: standard normal vectors, scaled to unit length.
        var centres = [Float](repeating: 0, count: classes * dimensions)
        for c in 0 ..< classes {
            let row = Self.gaussianRow(dimensions, &rng)
            let norm = Self.norm(row)
            for j in 0 ..< dimensions { centres[c * dimensions + j] = Float(row[j] / norm) }
        }
        // Members: centre + noise of expected norm `spread`, then normalised.
        let noiseScale = spread / Double(dimensions).squareRoot()
        var values = [Float](repeating: 0, count: rows * dimensions)
        var labels = [Int32](repeating: 0, count: rows)
        for i in 0 ..< rows {
            let c = i % classes
            labels[i] = Int32(c)
            var row = Self.gaussianRow(dimensions, &rng)
            for j in 0 ..< dimensions {
                row[j] = Double(centres[c * dimensions + j]) + noiseScale * row[j]
            }
            let norm = Self.norm(row)
            for j in 0 ..< dimensions { values[i * dimensions + j] = Float(row[j] / norm) }
        }
        embeddings = Matrix(rows: rows, columns: dimensions, values: values)
        self.classes = labels
    }

    private static func gaussianRow(_ count: Int, _ rng: inout SplitMix64) -> [Double] {
        var row = [Double](repeating: 0, count: count)
        var j = 0
        while j < count {
            let (a, b) = rng.nextGaussianPair()
            row[j] = a
            if j + 1 < count { row[j + 1] = b }
            j += 2
        }
        return row
    }

    private static func norm(_ row: [Double]) -> Double {
        row.reduce(0) { $0 + $1 * $1 }.squareRoot()
    }
}

/// Synthetic ranked neighbour lists with class labels, shaped like a decent embedding's
/// search result: the top ranks are mostly same-class items, fewer further down.
public struct SyntheticNeighbors: Sendable {
    public let labels: Labels
    public let judgments: RelevanceJudgments
    public let neighbors: Neighbors

    /// - Parameters:
    ///   - queries: the number of items (self-retrieval: every item is a query).
    ///   - depth: neighbours per query.
    ///   - classSizes: the smallest and largest class size; sizes are drawn uniformly in
    ///     between. Keep the largest at most `depth + 1` so that R <= depth and MAP@R and
    ///     R-Precision can be scored from the lists.
    ///   - seed: the SplitMix64 seed.
    public init(queries: Int, depth: Int, classSizes: ClosedRange<Int>, seed: UInt64) {
        precondition(queries > 1 && depth > 0 && classSizes.lowerBound >= 2)
        var rng = SplitMix64(seed: seed)

        // Class of every item, in contiguous runs of random size.
        var classOf = [Int32](repeating: 0, count: queries)
        var members: [[Int32]] = []
        var start = 0
        while start < queries {
            let size = classSizes.lowerBound + rng.nextInt(below: classSizes.count)
            let end = min(queries, start + size)
            let c = Int32(members.count)
            members.append((start ..< end).map { Int32($0) })
            for i in start ..< end { classOf[i] = c }
            start = end
        }
        labels = Labels(integers: classOf.map { Int64($0) })
        judgments = RelevanceJudgments(selfRetrieval: labels)

        // Each query has a "quality" q in [0.3, 0.95]: the chance that rank 0 is relevant,
        // decaying with rank. Relevant items are distinct class-mates (never the query
        // itself), so a list never holds more than R relevant items.
        var indices = [Int32](repeating: 0, count: queries * depth)
        var scores = [Float](repeating: 0, count: queries * depth)
        var mates: [Int32] = []
        for q in 0 ..< queries {
            let c = Int(classOf[q])
            mates.removeAll(keepingCapacity: true)
            for m in members[c] where Int(m) != q { mates.append(m) }
            mates.shuffle(using: &rng)
            var nextMate = 0
            let quality = 0.3 + 0.65 * rng.nextUnit()
            let halfLife = Double(max(1, mates.count))
            for rank in 0 ..< depth {
                let p = quality * exp2(-Double(rank) / halfLife)
                let slot = q * depth + rank
                if nextMate < mates.count && rng.nextUnit() < p {
                    indices[slot] = mates[nextMate]
                    nextMate += 1
                } else {
                    var r = rng.nextInt(below: queries)
                    while classOf[r] == classOf[q] { r = rng.nextInt(below: queries) }
                    indices[slot] = Int32(r)
                }
                scores[slot] = 1 - Float(rank) / Float(depth)
            }
        }
        neighbors = Neighbors(queries: queries, depth: depth, indices: indices, scores: scores)
    }
}
