import CKernels
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The best (score, index) candidates of every query, gathered in flat buffers; each query
/// keeps its own number of them.
///
/// Query q owns a buffer of k_q + b_q slots. A candidate is appended when its score reaches
/// the query's threshold; when the buffer is full, a quickselect keeps those reaching the
/// k_q-th best score (its k_q best, and any tied with the last) and the threshold becomes that
/// score. A candidate below the threshold cannot be among the k_q best (k_q others beat it),
/// so it is rejected by one comparison, sixteen at a time in the tile scans (C, AVX2 where the
/// processor has it). Appending is a store, where a binary heap pays log k unpredictable
/// branches per candidate; the selection costs O(k + b) per b candidates. A query that keeps
/// nothing has an infinite threshold and no slots.
///
/// The order is total: a higher score ranks first, and equal scores go to the lower index,
/// so the k_q kept do not depend on the order candidates arrive in.
final class TopKBuffers {
    let count: Int
    /// The number of candidates kept by each query.
    let ks: [Int32]
    /// Where each query's slots start, and (at `count`) the total.
    let offsets: [Int]
    /// The largest k of any query.
    let maximumK: Int
    let scores: UnsafeMutablePointer<Float>
    let indices: UnsafeMutablePointer<Int32>
    let sizes: UnsafeMutablePointer<Int32>
    /// A query's threshold: -infinity until its buffer first fills, then its k-th best score.
    let worst: UnsafeMutablePointer<Float>

    /// The scores a tile scan examines at a time: its positions (1 KiB) stay on the stack,
    /// where a tile row's (4 KiB at 1,024 columns) were allocated and freed on the heap for
    /// every row scanned, 0.7-1.2% of a k = 100 search's samples.
    static let stretch = 256

    /// Slots for a query keeping `k`: k plus room to append, less for very large k to bound
    /// the memory.
    static func slots(_ k: Int) -> Int { k == 0 ? 0 : k + (k <= 512 ? max(16, k) : max(512, k / 4)) }

    /// The bytes the buffers of queries keeping `ks` take.
    static func bytes(_ ks: [Int]) -> Int { ks.reduce(0) { $0 + 8 * slots($1) } + 12 * ks.count }

    /// Calls `body(j)`, in increasing order, for every j < `count` with x[j] >= thresholds[j]:
    /// a column of scores against each query's own threshold, by the C scan
    /// (`dmle_positions_ge_each`), a stretch at a time. Each position is reported once, so a
    /// threshold that `body` moves cannot change what the scan found.
    @inline(__always)
    static func forEachReaching(_ x: UnsafePointer<Float>, _ thresholds: UnsafePointer<Float>, count: Int, _ body: (Int) -> Void) {
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: stretch) { positions in
            for s0 in Swift.stride(from: 0, to: count, by: stretch) {
                let found = dmle_positions_ge_each(x + s0, thresholds + s0, Swift.min(stretch, count - s0), positions.baseAddress!)
                for p in 0 ..< found { body(s0 + Int(positions[p])) }
            }
        }
    }

    /// Buffers for `count` queries each keeping `k`.
    convenience init(count: Int, k: Int) throws {
        try self.init(ks: [Int](repeating: k, count: count))
    }

    /// Buffers for queries keeping `ks[q]` candidates each.
    ///
    /// - Throws: `SearchError` naming the size when the memory cannot be had.
    init(ks: [Int]) throws {
        count = ks.count
        self.ks = ks.map { Int32($0) }
        var offsets = [Int](repeating: 0, count: ks.count + 1)
        for (q, k) in ks.enumerated() { offsets[q + 1] = offsets[q] + TopKBuffers.slots(k) }
        self.offsets = offsets
        maximumK = ks.max() ?? 0
        let total = offsets[ks.count]
        // One allocation of 4-byte values: scores, indices, sizes, thresholds.
        let storage = try allocate(Float.self, count: 2 * total + 2 * ks.count, for: "the candidate lists of \(ks.count) queries")
        scores = storage
        indices = UnsafeMutableRawPointer(storage + total).bindMemory(to: Int32.self, capacity: total)
        sizes = UnsafeMutableRawPointer(storage + 2 * total).bindMemory(to: Int32.self, capacity: ks.count)
        worst = storage + 2 * total + ks.count
        sizes.initialize(repeating: 0, count: ks.count)
        for q in 0 ..< ks.count { worst[q] = ks[q] > 0 ? -.infinity : .infinity }
    }

    deinit {
        free(scores)
    }

    /// Unsafe views of the storage, valid inside `withHandle`; several workers may use one
    /// handle at once as long as they touch disjoint queries.
    struct Handle: @unchecked Sendable {
        let ks: UnsafePointer<Int32>
        let offsets: UnsafePointer<Int>
        let scores: UnsafeMutablePointer<Float>
        let indices: UnsafeMutablePointer<Int32>
        let sizes: UnsafeMutablePointer<Int32>
        let worst: UnsafeMutablePointer<Float>

        /// Offers query `q` the references `firstIndex ..< firstIndex + count` with the scores
        /// in `row`, skipping reference `skip`.
        ///
        /// The scores that reach the threshold are gathered with their indices by the C scan
        /// (`dmle_gather_ge`, thirty-two compares per step), a stretch at a time. When they fit
        /// in the room left they are copied in at once: no compaction can come between them,
        /// so the threshold stands. Otherwise each is appended in turn, checked again against
        /// the threshold as it stands when its turn comes, since a compaction raises it.
        @inline(__always)
        func offerRow(_ q: Int, _ row: UnsafePointer<Float>, count: Int, firstIndex: Int, skip: Int = -1) {
            let stretch = TopKBuffers.stretch
            withUnsafeTemporaryAllocation(of: Float.self, capacity: stretch) { found in
            withUnsafeTemporaryAllocation(of: Int32.self, capacity: stretch) { foundIndices in
                let fs = found.baseAddress!, fi = foundIndices.baseAddress!
                let start = offsets[q], end = offsets[q + 1]
                for s0 in Swift.stride(from: 0, to: count, by: stretch) {
                    let n = Swift.min(stretch, count - s0), local = skip - (firstIndex + s0)
                    let threshold = worst[q]
                    let passed = dmle_gather_ge(row + s0, n, threshold, local >= 0 && local < n ? local : n, Int32(firstIndex + s0), fs, fi)
                    guard passed > 0 else { continue }
                    let size = Int(sizes[q])
                    if size + passed < end - start {
                        (scores + start + size).update(from: fs, count: passed)
                        (indices + start + size).update(from: fi, count: passed)
                        sizes[q] = Int32(size + passed)
                    } else {
                        for p in 0 ..< passed where fs[p] >= worst[q] { append(q, score: fs[p], index: fi[p]) }
                    }
                }
            }
            }
        }

        /// Offers reference `index` to queries `firstQuery + lo ..< firstQuery + hi`, with
        /// scores `scores[lo ..< hi]`: one tile row read across its columns, each score
        /// compared with its own query's threshold by the C scan (`dmle_positions_ge_each`).
        /// Each query is offered one score here, so a threshold cannot move between the scan
        /// and the append.
        @inline(__always)
        func offerColumn(_ scores: UnsafePointer<Float>, lo: Int, hi: Int, firstQuery: Int, index: Int32) {
            guard hi > lo else { return }
            TopKBuffers.forEachReaching(scores + lo, worst + firstQuery + lo, count: hi - lo) { l in
                append(firstQuery + lo + l, score: scores[lo + l], index: index)
            }
        }

        @inline(__always)
        func append(_ q: Int, score: Float, index: Int32) {
            let n = Int(sizes[q]), start = offsets[q]
            scores[start + n] = score
            indices[start + n] = index
            if start + n + 1 == offsets[q + 1] {
                compact(q, n + 1)
            } else {
                sizes[q] = Int32(n + 1)
            }
        }

        /// Keeps query `q`'s candidates whose score reaches the k-th best of its `n` (the k
        /// best, and any tied with the k-th) and raises its threshold to that score.
        ///
        /// The k-th best score is found by the C quickselect (`dmle_keep_top`), whose
        /// partitions do not branch on the scores. Keeping the ties keeps the buffer a
        /// superset of the k best by (score, index), which is all the final ranking needs.
        /// Should the ties leave less than half the room free (many equal scores), the
        /// selection by (score, index) keeps exactly k instead, so appends stay cheap.
        @inline(never)
        func compact(_ q: Int, _ n: Int) {
            let k = Int(ks[q])
            let (kept, threshold) = TopKBuffers.keepBest(scores + offsets[q], indices + offsets[q], count: n, k: k, tieRoom: (n - k) / 2)
            sizes[q] = Int32(kept)
            worst[q] = threshold
        }
    }

    /// Moves to the front the pairs whose score reaches the k-th best of `count` (the k best,
    /// and any tied with the k-th) and returns how many they are and that score, by the C
    /// quickselect (`dmle_keep_top`). When more than `tieRoom` ties would come along (or a
    /// NaN stops the quickselect), the selection by (score, index) keeps exactly k instead.
    static func keepBest(
        _ s: UnsafeMutablePointer<Float>, _ ix: UnsafeMutablePointer<Int32>, count: Int, k: Int, tieRoom: Int
    ) -> (count: Int, threshold: Float) {
        var threshold: Float = 0
        let reached = dmle_keep_top(s, ix, count, k, &threshold)
        if reached >= k && reached - k <= tieRoom { return (reached, threshold) }
        select(s, ix, count: count, k: k)
        var lowest = s[0]
        for i in 1 ..< k where s[i] < lowest { lowest = s[i] }
        return (k, lowest)
    }

    /// Whether (s1, i1) ranks before (s2, i2): a higher score, or an equal one and a lower index.
    @inline(__always)
    static func ranksBefore(_ s1: Float, _ i1: Int32, _ s2: Float, _ i2: Int32) -> Bool {
        s1 > s2 || (s1 == s2 && i1 < i2)
    }

    /// Rearranges `count` candidates so that the `k` best come first (in no particular
    /// order): Hoare's FIND with a median-of-three pivot.
    ///
    /// - Complexity: O(count) expected.
    static func select(_ s: UnsafeMutablePointer<Float>, _ ix: UnsafeMutablePointer<Int32>, count: Int, k: Int) {
        guard k > 0, k < count else { return }
        let target = k - 1
        var lo = 0, hi = count - 1
        while lo < hi {
            // The median of three as the pivot guards against ordered runs.
            let mid = lo + (hi - lo) / 2
            var a = (s[lo], ix[lo]), b = (s[mid], ix[mid]), c = (s[hi], ix[hi])
            if ranksBefore(b.0, b.1, a.0, a.1) { swap(&a, &b) }
            if ranksBefore(c.0, c.1, b.0, b.1) { swap(&b, &c) }
            if ranksBefore(b.0, b.1, a.0, a.1) { swap(&a, &b) }
            let (ps, pi) = b
            var i = lo, j = hi
            while i <= j {
                while ranksBefore(s[i], ix[i], ps, pi) { i += 1 }
                while ranksBefore(ps, pi, s[j], ix[j]) { j -= 1 }
                if i <= j {
                    (s[i], s[j]) = (s[j], s[i])
                    (ix[i], ix[j]) = (ix[j], ix[i])
                    i += 1
                    j -= 1
                }
            }
            if j < target { lo = i }
            if target < i { hi = j }
        }
    }

    /// Unsafe views of the storage, valid inside `body`.
    func withHandle<R>(_ body: (Handle) throws -> R) rethrows -> R {
        try ks.withUnsafeBufferPointer { k in
            try offsets.withUnsafeBufferPointer { o in
                try body(Handle(ks: k.baseAddress!, offsets: o.baseAddress!, scores: scores, indices: indices,
                                sizes: sizes, worst: worst))
            }
        }
    }

    /// Starts each query's threshold at `thresholds[q]` (a score it is expected to keep at
    /// least k_q candidates above; see `ExactSearch.sampledThresholds`) rather than at
    /// -infinity, so that the tiles' early scores are mostly rejected by one comparison.
    /// A query whose threshold was too high ends the passes short of k_q candidates, and
    /// `shortQueries` names it.
    func seed(_ thresholds: [Float]) {
        precondition(thresholds.count == count)
        for q in 0 ..< count where ks[q] > 0 { worst[q] = thresholds[q] }
    }

    /// Empties query `q`'s buffer and lowers its threshold to -infinity, to be offered every
    /// reference again.
    func restart(_ q: Int) {
        sizes[q] = 0
        worst[q] = ks[q] > 0 ? -.infinity : .infinity
    }

    /// The queries that hold fewer than k_q candidates once every reference was offered (a
    /// seeded threshold that was too high): `restart` them and offer them every reference.
    /// The others hold their k_q best among `sizes[q]` candidates, in no order; the final
    /// ranking sorts them and keeps k_q (cheaper than a last selection before the sort).
    func shortQueries() -> [Int] {
        (0 ..< count).filter { sizes[$0] < ks[$0] }
    }
}

/// `count` uninitialised values of `T` from the system allocator.
///
/// - Throws: `SearchError` naming the size and its use when the memory cannot be had.
/// Release it with `free`.
func allocate<T>(_ type: T.Type, count: Int, for use: @autoclosure () -> String) throws -> UnsafeMutablePointer<T> {
    let (bytes, overflow) = max(1, count).multipliedReportingOverflow(by: MemoryLayout<T>.stride)
    guard !overflow, let raw = malloc(bytes) else {
        throw SearchError("cannot allocate \(byteDescription(bytes)) for \(use()); use fewer or shallower queries, or a machine with more memory")
    }
    return raw.bindMemory(to: T.self, capacity: max(1, count))
}

/// "3.2 GiB", "512.0 MiB", "16 KiB".
func byteDescription(_ bytes: Int) -> String {
    func oneDecimal(_ x: Double) -> String {
        let tenths = Int((x * 10).rounded())
        return "\(tenths / 10).\(tenths % 10)"
    }
    if bytes >= 1 << 30 { return oneDecimal(Double(bytes) / Double(1 << 30)) + " GiB" }
    if bytes >= 1 << 20 { return oneDecimal(Double(bytes) / Double(1 << 20)) + " MiB" }
    return "\(bytes / 1024) KiB"
}

extension Array where Element == (Float, Int32) {
    /// Appends the `count` pairs (scores[i], indices[i]): candidates held as two parallel
    /// buffers (the gathers' scratch, a query's candidate buffer) joined into ranking pairs.
    @inline(__always)
    mutating func append(scores: UnsafePointer<Float>, indices: UnsafePointer<Int32>, count: Int) {
        append(contentsOf: (0 ..< count).lazy.map { (scores[$0], indices[$0]) })
    }
}
