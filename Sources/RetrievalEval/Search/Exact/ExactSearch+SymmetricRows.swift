import CKernels
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The row path in symmetric self-retrieval, when the products are the canonical scores and
/// the rows are in memory: each block of queries is scored against its own block and every
/// later one only, half the products of the plain row path.
///
/// A score g(q, r) is the same bits as g(r, q) (the canonical order multiplies the same pairs
/// and adds them in the same order), so the block's rows also hold every later query's scores
/// against the block. Each later query keeps those that reach its seeded threshold (sampled
/// as the candidate path's seeds are, `sampledThresholds`) in a list of its own, the pending
/// candidates. When its block comes, it gathers its own row's scores that reach the same
/// threshold: the pending ones and these are then every reference scoring at least the
/// threshold. If they are at least its depth, they hold its whole list (every score of the
/// list is at least the depth-th best, itself at least the threshold), which the sort orders
/// and cuts at the depth, exactly as the plain row path does. A query that comes up short
/// (its seed was too high), or whose pending list had to be dropped to stay within the memory
/// bound (`pendingBudget`), has its earlier scores computed then, and is selected from the
/// whole row as the plain row path selects it. The lists are the plain row path's, bit for bit.
///
/// Memory: the block's rows and ranking chunks (half the plain row path's), three row-sized
/// scratch buffers per worker, the block's lists, the pending candidates (at most
/// `pendingBudget`), and per worker the whole rows of 64 queries selected from them
/// (docs/benchmarks.md, "Memory bound, symmetric rows"). With references in random order a
/// query's pending list holds about its depth times the share of the references before its
/// block, so they peak near a quarter of the N x depth candidates: 227 MB on deep-30001.
extension ExactSearch {
    /// The most the pending candidates may take: 256 MiB, or an eighth of the memory the
    /// process may have when that is less.
    static var pendingBudget: Int { min(256 << 20, MemoryBudget.limitBytes / 8) }

    /// Whether the row path takes its symmetric form: self-retrieval of every row with
    /// symmetry, canonical products, the rows in memory, and not turned off (`symmetricRows`).
    var takesSymmetricRows: Bool { symmetric && canonicalProducts && !references.isMapped && symmetricRows }

    /// The symmetric row path (see above).
    func symmetricRowSearch(depths: [Int], progress: SearchProgress?, body: (NeighborBlock) throws -> Void) throws {
        let n = referenceCount, d = dimensions
        guard n > 0 else { return }
        precondition(takesSymmetricRows)
        // Half the plain row path's block, and half its ranking chunks, to leave room for the
        // pending candidates within the memory bound (docs/benchmarks.md, "Memory bound").
        let blockRows = min(n, rowBlockRows ?? max(32, ExactSearch.rowBlock(references: n) / 2))
        let chunk = rankingChunk ?? BatchedRanking.chunk
        let thresholds = try sampledThresholds(kept: depths, size: seedSample ?? 2048) ?? [Float](repeating: -.infinity, count: n)
        let pending = try PendingCandidates(thresholds: thresholds, depths: depths, budget: pendingBudget ?? ExactSearch.pendingBudget)
        let rows = try allocate(Float.self, count: blockRows * n, for: "the score rows of \(blockRows) queries")
        defer { free(rows) }
        let ranking = CanonicalRanking(self)
        let entryBudget = max(1 << 16, (1 << 21) / max(1, threads))
        // Per worker: its ranking, a whole row (the queries selected from their whole row),
        // and the gathered scores and indices.
        let pool = PerWorker(count: threads) {
            RowWorker(work: BatchedRanking(ranking), referenceRow: [Float](repeating: 0, count: n),
                      scores: [Float](repeating: 0, count: n), indices: [Int32](repeating: 0, count: n))
        }
        // Per worker, for the queries selected from their whole row: up to `group` of their
        // rows, and their scores against the earlier references.
        let group = 64, fallbackFloats = group * d + group * n
        let fallback = try allocate(Float.self, count: threads * fallbackFloats, for: "the whole rows of \(group) queries per worker")
        defer { free(fallback) }
        // The products still to come, for the progress: block b0 computes (n - b0) per query.
        let totalProducts = Double(n) * Double(n + 1) / 2
        var doneProducts = 0.0
        try withAccess { ra, _ in
            guard let refs = ra.memory else { preconditionFailure("the symmetric rows need the rows in memory") }
            for b0 in stride(from: 0, to: n, by: blockRows) {
                let count = min(blockRows, n - b0), b1 = b0 + count, width = n - b0
                var block = NeighborBlock(queries: b0 ..< b1, depths: depths[b0 ..< b1])
                let box = UncheckedSendable((rows, refs, fallback))
                if depths[b0...].contains(where: { $0 > 0 }) {
                    // The block against references b0 ..< n: each worker scores the whole block
                    // against its share of them.
                    RetrievalEval.parallelRanges(width, workers: threads, minimumPerWorker: 64) { _, range in
                        let (rows, refs, _) = box.value
                        computeTile(refs + b0 * d, refs + (b0 + range.lowerBound) * d, rows: count, cols: range.count, i0: b0,
                                    j0: b0 + range.lowerBound, into: rows + range.lowerBound, ldc: width)
                    }
                    // The later queries' pending candidates: each worker owns a range of them
                    // (columns b1 ..< n of the rows).
                    RetrievalEval.parallelRanges(n - b1, workers: threads, minimumPerWorker: 256) { _, range in
                        let (rows, _, _) = box.value
                        pending.offer(rows: rows + count + range.lowerBound, stride: width, count: count, firstIndex: b0,
                                      queries: b1 + range.lowerBound ..< b1 + range.upperBound)
                    }
                    // Each of the block's queries: its pending candidates and its row's.
                    block.withUnsafeOutput { out in
                        RetrievalEval.parallelRanges(count, workers: threads, minimumPerWorker: 64) { w, range in
                            let (rows, refs, fallback) = box.value
                            let worker = pool.values + w
                            worker.pointee.referenceRow.withUnsafeMutableBufferPointer { whole in
                            worker.pointee.scores.withUnsafeMutableBufferPointer { ss in
                            worker.pointee.indices.withUnsafeMutableBufferPointer { si in
                                var deferred: [Int] = []
                                var i = range.lowerBound
                                while i < range.upperBound {
                                    worker.pointee.work.reset()
                                    let first = i
                                    while i < range.upperBound && i - first < chunk && worker.pointee.work.flat.count < entryBudget {
                                        let q = b0 + i, depth = depths[q], row = rows + i * width
                                        i += 1
                                        guard depth > 0 else { continue }
                                        let taken = pending.candidates(
                                            q, row: row, width: width, firstIndex: b0, depth: depth,
                                            scratchScores: ss.baseAddress!, scratchIndices: si.baseAddress!, into: &worker.pointee.work.pairs)
                                        if taken {
                                            worker.pointee.work.add(q, slot: q - b0, depth: depth, keep: depth)
                                        } else {
                                            deferred.append(q)
                                        }
                                    }
                                    worker.pointee.work.finish(queries: refs + b0 * d, firstQuery: b0, references: ra, scratch: nil, into: out)
                                }
                                // The queries dropped or short, a group at a time: their earlier
                                // scores by one product, then each selected from its whole row
                                // as the plain row path selects.
                                let groupRows = fallback + w * fallbackFloats, lower = groupRows + group * d
                                for g0 in Swift.stride(from: 0, to: deferred.count, by: group) {
                                    let members = deferred[g0 ..< min(deferred.count, g0 + group)]
                                    if b0 > 0 {
                                        for (k, q) in members.enumerated() { (groupRows + k * d).update(from: refs + q * d, count: d) }
                                        computeTile(groupRows, refs, rows: members.count, cols: b0, i0: members.first!, j0: 0, into: lower, ldc: b0)
                                    }
                                    worker.pointee.work.reset()
                                    let full = whole.baseAddress!
                                    for (k, q) in members.enumerated() {
                                        full.update(from: lower + k * b0, count: b0)
                                        (full + b0).update(from: rows + (q - b0) * width, count: width)
                                        ExactSearch.selectFromRow(
                                            full, count: n, skip: q, depth: depths[q], margin: 0, exact: true,
                                            scratchScores: ss.baseAddress!, scratchIndices: si.baseAddress!,
                                            sample: &worker.pointee.work.sample, into: &worker.pointee.work.pairs)
                                        worker.pointee.work.add(q, slot: q - b0, depth: depths[q], keep: depths[q])
                                    }
                                    worker.pointee.work.finish(queries: refs + b0 * d, firstQuery: b0, references: ra, scratch: nil, into: out)
                                }
                            }
                            }
                            }
                        }
                    }
                }
                pending.release(b0 ..< b1)
                try body(block)
                doneProducts += Double(count) * Double(width)
                progress?(min(1, doneProducts / totalProducts))
            }
        }
        pendingObserver?(pending.peakBytes, pending.droppedQueries)
    }
}

/// The pending candidates of the symmetric row path: per query, the (score, index) pairs of
/// the earlier blocks' references that reach its threshold.
///
/// Each query's pairs go in a chain of chunks of `chunkEntries` from one arena of `budget`
/// bytes, reserved at once but touched only as chunks are first used; a finished block's
/// chunks go back to a free stack and are used again, so the memory touched is the most in
/// use at once (no copies as lists grow, no heap left fragmented). Workers add to disjoint
/// queries and take chunks under a lock. When the arena is full, the query that needs a chunk
/// is dropped: its chunks go back, its threshold becomes infinity so that nothing more is
/// offered to it, and its block selects it from its whole row instead.
final class PendingCandidates: @unchecked Sendable {
    /// Pairs per chunk (2 KiB).
    static let chunkEntries = 256

    let count: Int
    /// The thresholds as seeded, and as offered (infinity for a query that asks for nothing
    /// or was dropped).
    let thresholds: [Float]
    let limits: UnsafeMutablePointer<Float>
    let chunks: Int
    private let storage: UnsafeMutablePointer<(Float, Int32)>
    /// Per chunk, the next of its query's chain (-1 at the end); per query, the first and
    /// last chunk of its chain and its pairs.
    private let next: UnsafeMutablePointer<Int32>
    private let heads: UnsafeMutablePointer<Int32>
    private let tails: UnsafeMutablePointer<Int32>
    private let sizes: UnsafeMutablePointer<Int32>
    private let dropped: UnsafeMutablePointer<Bool>
    /// Chunks given back, and the first never used.
    private let freeChunks: UnsafeMutablePointer<Int32>
    private var freeCount = 0, fresh = 0
    private let lock = NSLock()
    /// Chunks in use, the most at once, and the queries dropped (tests, benchmarks).
    private(set) var inUse = 0, peakInUse = 0, droppedQueries = 0

    /// Pending lists for queries with seeded `thresholds` (-infinity: every score) and
    /// `depths` (0: none kept), within `budget` bytes.
    init(thresholds: [Float], depths: [Int], budget: Int) throws {
        count = thresholds.count
        self.thresholds = thresholds
        chunks = max(1, min(Int(Int32.max), budget / (PendingCandidates.chunkEntries * MemoryLayout<(Float, Int32)>.stride)))
        storage = try allocate((Float, Int32).self, count: chunks * PendingCandidates.chunkEntries, for: "the pending candidates")
        limits = .allocate(capacity: max(1, count))
        for q in 0 ..< count { limits[q] = depths[q] > 0 ? thresholds[q] : .infinity }
        next = .allocate(capacity: chunks)
        freeChunks = .allocate(capacity: chunks)
        heads = .allocate(capacity: max(1, count))
        heads.initialize(repeating: -1, count: count)
        tails = .allocate(capacity: max(1, count))
        tails.initialize(repeating: -1, count: count)
        sizes = .allocate(capacity: max(1, count))
        sizes.initialize(repeating: 0, count: count)
        dropped = .allocate(capacity: max(1, count))
        dropped.initialize(repeating: false, count: count)
    }

    deinit {
        free(storage)
        for p in [UnsafeMutableRawPointer(limits), UnsafeMutableRawPointer(next), UnsafeMutableRawPointer(freeChunks),
                  UnsafeMutableRawPointer(heads), UnsafeMutableRawPointer(tails), UnsafeMutableRawPointer(sizes),
                  UnsafeMutableRawPointer(dropped)] {
            p.deallocate()
        }
    }

    /// The bytes of the chunks in use at most (tests, benchmarks).
    var peakBytes: Int { peakInUse * PendingCandidates.chunkEntries * MemoryLayout<(Float, Int32)>.stride }

    /// Whether query `q` was dropped.
    func isDropped(_ q: Int) -> Bool { dropped[q] }

    /// Offers queries `queries` the scores of `count` rows of references `firstIndex ...`:
    /// row i (`stride` apart) holds at position j the score of query `queries.lowerBound + j`
    /// against reference `firstIndex + i`. Several workers may offer at once, to disjoint
    /// queries.
    func offer(rows: UnsafePointer<Float>, stride: Int, count: Int, firstIndex: Int, queries: Range<Int>) {
        let first = queries.lowerBound
        for i in 0 ..< count {
            let row = rows + i * stride, index = Int32(firstIndex + i)
            TopKBuffers.forEachReaching(row, limits + first, count: queries.count) { j in append(first + j, (row[j], index)) }
        }
    }

    @inline(__always)
    private func append(_ q: Int, _ pair: (Float, Int32)) {
        let size = Int(sizes[q]), offset = size % PendingCandidates.chunkEntries
        if offset == 0 && !extend(q) { return }
        storage[Int(tails[q]) * PendingCandidates.chunkEntries + offset] = pair
        sizes[q] = Int32(size + 1)
    }

    /// Adds a chunk to query `q`'s chain, or drops the query when the arena is full; returns
    /// whether there is room.
    @inline(never)
    private func extend(_ q: Int) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        let chunk: Int32
        if freeCount > 0 {
            freeCount -= 1
            chunk = freeChunks[freeCount]
        } else if fresh < chunks {
            chunk = Int32(fresh)
            fresh += 1
        } else {
            giveBack(q)
            dropped[q] = true
            limits[q] = .infinity
            droppedQueries += 1
            return false
        }
        inUse += 1
        peakInUse = max(peakInUse, inUse)
        next[Int(chunk)] = -1
        if heads[q] < 0 { heads[q] = chunk } else { next[Int(tails[q])] = chunk }
        tails[q] = chunk
        return true
    }

    /// Returns query `q`'s chunks to the free stack (under the lock).
    private func giveBack(_ q: Int) {
        var c = heads[q]
        while c >= 0 {
            freeChunks[freeCount] = c
            freeCount += 1
            inUse -= 1
            c = next[Int(c)]
        }
        heads[q] = -1
        tails[q] = -1
        sizes[q] = 0
    }

    /// Sets `pairs` to query `q`'s candidates when it has at least `depth`: its pending ones
    /// and those of its `row` (the scores against references `firstIndex ..< firstIndex +
    /// width`, itself at q skipped) reaching its threshold; returns false, leaving `pairs`
    /// to the caller, when it was dropped or has fewer.
    func candidates(
        _ q: Int, row: UnsafePointer<Float>, width: Int, firstIndex: Int, depth: Int,
        scratchScores: UnsafeMutablePointer<Float>, scratchIndices: UnsafeMutablePointer<Int32>, into pairs: inout [(Float, Int32)]
    ) -> Bool {
        guard !dropped[q] else { return false }
        let held = Int(sizes[q])
        let found = dmle_gather_ge(row, width, thresholds[q], q - firstIndex, Int32(firstIndex), scratchScores, scratchIndices)
        guard held + found >= depth else { return false }
        pairs.removeAll(keepingCapacity: true)
        var c = heads[q], left = held
        while c >= 0 {
            let n = min(left, PendingCandidates.chunkEntries)
            pairs.append(contentsOf: UnsafeBufferPointer(start: storage + Int(c) * PendingCandidates.chunkEntries, count: n))
            left -= n
            c = next[Int(c)]
        }
        pairs.append(scores: scratchScores, indices: scratchIndices, count: found)
        return true
    }

    /// Gives back the chunks of `queries`, whose block is done.
    func release(_ queries: Range<Int>) {
        lock.lock()
        defer { lock.unlock() }
        for q in queries { giveBack(q) }
    }
}
