import CKernels
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
    /// Bounded candidate buffers fed by tiles (symmetric in self-retrieval), their thresholds
    /// seeded from a sample: best in self-retrieval at every depth whose buffers fit the
    /// memory budget, and for shallow lists otherwise.
    case candidates
    /// Whole score rows, a block of queries at a time, each selected by a threshold: bounded
    /// in memory at any depth, and best for deep query/reference searches. In symmetric
    /// self-retrieval with canonical products, each block is scored against its own and the
    /// later blocks only, the later queries keeping their candidates meanwhile
    /// (`ExactSearch+SymmetricRows.swift`).
    case rows
}

/// The row path: for a block of queries, the scores against every reference are computed
/// (one single-threaded sgemm per worker, on its slice of the block's rows); each query's
/// best candidates are then selected from its row by a threshold and ranked at once, and the
/// rows are reused for the next block.
///
/// Selection: a strided sample of the row estimates a score that slightly more than `depth`
/// entries reach; one pass gathers every score at or above it (the C gather; the pass
/// is repeated with no threshold when the estimate was too high), and a
/// quickselect finds the depth-th best score f_d. Every entry within twice the bound on
/// |f - g| below f_d is then a candidate: that set holds the whole canonical list, so the
/// same canonical ranking as the candidate path's (`CanonicalRanking`) orders it with no
/// check at the boundary and no fallback, and the lists are identical to the other path's.
/// With canonical products the scores are g: everything gathered is sorted, and the list is
/// its first `depth` (no quickselect, no margin).
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
    /// path costs the products (half of them in symmetric self-retrieval), the sampled seeds
    /// and its folds, which grow with the candidates kept; the row path costs every product
    /// plus one filter pass per row. In symmetric self-retrieval the halved products win at
    /// every depth measured (0.5% to 11.6% of the references kept), so the candidates are
    /// taken whenever their buffers fit `candidateMemoryBudget`; otherwise (query/reference,
    /// or part of the rows) up to a mean of `plainCrossover` of the references kept. Rows
    /// beyond that, or when the buffers would not fit; in symmetric self-retrieval with
    /// canonical products those rows are symmetric too (half the products), and still about
    /// 6% slower than the candidates where both apply (the Debian sections, 10% kept), so the
    /// candidates keep their place.
    ///
    /// - Parameters:
    ///   - kept: the candidates each query keeps, whose buffers must fit.
    ///   - measuredAs: the same with the slack, as the crossover was measured (`kept` when nil).
    func chosenPath(kept: [Int], measuredAs: [Int]? = nil) -> ExactSearchPath {
        if path != .automatic { return path }
        if TopKBuffers.bytes(kept) > candidateMemoryBudget { return .rows }
        if symmetric { return .candidates }
        return ExactSearch.meanKept(measuredAs ?? kept) >= ExactSearch.plainCrossover * Double(referenceCount) ? .rows : .candidates
    }

    /// The mean number of candidates the queries keep (0 for no queries): what the cost model,
    /// the seeds' sample size and the progress estimate go by.
    static func meanKept(_ kept: [Int]) -> Double {
        Double(kept.reduce(0, +)) / Double(max(1, kept.count))
    }

    /// The mean fraction of the references kept per query above which rows beat candidate
    /// buffers outside symmetric self-retrieval: measured (docs/benchmarks.md).
    static let plainCrossover = 0.035

    /// The row path (see above).
    func rowSearch(depths: [Int], kept: [Int], progress: SearchProgress?, body: (NeighborBlock) throws -> Void) throws {
        let nq = queryCount, nr = referenceCount, d = dimensions, t = tileSize, offset = queryOffset
        let blockRows = min(nq, rowBlockRows ?? ExactSearch.rowBlock(references: nr))
        let chunk = rankingChunk ?? BatchedRanking.chunk
        guard nq > 0 else { return }
        let rows = try allocate(Float.self, count: blockRows * nr, for: "the score rows of \(blockRows) queries")
        defer { free(rows) }
        let ranking = CanonicalRanking(self)
        let skipSelf = isSelfRetrieval
        // Candidates ranked together per worker: 2^22 in all (32 bytes each with their
        // records), so the chunks take at most 128 MiB whatever the threads.
        let entryBudget = max(1 << 16, (1 << 22) / max(1, threads))
        // Each worker's ranking and scratch (a reference row read from a file when it is
        // scored, and one row's gathered scores), kept from block to block; as many workers
        // as the selection below can use (blocks of `blockRows` queries, at least 64 each).
        let pool = PerWorker(count: min(threads, max(1, blockRows / 64))) {
            RowWorker(work: BatchedRanking(ranking), referenceRow: [Float](repeating: 0, count: d),
                      scores: [Float](repeating: 0, count: nr), indices: [Int32](repeating: 0, count: nr))
        }
        try withAccess { ra, qa in
            let queryBuffer = qa.copies ? try allocate(Float.self, count: blockRows * d, for: "a block of \(blockRows) queries") : nil
            defer { free(queryBuffer) }
            let referenceBuffer = ra.copies ? try allocate(Float.self, count: min(t, nr) * d, for: "one tile of references") : nil
            defer { free(referenceBuffer) }
            for b0 in stride(from: 0, to: nq, by: blockRows) {
                let count = min(blockRows, nq - b0)
                var block = NeighborBlock(queries: b0 ..< b0 + count, depths: depths[b0 ..< b0 + count])
                if kept[b0 ..< b0 + count].contains(where: { $0 > 0 }) {
                    let qp = qa.rows(offset + b0, offset + b0 + count, buffer: queryBuffer)
                    if ra.copies {
                        // References read from a file: tile by tile, each read once per block.
                        for j0 in stride(from: 0, to: nr, by: t) {
                            let cols = min(t, nr - j0)
                            let rp = ra.rows(j0, j0 + cols, buffer: referenceBuffer)
                            parallelRanges(count) { lo, hi in
                                computeTile(qp + lo * d, rp, rows: hi - lo, cols: cols, i0: b0 + lo, j0: j0,
                                            into: rows + lo * nr + j0, ldc: nr)
                            }
                        }
                    }
                    let pointers = UncheckedSendable((qp, rows))
                    if !ra.copies {
                        // References in memory: each worker scores the whole block against its
                        // share of the references, so sgemm packs every reference once per
                        // block, not once per worker (the packing took 6% of a deep run).
                        RetrievalEval.parallelRanges(nr, workers: threads, minimumPerWorker: 64) { _, range in
                            let (qp, rows) = pointers.value
                            computeTile(qp, ra.memory! + range.lowerBound * d, rows: count, cols: range.count, i0: b0, j0: range.lowerBound,
                                        into: rows + range.lowerBound, ldc: nr)
                        }
                    }
                    block.withUnsafeOutput { out in
                        RetrievalEval.parallelRanges(count, workers: threads, minimumPerWorker: 64) { w, range in
                            let (lo, hi) = (range.lowerBound, range.upperBound)
                            let (qp, rows) = pointers.value
                            let worker = pool.values + w
                            worker.pointee.referenceRow.withUnsafeMutableBufferPointer { own in
                            worker.pointee.scores.withUnsafeMutableBufferPointer { ss in
                                worker.pointee.indices.withUnsafeMutableBufferPointer { si in
                                    // Chunks of queries whose canonical scores are computed together,
                                    // reference by reference (see `BatchedRanking`).
                                    var i = lo
                                    while i < hi {
                                        worker.pointee.work.reset()
                                        let first = i
                                        while i < hi && i - first < chunk && worker.pointee.work.flat.count < entryBudget {
                                            let q = b0 + i
                                            i += 1
                                            guard depths[q] > 0 else { continue }
                                            ExactSearch.selectFromRow(
                                                rows + (q - b0) * nr, count: nr, skip: skipSelf ? offset + q : -1, depth: depths[q],
                                                margin: ranking.selectionMargin(q), exact: ranking.exact,
                                                scratchScores: ss.baseAddress!, scratchIndices: si.baseAddress!,
                                                sample: &worker.pointee.work.sample, into: &worker.pointee.work.pairs)
                                            worker.pointee.work.add(q, slot: q - b0, depth: depths[q], keep: ranking.exact ? depths[q] : nil)
                                        }
                                        worker.pointee.work.finish(queries: qp, firstQuery: b0, references: ra, scratch: own.baseAddress, into: out)
                                    }
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

    /// Sets `pairs` to every entry of `row` (position `skip` left out) whose score is at least
    /// the `depth`-th best minus `margin`, in no particular order; with `exact` scores (the
    /// canonical products: the order by score and index is the list's), to a superset of
    /// those, the caller keeping the best `depth` after its sort.
    ///
    /// With `margin` twice the bound on |f - g| (see `CanonicalRanking`), these hold every
    /// reference the canonical list of `depth` can contain: the depth-th best g is at least
    /// the depth-th best f minus the bound, and an entry's f is within the bound of its g.
    /// Exact scores need no margin, and no quickselect for the depth-th best either: the sort
    /// that orders the list orders the few gathered beyond it as well, for less than the
    /// quickselect took (4% of the samples of a deep run).
    ///
    /// - Complexity: O(count) expected: a sample of 2,048, one filter pass, a quickselect
    ///   over the few gathered beyond `depth` (none for exact scores).
    static func selectFromRow(
        _ row: UnsafePointer<Float>, count: Int, skip: Int, depth: Int, margin: Float, exact: Bool = false,
        scratchScores: UnsafeMutablePointer<Float>, scratchIndices: UnsafeMutablePointer<Int32>,
        sample: inout [Float], into pairs: inout [(Float, Int32)]
    ) {
        let candidates = count - (skip >= 0 && skip < count ? 1 : 0)
        precondition(depth > 0 && depth <= candidates)
        var threshold = -Float.infinity
        if depth < candidates {
            // The score that about depth + 4 sigma + 16 of a sample's share of the row reach.
            let size = min(count, 2048)
            sample.removeAll(keepingCapacity: true)
            for s in 0 ..< size {
                let j = s * count / size
                if j != skip { sample.append(row[j]) }
            }
            let expected = Double(depth) / Double(candidates) * Double(sample.count)
            let rank = Int((expected + 4 * expected.squareRoot() + 16).rounded(.up))
            if rank < sample.count {
                threshold = sample.withUnsafeMutableBufferPointer { ExactSearch.largest($0, rank: rank) }
            }
        }
        var gathered = gather(row, count: count, skip: skip, threshold: threshold, scratchScores, scratchIndices)
        if gathered < depth {
            // The estimate was too high: take every score.
            threshold = -.infinity
            gathered = gather(row, count: count, skip: skip, threshold: threshold, scratchScores, scratchIndices)
        }
        pairs.removeAll(keepingCapacity: true)
        if exact {
            pairs.append(scores: scratchScores, indices: scratchIndices, count: gathered)
            return
        }
        // The depth-th best score, by the compaction's selection (any number of ties: only
        // the score is used).
        let lowest = TopKBuffers.keepBest(scratchScores, scratchIndices, count: gathered, k: depth, tieRoom: gathered).threshold
        let bound = lowest - margin
        if threshold <= bound {
            for p in 0 ..< gathered where scratchScores[p] >= bound { pairs.append((scratchScores[p], scratchIndices[p])) }
        } else {
            gathered = gather(row, count: count, skip: skip, threshold: bound, scratchScores, scratchIndices)
            for p in 0 ..< gathered { pairs.append((scratchScores[p], scratchIndices[p])) }
        }
    }

    /// Copies every score of `row` at or above `threshold` (with its index), except position
    /// `skip`, to the scratch buffers (room for `count` each); returns how many. By the C
    /// gather (`dmle_gather_ge`: thirty-two compares per step, the passing pairs compressed
    /// into place): 1.2% of a deep run's samples, where finding the positions and then
    /// copying the pairs here took about 4%.
    @inline(__always)
    static func gather(
        _ row: UnsafePointer<Float>, count: Int, skip: Int, threshold: Float,
        _ scores: UnsafeMutablePointer<Float>, _ indices: UnsafeMutablePointer<Int32>
    ) -> Int {
        dmle_gather_ge(row, count, threshold, skip >= 0 ? skip : count, 0, scores, indices)
    }

    /// The `rank`-th largest of `values` (1 = the largest); reorders them. By the C
    /// quickselect (`dmle_kth_largest`), whose partitions do not branch on the values.
    static func largest(_ values: UnsafeMutableBufferPointer<Float>, rank: Int) -> Float {
        precondition(rank >= 1 && rank <= values.count)
        return dmle_kth_largest(values.baseAddress!, values.count, rank)
    }
}

/// A row-path worker's own state, kept from block to block (see `PerWorker`).
struct RowWorker {
    var work: BatchedRanking
    var referenceRow: [Float]
    var scores: [Float]
    var indices: [Int32]
}

/// The canonical ranking of a chunk of queries whose candidate sets are complete (the row
/// path), with the canonical scores computed reference by reference.
///
/// One query's near-tie runs need g for references spread over the whole set: computed query
/// by query, nearly every g waits for a reference row from memory. Computed for a chunk of
/// queries ordered by reference, each reference row is loaded once for all the chunk's
/// queries that need it. g is a function of the two rows only, so the order of computation
/// changes nothing in the result.
struct BatchedRanking {
    /// The most queries ranked together (fewer when their candidates pass the entry budget).
    /// The more queries a chunk holds, the more of them need each reference row loaded: at
    /// k = 100 over 20,000 x 512, 2,048 rather than 512 halved the canonical scores' share of
    /// the samples (4.0% to 1.9%), those being waits for reference rows from memory.
    static let chunk = 2048

    let ranking: CanonicalRanking
    /// Every query's candidates, one after another; `starts[i] ..< starts[i + 1]` is query
    /// `queries[i]`'s, sorted by sgemm score.
    var flat: [(Float, Int32)] = []
    var starts: [Int] = [0]
    var queries: [(q: Int, slot: Int, depth: Int)] = []
    /// Runs of near-ties (ranges into `flat`) that g must order.
    var runs: [Range<Int>] = []
    /// (reference, query, position in `flat`) of every candidate that needs g: all a g needs
    /// is in the record, so the loop over them in reference order makes no dependent loads.
    var needs: [(r: Int32, q: Int32, p: Int32)] = []
    /// Counting-sort scratch: per reference, then the needs in reference order.
    var counts: [Int32] = []
    var ordered: [(r: Int32, q: Int32, p: Int32)] = []
    /// The canonical scores of one reference's needs.
    var computed: [Float] = []
    /// Scratch for the selection of one query.
    var sample: [Float] = []
    var pairs: [(Float, Int32)] = []

    init(_ ranking: CanonicalRanking) { self.ranking = ranking }

    mutating func reset() {
        flat.removeAll(keepingCapacity: true)
        starts.removeAll(keepingCapacity: true)
        starts.append(0)
        queries.removeAll(keepingCapacity: true)
        runs.removeAll(keepingCapacity: true)
        needs.removeAll(keepingCapacity: true)
    }

    /// Takes `pairs`, query `q`'s candidates, to be written as list `slot` of the block.
    ///
    /// The pairs are either complete (every reference within the selection margin of the
    /// depth-th best, see `ExactSearch.selectFromRow`: `holdsEverything` true), or the best
    /// `keep` by sgemm score among the pairs (candidate buffers, which may hold more than they
    /// keep: the rest are dropped after the sort): then, when a near-tie run reaches the last
    /// pair kept, a reference left out could belong to the list, and the query is not taken.
    ///
    /// - Returns: whether the query was taken; if not, rank `pairs` with
    ///   `CanonicalRanking.rank`.
    @discardableResult
    mutating func add(_ q: Int, slot: Int, depth: Int, keep: Int? = nil, holdsEverything: Bool = true) -> Bool {
        let base = flat.count
        let firstRun = runs.count
        if ranking.nearTieRuns(q, &pairs, depth: depth, keep: keep, into: &runs) && !holdsEverything {
            runs.removeSubrange(firstRun...)
            return false
        }
        flat.append(contentsOf: pairs)
        for k in firstRun ..< runs.count {
            let run = runs[k]
            runs[k] = base + run.lowerBound ..< base + run.upperBound
            for p in runs[k] { needs.append((flat[p].1, Int32(q), Int32(p))) }
        }
        queries.append((q, slot, depth))
        starts.append(flat.count)
        return true
    }

    /// Computes every g needed, orders the runs by it, and writes each list.
    /// - Parameters:
    ///   - queries: the rows of the block's queries, from query `firstQuery`.
    ///   - references: every reference, read into `scratch` (room for one row) when they
    ///     are not in memory.
    mutating func finish(
        queries qp: UnsafePointer<Float>, firstQuery: Int, references ra: RowAccess, scratch: UnsafeMutablePointer<Float>?,
        into out: NeighborBlock.Output
    ) {
        if needs.isEmpty {
            // No run to order (scores that are g, or no near-ties): the lists stand.
            for (i, query) in queries.enumerated() {
                out.write(query.slot, flat[starts[i] ..< starts[i] + query.depth])
            }
            return
        }
        // The needs in reference order, by a counting sort (one pass to count, one to place).
        let referenceCount = ranking.referenceRows
        if counts.count != referenceCount + 1 { counts = [Int32](repeating: 0, count: referenceCount + 1) }
        ordered.removeAll(keepingCapacity: true)
        ordered.append(contentsOf: repeatElement((r: Int32(0), q: Int32(0), p: Int32(0)), count: needs.count))
        counts.withUnsafeMutableBufferPointer { counts in
        needs.withUnsafeBufferPointer { needs in
        ordered.withUnsafeMutableBufferPointer { ordered in
            counts.update(repeating: 0)
            for need in needs { counts[Int(need.r) + 1] += 1 }
            for r in 0 ..< referenceCount { counts[r + 1] += counts[r] }
            for need in needs {
                let r = Int(need.r)
                ordered[Int(counts[r])] = need
                counts[r] += 1
            }
        }
        }
        }
        let d = ranking.d, l2: Int32 = ranking.distance == .squaredL2 ? 1 : 0
        if computed.count < queries.count { computed = [Float](repeating: 0, count: queries.count) }
        flat.withUnsafeMutableBufferPointer { flat in
        ordered.withUnsafeBufferPointer { ordered in
        computed.withUnsafeMutableBufferPointer { computed in
            // In reference order: each reference (read once, when from a file) against all
            // the chunk's queries that need it, by the C kernel (the same bits as
            // `ExactSearch.canonicalScore`).
            guard let base = ordered.baseAddress, let out = computed.baseAddress else { return }
            let rows = UnsafeRawPointer(base).assumingMemoryBound(to: Int32.self)
            var k = 0
            while k < ordered.count {
                let r = ordered[k].r
                var end = k + 1
                while end < ordered.count && ordered[end].r == r { end += 1 }
                let reference = ra.row(Int(r), buffer: scratch)
                dmle_canonical_scores(reference, qp, rows + 3 * k + 1, 3, end - k, Int32(firstQuery), d, l2, out)
                for i in k ..< end { flat[Int(ordered[i].p)].0 = computed[i - k] }
                k = end
            }
        }
        }
        }
        flat.withUnsafeMutableBufferPointer { flat in
            for run in runs { RankSort.sort(UnsafeMutableBufferPointer(rebasing: flat[run])) }
        }
        for (i, query) in queries.enumerated() {
            out.write(query.slot, flat[starts[i] ..< starts[i] + query.depth])
        }
    }
}
