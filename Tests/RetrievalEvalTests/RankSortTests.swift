import Testing
@testable import RetrievalEval

/// The candidates' sort against the standard library's with the rank comparator: the same
/// order and the same bits, with many equal scores (ties go to the lower index), signed
/// values, infinities, and the lists it hands back to the standard sort (NaN, negative zero).
@Suite("Rank sort")
struct RankSortTests {
    static func pairs(_ n: Int, distinct: Int, seed: UInt64) -> [(Float, Int32)] {
        var rng = SplitMix64(seed: seed)
        let scores = (0 ..< max(1, distinct)).map { _ in Float.random(in: -2 ... 2, using: &rng) }
        var indices = Array(Int32(0) ..< Int32(n))
        indices.shuffle(using: &rng)
        return indices.map { (scores[Int.random(in: 0 ..< scores.count, using: &rng)], $0) }
    }

    static func same(_ a: [(Float, Int32)], _ b: [(Float, Int32)]) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { $0.0.bitPattern == $1.0.bitPattern && $0.1 == $1.1 }
    }

    @Test("the standard sort's order, bit for bit, at every size and tie density")
    func matchesStandardSort() {
        var cases = 0
        for n in Array(0 ... 64) + [100, 257, 1000, 5000] {
            for distinct in [1, 3, n / 2 + 1, 10 * n + 1] {
                var found = Self.pairs(n, distinct: distinct, seed: UInt64(n * 31 + distinct))
                let expected = found.sorted { ExactSearch.ranksBefore($0, $1) }
                RankSort.sort(&found)
                #expect(Self.same(found, expected), "n \(n), \(distinct) distinct scores")
                cases += 1
            }
        }
        #expect(cases == 69 * 4)
    }

    @Test("one, two, three and four varying bytes: the keys end in either buffer, decoded the same", arguments: [
        [1, 1], [1, 1 + 0x1p-15], [1, 1 + 0x1p-8], [0.5, 1], [-2, 2],
    ] as [[Float]])
    func passCounts(_ range: [Float]) {
        var rng = SplitMix64(seed: 77)
        for n in [192, 1000, 4097] {
            var found = (0 ..< n).map { i in
                (range[0] == range[1] ? range[0] : Float.random(in: range[0] ..< range[1], using: &rng), Int32((i * 7919) % n))
            }
            let expected = found.sorted { ExactSearch.ranksBefore($0, $1) }
            RankSort.sort(&found)
            #expect(Self.same(found, expected), "n \(n), scores in \(range)")
        }
    }

    @Test("infinities, zeros, tiny and huge scores keep their bits; NaN and -0 lists still sort")
    func specialValues() {
        let values: [Float] = [.infinity, -.infinity, 0, .leastNonzeroMagnitude, -.leastNonzeroMagnitude, .greatestFiniteMagnitude,
                               -.greatestFiniteMagnitude, 1, -1, 0.5]
        var found: [(Float, Int32)] = values.enumerated().map { ($0.element, Int32(9 - $0.offset)) }
        let expected = found.sorted { ExactSearch.ranksBefore($0, $1) }
        RankSort.sort(&found)
        #expect(Self.same(found, expected))
        #expect(found.first?.0 == .infinity && found.last?.0 == -.infinity)
        for odd in [Float(-0.0), .nan] {
            var withOdd: [(Float, Int32)] = values.enumerated().map { ($0.element, Int32($0.offset)) }
            withOdd.append((odd, 99))
            let standard = withOdd.sorted { ExactSearch.ranksBefore($0, $1) }
            RankSort.sort(&withOdd)
            #expect(Self.same(withOdd, standard))
        }
    }

    @Test("many equal scores already in order, reversed, and as one value: no quadratic or wrong partition")
    func adversarialOrders() {
        let n = 20_000
        var ascending = (0 ..< n).map { (Float($0 / 7), Int32($0)) }
        var descending = Array(ascending.reversed())
        var constant = (0 ..< n).map { (Float(1), Int32(n - 1 - $0)) }
        for list in [ascending, descending, constant] {
            var found = list
            RankSort.sort(&found)
            #expect(Self.same(found, list.sorted { ExactSearch.ranksBefore($0, $1) }))
        }
        RankSort.sort(&ascending)
        RankSort.sort(&descending)
        #expect(Self.same(ascending, descending))
        RankSort.sort(&constant)
        #expect(constant.map(\.1) == Array(0 ..< Int32(n)))
    }
}
