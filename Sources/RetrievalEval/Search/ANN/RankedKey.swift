/// A candidate of a graph or list search packed into one integer: the distance's bits made
/// order-preserving in the high half, the index in the low half. Comparing keys compares
/// distances and breaks ties by the lower index, with one integer comparison.
enum RankedKey {
    /// The key of reference `index` at `distance` (lower is closer).
    @inline(__always)
    static func make(_ distance: Float, _ index: Int32) -> UInt64 {
        // NaN (inf - inf from overflowing inputs) ranks last, never first.
        if distance.isNaN { return UInt64(UInt32.max) << 32 | UInt64(UInt32(bitPattern: index)) }
        let bits = distance.bitPattern
        // Negative floats order backwards as unsigned integers: flip them whole; positive ones
        // only need the sign bit set to sort above every negative.
        let ordered = bits & 0x8000_0000 != 0 ? ~bits : bits | 0x8000_0000
        return UInt64(ordered) << 32 | UInt64(UInt32(bitPattern: index))
    }

    @inline(__always)
    static func index(_ key: UInt64) -> Int32 { Int32(bitPattern: UInt32(truncatingIfNeeded: key)) }

    @inline(__always)
    static func distance(_ key: UInt64) -> Float {
        let ordered = UInt32(truncatingIfNeeded: key >> 32)
        return Float(bitPattern: ordered & 0x8000_0000 != 0 ? ordered & 0x7FFF_FFFF : ~ordered)
    }
}

/// A binary min-heap of keys in a growable buffer that is reused from search to search.
/// (A max-heap is the same heap over complemented keys.)
struct KeyHeap {
    private(set) var storage: [UInt64]
    private(set) var count = 0

    init(capacity: Int) { storage = [UInt64](repeating: 0, count: max(capacity, 16)) }

    /// An empty heap that allocates on its first push.
    init() { storage = [] }

    var isEmpty: Bool { count == 0 }
    /// The smallest key. - Precondition: not empty.
    var top: UInt64 { storage[0] }

    mutating func removeAll() { count = 0 }

    mutating func push(_ key: UInt64) {
        if count == storage.count { storage.append(contentsOf: repeatElement(0, count: max(16, storage.count))) }
        storage.withUnsafeMutableBufferPointer { s in
            var i = count
            while i > 0 {
                let parent = (i - 1) >> 1
                if s[parent] <= key { break }
                s[i] = s[parent]
                i = parent
            }
            s[i] = key
        }
        count += 1
    }

    /// Removes and returns the smallest key. - Precondition: not empty.
    @discardableResult
    mutating func pop() -> UInt64 {
        count -= 1
        let n = count
        return storage.withUnsafeMutableBufferPointer { s in
            let result = s[0]
            if n == 0 { return result }
            let last = s[n]
            var i = 0
            while true {
                var child = 2 * i + 1
                if child >= n { break }
                if child + 1 < n && s[child + 1] < s[child] { child += 1 }
                if last <= s[child] { break }
                s[i] = s[child]
                i = child
            }
            s[i] = last
            return result
        }
    }
}

/// Which references a search has already seen, cleared in O(1) by moving to a new epoch
/// (the whole array is reset only when the 16-bit epoch wraps).
struct VisitedSet {
    private var tags: [UInt16]
    private var epoch: UInt16 = 0

    init(count: Int = 0) { tags = [UInt16](repeating: 0, count: count) }

    /// Starts a new search: nothing visited.
    mutating func reset() {
        if epoch == .max {
            for i in tags.indices { tags[i] = 0 }
            epoch = 0
        }
        epoch += 1
    }

    /// Marks `index` visited; returns whether it was not visited before.
    @inline(__always)
    mutating func insert(_ index: Int32) -> Bool {
        let i = Int(index)
        if tags[i] == epoch { return false }
        tags[i] = epoch
        return true
    }
}
