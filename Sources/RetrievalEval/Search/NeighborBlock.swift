/// The final lists of a run of consecutive queries, each as deep as that query asked for.
///
/// Searches hand their results over in such blocks, in query order, so that metrics can be
/// computed and lists written while the search goes on, and no N x depth matrix need exist.
public struct NeighborBlock: Sendable {
    /// The queries the block holds.
    public let queries: Range<Int>
    /// Query `queries.lowerBound + i`'s list is at `offsets[i] ..< offsets[i + 1]`.
    public let offsets: [Int]
    /// Reference indices, best first within each list.
    public var indices: [Int32]
    /// The matching similarities.
    public var scores: [Float]

    /// An empty block with room for lists of the given depths.
    public init(queries: Range<Int>, depths: ArraySlice<Int>) {
        precondition(queries.count == depths.count)
        var offsets = [Int](repeating: 0, count: depths.count + 1)
        for (i, depth) in depths.enumerated() { offsets[i + 1] = offsets[i] + depth }
        self.queries = queries
        self.offsets = offsets
        indices = [Int32](repeating: 0, count: offsets[depths.count])
        scores = [Float](repeating: 0, count: offsets[depths.count])
    }

    /// Queries `queries` of `neighbors`, each `neighbors.depth` deep.
    public init(_ neighbors: Neighbors, queries: Range<Int>) {
        let depth = neighbors.depth
        self.queries = queries
        offsets = (0 ... queries.count).map { $0 * depth }
        indices = Array(neighbors.indices[queries.lowerBound * depth ..< queries.upperBound * depth])
        scores = Array(neighbors.scores[queries.lowerBound * depth ..< queries.upperBound * depth])
    }

    /// Where query `q`'s list lies in `indices` and `scores`.
    public func range(of q: Int) -> Range<Int> {
        let i = q - queries.lowerBound
        return offsets[i] ..< offsets[i + 1]
    }

    /// Query `q`'s neighbour indices, best first.
    public func indices(of q: Int) -> ArraySlice<Int32> { indices[range(of: q)] }

    /// Unsafe write access for workers that fill disjoint lists.
    struct Output: @unchecked Sendable {
        let offsets: UnsafePointer<Int>
        let indices: UnsafeMutablePointer<Int32>
        let scores: UnsafeMutablePointer<Float>

        /// Writes the first entries of `pairs` as list `i` of the block (its depth of them).
        @inline(__always)
        func write<C: RandomAccessCollection<(Float, Int32)>>(_ i: Int, _ pairs: C) {
            let start = offsets[i], depth = offsets[i + 1] - start
            var p = 0
            for pair in pairs.prefix(depth) {
                scores[start + p] = pair.0
                indices[start + p] = pair.1
                p += 1
            }
        }
    }

    mutating func withUnsafeOutput<R>(_ body: (Output) throws -> R) rethrows -> R {
        try offsets.withUnsafeBufferPointer { o in
            try indices.withUnsafeMutableBufferPointer { ix in
                try scores.withUnsafeMutableBufferPointer { sc in
                    try body(Output(offsets: o.baseAddress!, indices: ix.baseAddress ?? UnsafeMutablePointer(bitPattern: 8)!,
                                    scores: sc.baseAddress ?? UnsafeMutablePointer(bitPattern: 8)!))
                }
            }
        }
    }
}
