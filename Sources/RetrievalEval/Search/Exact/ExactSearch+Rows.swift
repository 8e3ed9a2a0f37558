#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch

/// How the exact search gathers each query's best candidates.
public enum ExactSearchPath: String, Sendable, CaseIterable {
    /// Let the cost model choose (see `ExactSearch.chosenPath`).
    case automatic
    /// Bounded candidate buffers fed by tiles (symmetric in self-retrieval): best when the
    /// depths are a small fraction of the references.
    case candidates
    /// Whole score rows, a block of queries at a time, each selected by a threshold: best, and
    /// bounded in memory, when the depths are a large fraction of the references.
    case rows
}

/// The row path: for a block of queries, the scores against every reference are computed
/// (one single-threaded sgemm per worker, on its slice of the block's rows); each query's
/// best candidates are then selected from its row by a threshold and ranked at once, and the
/// rows are reused for the next block.
///
/// Selection: a strided sample of the row estimates a score that slightly more than the
/// kept candidates reach; one pass gathers every score at or above it (four SSE compares
/// per sixteen scores), a quickselect keeps exactly the best, and when the estimate was too
/// high the pass is repeated with no threshold. The kept candidates are thus exactly the best
/// by (score, lower index), as in the candidate buffers, and the same canonical ranking
/// (`CanonicalRanking`) makes the lists identical to the other path's.
///
/// Memory: the block's rows (at most `rowBlockBytes`), two row-sized scratch buffers per
/// worker, and the block's lists.
extension ExactSearch {
    /// The most the rows of one block take.
    static let rowBlockBytes = 64 << 20

    /// Queries per block for `references` references: as many rows as fit in
    /// `rowBlockBytes`, between 32 and 2,048.
    static func rowBlock(references: Int) -> Int {
        min(2048, max(32, rowBlockBytes / (4 * max(1, references))))
    }

    /// The path the search takes for queries keeping `kept` candidates each.
    ///
    /// The cost model (figures in docs/benchmarks.md, "Choosing the path"): the candidate
    /// path costs the products (half of them in symmetric self-retrieval) plus its folds,
    /// which grow with the candidates kept; the row path costs every product plus one filter
    /// pass per row. Measured, the folds cost about as much as the products they save when a
    /// query keeps `symmetricCrossover` (symmetric) or `plainCrossover` (plain) of the
    /// references; beyond that, or when the buffers would pass `candidateMemoryBudget`,
    /// rows win.
    func chosenPath(kept: [Int]) -> ExactSearchPath {
        if path != .automatic { return path }
        let references = Double(self.references.rows)
        let meanKept = Double(kept.reduce(0, +)) / Double(max(1, kept.count))
        if TopKBuffers.bytes(kept) > candidateMemoryBudget { return .rows }
        let crossover = isSelfRetrieval && useSymmetry ? ExactSearch.symmetricCrossover : ExactSearch.plainCrossover
        return meanKept >= crossover * references ? .rows : .candidates
    }

    /// The mean fraction of the references kept per query above which rows beat candidate
    /// buffers: measured (docs/benchmarks.md).
    static let symmetricCrossover = 0.05
    static let plainCrossover = 0.01

    /// The row path (see above).
    func rowSearch(depths: [Int], kept: [Int], progress: SearchProgress?, body: (NeighborBlock) throws -> Void) throws {
        let queryMatrix = queries ?? references
        let nq = queryMatrix.rows, nr = references.rows, d = references.columns
        let blockRows = min(nq, ExactSearch.rowBlock(references: nr))
        guard nq > 0 else { return }
        let rows = try allocate(Float.self, count: blockRows * nr, for: "the score rows of \(blockRows) queries")
        defer { free(rows) }
        let ranking = CanonicalRanking(self)
        let skipSelf = isSelfRetrieval
        let maximumKept = kept.max() ?? 0
        try queryMatrix.values.withUnsafeBufferPointer { qv in
            try references.values.withUnsafeBufferPointer { rv in
                let pointers = UnsafeSendableBox((qv.baseAddress!, rv.baseAddress!, rows))
                for b0 in stride(from: 0, to: nq, by: blockRows) {
                    let count = min(blockRows, nq - b0)
                    var block = NeighborBlock(queries: b0 ..< b0 + count, depths: depths[b0 ..< b0 + count])
                    if kept[b0 ..< b0 + count].contains(where: { $0 > 0 }) {
                        block.withUnsafeOutput { out in
                            parallelRanges(count) { lo, hi in
                                let (qv, rv, rows) = pointers.value
                                computeTile(qv + (b0 + lo) * d, rv, rows: hi - lo, cols: nr, i0: b0 + lo, j0: 0, into: rows + lo * nr)
                                var scratchScores = [Float](repeating: 0, count: nr)
                                var scratchIndices = [Int32](repeating: 0, count: nr)
                                var sample: [Float] = []
                                var pairs: [(Float, Int32)] = []
                                pairs.reserveCapacity(maximumKept)
                                scratchScores.withUnsafeMutableBufferPointer { ss in
                                    scratchIndices.withUnsafeMutableBufferPointer { si in
                                        for i in lo ..< hi where kept[b0 + i] > 0 {
                                            let q = b0 + i
                                            ExactSearch.selectFromRow(
                                                rows + i * nr, count: nr, skip: skipSelf ? q : -1, kept: kept[q],
                                                scratchScores: ss.baseAddress!, scratchIndices: si.baseAddress!,
                                                sample: &sample, into: &pairs)
                                            ranking.rank(q, query: qv + q * d, references: rv, &pairs, depth: depths[q])
                                            out.write(i, pairs)
                                        }
                                    }
                                }
                            }
                        }
                    }
                    try body(block)
                    progress?(Double(b0 + count) / Double(nq))
                }
            }
        }
    }

    /// Sets `pairs` to exactly the `kept` best of the `count` scores in `row` by (score,
    /// lower index), in no particular order, leaving out position `skip`.
    ///
    /// - Complexity: O(count) expected: a sample of 2,048, one filter pass, a quickselect
    ///   over the few gathered beyond `kept`.
    static func selectFromRow(
        _ row: UnsafePointer<Float>, count: Int, skip: Int, kept: Int,
        scratchScores: UnsafeMutablePointer<Float>, scratchIndices: UnsafeMutablePointer<Int32>,
        sample: inout [Float], into pairs: inout [(Float, Int32)]
    ) {
        let candidates = count - (skip >= 0 && skip < count ? 1 : 0)
        precondition(kept <= candidates)
        var threshold = -Float.infinity
        if kept < candidates {
            // The score that about kept + 4 sigma + 16 of a sample's share of the row reach.
            let size = min(count, 2048)
            sample.removeAll(keepingCapacity: true)
            for s in 0 ..< size {
                let j = s * count / size
                if j != skip { sample.append(row[j]) }
            }
            let expected = Double(kept) / Double(candidates) * Double(sample.count)
            let rank = Int((expected + 4 * expected.squareRoot() + 16).rounded(.up))
            if rank < sample.count {
                threshold = sample.withUnsafeMutableBufferPointer { ExactSearch.largest($0, rank: rank) }
            }
        }
        var gathered = gather(row, count: count, skip: skip, threshold: threshold, scratchScores, scratchIndices)
        if gathered < kept {
            // The estimate was too high: take every score.
            gathered = gather(row, count: count, skip: skip, threshold: -.infinity, scratchScores, scratchIndices)
        }
        TopKBuffers.select(scratchScores, scratchIndices, count: gathered, k: kept)
        pairs.removeAll(keepingCapacity: true)
        for p in 0 ..< kept { pairs.append((scratchScores[p], scratchIndices[p])) }
    }

    /// Copies every score of `row` at or above `threshold` (with its index), except position
    /// `skip`, to the scratch buffers; returns how many.
    @inline(__always)
    static func gather(
        _ row: UnsafePointer<Float>, count: Int, skip: Int, threshold: Float,
        _ scores: UnsafeMutablePointer<Float>, _ indices: UnsafeMutablePointer<Int32>
    ) -> Int {
        var n = 0
        var j = 0
        let raw = UnsafeRawPointer(row)
        let t = SIMD4<Float>(repeating: threshold)
        while j + 16 <= count {
            let mask = (raw.loadUnaligned(fromByteOffset: 4 * j, as: SIMD4<Float>.self) .>= t)
                .| (raw.loadUnaligned(fromByteOffset: 4 * j + 16, as: SIMD4<Float>.self) .>= t)
                .| (raw.loadUnaligned(fromByteOffset: 4 * j + 32, as: SIMD4<Float>.self) .>= t)
                .| (raw.loadUnaligned(fromByteOffset: 4 * j + 48, as: SIMD4<Float>.self) .>= t)
            if any(mask) {
                for l in j ..< j + 16 where row[l] >= threshold && l != skip {
                    scores[n] = row[l]
                    indices[n] = Int32(l)
                    n += 1
                }
            }
            j += 16
        }
        while j < count {
            if row[j] >= threshold && j != skip {
                scores[n] = row[j]
                indices[n] = Int32(j)
                n += 1
            }
            j += 1
        }
        return n
    }

    /// The `rank`-th largest of `values` (1 = the largest); reorders them.
    static func largest(_ values: UnsafeMutableBufferPointer<Float>, rank: Int) -> Float {
        var lo = 0, hi = values.count - 1
        let target = rank - 1
        while lo < hi {
            let pivot = values[lo + (hi - lo) / 2]
            var i = lo, j = hi
            while i <= j {
                while values[i] > pivot { i += 1 }
                while pivot > values[j] { j -= 1 }
                if i <= j {
                    values.swapAt(i, j)
                    i += 1
                    j -= 1
                }
            }
            if j < target { lo = i }
            if target < i { hi = j }
        }
        return values[target]
    }
}
