import Synchronization

extension IVFIndex {
    /// Searches the `effort` (nprobe) lists nearest each query, and further lists, nearest
    /// first, while those hold fewer references than k (plus the query itself in
    /// self-retrieval); see the type's documentation.
    ///
    /// - Throws: `SearchError` for nprobe outside 1...nlist, or queries that do not fit.
    public func search(_ queries: Matrix?, k requested: Int, effort: Int?, threads: Int, progress: SearchProgress?) throws -> Neighbors {
        guard requested >= 0 else { throw SearchError("k must be at least 0, found \(requested)") }
        let probes = effort ?? IVFParameters.defaultProbes(lists: lists)
        guard probes >= 1 && probes <= lists else {
            throw SearchError("IVF nprobe must be in 1...\(lists) (the number of lists), found \(probes) (--nprobe)")
        }
        let selfRetrieval = queries == nil
        let depth = min(requested, selfRetrieval ? count - 1 : count)
        let n = queries?.rows ?? count
        var indices = [Int32](repeating: 0, count: n * depth)
        var scores = [Float](repeating: 0, count: n * depth)
        guard depth > 0 && n > 0 else {
            progress?(1)
            return Neighbors(queries: n, depth: depth, indices: indices, scores: scores)
        }
        // The query matrix, in query order (self-retrieval: the references in index order).
        let queryMatrix: Matrix
        if let queries {
            queryMatrix = try ApproximateLists.prepareQueries(queries, distance: distance, dimension: dimension)
        } else {
            var values = [Float](repeating: 0, count: count * dimension)
            values.withUnsafeMutableBufferPointer { v in
                for r in 0 ..< count { (v.baseAddress! + r * dimension).update(from: vector(Int32(r)), count: dimension) }
            }
            queryMatrix = Matrix(rows: count, columns: dimension, values: values)
        }
        // The nearest lists of every query, with some to spare: a query whose nprobe lists hold
        // fewer references than it needs scans further lists, nearest first, until they do.
        let ranked = min(lists, probes + 16)
        let probeLists = IVFIndex.coarse(queryMatrix, centroids: centroids, distance: distance, probes: ranked, threads: threads)
        let needed = depth + (selfRetrieval ? 1 : 0)
        // Candidates kept per query before the canonical re-scoring (see ExactSearch.finalize):
        // a margin beyond k, plus the query itself in self-retrieval.
        let kept = min(depth + ExactSearch.slack(depth) + (selfRetrieval ? 1 : 0), count)
        let chunk = 512
        let chunks = (n + chunk - 1) / chunk
        let workers = max(1, min(threads, chunks))
        BLAS.setThreads(1)
        queryMatrix.values.withUnsafeBufferPointer { qv in
            indices.withUnsafeMutableBufferPointer { ix in
                scores.withUnsafeMutableBufferPointer { sc in
                    let io = UncheckedSendable((qv, ix, sc))
                    let done = Atomic<Int>(0)
                    parallelFor(workers: workers) { w in
                        let (qv, ix, sc) = io.value
                        let scan = ListScan(kept: kept, chunk: chunk, dimension: dimension)
                        var c = w
                        while c < chunks {
                            let lo = c * chunk, hi = min(n, lo + chunk)
                            scanChunk(lo ..< hi, queries: qv.baseAddress!, probeLists: probeLists, ranked: ranked, probes: probes,
                                      needed: needed, scan: scan)
                            for q in lo ..< hi {
                                let query = qv.baseAddress! + q * dimension
                                ApproximateLists.finish(
                                    query: query, found: scan.found(q - lo), exclude: selfRetrieval ? Int32(q) : nil,
                                    depth: depth, dimension: dimension, distance: distance, count: count, vector: vector,
                                    pairs: &scan.pairs, indices: ix.baseAddress! + q * depth, scores: sc.baseAddress! + q * depth)
                            }
                            let finished = done.wrappingAdd(hi - lo, ordering: .relaxed).newValue
                            if w == 0 { progress?(Double(finished) / Double(n)) }
                            c += workers
                        }
                    }
                }
            }
        }
        progress?(1)
        return Neighbors(queries: n, depth: depth, indices: indices, scores: scores)
    }

    /// Scores the queries `range` against their probed lists, leaving each one's `kept` best
    /// in `scan`.
    private func scanChunk(
        _ range: Range<Int>, queries: UnsafePointer<Float>, probeLists: [Int32], ranked: Int, probes: Int, needed: Int, scan: ListScan
    ) {
        let d = dimension
        scan.reset(queries: range.count)
        // Which of the chunk's queries probe each list.
        var buckets = [[Int32]](repeating: [], count: lists)
        for q in range {
            var held = 0
            for p in 0 ..< ranked {
                guard p < probes || held < needed else { break }
                let list = Int(probeLists[q * ranked + p])
                buckets[list].append(Int32(q - range.lowerBound))
                held += offsets[list + 1] - offsets[list]
            }
        }
        for list in 0 ..< lists where !buckets[list].isEmpty {
            let start = offsets[list], size = offsets[list + 1] - start
            guard size > 0 else { continue }
            let bucket = buckets[list]
            var b = 0
            while b < bucket.count {
                let rows = min(ListScan.block, bucket.count - b)
                scan.scoreBlock(rows: rows, size: size) { gathered, out in
                    for i in 0 ..< rows {
                        (gathered + i * d).update(from: queries + (range.lowerBound + Int(bucket[b + i])) * d, count: d)
                    }
                    BLAS.gemmNT(m: rows, n: size, k: d, a: gathered, lda: d, b: vectors + start * d, ldb: d, c: out, ldc: size)
                    for i in 0 ..< rows {
                        let local = Int(bucket[b + i])
                        let row = out + i * size
                        for s in 0 ..< size {
                            let value = distance == .squaredL2 ? norms[start + s] - 2 * row[s] : -row[s]
                            scan.offer(local, RankedKey.make(value, ids[start + s]))
                        }
                    }
                }
                b += rows
            }
        }
    }
}

/// One worker's buffers for scanning lists: gathered queries, a score block, and a bounded
/// max-heap of candidates per query of the chunk.
final class ListScan {
    static let block = 256
    let kept: Int
    let dimension: Int
    /// Per query: a min-heap of complemented keys (so its top is the worst kept), `kept` long.
    var heaps: [UInt64]
    var counts: [Int]
    var gathered: [Float]
    var scores: [Float] = []
    var pairs: [(Float, Int32)] = []
    private var foundBuffer: [Int32] = []

    init(kept: Int, chunk: Int, dimension: Int) {
        self.kept = kept
        self.dimension = dimension
        heaps = [UInt64](repeating: 0, count: kept * chunk)
        counts = [Int](repeating: 0, count: chunk)
        gathered = [Float](repeating: 0, count: ListScan.block * dimension)
    }

    func reset(queries: Int) {
        for i in 0 ..< queries { counts[i] = 0 }
    }

    /// Runs `body` with the gathered-queries buffer and a score block of `rows` x `size`.
    func scoreBlock(rows: Int, size: Int, _ body: (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) -> Void) {
        if scores.count < rows * size { scores = [Float](repeating: 0, count: rows * size) }
        gathered.withUnsafeMutableBufferPointer { g in
            scores.withUnsafeMutableBufferPointer { s in body(g.baseAddress!, s.baseAddress!) }
        }
    }

    /// Keeps `key` among query `local`'s best if it beats the worst kept.
    @inline(__always)
    func offer(_ local: Int, _ key: UInt64) {
        let n = counts[local]
        heaps.withUnsafeMutableBufferPointer { h in
            let heap = h.baseAddress! + local * kept
            let inverted = ~key
            if n < kept {
                var i = n
                while i > 0 {
                    let parent = (i - 1) >> 1
                    if heap[parent] <= inverted { break }
                    heap[i] = heap[parent]
                    i = parent
                }
                heap[i] = inverted
                counts[local] = n + 1
            } else if inverted > heap[0] {
                // Better than the worst kept: replace the top and sift down.
                var i = 0
                while true {
                    var child = 2 * i + 1
                    if child >= n { break }
                    if child + 1 < n && heap[child + 1] < heap[child] { child += 1 }
                    if inverted <= heap[child] { break }
                    heap[i] = heap[child]
                    i = child
                }
                heap[i] = inverted
            }
        }
    }

    /// Query `local`'s kept references, in no particular order.
    func found(_ local: Int) -> [Int32] {
        foundBuffer.removeAll(keepingCapacity: true)
        for i in 0 ..< counts[local] { foundBuffer.append(RankedKey.index(~heaps[local * kept + i])) }
        return foundBuffer
    }
}
