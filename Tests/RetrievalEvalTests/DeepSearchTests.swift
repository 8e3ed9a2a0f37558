import Foundation
import Testing
@testable import RetrievalEval

/// Per-query depth, streaming metrics and the row path against today's evaluation: one
/// N x depth search on the candidate path, its relevance table, `Evaluator.evaluate`; and
/// against the naive double loop. Values must agree bit for bit.
@Suite("Deep search and streaming metrics")
struct DeepSearchTests {
    struct Config: Sendable, CustomTestStringConvertible {
        let tileSize: Int
        let threads: Int
        let path: ExactSearchPath
        var kernel: ExactProductKernel = .automatic
        var testDescription: String { "tile \(tileSize), \(threads) threads, \(path), \(kernel) products" }
    }

    static let configs: [Config] = [16, 37, 1024].flatMap { t in
        [1, 2].flatMap { th in [ExactSearchPath.candidates, .rows].map { Config(tileSize: t, threads: th, path: $0) } }
    } + [ExactProductKernel.blas, .canonical].flatMap { k in
        [ExactSearchPath.candidates, .rows].map { Config(tileSize: 37, threads: 2, path: $0, kernel: k) }
    }

    /// Unequal classes: one of half the set, a few small ones, and singletons (R = 0).
    static func unequalLabels(_ n: Int) -> Labels {
        var sizes = [n / 2, n / 5, n / 8, 12, 5, 2]
        let singletons = 15
        sizes.append(n - sizes.reduce(0, +) - singletons)
        var labels: [Int64] = []
        for (c, size) in sizes.enumerated() { labels += [Int64](repeating: Int64(c), count: size) }
        labels += (0 ..< singletons).map { Int64(100 + $0) }
        // Interleave so that classes are not contiguous blocks of rows.
        var rng = SplitMix64(seed: 77)
        labels.shuffle(using: &rng)
        return Labels(integers: labels)
    }

    static let metrics: [Metric] = [
        .recall(k: 1), .recall(k: 4, convention: .ir), .precision(k: 10), .mapAtR, .rPrecision, .ndcg(k: 8),
        .map(k: 20, denominator: .r), .map(k: 6, denominator: .hits),
    ]

    /// Today's pipeline: every query `depth` deep on the candidate path, then the evaluator.
    static func today(
        _ refs: LabeledEmbeddings, _ queries: LabeledEmbeddings?, metrics: [Metric], distance: Distance
    ) throws -> (MetricReport, Neighbors) {
        let judgments = queries.map { RelevanceJudgments(queries: $0.labels, references: refs.labels) }
            ?? RelevanceJudgments(selfRetrieval: refs.labels)
        var search = try ExactSearch(references: refs.embeddings, queries: queries?.embeddings, distance: distance, tileSize: 64, threads: 1)
        search.path = .candidates
        let neighbors = try search.search(k: judgments.depthNeeded(for: metrics))
        let classes = judgments.queryClasses.map { max($0, 0) }
        let report = try Evaluator.evaluate(judgments.table(for: neighbors), metrics: metrics, queryClasses: classes, classCount: refs.labels.classCount)
        return (report, neighbors)
    }

    /// Whether two reports hold the same bits (NaN equal to NaN).
    static func identical(_ a: MetricReport, _ b: MetricReport) -> Bool {
        func same(_ x: [Double], _ y: [Double]) -> Bool { x.map(\.bitPattern) == y.map(\.bitPattern) }
        guard a.metrics == b.metrics, a.scoredQueries == b.scoredQueries, a.excludedQueries == b.excludedQueries,
              same(a.means, b.means), a.perQuery.count == b.perQuery.count else { return false }
        for m in a.perQuery.indices where !same(a.perQuery[m], b.perQuery[m]) { return false }
        switch (a.perClass, b.perClass) {
        case (nil, nil): return true
        case let (x?, y?):
            return x.scoredQueries == y.scoredQueries && same(x.macroMeans, y.macroMeans)
                && zip(x.classMeans, y.classMeans).allSatisfy { same($0, $1) }
        default: return false
        }
    }

    static let selfData: LabeledEmbeddings = try! LabeledEmbeddings(
        embeddings: integerMatrix(rows: 300, columns: 7, seed: 31), labels: unequalLabels(300))

    @Test("self-retrieval, unequal classes and R = 0: per-query depth gives today's report bit for bit", arguments: configs)
    func selfRetrieval(_ c: Config) throws {
        for distance in [Distance.innerProduct, .squaredL2] {
            let (expected, _) = try Self.today(Self.selfData, nil, metrics: Self.metrics, distance: distance)
            let found = try RetrievalEvaluation.run(
                references: Self.selfData, metrics: Self.metrics, distance: distance, perClass: true,
                threads: c.threads, tileSize: c.tileSize, path: c.path, productKernel: c.kernel)
            #expect(found.depth == 149)
            #expect(found.neighbors == nil)
            #expect(Self.identical(found.report, expected), "\(distance)")
            #expect(found.report.excludedQueries == 15)
        }
    }

    @Test("per-query lists are prefixes of the naive oracle's, on both paths", arguments: configs)
    func listsArePrefixes(_ c: Config) throws {
        let x = Self.selfData.embeddings
        let judgments = RelevanceJudgments(selfRetrieval: Self.selfData.labels)
        let depths = RetrievalEvaluation.queryDepths(judgments, metrics: [.recall(k: 3), .mapAtR], depth: 149)
        #expect(depths.contains(0) && depths.contains(3) && depths.contains(149))
        let oracle = naiveNeighbors(x, queries: nil, distance: .innerProduct, k: 149)
        var search = try ExactSearch(references: x, distance: .innerProduct, tileSize: c.tileSize, threads: c.threads)
        search.path = c.path
        search.productKernel = c.kernel
        var next = 0
        try search.search(depths: depths) { block in
            #expect(block.queries.lowerBound == next)
            next = block.queries.upperBound
            for q in block.queries {
                #expect(block.indices(of: q).map(Int.init) == Array(oracle[q].prefix(depths[q])), "query \(q)")
            }
        }
        #expect(next == 300)
    }

    @Test("row path in many small blocks and chunks gives the candidate path's lists", arguments: [1, 2], [ExactProductKernel.blas, .canonical])
    func smallBlocks(_ threads: Int, _ kernel: ExactProductKernel) throws {
        let x = floatMatrix(rows: 333, columns: 10, duplicates: 90, seed: 12)
        let judgments = RelevanceJudgments(selfRetrieval: Self.unequalLabels(333))
        let depths = RetrievalEvaluation.queryDepths(judgments, metrics: [.recall(k: 5), .mapAtR], depth: 165)
        var expected = try ExactSearch(references: x, tileSize: 40, threads: 1)
        expected.path = .candidates
        expected.productKernel = .blas
        var lists: [[Int32]] = []
        try expected.search(depths: depths) { block in for q in block.queries { lists.append(Array(block.indices(of: q))) } }
        for (blockRows, chunk) in [(7, 3), (64, 1), (100, 33)] {
            var search = try ExactSearch(references: x, threads: threads)
            search.path = .rows
            search.productKernel = kernel
            search.rowBlockRows = blockRows
            search.rankingChunk = chunk
            var found: [[Int32]] = []
            try search.search(depths: depths) { block in
                #expect(block.queries.count <= blockRows)
                for q in block.queries { found.append(Array(block.indices(of: q))) }
            }
            #expect(found == lists, "blocks of \(blockRows), chunks of \(chunk)")
        }
    }

    @Test("cosine with duplicated rows: streaming on both paths equals today's, thread and tile counts aside")
    func cosineDuplicates() throws {
        let data = try LabeledEmbeddings(embeddings: floatMatrix(rows: 360, columns: 12, duplicates: 100, seed: 9), labels: Self.unequalLabels(360))
        let (expected, _) = try Self.today(data, nil, metrics: Self.metrics + [.mrr], distance: .cosine)
        for (tile, threads, path) in [(16, 2, ExactSearchPath.candidates), (100, 1, .rows), (1024, 2, .rows)] {
            for kernel in [ExactProductKernel.blas, .canonical] {
                let found = try RetrievalEvaluation.run(
                    references: data, metrics: Self.metrics + [.mrr], perClass: true, threads: threads, tileSize: tile, path: path,
                    productKernel: kernel)
                #expect(Self.identical(found.report, expected), "tile \(tile), \(threads) threads, \(path), \(kernel)")
            }
        }
    }

    @Test("a depth of N - 1: every other row, on both paths", arguments: [ExactSearchPath.candidates, .rows])
    func fullDepth(_ path: ExactSearchPath) throws {
        let n = 120
        let data = try LabeledEmbeddings(embeddings: integerMatrix(rows: n, columns: 5, seed: 2), labels: Labels(integers: (0 ..< n).map { Int64($0 % 3) }))
        let metrics: [Metric] = [.recall(k: n - 1, convention: .ir), .mapAtR, .ndcg(k: n - 1)]
        let (expected, neighbors) = try Self.today(data, nil, metrics: metrics, distance: .squaredL2)
        let found = try RetrievalEvaluation.run(references: data, metrics: metrics, distance: .squaredL2, perClass: true, keepNeighbors: true, path: path)
        #expect(found.depth == n - 1)
        #expect(Self.identical(found.report, expected))
        #expect(found.neighbors?.indices == neighbors.indices)
        #expect(lists(try #require(found.neighbors)) == naiveNeighbors(data.embeddings, queries: nil, distance: .squaredL2, k: n - 1))
        // Recall (ir) at N - 1 finds everything.
        #expect(found.report.means[0] == 1)
    }

    @Test("query/reference mode with per-query depth and unknown labels", arguments: configs)
    func queryReference(_ c: Config) throws {
        let refs = try LabeledEmbeddings(embeddings: integerMatrix(rows: 200, columns: 6, seed: 5), labels: Self.unequalLabels(200))
        let queryLabels = (0 ..< 70).map { q -> Int64 in q % 10 == 9 ? 999 : [0, 1, 2, 3, 4, 5, 6, 100][q % 8] }
        let queries = try LabeledEmbeddings(embeddings: integerMatrix(rows: 70, columns: 6, seed: 6), labels: Labels(integers: queryLabels))
        let (expected, _) = try Self.today(refs, queries, metrics: Self.metrics, distance: .innerProduct)
        let found = try RetrievalEvaluation.run(
            references: refs, queries: queries, metrics: Self.metrics, distance: .innerProduct, perClass: true,
            threads: c.threads, tileSize: c.tileSize, path: c.path, productKernel: c.kernel)
        #expect(Self.identical(found.report, expected))
        #expect(found.report.excludedQueries == 7)
    }

    @Test("saved lists, written block by block, are today's matrix", arguments: [ExactSearchPath.candidates, .rows])
    func savedNeighbors(_ path: ExactSearchPath) throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("dmleval-deep-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("neighbors.npy").path
        let (expected, neighbors) = try Self.today(Self.selfData, nil, metrics: Self.metrics, distance: .innerProduct)
        let found = try RetrievalEvaluation.run(
            references: Self.selfData, metrics: Self.metrics, distance: .innerProduct, perClass: true, tileSize: 50,
            saveNeighbors: file, path: path)
        #expect(Self.identical(found.report, expected))
        // Complete under a temporary name until committed (with the run it belongs to).
        #expect(!FileManager.default.fileExists(atPath: file))
        try #require(found.neighborsFile).commit()
        let bytes = try Data(contentsOf: URL(fileURLWithPath: file))
        let header = Int(bytes[8]) | Int(bytes[9]) << 8
        let body = bytes.dropFirst(10 + header)
        #expect(body.count == 300 * 149 * 8)
        let values = body.withUnsafeBytes { raw in (0 ..< 300 * 149).map { Int32(raw.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self)) } }
        #expect(values == neighbors.indices)
        #expect(String(decoding: bytes[10 ..< 10 + header], as: UTF8.self).contains("'shape': (300, 149)"))
    }

    @Test("a depth beyond the references is today's error, before any search")
    func tooDeep() throws {
        let data = try LabeledEmbeddings(embeddings: integerMatrix(rows: 30, columns: 3, seed: 1), labels: Labels(integers: (0 ..< 30).map { Int64($0 % 2) }))
        let metrics: [Metric] = [.mapAtR, .precision(k: 40)]
        let judgments = RelevanceJudgments(selfRetrieval: data.labels)
        let neighbors = try ExactSearch(references: data.embeddings, distance: .innerProduct).search(k: 40)
        var expected: MetricError?
        do { _ = try Evaluator.evaluate(judgments.table(for: neighbors), metrics: metrics) } catch let e as MetricError { expected = e }
        for path in [ExactSearchPath.candidates, .rows] {
            #expect(throws: try #require(expected)) {
                try RetrievalEvaluation.run(references: data, metrics: metrics, distance: .innerProduct, path: path)
            }
        }
        #expect(expected?.message.hasPrefix("query 0: precision@40 needs a ranked list of at least 40 items, found 29") == true)
    }

    @Test("memory that cannot be had is one error naming the size")
    func memoryRefused() {
        // 64 queries keeping 2^31 - 1 each: about 1.2 TiB of scores, more than any machine here
        // has (Linux refuses it under its default overcommit heuristic).
        #expect(throws: SearchError("cannot allocate 1280.0 GiB for the candidate lists of 64 queries; use fewer or shallower queries, or a machine with more memory")) {
            _ = try TopKBuffers(ks: [Int](repeating: Int(Int32.max), count: 64))
        }
    }

    @Test("row selection gathers exactly those within the margin of the depth-th best", arguments: [1, 5, 64, 300, 999])
    func rowSelection(_ depth: Int) {
        var rng = SplitMix64(seed: UInt64(depth))
        let n = 1000
        for trial in 0 ..< 20 {
            var row = (0 ..< n).map { _ in Float(Int.random(in: 0 ... (trial % 2 == 0 ? 20 : 1000), using: &rng)) }
            if trial % 5 == 0 { row.sort() }
            let skip = trial % 3 == 0 ? -1 : Int.random(in: 0 ..< n, using: &rng)
            guard depth <= n - (skip >= 0 ? 1 : 0) else { continue }
            let margin: Float = trial % 4 == 0 ? 0 : 2
            let ranked = row.enumerated().filter { $0.offset != skip }.map { ($0.element, Int32($0.offset)) }
                .sorted(by: ExactSearch.ranksBefore)
            let bound = ranked[depth - 1].0 - margin
            let expected = ranked.filter { $0.0 >= bound }.map(\.1)
            var scores = [Float](repeating: 0, count: n), indices = [Int32](repeating: 0, count: n)
            var sample: [Float] = [], pairs: [(Float, Int32)] = []
            row.withUnsafeBufferPointer { r in
                scores.withUnsafeMutableBufferPointer { s in
                    indices.withUnsafeMutableBufferPointer { ix in
                        ExactSearch.selectFromRow(r.baseAddress!, count: n, skip: skip, depth: depth, margin: margin,
                                                  scratchScores: s.baseAddress!, scratchIndices: ix.baseAddress!,
                                                  sample: &sample, into: &pairs)
                    }
                }
            }
            #expect(pairs.count == expected.count && Set(pairs.map(\.1)) == Set(expected), "depth \(depth), trial \(trial)")
            // Exact scores: a superset, whose best `depth` after the sort are the list.
            var exactPairs: [(Float, Int32)] = []
            row.withUnsafeBufferPointer { r in
                scores.withUnsafeMutableBufferPointer { s in
                    indices.withUnsafeMutableBufferPointer { ix in
                        ExactSearch.selectFromRow(r.baseAddress!, count: n, skip: skip, depth: depth, margin: 0, exact: true,
                                                  scratchScores: s.baseAddress!, scratchIndices: ix.baseAddress!,
                                                  sample: &sample, into: &exactPairs)
                    }
                }
            }
            RankSort.sort(&exactPairs)
            #expect(exactPairs.count >= depth && Set(exactPairs.map(\.1)).count == exactPairs.count, "depth \(depth), trial \(trial)")
            #expect(exactPairs.prefix(depth).map(\.1) == ranked.prefix(depth).map(\.1), "depth \(depth), trial \(trial)")
        }
    }
}

@Suite("Curves accumulated while streaming")
struct StreamedCurveTests {
    @Test(arguments: [ExactSearchPath.candidates, .rows])
    func streamedCurvesEqualTheCurvesOfTheFullLists(_ path: ExactSearchPath) throws {
        let data = DeepSearchTests.selfData
        let metrics: [Metric] = [.recall(k: 3), .mapAtR]
        let streamed = try RetrievalEvaluation.run(
            references: data, metrics: metrics, threads: 2, tileSize: 37, keepNeighbors: false, path: path)
        let kept = try RetrievalEvaluation.run(references: data, metrics: metrics, tileSize: 37, keepNeighbors: true, path: path)
        let full = RetrievalCurves(RelevanceJudgments(selfRetrieval: data.labels).table(for: try #require(kept.neighbors)))
        let curves = try #require(streamed.curves)
        // As deep as every scored query's list (its own R, at least 3), never deeper.
        let smallestR = RelevanceJudgments(selfRetrieval: data.labels).relevantCounts.filter { $0 > 0 }.min()!
        #expect(curves.depth == max(3, smallestR))
        #expect(curves.recall == Array(full.recall.prefix(curves.depth)))
        #expect(curves.precision == Array(full.precision.prefix(curves.depth)))
        #expect(curves.scoredQueries == full.scoredQueries)
    }
}
