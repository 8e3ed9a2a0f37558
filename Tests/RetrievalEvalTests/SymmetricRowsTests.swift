import Foundation
import Synchronization
import Testing
@testable import RetrievalEval

/// The symmetric row path (`ExactSearch+SymmetricRows.swift`) against the plain row path and
/// the candidate path: the same lists and scores, bit for bit, whatever the blocks, threads,
/// seeds and memory for the pending candidates; and the queries dropped or short are selected
/// from their whole rows.
@Suite("Symmetric row path")
struct SymmetricRowsTests {
    /// Lists and scores of every query, in query order.
    static func run(_ search: ExactSearch, _ depths: [Int]) throws -> ([[Int32]], [[UInt32]]) {
        var lists: [[Int32]] = [], scores: [[UInt32]] = []
        var next = 0
        try search.search(depths: depths) { block in
            #expect(block.queries.lowerBound == next)
            next = block.queries.upperBound
            for q in block.queries {
                lists.append(Array(block.indices(of: q)))
                scores.append(block.scores[block.range(of: q)].map(\.bitPattern))
            }
        }
        #expect(next == depths.count)
        return (lists, scores)
    }

    struct Case: Sendable, CustomTestStringConvertible {
        let distance: Distance
        let threads: Int
        let blockRows: Int
        var testDescription: String { "\(distance), \(threads) threads, blocks of \(blockRows)" }
    }

    static let cases: [Case] = [Distance.cosine, .innerProduct].flatMap { d in
        [1, 2, 3].flatMap { t in [7, 64, 1000].map { Case(distance: d, threads: t, blockRows: $0) } }
    }

    @Test("same lists and scores as the plain row path and the candidate path", arguments: cases)
    func sameLists(_ c: Case) throws {
        let n = 333
        let x = floatMatrix(rows: n, columns: 19, duplicates: 60, seed: 5)
        let judgments = RelevanceJudgments(selfRetrieval: DeepSearchTests.unequalLabels(n))
        var depths = RetrievalEvaluation.queryDepths(judgments, metrics: [.recall(k: 4), .mapAtR], depth: 166)
        // Queries asking for nothing, and for every other row.
        depths[3] = 0
        depths[200] = 0
        depths[10] = n - 1
        depths[331] = n - 1
        var plain = try ExactSearch(references: x, distance: c.distance, threads: 1)
        plain.path = .rows
        plain.productKernel = .canonical
        plain.symmetricRows = false
        let expected = try Self.run(plain, depths)
        var candidates = try ExactSearch(references: x, distance: c.distance, tileSize: 50, threads: 2)
        candidates.path = .candidates
        candidates.productKernel = .canonical
        #expect(try Self.run(candidates, depths) == expected)
        // Budgets: ample, a few chunks (some queries dropped), one chunk (nearly all dropped).
        // Seeds: sampled, none (every score pending), and too high (every query short).
        let chunk = PendingCandidates.chunkEntries * MemoryLayout<(Float, Int32)>.stride
        for (budget, seedSample, shift) in [(1 << 24, nil, Float(0)), (6 * chunk, nil, 0), (chunk, nil, 0), (1 << 24, 0, 0), (1 << 24, nil, 100)] as [(Int, Int?, Float)] {
            var search = try ExactSearch(references: x, distance: c.distance, threads: c.threads)
            search.path = .rows
            search.productKernel = .canonical
            search.rowBlockRows = c.blockRows
            search.pendingBudget = budget
            search.seedSample = seedSample
            search.seedShift = shift
            let observed = Mutex((peak: -1, dropped: -1))
            search.pendingObserver = { peak, dropped in observed.withLock { $0 = (peak, dropped) } }
            #expect(search.takesSymmetricRowsForTests)
            let found = try Self.run(search, depths)
            #expect(found.0 == expected.0, "budget \(budget), sample \(String(describing: seedSample)), shift \(shift)")
            #expect(found.1 == expected.1, "budget \(budget), sample \(String(describing: seedSample)), shift \(shift)")
            let (peak, dropped) = observed.withLock { $0 }
            #expect(peak >= 0 && peak <= budget)
            if budget <= 6 * chunk && c.blockRows < n {
                // Too little room: queries were dropped, and found their lists all the same.
                #expect(dropped > 0, "budget \(budget)")
            }
            if budget == 1 << 24 && seedSample == nil && shift == 0 { #expect(dropped == 0) }
        }
    }

    @Test("pending candidates: kept by threshold, taken only when they reach the depth, dropped when the arena is full")
    func pendingCandidates() throws {
        // Queries 0 ... 2 (thresholds 0.5, -inf, 0.5; query 1 asks for nothing), offered the
        // scores of references 10 ... 609: row i holds reference 10 + i's scores.
        let refs = 600
        let stride = MemoryLayout<(Float, Int32)>.stride, chunk = PendingCandidates.chunkEntries * stride
        let pending = try PendingCandidates(thresholds: [0.5, -.infinity, 0.5], depths: [5, 0, 5], budget: 8 * chunk)
        var rows = [Float](repeating: 0, count: refs * 3)
        for i in 0 ..< refs {
            rows[3 * i] = i % 2 == 0 ? 1 : 0
            rows[3 * i + 1] = 7
            rows[3 * i + 2] = i % 3 == 0 ? 0.5 : 0.25
        }
        rows.withUnsafeBufferPointer { pending.offer(rows: $0.baseAddress!, stride: 3, count: refs, firstIndex: 10, queries: 0 ..< 3) }
        #expect(!pending.isDropped(0) && !pending.isDropped(1) && !pending.isDropped(2))
        // Query 0's own row: references 0 ... 9, itself (0, at 0.9) skipped; two reach 0.5.
        let own: [Float] = [0.9, 0, 0.7, 0, 0.5, 0, 0, 0, 0, 0]
        var scores = [Float](repeating: 0, count: 10), indices = [Int32](repeating: 0, count: 10)
        var pairs: [(Float, Int32)] = []
        let pendingOfQuery0 = refs / 2, held = pendingOfQuery0 + 2
        for (depth, taken) in [(held, true), (held + 1, false)] {
            let found = pending.candidates(0, row: own, width: 10, firstIndex: 0, depth: depth,
                                           scratchScores: &scores, scratchIndices: &indices, into: &pairs)
            #expect(found == taken, "depth \(depth)")
        }
        var expected = Set<Int32>([2, 4])
        for i in Swift.stride(from: 0, to: refs, by: 2) { expected.insert(Int32(10 + i)) }
        #expect(pairs.count == held && Set(pairs.map(\.1)) == expected)
        for (score, index) in pairs {
            let want: Float = index == 2 ? 0.7 : index == 4 ? 0.5 : 1
            #expect(score == want, "reference \(index)")
        }
        // Query 2 holds 200: with query 0's 300, 3 of the 8 chunks are left when it is done.
        #expect(pending.peakBytes == (2 + 1) * chunk && pending.inUse == 3)
        pending.release(0 ..< 1)
        #expect(pending.inUse == 1)
        // 3,000 more for query 2 alone: with the 200 it holds they need 13 chunks of the 8, so
        // it is dropped, and its chunks go back.
        let many = [Float](repeating: 1, count: 3000)
        many.withUnsafeBufferPointer { pending.offer(rows: $0.baseAddress!, stride: 1, count: 3000, firstIndex: 1000, queries: 2 ..< 3) }
        #expect(pending.isDropped(2) && pending.droppedQueries == 1 && pending.inUse == 0)
        let found = pending.candidates(2, row: own, width: 10, firstIndex: 0, depth: 1,
                                       scratchScores: &scores, scratchIndices: &indices, into: &pairs)
        #expect(!found)
    }

    @Test("squared distances, sgemm products, a part of the rows, or symmetry turned off keep the plain row path")
    func whereItApplies() throws {
        let x = floatMatrix(rows: 50, columns: 4, duplicates: 0, seed: 2)
        var search = try ExactSearch(references: x, distance: .innerProduct)
        search.productKernel = .canonical
        #expect(search.takesSymmetricRowsForTests)
        search.symmetricRows = false
        #expect(!search.takesSymmetricRowsForTests)
        var blas = try ExactSearch(references: x, distance: .innerProduct)
        blas.productKernel = .blas
        #expect(!blas.takesSymmetricRowsForTests)
        var l2 = try ExactSearch(references: x, distance: .squaredL2)
        l2.productKernel = .canonical
        #expect(!l2.takesSymmetricRowsForTests)
        var part = try ExactSearch(references: .matrix(x), queryRows: 0 ..< 20, distance: .innerProduct)
        part.productKernel = .canonical
        #expect(!part.takesSymmetricRowsForTests)
    }
}

extension ExactSearch {
    /// `takesSymmetricRows` with the products resolved as a row search would resolve them.
    var takesSymmetricRowsForTests: Bool {
        var search = self
        search.canonicalProducts = productKernel == .canonical && distance != .squaredL2
        return search.takesSymmetricRows
    }
}
