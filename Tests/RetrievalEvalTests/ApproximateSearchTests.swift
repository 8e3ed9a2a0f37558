import Foundation
import Testing
@testable import RetrievalEval

/// `clusters` Gaussian blobs in `columns` dimensions: the kind of data embeddings are.
func clusteredMatrix(rows: Int, columns: Int, clusters: Int, spread: Double = 0.35, seed: UInt64) -> Matrix {
    var rng = SplitMix64(seed: seed)
    let centres = (0 ..< clusters * columns).map { _ in rng.gaussian() }
    var values = [Float](repeating: 0, count: rows * columns)
    for i in 0 ..< rows {
        let c = Int(rng.next() % UInt64(clusters))
        for j in 0 ..< columns { values[i * columns + j] = Float(centres[c * columns + j] + spread * rng.gaussian()) }
    }
    return Matrix(rows: rows, columns: columns, values: values)
}

/// The same lists, and scores equal to float rounding (the exact search reports sgemm's
/// scores where the order is certain and canonical ones elsewhere, or canonical ones
/// throughout when its products are canonical; the indexes canonical ones).
func expectSameLists(_ a: Neighbors, _ b: Neighbors, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(a.queries == b.queries && a.depth == b.depth, sourceLocation: sourceLocation)
    #expect(a.indices == b.indices, sourceLocation: sourceLocation)
    let worst = zip(a.scores, b.scores).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? 0
    #expect(worst < 1e-5, "scores differ by \(worst)", sourceLocation: sourceLocation)
}

/// The fraction of the exact top k that the approximate lists hold.
func recall(_ approximate: Neighbors, _ exact: Neighbors) -> Double {
    var hits = 0
    for q in 0 ..< exact.queries {
        let truth = Set(exact.indices(of: q))
        hits += approximate.indices(of: q).filter(truth.contains).count
    }
    return Double(hits) / Double(exact.queries * exact.depth)
}

@Suite("Ranked keys and heaps")
struct RankedKeyTests {
    @Test("keys order by distance, negative and positive, then by index")
    func ordering() {
        let distances: [Float] = [-3.5, -1, -0.0, 0, 1e-30, 0.5, 2, 1e9, -1e9]
        var keys: [UInt64] = []
        for (i, d) in distances.enumerated() { keys.append(RankedKey.make(d, Int32(i))) }
        let sorted = keys.sorted().map { (RankedKey.distance($0), RankedKey.index($0)) }
        #expect(sorted.map(\.0) == distances.sorted())
        for (d, i) in sorted { #expect(distances[Int(i)] == d) }
        #expect(RankedKey.make(1, 3) < RankedKey.make(1, 4))
        #expect(RankedKey.make(-2, 9) < RankedKey.make(-1, 0))
        // NaN (from overflowing inputs) ranks after every distance, whatever its sign bit.
        for nan in [Float.nan, -Float.nan, Float(bitPattern: 0xFFC0_0000)] {
            #expect(RankedKey.make(nan, 0) > RankedKey.make(.infinity, 1))
        }
    }

    @Test("the heap pops in increasing order")
    func heap() {
        var rng = SplitMix64(seed: 3)
        var heap = KeyHeap(capacity: 2)
        let values = (0 ..< 500).map { _ in rng.next() % 1000 }
        for v in values { heap.push(v) }
        var popped: [UInt64] = []
        while !heap.isEmpty { popped.append(heap.pop()) }
        #expect(popped == values.sorted())
    }

    @Test("partial sort keeps the smallest in order")
    func partialSort() {
        var rng = SplitMix64(seed: 4)
        var keys = (0 ..< 300).map { _ in rng.next() % 50 }
        let expected = Array(keys.sorted().prefix(17))
        ApproximateLists.partialSort(&keys, first: 17)
        #expect(Array(keys.prefix(17)) == expected)
    }
}

@Suite("HNSW")
struct HNSWTests {
    static let data = clusteredMatrix(rows: 2_000, columns: 24, clusters: 40, seed: 11)

    @Test("default parameters reach recall@10 >= 0.95 against exact search", arguments: [Distance.cosine, .squaredL2])
    func recallAtTen(distance: Distance) throws {
        let index = try HNSWIndex.build(Self.data, distance: distance, threads: 2)
        let approximate = try index.search(nil, k: 10, effort: nil, threads: 2, progress: nil)
        let exact = try ExactSearch(references: Self.data, distance: distance).search(k: 10)
        let r = recall(approximate, exact)
        #expect(r >= 0.95, "recall@10 \(r)")
        // Self excluded, every list full, best first, scores the exact search's to rounding.
        for q in 0 ..< approximate.queries {
            #expect(!approximate.indices(of: q).contains(Int32(q)))
            let s = Array(approximate.scores[q * 10 ..< q * 10 + 10])
            #expect(s == s.sorted(by: >))
        }
        for q in 0 ..< exact.queries where approximate.indices(of: q) == exact.indices(of: q) {
            for i in q * 10 ..< q * 10 + 10 { #expect(abs(approximate.scores[i] - exact.scores[i]) <= 1e-5 * max(1, abs(exact.scores[i]))) }
        }
    }

    @Test("queries against the references, with a low efSearch recall drops")
    func queriesAndEffort() throws {
        let references = Matrix(rows: 1_800, columns: 24, values: Array(Self.data.values[0 ..< 1_800 * 24]))
        let queries = Matrix(rows: 200, columns: 24, values: Array(Self.data.values[1_800 * 24 ..< 2_000 * 24]))
        let index = try HNSWIndex.build(references, distance: .cosine, threads: 1)
        let exact = try ExactSearch(references: references, queries: queries).search(k: 10)
        let good = try IndexedSearch(index: index, queries: queries, effort: 128, threads: 2).search(k: 10, progress: nil)
        let poor = try IndexedSearch(index: index, queries: queries, effort: 10, threads: 1).search(k: 10, progress: nil)
        #expect(recall(good, exact) >= 0.98)
        #expect(recall(poor, exact) < recall(good, exact))
    }

    @Test("one-thread builds with a seed are identical; another seed gives another graph")
    func deterministic() throws {
        let a = try HNSWIndex.build(Self.data, distance: .cosine, parameters: .init(m: 8, efConstruction: 64, seed: 5), threads: 1)
        let b = try HNSWIndex.build(Self.data, distance: .cosine, parameters: .init(m: 8, efConstruction: 64, seed: 5), threads: 1)
        let c = try HNSWIndex.build(Self.data, distance: .cosine, parameters: .init(m: 8, efConstruction: 64, seed: 6), threads: 1)
        #expect(a.serialized() == b.serialized())
        #expect(a.serialized() != c.serialized())
    }

    @Test("a parallel build over many exact duplicates stays connected: efSearch = N finds the exact lists")
    func duplicatesStayReachable() throws {
        // 300 groups of 6 identical rows, in consecutive rows, so two threads often insert two
        // copies at once; pruning then keeps one copy per list and could strand the other.
        let base = clusteredMatrix(rows: 300, columns: 12, clusters: 20, seed: 61)
        var values: [Float] = []
        for i in 0 ..< 300 { for _ in 0 ..< 6 { values += base.row(i) } }
        let data = Matrix(rows: 1_800, columns: 12, values: values)
        for seed in 1 ... 3 as ClosedRange<UInt64> {
            let index = try HNSWIndex.build(data, distance: .cosine, parameters: .init(m: 4, efConstruction: 32, seed: seed), threads: 2)
            var reached = Set([index.entryPoint]), frontier = [index.entryPoint]
            while let node = frontier.popLast() {
                let links = index.list(node, 0)
                for i in 0 ..< Int(links[0]) where reached.insert(links[1 + i]).inserted { frontier.append(links[1 + i]) }
            }
            #expect(reached.count == 1_800, "seed \(seed): \(1_800 - reached.count) nodes unreachable")
            let all = try index.search(nil, k: 10, effort: 1_800, threads: 2, progress: nil)
            expectSameLists(all, try ExactSearch(references: data).search(k: 10))
        }
    }

    @Test("a saved graph loads and answers exactly as before")
    func roundTrip() throws {
        let index = try HNSWIndex.build(Self.data, distance: .squaredL2, parameters: .init(m: 6, efConstruction: 40), threads: 2)
        let bytes = index.serialized()
        let loaded = try IndexFile.load(bytes, vectors: Self.data, name: "graph")
        #expect(loaded.serialized() == bytes)
        let before = try index.search(nil, k: 7, effort: 20, threads: 2, progress: nil)
        let after = try loaded.search(nil, k: 7, effort: 20, threads: 1, progress: nil)
        #expect(before == after)
        let path = NSTemporaryDirectory() + "hnsw-\(getpid()).idx"
        defer { unlink(path) }
        try IndexFile.write(index, to: path)
        #expect(try IndexFile.read(path, vectors: Self.data).search(nil, k: 7, effort: 20, threads: 2, progress: nil) == before)
    }

    @Test("damaged or foreign index data is refused with the place named")
    func badFiles() throws {
        let index = try HNSWIndex.build(Self.data, distance: .cosine, parameters: .init(m: 4, efConstruction: 10), threads: 1)
        let bytes = index.serialized()
        #expect(throws: InputError.self) { try IndexFile.load(Array(bytes.dropLast(3)), vectors: Self.data, name: "g") }
        var other = Self.data
        other.values[5] += 1
        do {
            _ = try IndexFile.load(bytes, vectors: other, name: "g.idx")
            Issue.record("loaded onto other vectors")
        } catch let error as InputError {
            #expect(error.description.contains("g.idx"))
            #expect(error.description.contains("the embeddings the index was built on"))
        }
        var corrupt = bytes
        let firstList = 8 + 4 + 4 + 8 + 8 + 4 + 4 + 8 + 8 + 4 + 4 + index.count
        corrupt[firstList + 4] = 0xFF  // a link to a node that does not exist
        corrupt[firstList + 7] = 0x7F
        do {
            _ = try IndexFile.load(corrupt, vectors: Self.data, name: "g.idx")
            Issue.record("loaded a corrupt graph")
        } catch let error as InputError {
            #expect(error.description.contains("byte \(firstList)"), "\(error)")
        }
        #expect(throws: InputError.self) { try IndexFile.load(Array("NOTANIDX".utf8) + bytes, vectors: Self.data, name: "g") }

        // An upper-level link to a node that does not reach that level (search would read
        // outside the upper lists): refused at its byte.
        let m = 4, header = 64, count = index.count
        let upperStart = header + count + 4 * count * (1 + 2 * m)
        let firstUpper = try #require((0 ..< count).first { index.levels[$0] > 0 && index.list(Int32($0), 1)[0] > 0 })
        let blocksBefore = (0 ..< firstUpper).reduce(0) { $0 + Int(index.levels[$1]) }
        let low = try #require((0 ..< count).first { index.levels[$0] == 0 })
        var stray = bytes
        let at = upperStart + 4 * blocksBefore * (1 + m)
        withUnsafeBytes(of: Int32(low).littleEndian) { for i in 0 ..< 4 { stray[at + 4 + i] = $0[i] } }
        do {
            _ = try IndexFile.load(stray, vectors: Self.data, name: "g.idx")
            Issue.record("loaded a link to a node below its level")
        } catch let error as InputError {
            #expect(error.description.contains("byte \(at)") && error.description.contains("of level 0"), "\(error)")
        }
        // A header asking for far more lists than the data holds is refused before allocating.
        var huge = bytes
        withUnsafeBytes(of: UInt32(4096).littleEndian) { for i in 0 ..< 4 { huge[32 + i] = $0[i] } }
        #expect(throws: InputError.self) { try IndexFile.load(huge, vectors: Self.data, name: "g") }
    }

    @Test("bad parameters and raw inner product are refused")
    func errors() throws {
        #expect(throws: SearchError("HNSW M must be at least 2, found 1; 16 is a good default (--m)")) {
            try HNSWIndex.build(Self.data, distance: .cosine, parameters: .init(m: 1))
        }
        #expect(throws: SearchError.self) { try HNSWIndex.build(Self.data, distance: .cosine, parameters: .init(efConstruction: 0)) }
        #expect(throws: SearchError.self) { try HNSWIndex.build(Self.data, distance: .innerProduct) }
        let index = try HNSWIndex.build(Self.data, distance: .cosine, parameters: .init(m: 4, efConstruction: 10), threads: 1)
        #expect(throws: SearchError("HNSW efSearch (5) must be at least k (10): the search keeps only efSearch candidates; raise --ef-search")) {
            try index.search(nil, k: 10, effort: 5, threads: 1, progress: nil)
        }
    }

    @Test("tiny sets: one node, and k beyond what the graph reaches")
    func tiny() throws {
        let one = Matrix(rows: 1, columns: 3, values: [1, 2, 3])
        let single = try HNSWIndex.build(one, distance: .cosine)
        #expect(try single.search(nil, k: 5, effort: nil, threads: 1, progress: nil).depth == 0)
        let few = integerMatrix(rows: 30, columns: 4, seed: 2)
        let index = try HNSWIndex.build(few, distance: .squaredL2, parameters: .init(m: 2, efConstruction: 2), threads: 1)
        let all = try index.search(nil, k: 29, effort: 29, threads: 1, progress: nil)
        expectSameLists(all, try ExactSearch(references: few, distance: .squaredL2).search(k: 29))
    }
}

@Suite("IVF-Flat")
struct IVFTests {
    @Test("nprobe = nlist is the exact search, ties and all", arguments: [Distance.cosine, .innerProduct, .squaredL2])
    func exhaustiveEqualsExact(distance: Distance) throws {
        let data = floatMatrix(rows: 1_500, columns: 20, duplicates: 60, seed: 21)
        let index = try IVFIndex.build(data, distance: distance, parameters: .init(nlist: 24), threads: 2)
        let exact = try ExactSearch(references: data, distance: distance).search(k: 15)
        expectSameLists(try index.search(nil, k: 15, effort: 24, threads: 2, progress: nil), exact)
        let queries = floatMatrix(rows: 100, columns: 20, duplicates: 0, seed: 22)
        let exactQueries = try ExactSearch(references: data, queries: queries, distance: distance).search(k: 15)
        expectSameLists(try IndexedSearch(index: index, queries: queries, effort: 24, threads: 1).search(k: 15, progress: nil), exactQueries)
    }

    @Test("integer data with massive ties: identical to exact search")
    func integerTies() throws {
        let data = integerMatrix(rows: 600, columns: 6, range: -1 ... 1, seed: 9)
        let index = try IVFIndex.build(data, distance: .squaredL2, parameters: .init(nlist: 10, initialization: .kmeansPlusPlus), threads: 1)
        expectSameLists(try index.search(nil, k: 40, effort: 10, threads: 2, progress: nil),
                        try ExactSearch(references: data, distance: .squaredL2).search(k: 40))
    }

    @Test("recall grows with nprobe and the default is good on clustered data")
    func recallGrows() throws {
        let data = clusteredMatrix(rows: 3_000, columns: 16, clusters: 30, seed: 31)
        let index = try IVFIndex.build(data, distance: .cosine, threads: 2)
        let exact = try ExactSearch(references: data).search(k: 10)
        let recalls = try [1, 4, 16].map { recall(try index.search(nil, k: 10, effort: $0, threads: 2, progress: nil), exact) }
        #expect(recalls[0] < recalls[1] && recalls[1] <= recalls[2])
        #expect(recall(try index.search(nil, k: 10, effort: nil, threads: 2, progress: nil), exact) >= 0.95)
    }

    @Test("lists too small for k: further lists are scanned, nearest first, not the whole set")
    func smallLists() throws {
        let data = clusteredMatrix(rows: 600, columns: 8, clusters: 10, seed: 71)
        let index = try IVFIndex.build(data, distance: .squaredL2, parameters: .init(nlist: 300), threads: 1)
        #expect(index.offsets.indices.dropLast().allSatisfy { index.offsets[$0 + 1] - index.offsets[$0] < 10 })
        let found = try index.search(nil, k: 10, effort: 1, threads: 1, progress: nil)
        let exact = try ExactSearch(references: data, distance: .squaredL2).search(k: 10)
        // Full lists from a handful of nearby lists: good, but not the exact answer a full scan gives.
        let r = recall(found, exact)
        #expect(r > 0.5 && r < 1, "recall \(r)")
        #expect(Set(found.indices).count > 500)
    }

    @Test("k-means: seeded, every list non-empty after repair, save and load identical")
    func kmeansAndFiles() throws {
        // 200 copies of 5 points: most random centroids start on duplicates, and lists empty out.
        var values: [Float] = []
        for i in 0 ..< 1_000 { values += [Float(i % 5), Float((i % 5) * (i % 5)), 1] }
        let data = Matrix(rows: 1_000, columns: 3, values: values)
        let centroids = KMeans(clusters: 5, iterations: 30, seed: 3, threads: 1).fit(data)
        #expect(centroids == KMeans(clusters: 5, iterations: 30, seed: 3, threads: 2).fit(data))
        #expect(centroids.values.allSatisfy { $0.isFinite })
        let index = try IVFIndex.build(data, distance: .squaredL2, parameters: .init(nlist: 8), threads: 1)
        #expect(index.offsets.last == 1_000)
        let bytes = index.serialized()
        let loaded = try IndexFile.load(bytes, vectors: data, name: "lists")
        #expect(loaded.serialized() == bytes)
        #expect(try loaded.search(nil, k: 5, effort: 3, threads: 1, progress: nil) == (try index.search(nil, k: 5, effort: 3, threads: 2, progress: nil)))
    }

    @Test("bad parameters are refused")
    func errors() throws {
        let data = floatMatrix(rows: 50, columns: 4, duplicates: 0, seed: 1)
        #expect(throws: SearchError("IVF nlist (51) cannot exceed the number of references (50): each list needs a centroid drawn from them; lower --nlist")) {
            try IVFIndex.build(data, distance: .cosine, parameters: .init(nlist: 51))
        }
        #expect(throws: SearchError.self) { try IVFIndex.build(data, distance: .cosine, parameters: .init(nlist: 0)) }
        let index = try IVFIndex.build(data, distance: .cosine, parameters: .init(nlist: 5))
        #expect(throws: SearchError("IVF nprobe must be in 1...5 (the number of lists), found 6 (--nprobe)")) {
            try index.search(nil, k: 3, effort: 6, threads: 1, progress: nil)
        }
    }
}

@Suite("The check of an approximate search against exact search")
struct ApproximationCheckTests {
    static let data: LabeledEmbeddings = {
        let m = clusteredMatrix(rows: 1_200, columns: 16, clusters: 12, spread: 0.8, seed: 41)
        // Labels: the cluster a point is nearest to is unknown here, so label by position
        // blocks that cut across clusters: metrics are then far from 1 and can move.
        return try! LabeledEmbeddings(embeddings: m, labels: Labels(integers: (0 ..< 1_200).map { Int64($0 % 7) }))
    }()
    static let metrics: [Metric] = [.recall(k: 1, convention: .hit), .precision(k: 10), .mapAtR]

    @Test("exact lists passed as approximate: recall 1, every change 0, the sample's exact means")
    func exactAgainstItself() throws {
        let exact = try RetrievalEvaluation.run(references: Self.data, metrics: Self.metrics, keepNeighbors: true)
        let check = try ApproximationCheck.run(exact, references: Self.data, queries: nil, metrics: Self.metrics,
                                               distance: .cosine, sampleSize: 300, seed: 5, threads: 2)
        #expect(check.sample.count == 300 && check.sample == check.sample.sorted() && Set(check.sample).count == 300)
        #expect(check.recallAt10 == 1 && check.recallAtDepth == 1)
        #expect(check.approximateMeans == check.exactMeans)
        // The sample's exact means are the full run's per-query values averaged over the sample.
        for (m, _) in Self.metrics.enumerated() {
            let expected = check.sample.map { exact.report.perQuery[m][$0] }.reduce(0, +) / 300
            #expect(abs(check.exactMeans[m] - expected) < 1e-12)
        }
        #expect(check.sample == ApproximationCheck.sampleIndices(count: 1_200, size: 300, seed: 5))
        #expect(check.sample != ApproximationCheck.sampleIndices(count: 1_200, size: 300, seed: 6))
    }

    @Test("a coarse IVF search loses recall, and the check says by how much")
    func coarseSearch() throws {
        // Shallow metrics: a probed list (about 40 items) holds the 10 asked for, so nothing
        // falls back to a full scan.
        let metrics: [Metric] = [.recall(k: 1, convention: .hit), .precision(k: 10)]
        let index = try IVFIndex.build(Self.data.embeddings, distance: .cosine, parameters: .init(nlist: 30), threads: 2)
        let approximate = try RetrievalEvaluation.run(
            references: Self.data, metrics: metrics, index: ApproximateSettings(index: index, effort: 1))
        let check = try ApproximationCheck.run(approximate, references: Self.data, queries: nil, metrics: metrics,
                                               distance: .cosine, sampleSize: 2_000, seed: 1, threads: 2)
        #expect(check.sample.count == 1_200)
        let exact = try RetrievalEvaluation.run(references: Self.data, metrics: metrics, keepNeighbors: true)
        #expect(check.recallAtDepth < 0.9 && check.recallAt10 == check.recallAtDepth)
        // With every query sampled, the check's two columns are the two full runs.
        for m in metrics.indices {
            #expect(abs(check.exactMeans[m] - exact.report.means[m]) < 1e-12)
            #expect(abs(check.approximateMeans[m] - approximate.report.means[m]) < 1e-12)
        }
        #expect(abs(check.recallAtDepth - ApproximationCheck.overlap(try #require(approximate.neighbors), try #require(exact.neighbors), first: exact.depth)) < 1e-12)
    }
}
