/// Sorts (score, index) candidates best first: higher score, equal scores by lower index.
///
/// The order is total (indices are unique within a list), so any correct sort gives the same
/// result; this one is just faster than the standard library's stable sort with a tuple
/// comparator, which took a tenth of a deep search. Each pair is rewritten in place as one
/// 64-bit key whose unsigned order is the rank order (the score's bits mapped to an order-
/// preserving integer and complemented, then the index), the keys are sorted (a byte-wise
/// radix sort, or an introsort for short lists), and the pairs are decoded back, bit for bit. A list holding a NaN or a negative
/// zero (whose key could not give its bits back) is sorted by the standard library instead.
enum RankSort {
    /// Sorts `pairs` best first.
    static func sort(_ pairs: inout [(Float, Int32)]) {
        pairs.withUnsafeMutableBufferPointer { sort($0) }
    }

    /// Sorts the pairs in `buffer` best first.
    static func sort(_ buffer: UnsafeMutableBufferPointer<(Float, Int32)>) {
        let n = buffer.count
        guard n > 1, let base = buffer.baseAddress else { return }
        for i in 0 ..< n where base[i].0.isNaN || base[i].0.bitPattern == 0x8000_0000 {
            var buffer = buffer
            buffer.sort { ExactSearch.ranksBefore($0, $1) }
            return
        }
        UnsafeMutableRawPointer(base).withMemoryRebound(to: UInt64.self, capacity: n) { keys in
            for i in 0 ..< n {
                let pair = UnsafeRawPointer(keys + i).load(as: (Float, Int32).self)
                keys[i] = key(pair.0, pair.1)
            }
            if n < 192 {
                introsort(keys, 0, n, depthLimit: 2 * (Int.bitWidth - n.leadingZeroBitCount))
                decodeAll(keys, into: keys, n)
            } else {
                withUnsafeTemporaryAllocation(of: UInt64.self, capacity: n) { scratch in
                    decodeAll(radixSort(keys, scratch.baseAddress!, n), into: keys, n)
                }
            }
        }
    }

    /// The key of a pair: complemented order-preserving score bits, then the index.
    @inline(__always)
    static func key(_ score: Float, _ index: Int32) -> UInt64 {
        let bits = score.bitPattern
        let ordered = bits & 0x8000_0000 != 0 ? ~bits : bits | 0x8000_0000
        return UInt64(~ordered) << 32 | UInt64(UInt32(bitPattern: index))
    }

    /// Decodes `sorted[0 ..< n]` into the pairs at `pairs` (the same memory, or another).
    @inline(__always)
    static func decodeAll(_ sorted: UnsafeMutablePointer<UInt64>, into pairs: UnsafeMutablePointer<UInt64>, _ n: Int) {
        for i in 0 ..< n {
            let pair = decode(sorted[i])
            UnsafeMutableRawPointer(pairs + i).storeBytes(of: pair, as: (Float, Int32).self)
        }
    }

    @inline(__always)
    static func decode(_ key: UInt64) -> (Float, Int32) {
        let ordered = ~UInt32(truncatingIfNeeded: key >> 32)
        let bits = ordered & 0x8000_0000 != 0 ? ordered & 0x7FFF_FFFF : ~ordered
        return (Float(bitPattern: bits), Int32(bitPattern: UInt32(truncatingIfNeeded: key)))
    }

    /// Sorts `keys[0 ..< n]` ascending: by the high half (the score) least significant byte
    /// first, one stable counting pass per byte that is not the same in every key (a list's
    /// scores share their top bits, so about three passes in practice); then each run of equal
    /// high halves (equal scores, rare) is sorted by the low half (the index). The index bytes
    /// would cost two more passes over every key for the few ties they settle. (Tried: the
    /// varying bytes counted in one pass, and four counts per value against keys that share
    /// one; neither moved the sort's share of a Debian run's samples.)
    ///
    /// - Returns: where the sorted keys are: `keys`, or `scratch` after an odd number of
    ///   passes (the caller decodes them from there, rather than copying them back).
    static func radixSort(_ keys: UnsafeMutablePointer<UInt64>, _ scratch: UnsafeMutablePointer<UInt64>, _ n: Int) -> UnsafeMutablePointer<UInt64> {
        var any: UInt64 = 0, all: UInt64 = ~0
        for i in 0 ..< n {
            any |= keys[i]
            all &= keys[i]
        }
        let varying = any ^ all
        var source = keys, target = scratch
        withUnsafeTemporaryAllocation(of: Int.self, capacity: 256) { counts in
            for byte in 4 ..< 8 where (varying >> (8 * UInt64(byte))) & 0xFF != 0 {
                let shift = UInt64(8 * byte)
                counts.initialize(repeating: 0)
                for i in 0 ..< n { counts[Int((source[i] >> shift) & 0xFF)] += 1 }
                var total = 0
                for b in 0 ..< 256 {
                    let c = counts[b]
                    counts[b] = total
                    total += c
                }
                for i in 0 ..< n {
                    let key = source[i], b = Int((key >> shift) & 0xFF)
                    target[counts[b]] = key
                    counts[b] += 1
                }
                swap(&source, &target)
            }
        }
        let keys = source
        guard varying & 0xFFFF_FFFF != 0 else { return keys }
        var i = 0
        while i < n {
            var j = i + 1
            while j < n && keys[j] >> 32 == keys[i] >> 32 { j += 1 }
            if j - i > 1 { introsort(keys, i, j, depthLimit: 2 * (Int.bitWidth - (j - i).leadingZeroBitCount)) }
            i = j
        }
        return keys
    }

    /// Sorts `keys[lo ..< hi]` ascending: quicksort with a median-of-three pivot, insertion
    /// sort below 24 keys, the standard library's sort when the recursion goes too deep.
    static func introsort(_ keys: UnsafeMutablePointer<UInt64>, _ lo: Int, _ hi: Int, depthLimit: Int) {
        var lo = lo, hi = hi, depth = depthLimit
        while hi - lo > 24 {
            if depth == 0 {
                var rest = UnsafeMutableBufferPointer(start: keys + lo, count: hi - lo)
                rest.sort()
                return
            }
            depth -= 1
            let mid = lo + (hi - lo) / 2
            var a = keys[lo], b = keys[mid], c = keys[hi - 1]
            if b < a { swap(&a, &b) }
            if c < b { swap(&b, &c) }
            if b < a { swap(&a, &b) }
            let pivot = b
            var i = lo, j = hi - 1
            while true {
                while keys[i] < pivot { i += 1 }
                while pivot < keys[j] { j -= 1 }
                if i >= j { break }
                (keys[i], keys[j]) = (keys[j], keys[i])
                i += 1
                j -= 1
            }
            // keys[lo ... j] <= pivot <= keys[j + 1 ..< hi]; recurse on the smaller side.
            if j + 1 - lo < hi - j - 1 {
                introsort(keys, lo, j + 1, depthLimit: depth)
                lo = j + 1
            } else {
                introsort(keys, j + 1, hi, depthLimit: depth)
                hi = j + 1
            }
        }
        // Insertion sort.
        var i = lo + 1
        while i < hi {
            let x = keys[i]
            var j = i - 1
            while j >= lo && keys[j] > x {
                keys[j + 1] = keys[j]
                j -= 1
            }
            keys[j + 1] = x
            i += 1
        }
    }
}
