/// One bounded heap of the k best (score, index) candidates per query, all in flat storage.
///
/// Each heap is a binary min-heap on "worse": its root is the worst candidate kept, so a new
/// candidate is rejected by one comparison against `worst[q]` before any heap work. A
/// candidate beats another when its score is higher, or equal with a lower index; that
/// makes the kept set, and its order, independent of the order candidates arrive in.
struct TopKHeaps {
    let k: Int
    let count: Int
    /// `count * k` scores and indices; heap q at `q * k ..< (q + 1) * k`.
    var scores: [Float]
    var indices: [Int32]
    var sizes: [Int32]
    /// The root's score once a heap is full, -infinity before: a score below it cannot enter.
    var worst: [Float]

    init(count: Int, k: Int) {
        self.k = k
        self.count = count
        scores = [Float](repeating: 0, count: count * k)
        indices = [Int32](repeating: 0, count: count * k)
        sizes = [Int32](repeating: 0, count: count)
        worst = [Float](repeating: k > 0 ? -.infinity : .infinity, count: count)
    }

    /// Unsafe views of the storage, valid inside `withHandle`; several workers may use one
    /// handle at once as long as they touch disjoint queries.
    struct Handle: @unchecked Sendable {
        let k: Int
        let scores: UnsafeMutablePointer<Float>
        let indices: UnsafeMutablePointer<Int32>
        let sizes: UnsafeMutablePointer<Int32>
        let worst: UnsafeMutablePointer<Float>

        /// Offers query `q` the references `firstIndex ..< firstIndex + count` with the scores
        /// in `row`, skipping reference `skip`. Sixteen scores at a time are compared with the
        /// query's current threshold; only the ones at or above it reach the heap.
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
                        insert(q, score: row[l], index: Int32(firstIndex + l))
                        threshold = worst[q]
                    }
                }
                j += 16
            }
            while j < count {
                if row[j] >= threshold && firstIndex + j != skip {
                    insert(q, score: row[j], index: Int32(firstIndex + j))
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
                for o in stride(from: 0, to: 64, by: 16) {
                    mask .|= sv.loadUnaligned(fromByteOffset: 4 * j + o, as: SIMD4<Float>.self)
                        .>= wv.loadUnaligned(fromByteOffset: 4 * j + o, as: SIMD4<Float>.self)
                }
                if any(mask) {
                    for l in j ..< j + 16 where scores[l] >= worst[firstQuery + l] {
                        insert(firstQuery + l, score: scores[l], index: index)
                    }
                }
                j += 16
            }
            while j < hi {
                if scores[j] >= worst[firstQuery + j] { insert(firstQuery + j, score: scores[j], index: index) }
                j += 1
            }
        }

        @inline(__always)
        static func isWorse(_ s1: Float, _ i1: Int32, than s2: Float, _ i2: Int32) -> Bool {
            s1 < s2 || (s1 == s2 && i1 > i2)
        }

        @inline(never)
        func insert(_ q: Int, score: Float, index: Int32) {
            let base = q * k
            let s = scores + base, ix = indices + base
            var n = Int(sizes[q])
            if n < k {
                // Sift up from the new leaf.
                var child = n
                while child > 0 {
                    let parent = (child - 1) >> 1
                    guard Handle.isWorse(score, index, than: s[parent], ix[parent]) else { break }
                    s[child] = s[parent]; ix[child] = ix[parent]
                    child = parent
                }
                s[child] = score; ix[child] = index
                n += 1
                sizes[q] = Int32(n)
                if n == k { worst[q] = s[0] }
                return
            }
            // Full: the candidate must beat the root (equal score: lower index wins).
            guard Handle.isWorse(s[0], ix[0], than: score, index) else { return }
            var parent = 0
            while true {
                var child = 2 * parent + 1
                if child >= k { break }
                if child + 1 < k && Handle.isWorse(s[child + 1], ix[child + 1], than: s[child], ix[child]) { child += 1 }
                guard Handle.isWorse(s[child], ix[child], than: score, index) else { break }
                s[parent] = s[child]; ix[parent] = ix[child]
                parent = child
            }
            s[parent] = score; ix[parent] = index
            worst[q] = s[0]
        }
    }

    mutating func withHandle<R>(_ body: (Handle) throws -> R) rethrows -> R {
        let k = self.k
        return try scores.withUnsafeMutableBufferPointer { s in
            try indices.withUnsafeMutableBufferPointer { ix in
                try sizes.withUnsafeMutableBufferPointer { n in
                    try worst.withUnsafeMutableBufferPointer { w in
                        try body(Handle(k: k, scores: s.baseAddress!, indices: ix.baseAddress!,
                                        sizes: n.baseAddress!, worst: w.baseAddress!))
                    }
                }
            }
        }
    }
}
