/// A small, fast, seedable generator (Steele, Lea, Flood 2014, "SplitMix64"), so that every
/// randomised procedure in dmleval reproduces exactly from its seed.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    /// A generator started at `seed`.
    public init(seed: UInt64) { state = seed }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform value in [0, 1) with 53 random bits.
    public mutating func nextUnit() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }

    /// `size` distinct indices below `count`, in the order drawn: the first `size` places of a
    /// seeded Fisher-Yates shuffle of 0 ..< count.
    /// - Precondition: 0 <= size <= count.
    public mutating func distinctIndices(_ size: Int, below count: Int) -> [Int] {
        precondition(size >= 0 && size <= count)
        var order = Array(0 ..< count)
        for i in 0 ..< size { order.swapAt(i, i + Int(next() % UInt64(count - i))) }
        return Array(order[0 ..< size])
    }

    /// A standard normal value (Box-Muller; the second value of the pair is not kept).
    public mutating func gaussian() -> Double {
        let u1 = 1 - nextUnit()  // (0, 1]: the logarithm stays finite
        let u2 = nextUnit()
        return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
