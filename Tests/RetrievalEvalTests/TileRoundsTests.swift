import Foundation
import Testing
@testable import RetrievalEval

/// The symmetric pass in rounds (`ExactSearch+Rounds.swift`): the schedule covers every tile
/// of the upper triangle once with no block twice in a round, the automatic choice follows
/// its rule, and the lists are those of the split tiles.
@Suite("Symmetric pass in rounds")
struct TileRoundsTests {
    @Test("the round-robin schedule has every tile J >= I once and no block twice in a round", arguments: 1 ... 13)
    func roundRobin(_ blocks: Int) {
        let rounds = ExactSearch.roundRobin(blocks: blocks)
        var seen: [Int: Int] = [:]
        for round in rounds {
            var used = Set<Int>()
            for (i, j) in round {
                #expect(i <= j && j < blocks)
                seen[i * blocks + j, default: 0] += 1
                #expect(used.insert(i).inserted, "block \(i) twice in a round")
                if j != i { #expect(used.insert(j).inserted, "block \(j) twice in a round") }
            }
        }
        #expect(seen.count == blocks * (blocks + 1) / 2)
        #expect(seen.values.allSatisfy { $0 == 1 })
        // Odd: m - 1 = blocks rounds, the diagonals among them; even: blocks - 1, plus one.
        #expect(rounds.count == blocks)
    }

    @Test("the dealt rounds cover the tiles once, with no block shared between workers of a round", arguments: [1, 2, 3, 4])
    func dealtRounds(_ threads: Int) throws {
        let n = 2_500, t = 256
        var search = try ExactSearch(references: floatMatrix(rows: n, columns: 3, duplicates: 0, seed: 3), tileSize: t, threads: threads)
        search.tileSchedule = .rounds
        let rounds = try #require(search.tileRounds())
        var cells = 0
        for round in rounds {
            #expect(round.count == threads)
            var used = Set<Int>()
            for tile in round.joined() {
                // The split pass's tiles: 9 blocks of 256 rows and one of 196.
                #expect(tile.i0 <= tile.j0 && tile.i0 % t == 0 && tile.j0 % t == 0)
                #expect(tile.rows == min(t, n - tile.i0) && tile.cols == min(t, n - tile.j0))
                #expect(used.insert(tile.i0).inserted && (tile.i0 == tile.j0 || used.insert(tile.j0).inserted))
                // The upper triangle's entries, the diagonal tiles' counted once.
                cells += tile.i0 == tile.j0 ? tile.rows * (tile.rows + 1) / 2 : tile.rows * tile.cols
            }
        }
        #expect(cells == n * (n + 1) / 2)
    }

    @Test("rounds are chosen when they keep the workers busy, and never for rows read from a file")
    func automaticChoice() throws {
        let x = floatMatrix(rows: 20_000, columns: 2, duplicates: 0, seed: 4)
        func rounds(threads: Int, _ schedule: ExactSearch.TileSchedule = .automatic) throws -> Bool {
            var search = try ExactSearch(references: x, tileSize: 1024, threads: threads)
            search.tileSchedule = schedule
            return search.tileRounds() != nil
        }
        // 20 blocks: rounds of 10 tiles (9 whole and one of 544 columns), the diagonals' round
        // 20. Two workers are busy 95% of the time, four 80%, eight 60%.
        #expect(try rounds(threads: 1))
        #expect(try rounds(threads: 2))
        #expect(try !rounds(threads: 4))
        #expect(try !rounds(threads: 8))
        #expect(try rounds(threads: 8, .rounds))
        #expect(try !rounds(threads: 2, .split))
        // One tile in all: a second worker would have nothing to do.
        var small = try ExactSearch(references: floatMatrix(rows: 500, columns: 2, duplicates: 0, seed: 4), tileSize: 1024, threads: 2)
        #expect(small.tileRounds() == nil)
        small.tileSchedule = .rounds
        #expect(small.tileRounds() != nil)
        // A mapped file: the pass reads the references in query blocks.
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("rounds-\(UUID().uuidString).raw").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data(x.values.withUnsafeBytes { Data($0) }).write(to: URL(fileURLWithPath: path))
        var mapped = try ExactSearch(references: .mapped(MappedEmbeddings(path: path, dimension: 2)), tileSize: 1024, threads: 2)
        mapped.tileSchedule = .rounds
        #expect(mapped.tileRounds() == nil)
    }

    @Test("per-query depths: the rounds give the split tiles' lists, and the same scores with canonical products",
          arguments: [1, 2, 3], [ExactProductKernel.blas, .canonical])
    func sameLists(_ threads: Int, _ kernel: ExactProductKernel) throws {
        let x = floatMatrix(rows: 401, columns: 12, duplicates: 100, seed: 8)
        let judgments = RelevanceJudgments(selfRetrieval: DeepSearchTests.unequalLabels(401))
        let depths = RetrievalEvaluation.queryDepths(judgments, metrics: [.recall(k: 5), .mapAtR], depth: 200)
        func run(_ schedule: ExactSearch.TileSchedule, tile: Int) throws -> ([[Int32]], [[Float]]) {
            var search = try ExactSearch(references: x, tileSize: tile, threads: threads)
            search.path = .candidates
            search.productKernel = kernel
            search.tileSchedule = schedule
            return try listsAndScores(search, depths: depths)
        }
        let (expected, expectedScores) = try run(.split, tile: 64)
        for tile in [16, 64, 150] {
            let (found, scores) = try run(.rounds, tile: tile)
            #expect(found == expected, "tile \(tile)")
            if kernel == .canonical { #expect(scores == expectedScores, "tile \(tile)") }
        }
    }

    @Test("tile claims: each tile once, never two held tiles sharing a block, a wait only when every tile left is blocked",
          arguments: [1, 2, 3, 4])
    func claims(_ workers: Int) {
        var rng = SplitMix64(seed: UInt64(workers))
        for blocks in 1 ... 13 {
            let tiles = ExactSearch.roundRobin(blocks: blocks).flatMap { $0 }
            var claims = TileClaims(tiles, blocks: blocks)
            var held = [Int?](repeating: nil, count: workers)
            var claimed = [Int](repeating: 0, count: tiles.count)
            var finished = Set<Int>()
            // Workers act in a random order: one holding a tile releases it, one holding none claims.
            var steps = 0
            while finished.count < workers && steps < 10_000 {
                steps += 1
                let w = Int.random(in: 0 ..< workers, using: &rng)
                if finished.contains(w) { continue }
                if let i = held[w] {
                    claims.release(i)
                    held[w] = nil
                    continue
                }
                let busy = Set(held.compactMap { $0 }.flatMap { [tiles[$0].0, tiles[$0].1] })
                switch claims.claim() {
                case .tile(let i):
                    claimed[i] += 1
                    #expect(!busy.contains(tiles[i].0) && !busy.contains(tiles[i].1), "tile \(tiles[i]) shares a held block")
                    held[w] = i
                case .wait:
                    let left = claimed.indices.filter { claimed[$0] == 0 }
                    #expect(!left.isEmpty && left.allSatisfy { busy.contains(tiles[$0].0) || busy.contains(tiles[$0].1) })
                case .done:
                    #expect(claimed.allSatisfy { $0 == 1 })
                    finished.insert(w)
                }
            }
            #expect(finished.count == workers && claimed.allSatisfy { $0 == 1 }, "\(blocks) blocks")
        }
    }
}
