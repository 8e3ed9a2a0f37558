import CKernels
import Foundation
import Testing
@testable import RetrievalEval

/// Small integer coordinates: every inner product and squared distance is an exact integer
/// in float32, so ties are real and any two correct searches must agree exactly.
func integerMatrix(rows: Int, columns: Int, range: ClosedRange<Int> = -2 ... 2, seed: UInt64) -> Matrix {
    var rng = SplitMix64(seed: seed)
    return Matrix(rows: rows, columns: columns, values: (0 ..< rows * columns).map { _ in Float(Int.random(in: range, using: &rng)) })
}

/// Gaussian-ish float data with `duplicates` rows copied from earlier rows (exact ties).
func floatMatrix(rows: Int, columns: Int, duplicates: Int, seed: UInt64) -> Matrix {
    var rng = SplitMix64(seed: seed)
    var m = Matrix(rows: rows, columns: columns, values: (0 ..< rows * columns).map { _ in
        Float.random(in: -1 ... 1, using: &rng) + Float.random(in: -1 ... 1, using: &rng)
    })
    for _ in 0 ..< duplicates {
        let to = Int.random(in: 1 ..< rows, using: &rng), from = Int.random(in: 0 ..< to, using: &rng)
        for j in 0 ..< columns { m[to, j] = m[from, j] }
    }
    return m
}

/// The oracle: every pair scored in Double by a plain double loop, sorted by (score
/// descending, index ascending), the query itself left out in self-retrieval. For cosine the
/// rows are first scaled to unit length in float32, as the search stores them, so that both
/// compare the same vectors (exact duplicates stay exact duplicates).
func naiveNeighbors(_ references: Matrix, queries: Matrix?, distance: Distance, k: Int) -> [[Int]] {
    func prepared(_ m: Matrix) -> [[Double]] {
        (0 ..< m.rows).map { i in
            var row = m.row(i)
            if distance == .cosine {
                let norm = row.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
                let scale = Float(1 / norm)
                row = row.map { $0 * scale }
            }
            return row.map(Double.init)
        }
    }
    let refs = prepared(references)
    let qs = queries.map(prepared) ?? refs
    return qs.enumerated().map { q, query in
        var scored: [(Double, Int)] = []
        for (r, ref) in refs.enumerated() where queries != nil || r != q {
            var s = 0.0
            for j in query.indices {
                switch distance {
                case .cosine, .innerProduct: s += query[j] * ref[j]
                case .squaredL2: s -= (query[j] - ref[j]) * (query[j] - ref[j])
                }
            }
            scored.append((s, r))
        }
        scored.sort { $0.0 > $1.0 || ($0.0 == $1.0 && $0.1 < $1.1) }
        return scored.prefix(k).map(\.1)
    }
}

func lists(_ n: Neighbors) -> [[Int]] {
    (0 ..< n.queries).map { q in n.indices(of: q).map(Int.init) }
}

/// Every query's list and scores from `search` with per-query `depths`, block by block.
func listsAndScores(_ search: ExactSearch, depths: [Int]) throws -> ([[Int32]], [[Float]]) {
    var indices: [[Int32]] = [], scores: [[Float]] = []
    try search.search(depths: depths) { block in
        for q in block.queries {
            indices.append(Array(block.indices(of: q)))
            scores.append(Array(block.scores[block.range(of: q)]))
        }
    }
    return (indices, scores)
}

@Suite("Exact search")
struct ExactSearchTests {
    struct Config: Sendable, CustomTestStringConvertible {
        let tileSize: Int
        let threads: Int
        let symmetric: Bool
        var path: ExactSearchPath = .candidates
        var schedule: ExactSearch.TileSchedule = .split
        var testDescription: String {
            "tile \(tileSize), \(threads) threads, \(symmetric ? "symmetric" : "plain"), \(path)\(schedule == .rounds ? ", rounds" : "")"
        }
    }

    static let configs: [Config] = [16, 37, 64, 1024].flatMap { t in
        [1, 2].flatMap { th in [true, false].map { Config(tileSize: t, threads: th, symmetric: $0) } }
    } + [1, 2].map { Config(tileSize: 1024, threads: $0, symmetric: true, path: .rows) }
        + [16, 37, 64].flatMap { t in [1, 2, 3].map { Config(tileSize: t, threads: $0, symmetric: true, schedule: .rounds) } }

    @Test("self-retrieval equals a naive double loop, ties included", arguments: configs, [Distance.innerProduct, .squaredL2])
    func selfRetrievalWithTies(_ c: Config, _ distance: Distance) throws {
        let x = integerMatrix(rows: 150, columns: 6, seed: 11)
        var search = try ExactSearch(references: x, distance: distance, tileSize: c.tileSize, threads: c.threads, useSymmetry: c.symmetric)
        search.path = c.path
        search.tileSchedule = c.schedule
        let found = try search.search(k: 20)
        #expect(found.depth == 20)
        #expect(firstDifference(lists(found), naiveNeighbors(x, queries: nil, distance: distance, k: 20)) == nil)
        // Scores are the similarities themselves.
        let q = 7, r = Int(found.indices(of: q).first!)
        let dot = (0 ..< 6).reduce(Float(0)) { $0 + x[q, $1] * x[r, $1] }
        let l2 = (0 ..< 6).reduce(Float(0)) { $0 + (x[q, $1] - x[r, $1]) * (x[q, $1] - x[r, $1]) }
        #expect(found.scores[q * 20] == (distance == .innerProduct ? dot : -l2))
    }

    /// The first query whose list differs, or nil.
    func firstDifference(_ a: [[Int]], _ b: [[Int]]) -> String? {
        guard a.count == b.count else { return "\(a.count) vs \(b.count) queries" }
        for q in a.indices where a[q] != b[q] { return "query \(q): \(a[q]) vs \(b[q])" }
        return nil
    }

    @Test("cosine with duplicated rows: every path and tiling gives the oracle's lists", arguments: [8, 100, 333])
    func cosineAllPathsAgree(_ tileSize: Int) throws {
        // Many exact duplicates: sgemm scores them differently by position, the exact
        // re-ranking of near-ties must make every path agree with the oracle.
        let x = floatMatrix(rows: 400, columns: 24, duplicates: 120, seed: 5)
        let oracle = naiveNeighbors(x, queries: nil, distance: .cosine, k: 30)
        for threads in [1, 2] {
            for (symmetric, path, schedule) in [
                (true, ExactSearchPath.candidates, ExactSearch.TileSchedule.split), (true, .candidates, .rounds),
                (false, .candidates, .split), (true, .rows, .split),
            ] {
                for kernel in [ExactProductKernel.blas, .canonical] {
                    var s = try ExactSearch(references: x, tileSize: tileSize, threads: threads, useSymmetry: symmetric)
                    s.path = path
                    s.productKernel = kernel
                    s.tileSchedule = schedule
                    let found = try s.search(k: 30)
                    #expect(firstDifference(lists(found), oracle) == nil,
                            "tile \(tileSize), \(threads) threads, symmetric \(symmetric), \(path), \(schedule), \(kernel)")
                }
            }
        }
    }

    @Test("a group of duplicates larger than the slack, straddling k, takes the fallback")
    func largeTieGroups() throws {
        // 40 copies of one row among random rows: k = 10 cuts the group, and the 16 extra
        // candidates the heaps keep cannot hold it all.
        var x = floatMatrix(rows: 200, columns: 8, duplicates: 0, seed: 21)
        for r in stride(from: 5, to: 200, by: 5) { for j in 0 ..< 8 { x[r, j] = x[0, j] } }
        let oracle = naiveNeighbors(x, queries: nil, distance: .cosine, k: 10)
        for (tile, symmetric, path) in [(16, true, ExactSearchPath.candidates), (50, false, .candidates), (1024, true, .candidates), (1024, true, .rows)] {
            for kernel in [ExactProductKernel.blas, .canonical] {
                var search = try ExactSearch(references: x, tileSize: tile, threads: 2, useSymmetry: symmetric)
                search.path = path
                search.productKernel = kernel
                let found = try search.search(k: 10)
                #expect(firstDifference(lists(found), oracle) == nil, "\(kernel)")
            }
        }
        #expect(oracle[0] == [5, 10, 15, 20, 25, 30, 35, 40, 45, 50])
    }

    @Test("canonical products give sgemm's lists on every path, tile and thread count, and every score is g", arguments: [Distance.cosine, .innerProduct])
    func canonicalProducts(_ distance: Distance) throws {
        // Rows on a coarse grid plus duplicates: many scores tie exactly or nearly, so the
        // sgemm path re-scores long runs, and any difference in order would show.
        var x = floatMatrix(rows: 420, columns: 35, duplicates: 60, seed: 8)
        for i in 0 ..< x.rows { for j in 0 ..< 35 { x[i, j] = (x[i, j] * 4).rounded() / 4 + (j == 0 ? Float(i % 3) * 1e-6 : 0) } }
        let depths = (0 ..< 420).map { [0, 1, 7, 60, 200, 419][$0 % 6] }
        func run(_ kernel: ExactProductKernel, tile: Int, threads: Int, symmetric: Bool, path: ExactSearchPath) throws -> ([[Int32]], [[Float]]) {
            var search = try ExactSearch(references: x, distance: distance, tileSize: tile, threads: threads, useSymmetry: symmetric)
            search.path = path
            search.productKernel = kernel
            return try listsAndScores(search, depths: depths)
        }
        let (expected, _) = try run(.blas, tile: 64, threads: 1, symmetric: true, path: .candidates)
        for (tile, threads, symmetric, path) in [(64, 1, true, ExactSearchPath.candidates), (37, 2, true, .candidates), (100, 2, false, .candidates),
                                                 (1024, 1, true, .rows), (16, 2, true, .rows)] {
            let (found, scores) = try run(.canonical, tile: tile, threads: threads, symmetric: symmetric, path: path)
            let differs = found.indices.first { found[$0] != expected[$0] }
            #expect(differs == nil, "query \(differs ?? -1) differs: tile \(tile), \(threads) threads, symmetric \(symmetric), \(path)")
            if distance == .innerProduct {
                // Every reported score is the canonical score of the pair, bit for bit.
                var wrong = 0
                x.values.withUnsafeBufferPointer { v in
                    for q in found.indices {
                        for (r, score) in zip(found[q], scores[q]) {
                            let g = ExactSearch.canonicalScore(v.baseAddress! + q * 35, v.baseAddress! + Int(r) * 35, 35, .innerProduct)
                            if g.bitPattern != score.bitPattern { wrong += 1 }
                        }
                    }
                }
                #expect(wrong == 0)
            }
        }
        #expect(expected.map(\.count) == depths)
    }

    @Test("queries against separate references: nothing excluded", arguments: [Distance.innerProduct, .squaredL2])
    func queryReferenceMode(_ distance: Distance) throws {
        let refs = integerMatrix(rows: 120, columns: 5, seed: 3)
        var qs = integerMatrix(rows: 45, columns: 5, seed: 4)
        for j in 0 ..< 5 { qs[0, j] = refs[10, j] }  // a query equal to a reference finds it
        for (tile, threads, path) in [(16, 1, ExactSearchPath.candidates), (50, 2, .candidates), (1024, 2, .candidates), (1024, 2, .rows), (1024, 1, .rows)] {
            var s = try ExactSearch(references: refs, queries: qs, distance: distance, tileSize: tile, threads: threads)
            s.path = path
            #expect(!s.isSelfRetrieval && s.availableDepth == 120)
            let found = try s.search(k: 12)
            #expect(firstDifference(lists(found), naiveNeighbors(refs, queries: qs, distance: distance, k: 12)) == nil)
        }
        let l2 = try ExactSearch(references: refs, queries: qs, distance: .squaredL2).search(k: 1)
        #expect(l2.scores[0] == 0)
    }

    @Test("k larger than the references gives every one of them")
    func depthIsCapped() throws {
        let x = integerMatrix(rows: 9, columns: 3, seed: 1)
        for path in [ExactSearchPath.candidates, .rows] {
            var search = try ExactSearch(references: x, distance: .innerProduct)
            search.path = path
            let found = try search.search(k: 50)
            #expect(found.depth == 8)
            for q in 0 ..< 9 { #expect(Set(found.indices(of: q)) == Set((0 ..< 9).filter { $0 != q }.map(Int32.init))) }
        }
        #expect(try ExactSearch(references: x, distance: .innerProduct).search(k: 0).depth == 0)
    }

    @Test("a zero row is an error naming it, for cosine only")
    func zeroRow() throws {
        var x = integerMatrix(rows: 10, columns: 4, range: 1 ... 3, seed: 2)
        for j in 0 ..< 4 { x[6, j] = 0 }
        #expect(throws: SearchError("reference row 6 has zero norm, so its cosine similarity is undefined; remove it or use --distance ip or l2")) {
            try ExactSearch(references: x)
        }
        #expect(throws: Never.self) { try ExactSearch(references: x, distance: .squaredL2).search(k: 3) }
    }

    @Test("queries of another dimension are refused")
    func dimensionMismatch() {
        #expect(throws: SearchError.self) {
            try ExactSearch(references: Matrix(zeros: 4, 3), queries: Matrix(zeros: 2, 5), distance: .innerProduct)
        }
    }
}

@Suite("Evaluation of stored fixtures against a slow reference")
struct PipelineTests {
    /// Metric definitions written out the slow, obvious way, independent of the library.
    static func slowMetrics(relevance: [[Bool]], r: [Int]) -> [String: Double] {
        var sums: [String: Double] = [:]
        var scored = 0
        for (q, list) in relevance.enumerated() where r[q] > 0 {
            scored += 1
            for k in [1, 2, 4, 8] { sums["recall@\(k)", default: 0] += list.prefix(k).contains(true) ? 1 : 0 }
            for k in [2, 4, 8] {
                var dcg = 0.0, ideal = 0.0
                for i in 0 ..< k {
                    if list[i] { dcg += 1 / log2(Double(i) + 2) }
                    if i < r[q] { ideal += 1 / log2(Double(i) + 2) }
                }
                sums["ndcg@\(k)", default: 0] += dcg / ideal
            }
            var ap = 0.0, hits = 0.0
            for i in 0 ..< r[q] where list[i] {
                hits += 1
                ap += hits / Double(i + 1)
            }
            sums["map@r", default: 0] += ap / Double(r[q])
            sums["r-precision", default: 0] += Double(list.prefix(r[q]).filter { $0 }.count) / Double(r[q])
        }
        return sums.mapValues { $0 / Double(scored) }
    }

    @Test("digits fixture: the library's evaluation equals naive search plus slow metrics")
    func digitsFixture() throws {
        let data = try LabeledEmbeddings.read(
            embeddings: repositoryRoot.appendingPathComponent("fixtures/digits.fbin").path,
            labels: repositoryRoot.appendingPathComponent("fixtures/digits-labels.txt").path)
        // A 600-row slice keeps the Double oracle quick.
        let n = 600
        let x = Matrix(rows: n, columns: data.embeddings.columns, values: Array(data.embeddings.values.prefix(n * data.embeddings.columns)))
        let labels = Labels(strings: (0 ..< n).map { data.labels.label(at: $0) })
        let sliced = try LabeledEmbeddings(embeddings: x, labels: labels)
        let metrics = Metric.paperSet + [.rPrecision]
        let result = try RetrievalEvaluation.run(references: sliced, metrics: metrics, threads: 2, tileSize: 128)
        let sizes = labels.classSizes()
        let r = (0 ..< n).map { sizes[Int(labels.classIndex[$0])] - 1 }
        #expect(result.depth == r.max())
        let oracle = naiveNeighbors(x, queries: nil, distance: .cosine, k: r.max()!)
        let relevance = oracle.enumerated().map { q, list in list.map { labels.classIndex[$0] == labels.classIndex[q] } }
        let slow = Self.slowMetrics(relevance: relevance, r: r)
        for metric in metrics {
            let mine = try #require(result.report.mean(of: metric))
            let theirs = try #require(slow[metric.name])
            #expect(abs(mine - theirs) < 1e-4, "\(metric.name): \(mine) vs \(theirs)")
        }
        #expect(result.report.excludedQueries == 0)
    }

    @Test("query/reference mode: labels matched by text, unknown labels excluded")
    func queryReferenceJudgments() throws {
        let refs = try LabeledEmbeddings(
            embeddings: Matrix(rows: 4, columns: 2, values: [1, 0, 0.9, 0.1, 0, 1, 0.1, 0.9]),
            labels: Labels(strings: ["a", "a", "b", "b"]))
        let qs = try LabeledEmbeddings(
            embeddings: Matrix(rows: 3, columns: 2, values: [1, 0.05, 0.05, 1, 1, 1]),
            labels: Labels(strings: ["b", "b", "zzz"]))
        let result = try RetrievalEvaluation.run(references: refs, queries: qs, metrics: [.recall(k: 1), .mapAtR], perClass: true)
        #expect(result.relevantCounts == [2, 2, 0])
        #expect(result.report.excludedQueries == 1)
        #expect(result.report.perQuery[0][0] == 0)  // query "b" near the "a" items
        #expect(result.report.perQuery[0][1] == 1)
        #expect(result.report.means[0] == 0.5)
        #expect(result.report.perClass?.scoredQueries == [0, 2])
    }
}

@Suite("Top-k selection")
struct TopKSelectionTests {
    @Test("quickselect keeps exactly the k best by (score, lower index)", arguments: [1, 2, 7, 50, 99])
    func select(_ k: Int) {
        var rng = SplitMix64(seed: UInt64(k))
        for trial in 0 ..< 50 {
            let n = 100
            // Few distinct scores: many ties, which the index must break.
            var scores = (0 ..< n).map { _ in Float(Int.random(in: 0 ... 9, using: &rng)) }
            var indices = (0 ..< n).map { Int32($0) }.shuffled(using: &rng)
            if trial % 5 == 0 { scores.sort() }  // ordered runs, the classic quickselect trap
            let expected = zip(scores, indices).sorted { $0.0 > $1.0 || ($0.0 == $1.0 && $0.1 < $1.1) }.prefix(k).map(\.1)
            scores.withUnsafeMutableBufferPointer { s in
                indices.withUnsafeMutableBufferPointer { ix in
                    TopKBuffers.select(s.baseAddress!, ix.baseAddress!, count: n, k: k)
                }
            }
            #expect(Set(indices.prefix(k)) == Set(expected), "k = \(k), trial \(trial)")
        }
    }

    @Test("the compaction's C quickselect keeps exactly the pairs reaching the k-th best score", arguments: [1, 2, 7, 116, 199, 200])
    func keepTop(_ k: Int) {
        var rng = SplitMix64(seed: UInt64(1000 + k))
        for trial in 0 ..< 60 {
            let n = 200
            var scores: [Float]
            switch trial % 6 {
            case 0: scores = (0 ..< n).map { _ in Float(Int.random(in: 0 ... 9, using: &rng)) }  // many ties
            case 1: scores = (0 ..< n).map { _ in Float.random(in: -1 ... 1, using: &rng) }.sorted()  // ordered runs
            case 2: scores = (0 ..< n).map { _ in Float.random(in: -1 ... 1, using: &rng) }.sorted(by: >)
            case 3: scores = [Float](repeating: 0.5, count: n)  // one value
            case 4: scores = (0 ..< n).map { _ in Bool.random(using: &rng) ? 0 : -0.0 }  // zeros of both signs tie
            default: scores = (0 ..< n).map { _ in Float.random(in: -1 ... 1, using: &rng) }
            }
            var indices = (0 ..< n).map { Int32($0) }.shuffled(using: &rng)
            let before = Dictionary(uniqueKeysWithValues: zip(indices, scores))
            let kth = scores.sorted(by: >)[k - 1]
            var threshold: Float = .nan
            let reached = scores.withUnsafeMutableBufferPointer { s in
                indices.withUnsafeMutableBufferPointer { ix in dmle_keep_top(s.baseAddress!, ix.baseAddress!, n, k, &threshold) }
            }
            #expect(threshold == kth, "k = \(k), trial \(trial)")
            #expect(reached == scores.filter { $0 >= kth }.count, "k = \(k), trial \(trial)")
            #expect(scores.prefix(reached).allSatisfy { $0 >= kth } && scores.dropFirst(reached).allSatisfy { $0 < kth })
            // A permutation of the pairs: every index still carries its own score.
            #expect(Set(indices) == Set(before.keys))
            #expect(zip(indices, scores).allSatisfy { before[$0.0] == $0.1 })
        }
    }

    @Test("the compaction's quickselect on long structured orders: ascending, descending, organ pipe, sawtooth")
    func keepTopStructured() {
        let n = 100_000
        let orders: [[Float]] = [
            (0 ..< n).map { Float($0) },
            (0 ..< n).map { Float(n - $0) },
            (0 ..< n).map { Float(min($0, n - 1 - $0)) },
            (0 ..< n).map { Float($0 % 97) },
        ]
        for (o, order) in orders.enumerated() {
            for k in [1, 100, n / 2, n - 1] {
                var scores = order
                var indices = (0 ..< n).map { Int32($0) }
                let kth = order.sorted(by: >)[k - 1]
                var threshold: Float = .nan
                let reached = dmle_keep_top(&scores, &indices, n, k, &threshold)
                #expect(threshold == kth && reached == order.filter { $0 >= kth }.count, "order \(o), k \(k)")
                var values = order
                #expect(dmle_kth_largest(&values, n, k) == kth, "order \(o), k \(k)")
            }
        }
    }

    @Test("the compaction refuses k out of range and a NaN pivot (the caller then selects by index)")
    func keepTopRefuses() {
        var scores: [Float] = [3, .nan, 1, 2, .nan]
        var indices: [Int32] = [0, 1, 2, 3, 4]
        var threshold: Float = 0
        #expect(dmle_keep_top(&scores, &indices, 5, 0, &threshold) == 0)
        #expect(dmle_keep_top(&scores, &indices, 5, 6, &threshold) == 0)
        var nans: [Float] = [.nan, .nan, .nan]
        var nanIndices: [Int32] = [0, 1, 2]
        #expect(dmle_keep_top(&nans, &nanIndices, 3, 2, &threshold) == 0)
        // NaN elsewhere than the pivot goes below every score.
        var mixed: [Float] = [1, .nan, 3, 2, 5]
        var mixedIndices: [Int32] = [0, 1, 2, 3, 4]
        #expect(dmle_keep_top(&mixed, &mixedIndices, 5, 2, &threshold) == 2)
        #expect(threshold == 3 && Set(mixedIndices.prefix(2)) == [2, 4])
    }

    @Test("buffers keep the k best by (score, index) through compactions with ties, whatever the order of offers")
    func buffersWithTies() throws {
        var rng = SplitMix64(seed: 77)
        for trial in 0 ..< 20 {
            let k = [1, 5, 40, 116][trial % 4], n = 3000
            // Three distinct scores: ties at the threshold on every compaction.
            let scores = (0 ..< n).map { _ in Float(Int.random(in: 0 ... 2, using: &rng)) }
            let expected = (0 ..< n).sorted { scores[$0] > scores[$1] || (scores[$0] == scores[$1] && $0 < $1) }.prefix(k)
            let buffers = try TopKBuffers(count: 1, k: k)
            buffers.withHandle { h in
                for r in (0 ..< n).shuffled(using: &rng) where scores[r] >= h.worst[0] {
                    h.append(0, score: scores[r], index: Int32(r))
                }
            }
            let held = (0 ..< Int(buffers.sizes[0])).map { Int(buffers.indices[$0]) }
            #expect(held.count >= k && held.count < TopKBuffers.slots(k))
            let best = held.sorted { scores[$0] > scores[$1] || (scores[$0] == scores[$1] && $0 < $1) }.prefix(k)
            #expect(Array(best) == Array(expected), "k = \(k), trial \(trial)")
        }
    }
}
