extension HNSWIndex: VectorIndex {
    /// Always `.hnsw`.
    public var kind: IndexKind { .hnsw }
    /// The build parameters (M, efConstruction, seed), as stored.
    public var settings: [(String, String)] { parameters.description }

    /// Searches the graph: a greedy walk down the upper levels, then a best-first search of
    /// level 0 keeping the `effort` (efSearch, default max(64, k)) closest nodes.
    ///
    /// - Throws: `SearchError` for efSearch below k, or for queries that do not fit.
    public func search(_ queries: Matrix?, k requested: Int, effort: Int?, threads: Int, progress: SearchProgress?) throws -> Neighbors {
        guard requested >= 0 else { throw SearchError("k must be at least 0, found \(requested)") }
        let selfRetrieval = queries == nil
        let depth = min(requested, selfRetrieval ? count - 1 : count)
        let ef = effort ?? HNSWParameters.defaultEfSearch(k: depth)
        guard ef >= depth else {
            throw SearchError("HNSW efSearch (\(ef)) must be at least k (\(depth)): the search keeps only efSearch candidates; raise --ef-search")
        }
        let prepared = try queries.map { try ApproximateLists.prepareQueries($0, distance: distance, dimension: dimension) }
        let n = prepared?.rows ?? count
        var indices = [Int32](repeating: 0, count: n * depth)
        var scores = [Float](repeating: 0, count: n * depth)
        guard depth > 0 && n > 0 else {
            progress?(1)
            return Neighbors(queries: n, depth: depth, indices: indices, scores: scores)
        }
        // In self-retrieval the query itself is found too: look one further. Beyond the
        // number of nodes a larger list changes nothing.
        let breadth = min(max(ef, depth + (selfRetrieval ? 1 : 0)), count)
        let queryValues = prepared?.values ?? []
        let rescored = depth + (selfRetrieval ? 1 : 0) + 8
        queryValues.withUnsafeBufferPointer { qv in
            indices.withUnsafeMutableBufferPointer { ix in
                scores.withUnsafeMutableBufferPointer { sc in
                    let io = UncheckedSendable((qv, ix, sc))
                    ApproximateLists.forEachQuery(n, threads: threads, progress: progress, makeState: {
                        (HNSWScratch(count: count, capacity: breadth), QueryBuffers())
                    }) { q, state in
                        let (qv, ix, sc) = io.value
                        let (scratch, buffers) = state
                        let query = selfRetrieval ? vector(Int32(q)) : qv.baseAddress! + q * dimension
                        searchGraph(query, ef: breadth, scratch: scratch)
                        // Only the closest few are re-scored canonically: beyond k plus a margin,
                        // the kernels' rounding (about 1e-7 relative) cannot reorder anything.
                        buffers.found.removeAll(keepingCapacity: true)
                        for key in scratch.sorted.prefix(rescored) { buffers.found.append(RankedKey.index(key)) }
                        ApproximateLists.finish(
                            query: query, found: buffers.found, exclude: selfRetrieval ? Int32(q) : nil, depth: depth,
                            dimension: dimension, distance: distance, count: count, vector: vector,
                            pairs: &buffers.pairs, indices: ix.baseAddress! + q * depth, scores: sc.baseAddress! + q * depth)
                    }
                }
            }
        }
        return Neighbors(queries: n, depth: depth, indices: indices, scores: scores)
    }

    /// The `ef` nodes closest to `query` that the search finds, in `scratch.sorted`, closest first.
    func searchGraph(_ query: UnsafePointer<Float>, ef: Int, scratch: HNSWScratch) {
        var current = entryPoint
        var currentDistance = distance(query, vector(current))
        for level in stride(from: maxLevel, to: 0, by: -1) {
            (current, currentDistance) = greedyClosest(query, from: current, at: currentDistance, level: level, locking: false)
        }
        searchLayer(query, entries: [RankedKey.make(currentDistance, current)], ef: ef, level: 0, locking: false, scratch: scratch)
        scratch.sortResults()
    }
}

/// Per-worker lists for finishing queries.
final class QueryBuffers {
    var found: [Int32] = []
    var pairs: [(Float, Int32)] = []
}
