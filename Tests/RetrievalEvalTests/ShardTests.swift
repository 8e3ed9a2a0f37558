import Foundation
import Testing
@testable import RetrievalEval

/// Query shards, partial-result files and their merge: the merged report must be the
/// unsharded one bit for bit, and every part that does not belong is refused by name.
@Suite struct ShardTests {
    /// Seeded clustered data with exact duplicate rows (ties at the self row) and a class of one.
    static func data(rows n: Int, dimensions d: Int, classes: Int, seed: UInt64) throws -> LabeledEmbeddings {
        var rng = SplitMix64(seed: seed)
        func uniform() -> Float { Float(rng.next() >> 40) / Float(1 << 24) - 0.5 }
        let centres = (0 ..< classes * d).map { _ in uniform() }
        var values: [Float] = [], labels: [String] = []
        for i in 0 ..< n {
            let c = i == n - 1 ? classes : Int(rng.next() % UInt64(classes))   // the last row: a class of its own
            if i % 7 == 3 && i > 0 {
                values += values[(i - 1) * d ..< i * d]                          // a duplicate of the previous row
                labels.append(labels[i - 1])
                continue
            }
            for j in 0 ..< d { values.append((c < classes ? centres[c * d + j] : 0.3) + 0.4 * uniform()) }
            labels.append("class-\(c)")
        }
        return try LabeledEmbeddings(embeddings: Matrix(rows: n, columns: d, values: values), labels: Labels(strings: labels))
    }

    static let metrics: [Metric] = [.recall(k: 1), .recall(k: 4, convention: .ir), .map(k: 5, denominator: .r), .mapAtR,
                                    .rPrecision, .ndcg(k: 8), .precision(k: 3), .mrr]

    static let identity = Baseline.DatasetIdentity(hash: "aa", embeddingsHash: "bb", labelsHash: "cc", rows: 301, dimensions: 12, classes: 6)

    /// The parts of every shard of `n`, as files would hold them.
    static func parts(_ refs: LabeledEmbeddings, queries: LabeledEmbeddings? = nil, count: Int, metrics: [Metric] = metrics,
                      distance: Distance = .cosine, version: String = "1.0") throws -> [ShardMerge.Source] {
        try (0 ..< count).map { i in
            let shard = try Shard(index: i, count: count)
            let evaluation = try ShardEvaluation.run(references: refs, queries: queries, shard: shard, metrics: metrics,
                                                     distance: distance, threads: 2, tileSize: 64)
            let part = evaluation.partial(toolVersion: version, parameters: [("distance", distance.rawValue), ("embeddings", "e.npy")],
                                          inputs: [], dataset: identity, queryDataset: nil, readSeconds: 0)
            // Through the file format, as the merge would see it.
            return ShardMerge.Source(path: shard.fileName, part: try PartialResult.decode(try part.encoded(), path: shard.fileName))
        }
    }

    static func expectBitIdentical(_ merged: ShardMerge, _ whole: RetrievalEvaluation, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(merged.depth == whole.depth, sourceLocation: sourceLocation)
        #expect(merged.relevantCounts == whole.relevantCounts, sourceLocation: sourceLocation)
        #expect(merged.report.scoredQueries == whole.report.scoredQueries, sourceLocation: sourceLocation)
        #expect(merged.report.excludedQueries == whole.report.excludedQueries, sourceLocation: sourceLocation)
        #expect(merged.report.means.map(\.bitPattern) == whole.report.means.map(\.bitPattern), sourceLocation: sourceLocation)
        for m in merged.report.metrics.indices {
            #expect(merged.report.perQuery[m].map(\.bitPattern) == whole.report.perQuery[m].map(\.bitPattern),
                    "\(merged.report.metrics[m].name)", sourceLocation: sourceLocation)
        }
        #expect(merged.curves == whole.curves, sourceLocation: sourceLocation)
        if let a = merged.report.perClass, let b = whole.report.perClass {
            #expect(a.macroMeans.map(\.bitPattern) == b.macroMeans.map(\.bitPattern), sourceLocation: sourceLocation)
            #expect(a.scoredQueries == b.scoredQueries, sourceLocation: sourceLocation)
        }
    }

    @Test("shard ranges: contiguous, balanced, covering every query once, the same for any caller")
    func ranges() throws {
        for n in [0, 1, 7, 100, 1797] {
            for count in [1, 2, 3, 4, 7, 64, 2000] {
                let ranges = try (0 ..< count).map { try Shard(index: $0, count: count).rows(of: n) }
                #expect(ranges.first?.lowerBound == 0 && ranges.last?.upperBound == n)
                for (a, b) in zip(ranges, ranges.dropFirst()) { #expect(a.upperBound == b.lowerBound) }
                let sizes = ranges.map(\.count)
                #expect(sizes.max()! - sizes.min()! <= 1)
            }
        }
        #expect(try Shard(index: 1, count: 4).rows(of: 10) == 2 ..< 5)
        #expect(try Shard.parse("3/4") == Shard(index: 3, count: 4))
        #expect(try Shard.parse("three/4") == nil)
        #expect(try Shard.parse("3") == nil)
        #expect(throws: ShardError.self) { try Shard.parse("5/4") }
        #expect(throws: ShardError.self) { try Shard.parse("4/4") }
        #expect(throws: ShardError.self) { try Shard.parse("0/0") }
        #expect(throws: ShardError.self) { try Shard.parse("-1/4") }
        #expect(Shard.parseFileName("part-2-of-4")! == (2, 4))
        #expect(Shard.parseFileName("part-2-of-4.tmp-123") == nil)
        #expect(Shard.parseFileName("part-02-of-4") == nil)
    }

    @Test("--shard auto: Slurm (with a MIN offset), Kubernetes, and refusals outside an array")
    func environment() throws {
        #expect(try Shard.fromEnvironment(["SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_COUNT": "4"]) == Shard(index: 2, count: 4))
        #expect(try Shard.fromEnvironment(["SLURM_ARRAY_TASK_ID": "4", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_MAX": "4"]) == Shard(index: 3, count: 4))
        #expect(try Shard.fromEnvironment(["JOB_COMPLETION_INDEX": "0", "DMLEVAL_SHARDS": "8"]) == Shard(index: 0, count: 8))
        for env in [[:], ["JOB_COMPLETION_INDEX": "0"], ["SLURM_ARRAY_TASK_ID": "x", "SLURM_ARRAY_TASK_COUNT": "4"],
                    ["SLURM_ARRAY_TASK_ID": "6", "SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_MAX": "6", "SLURM_ARRAY_TASK_COUNT": "4"],
                    ["SLURM_ARRAY_TASK_ID": "1"]] {
            #expect(throws: ShardError.self) { try Shard.fromEnvironment(env) }
        }
        let outside = #expect(throws: ShardError.self) { try Shard.fromEnvironment([:]) }
        #expect(outside?.description.contains("SLURM_ARRAY_TASK_ID") == true)
    }

    @Test("self-retrieval: shards merged in any order equal the unsharded run bit for bit", arguments: [1, 3, 4, 7])
    func selfRetrieval(count: Int) throws {
        let data = try Self.data(rows: 301, dimensions: 12, classes: 6, seed: 5)
        let whole = try RetrievalEvaluation.run(references: data, metrics: Self.metrics, perClass: true, threads: 2, tileSize: 64)
        var parts = try Self.parts(data, count: count)
        parts.reverse()
        if parts.count > 2 { parts.swapAt(0, 1) }
        let merged = try ShardMerge.merge(parts, perClass: true)
        Self.expectBitIdentical(merged, whole)
        #expect(merged.shards == count)
        #expect(merged.report.excludedQueries == 1)   // the class of one
    }

    @Test("self-retrieval with l2 and ip, on the digits fixture: bit-identical")
    func digits() throws {
        let data = try LabeledEmbeddings.read(
            embeddings: repositoryRoot.appendingPathComponent("fixtures/digits.fbin").path,
            labels: repositoryRoot.appendingPathComponent("fixtures/digits-labels.txt").path)
        for distance in [Distance.cosine, .squaredL2, .innerProduct] {
            let metrics: [Metric] = [.recall(k: 1), .mapAtR, .ndcg(k: 8), .map(k: 10)]
            let whole = try RetrievalEvaluation.run(references: data, metrics: metrics, distance: distance, threads: 2)
            let merged = try ShardMerge.merge(try Self.parts(data, count: 4, metrics: metrics, distance: distance))
            Self.expectBitIdentical(merged, whole)
        }
    }

    @Test("query/reference mode (a query label no reference has): bit-identical", arguments: [1, 2, 5])
    func queryReference(count: Int) throws {
        let refs = try Self.data(rows: 257, dimensions: 10, classes: 5, seed: 11)
        let raw = try Self.data(rows: 90, dimensions: 10, classes: 5, seed: 12)
        // Two queries carry a label no reference has: R = 0, excluded.
        var names = (0 ..< raw.labels.count).map { raw.labels.label(at: $0) }
        names[0] = "unknown"
        names[45] = "unknown"
        let queries = try LabeledEmbeddings(embeddings: raw.embeddings, labels: Labels(strings: names))
        let whole = try RetrievalEvaluation.run(references: refs, queries: queries, metrics: Self.metrics, perClass: true, threads: 2, tileSize: 64)
        let merged = try ShardMerge.merge(try Self.parts(refs, queries: queries, count: count).shuffled(), perClass: true)
        Self.expectBitIdentical(merged, whole)
        #expect(merged.report.excludedQueries == 2)
    }

    @Test("N larger than the queries: empty shards write empty parts, and the merge is still exact")
    func moreShardsThanQueries() throws {
        let data = try Self.data(rows: 9, dimensions: 4, classes: 2, seed: 3)
        let metrics: [Metric] = [.recall(k: 1), .mapAtR, .ndcg(k: 2)]
        let whole = try RetrievalEvaluation.run(references: data, metrics: metrics, threads: 1)
        let parts = try Self.parts(data, count: 20, metrics: metrics)
        #expect(parts.filter { $0.part.rows.isEmpty }.count == 11)
        Self.expectBitIdentical(try ShardMerge.merge(parts), whole)
    }

    @Test("a missing part, a duplicated part, parts of other data, settings, N or version are refused by name")
    func refusals() throws {
        let data = try Self.data(rows: 120, dimensions: 6, classes: 4, seed: 9)
        let parts = try Self.parts(data, count: 4)

        let missing = #expect(throws: ShardError.self) { try ShardMerge.merge(parts.filter { $0.part.shard.index != 2 }, partPath: { "dir/" + $0.fileName }) }
        #expect(missing?.code == .missingPart)
        #expect(missing?.description.hasPrefix("dir/part-2-of-4: expected all 4 parts, found no part for shard 2/4") == true)

        let duplicated = #expect(throws: ShardError.self) { try ShardMerge.merge(parts + [ShardMerge.Source(path: "copy", part: parts[1].part)]) }
        #expect(duplicated?.code == .duplicatePart)
        #expect(duplicated?.description.hasPrefix("copy: expected one part per shard, found shard 1/4 twice") == true)

        var otherData = parts[3].part
        otherData.dataset.hash = "ff"
        let data3 = #expect(throws: ShardError.self) { try ShardMerge.merge(Array(parts.prefix(3)) + [.init(path: "p3", part: otherData)]) }
        #expect(data3?.code == .mismatchedPart)
        #expect(data3?.description.hasPrefix("p3: expected the data with hash aa like part-0-of-4, found hash ff") == true)

        var otherVersion = parts[2].part
        otherVersion.toolVersion = "9.9"
        let version = #expect(throws: ShardError.self) { try ShardMerge.merge(parts.filter { $0.part.shard.index != 2 } + [.init(path: "p2", part: otherVersion)]) }
        #expect(version?.description.hasPrefix("p2: expected dmleval version 1.0 like part-0-of-4, found 9.9") == true)

        var otherSettings = parts[1].part
        otherSettings.parameters[0].1 = "l2"
        let settings = #expect(throws: ShardError.self) { try ShardMerge.merge([parts[0], .init(path: "p1", part: otherSettings), parts[2], parts[3]]) }
        #expect(settings?.description.hasPrefix("p1: expected the setting distance = cosine like part-0-of-4, found distance = l2") == true)

        // Another path to the same content is not another setting.
        var otherPath = parts[1].part
        otherPath.parameters[1].1 = "/elsewhere/e.npy"
        #expect(throws: Never.self) { try ShardMerge.merge([parts[0], .init(path: "p1", part: otherPath), parts[2], parts[3]]) }

        let eight = try Self.parts(data, count: 8)
        let otherN = #expect(throws: ShardError.self) { try ShardMerge.merge(parts + [eight[5]]) }
        #expect(otherN?.description.hasPrefix("part-5-of-8: expected shards of 4 like part-0-of-4, found 8") == true)

        let none = #expect(throws: ShardError.self) { try ShardMerge.merge([]) }
        #expect(none?.code == .noParts)
    }

    @Test("the part file: written atomically, read back equal; damaged bytes named by offset")
    func fileFormat() throws {
        let dir = try TemporaryDirectory()
        let data = try Self.data(rows: 50, dimensions: 5, classes: 3, seed: 1)
        let part = try Self.parts(data, count: 2)[1].part
        let path = try part.write(to: dir.path)
        #expect(path == dir.path("part-1-of-2"))
        #expect(try dir.listing() == ["part-1-of-2"])
        let back = try PartialResult.read(path)
        #expect(back.values.map(\.bitPattern) == part.values.map(\.bitPattern))
        #expect(back.relevantCounts == part.relevantCounts && back.classes == part.classes)
        #expect(back.firstHits == part.firstHits && back.hitsAt == part.hitsAt)
        #expect(back.parameters.map(\.0) == part.parameters.map(\.0) && back.timings.map(\.0) == ["read", "search", "metrics"])

        let bytes = try part.encoded()
        let headerLength = Int(bytes[12]) | Int(bytes[13]) << 8
        let body = 20 + headerLength
        expectInputError(.badHeader, file: "f", at: .byte(0), mentioning: ["dmlpart"]) { try PartialResult.decode(Array("hello world, not a part".utf8), path: "f") }
        expectInputError(.wrongSize, file: "f", at: .byte(bytes.count - 8), mentioning: ["truncated"]) { try PartialResult.decode(Array(bytes.dropLast(8)), path: "f") }
        expectInputError(.wrongSize, file: "f", at: .byte(bytes.count), mentioning: ["after the last array"]) { try PartialResult.decode(bytes + [0], path: "f") }
        var newer = bytes
        newer[8] = 2
        expectInputError(.badHeader, file: "f", at: .byte(8), mentioning: ["newer dmleval"]) { try PartialResult.decode(newer, path: "f") }
        // R of the first query set negative.
        var negative = bytes
        for i in 0 ..< 8 { negative[body + i] = 0xff }
        expectInputError(.badHeader, file: "f", at: .byte(body), mentioning: ["R of query 25"]) { try PartialResult.decode(negative, path: "f") }
        // A metric value out of [0, 1].
        var value = bytes
        let firstValue = body + 25 * 12
        let scoredFirst = part.relevantCounts[0] > 0
        #expect(scoredFirst)
        withUnsafeBytes(of: (2.0).bitPattern.littleEndian) { for i in 0 ..< 8 { value[firstValue + i] = $0[i] } }
        expectInputError(.badHeader, file: "f", at: .byte(firstValue), mentioning: ["recall@1 of query 25", "[0, 1]"]) { try PartialResult.decode(value, path: "f") }
        // A header field with the wrong type.
        let json = String(decoding: bytes[20 ..< body], as: UTF8.self).replacingOccurrences(of: "\"depth\":", with: "\"depth\":\"x\",\"was\":")
        var header = Array(json.utf8)
        var retyped = Array(bytes[0 ..< 12])
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { retyped += $0 }
        header = retyped + header + Array(bytes[body...])
        expectInputError(.badHeader, file: "f", at: .byte(20), mentioning: ["\"depth\""]) { try PartialResult.decode(header, path: "f") }
    }
}
