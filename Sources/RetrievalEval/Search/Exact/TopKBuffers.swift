/// The k best (score, index) candidates of every query, gathered in flat buffers.
///
/// Each query owns a buffer of k + b slots. A candidate is appended when its score reaches
/// the query's threshold; when the buffer is full, a quickselect keeps its k best and the
/// threshold becomes the k-th best score. A candidate below the threshold cannot be among
/// the k best (k others beat it), so it is rejected by one comparison, sixteen at a time in
/// the tile scans. Appending is a store, where a binary heap pays log k unpredictable
/// branches per candidate; the selection costs O(k + b) per b candidates.
///
/// The order is total: a higher score ranks first, and equal scores go to the lower index,
/// so the k kept do not depend on the order candidates arrive in.
struct TopKBuffers {
    /// The number of candidates kept per query.
    let k: Int
    let count: Int
    /// Slots per query: k plus room to append.
    let stride: Int
    var scores: [Float]
    var indices: [Int32]
    var sizes: [Int32]
    /// A query's threshold: -infinity until its buffer first fills, then its k-th best score.
    var worst: [Float]

    init(count: Int, k: Int) {
        self.k = k
        self.count = count
        // Room for k more candidates, less for very large k to bound the memory.
        stride = k == 0 ? 0 : k + (k <= 512 ? max(16, k) : max(512, k / 4))
        scores = [Float](repeating: 0, count: count * stride)
        indices = [Int32](repeating: 0, count: count * stride)
        sizes = [Int32](repeating: 0, count: count)
        worst = [Float](repeating: k > 0 ? -.infinity : .infinity, count: count)
    }

    /// Unsafe views of the storage, valid inside `withHandle`; several workers may use one
    /// handle at once as long as they touch disjoint queries.
    struct Handle: @unchecked Sendable {
        let k: Int
        let stride: Int
        let scores: UnsafeMutablePointer<Float>
        let indices: UnsafeMutablePointer<Int32>
        let sizes: UnsafeMutablePointer<Int32>
        let worst: UnsafeMutablePointer<Float>

        /// Offers query `q` the references `firstIndex ..< firstIndex + count` with the scores
        /// in `row`, skipping reference `skip`.
        @inline(__always)
        func offerRow(_ q: Int, _ row: UnsafePointer<Float>, count: Int, firstIndex: Int, skip: Int = -1) {
            var threshold = worst[q]
            var j = 0
            let raw = UnsafeRawPointer(row)
            while j + 16 <= count {
                // Four SSE-width compares: wider SIMD types and reductions are built lane by
                // lane through the stack on the generic x86-64 target, many times slower.
                let t = SIMD4<Float>(repeating: threshold)
                let mask = (raw.loadUnaligned(fromByteOffset: 4 * j, as: SIMD4<Float>.self) .>= t)
                    .| (raw.loadUnaligned(fromByteOffset: 4 * j + 16, as: SIMD4<Float>.self) .>= t)
                    .| (raw.loadUnaligned(fromByteOffset: 4 * j + 32, as: SIMD4<Float>.self) .>= t)
                    .| (raw.loadUnaligned(fromByteOffset: 4 * j + 48, as: SIMD4<Float>.self) .>= t)
                if any(mask) {
                    for l in j ..< j + 16 where row[l] >= threshold && firstIndex + l != skip {
                        append(q, score: row[l], index: Int32(firstIndex + l))
                        threshold = worst[q]
                    }
                }
                j += 16
            }
            while j < count {
                if row[j] >= threshold && firstIndex + j != skip {
                    append(q, score: row[j], index: Int32(firstIndex + j))
                    threshold = worst[q]
                }
                j += 1
            }
        }

        /// Offers reference `index` to queries `firstQuery + lo ..< firstQuery + hi`, with
        /// scores `scores[lo ..< hi]`: one tile row read across its columns, sixteen queries'
        /// thresholds compared at a time.
        @inline(__always)
        func offerColumn(_ scores: UnsafePointer<Float>, lo: Int, hi: Int, firstQuery: Int, index: Int32) {
            var j = lo
            let sv = UnsafeRawPointer(scores), wv = UnsafeRawPointer(worst + firstQuery)
            while j + 16 <= hi {
                var mask = SIMDMask<SIMD4<Int32>>()
                for o in Swift.stride(from: 0, to: 64, by: 16) {
                    mask .|= sv.loadUnaligned(fromByteOffset: 4 * j + o, as: SIMD4<Float>.self)
                        .>= wv.loadUnaligned(fromByteOffset: 4 * j + o, as: SIMD4<Float>.self)
                }
                if any(mask) {
                    for l in j ..< j + 16 where scores[l] >= worst[firstQuery + l] {
                        append(firstQuery + l, score: scores[l], index: index)
                    }
                }
                j += 16
            }
            while j < hi {
                if scores[j] >= worst[firstQuery + j] { append(firstQuery + j, score: scores[j], index: index) }
                j += 1
            }
        }

        @inline(__always)
        func append(_ q: Int, score: Float, index: Int32) {
            let n = Int(sizes[q])
            scores[q * stride + n] = score
            indices[q * stride + n] = index
            if n + 1 == stride {
                compact(q, n + 1)
            } else {
                sizes[q] = Int32(n + 1)
            }
        }

        /// Keeps the k best of query `q`'s `n` candidates and raises its threshold.
        @inline(never)
        func compact(_ q: Int, _ n: Int) {
            let s = scores + q * stride, ix = indices + q * stride
            TopKBuffers.select(s, ix, count: n, k: k)
            sizes[q] = Int32(k)
            var lowest = s[0]
            for i in 1 ..< k where s[i] < lowest { lowest = s[i] }
            worst[q] = lowest
        }
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

    mutating func withHandle<R>(_ body: (Handle) throws -> R) rethrows -> R {
        let (k, stride) = (self.k, self.stride)
        return try scores.withUnsafeMutableBufferPointer { s in
            try indices.withUnsafeMutableBufferPointer { ix in
                try sizes.withUnsafeMutableBufferPointer { n in
                    try worst.withUnsafeMutableBufferPointer { w in
                        try body(Handle(k: k, stride: stride, scores: s.baseAddress!, indices: ix.baseAddress!,
                                        sizes: n.baseAddress!, worst: w.baseAddress!))
                    }
                }
            }
        }
    }

    /// Leaves exactly the k best of every query at the start of its slots.
    /// - Precondition: every query was offered at least k candidates.
    mutating func finish() {
        let (count, k) = (self.count, self.k)
        withHandle { h in
            for q in 0 ..< count {
                let n = Int(h.sizes[q])
                precondition(n >= k, "query \(q) holds \(n) of \(k) candidates")
                if n > k { h.compact(q, n) }
            }
        }
    }
}
