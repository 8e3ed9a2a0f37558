import Foundation
import GRDB
import Testing

/// `dmleval --shard I/N --partial-out DIR` then `dmleval merge DIR`, as a user (or a scheduler)
/// runs them: the merged run is the unsharded run, and every bad input is one error line.
@Suite("Sharded evaluation and merge")
struct ShardEndToEndTests {
    static let digits = ["fixtures/digits.fbin", "fixtures/digits-labels.txt"]
    static let metrics = ["--recall", "1,4", "--map-r", "--ndcg", "8", "--map", "10", "--map-denominator", "r"]

    /// Every stored value of a run (metric name, mean, macro mean, per-query bytes) and its curves.
    static func storedValues(_ store: URL, run: Int64) throws -> [String] {
        let db = try DatabaseQueue(path: store.path)
        return try db.read { db in
            let metrics = try Row.fetchAll(db, sql: "SELECT metric, mean, macroMean, perQuery FROM runMetric WHERE runId = ? ORDER BY position", arguments: [run])
                .map { row -> String in
                    let mean: Double? = row["mean"], macro: Double? = row["macroMean"]
                    let blob: Data = row["perQuery"]
                    return "\(row["metric"] as String) \(mean?.bitPattern ?? 0) \(macro?.bitPattern ?? 0) \(blob.base64EncodedString())"
                }
            let curves = try Row.fetchAll(db, sql: "SELECT k, recall, precision FROM runCurve WHERE runId = ? ORDER BY k", arguments: [run])
                .map { row -> String in
                    let r: Double? = row["recall"], p: Double? = row["precision"]
                    return "curve \(row["k"] as Int) \(r?.bitPattern ?? 0) \(p?.bitPattern ?? 0)"
                }
            return metrics + curves
        }
    }

    static func runCount(_ store: URL) throws -> Int {
        guard FileManager.default.fileExists(atPath: store.path) else { return 0 }
        return try DatabaseQueue(path: store.path).read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM run") ?? 0 }
    }

    static func shard(_ i: Int, of n: Int, into parts: URL, extra: [String] = [], data: [String] = digits,
                      environment: [String: String] = [:]) throws -> CommandResult {
        try dmleval(data + metrics + extra + ["--shard", "\(i)/\(n)", "--partial-out", parts.path], environment: environment)
    }

    @Test("self-retrieval in 3 shards (with --per-class): the merged run's stored values equal the unsharded run's, bit for bit")
    func selfRetrieval() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let parts = dir.appendingPathComponent("parts"), store = dir.appendingPathComponent("s.sqlite")
        for i in [2, 0, 1] {
            let r = try Self.shard(i, of: 3, into: parts, extra: ["--per-class", "--threads", "1"])
            #expect(r.status == 0, "\(r.stderr)")
            #expect(r.stdout.contains("shard \(i)/3: queries"), "\(r.stdout)")
        }
        #expect(!FileManager.default.fileExists(atPath: store.path), "a shard touches no store")
        #expect(try FileManager.default.contentsOfDirectory(atPath: parts.path).sorted() == ["part-0-of-3", "part-1-of-3", "part-2-of-3"])
        let merged = try dmleval(["merge", parts.path, "--store", store.path, "--name", "sharded", "--format", "json"])
        #expect(merged.status == 0, "\(merged.stderr)")
        #expect(merged.stderr.contains("run 1 stored in"), "\(merged.stderr)")
        let whole = try dmleval(Self.digits + Self.metrics + ["--per-class", "--store", store.path, "--format", "json"])
        #expect(whole.status == 0, "\(whole.stderr)")
        let a = try jsonObject(merged.stdout), b = try jsonObject(whole.stdout)
        #expect(a["metrics"] as? NSDictionary == b["metrics"] as? NSDictionary)
        #expect(a["scored_queries"] as? Int == 1797)
        let stored1 = try Self.storedValues(store, run: 1), stored2 = try Self.storedValues(store, run: 2)
        #expect(stored1.count >= 5 && stored1 == stored2)
        // Recorded as an ordinary run, flagged as sharded.
        let show = try dmleval(["runs", "show", "1", "--store", store.path])
        #expect(show.status == 0)
        #expect(show.stdout.contains("sharded = true") && show.stdout.contains("shards = 3"), "\(show.stdout)")
        let compare = try dmleval(["runs", "compare", "1", "2", "--store", store.path])
        #expect(compare.stdout.contains("0/1797/0"), "\(compare.stdout)")
        // A baseline exported from the merged run gates the unsharded data.
        let baseline = dir.appendingPathComponent("b.json").path
        #expect(try dmleval(["runs", "export", "1", "-o", baseline, "--store", store.path]).status == 0)
        let check = try dmleval(["check"] + Self.digits + ["--baseline", baseline, "--no-store"])
        #expect(check.status == 0, "\(check.stdout) \(check.stderr)")
    }

    @Test("shards reading the references from disk in tiles (--stream-references): the merged run equals the unsharded run, bit for bit")
    func streamedShards() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let parts = dir.appendingPathComponent("parts"), store = dir.appendingPathComponent("s.sqlite")
        for i in 0 ..< 4 {
            let r = try Self.shard(i, of: 4, into: parts, extra: ["--stream-references", "--threads", "2"])
            #expect(r.status == 0, "\(r.stderr)")
        }
        #expect(try dmleval(["merge", parts.path, "--store", store.path]).status == 0)
        #expect(try dmleval(Self.digits + Self.metrics + ["--store", store.path]).status == 0)
        let stored1 = try Self.storedValues(store, run: 1), stored2 = try Self.storedValues(store, run: 2)
        #expect(stored1.count >= 5 && stored1 == stored2)
    }

    @Test("query/reference mode with --shard auto from Slurm's and Kubernetes' variables: bit-identical")
    func queryReferenceAuto() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let parts = dir.appendingPathComponent("parts"), store = dir.appendingPathComponent("s.sqlite")
        let data = ["fixtures/digits.fbin", "fixtures/digits-labels.txt", "--queries", "fixtures/digits.fbin", "--query-labels", "fixtures/digits-labels.txt"]
        // Slurm --array=1-2 (MIN 1) for the first two, then Kubernetes' index for the last one.
        for env in [["SLURM_ARRAY_TASK_ID": "1", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_MAX": "3", "SLURM_ARRAY_TASK_COUNT": "3"],
                    ["SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_MAX": "3", "SLURM_ARRAY_TASK_COUNT": "3"],
                    ["JOB_COMPLETION_INDEX": "2", "DMLEVAL_SHARDS": "3"]] {
            let r = try dmleval(data + Self.metrics + ["--shard", "auto", "--partial-out", parts.path], environment: env)
            #expect(r.status == 0, "\(r.stderr)")
        }
        let merged = try dmleval(["merge", parts.path, "--store", store.path])
        #expect(merged.status == 0, "\(merged.stderr)")
        #expect(merged.stdout.contains("1797 queries against 1797 references"), "\(merged.stdout)")
        #expect(try dmleval(data + Self.metrics + ["--store", store.path]).status == 0)
        #expect(try Self.storedValues(store, run: 1) == Self.storedValues(store, run: 2))
    }

    @Test("more shards than queries: empty parts, and the merge is the unsharded run")
    func moreShardsThanQueries() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let emb = dir.appendingPathComponent("e.fvecs"), labels = dir.appendingPathComponent("l.txt")
        var bytes: [UInt8] = []
        for i in 0 ..< 5 {
            withUnsafeBytes(of: Int32(3).littleEndian) { bytes += $0 }
            for j in 0 ..< 3 { withUnsafeBytes(of: Float(1 + (i * 7 + j * 3) % 5).bitPattern.littleEndian) { bytes += $0 } }
        }
        try Data(bytes).write(to: emb)
        try "a\nb\na\nb\na\n".write(to: labels, atomically: true, encoding: .utf8)
        let parts = dir.appendingPathComponent("parts"), store = dir.appendingPathComponent("s.sqlite")
        for i in 0 ..< 8 {
            let r = try dmleval([emb.path, labels.path, "--recall", "1", "--map-r", "--shard", "\(i)/8", "--partial-out", parts.path])
            #expect(r.status == 0, "\(r.stderr)")
        }
        #expect(try dmleval(["merge", parts.path, "--store", store.path]).status == 0)
        #expect(try dmleval([emb.path, labels.path, "--recall", "1", "--map-r", "--store", store.path]).status == 0)
        #expect(try Self.storedValues(store, run: 1) == Self.storedValues(store, run: 2))
    }

    /// Shards 0..<n of the digits in a fresh folder.
    static func parts(_ n: Int, in dir: URL, extra: [String] = []) throws -> URL {
        let parts = dir.appendingPathComponent("parts")
        for i in 0 ..< n { #expect(try shard(i, of: n, into: parts, extra: extra).status == 0) }
        return parts
    }

    /// `merge` refused: exit 2, one error line starting with `prefix`, no store made.
    static func expectRefused(_ parts: URL, _ dir: URL, startingWith prefix: String, mentioning words: [String] = [],
                              sourceLocation: SourceLocation = #_sourceLocation) throws {
        let store = dir.appendingPathComponent("s.sqlite")
        let r = try dmleval(["merge", parts.path, "--store", store.path])
        #expect(r.status == 2, "\(r.stderr)", sourceLocation: sourceLocation)
        #expect(r.stdout.isEmpty, sourceLocation: sourceLocation)
        let lines = r.stderr.split(separator: "\n")
        #expect(lines.count == 1, "\(r.stderr)", sourceLocation: sourceLocation)
        #expect(r.stderr.hasPrefix("error: " + prefix), "\(r.stderr)", sourceLocation: sourceLocation)
        for word in words { #expect(r.stderr.contains(word), "\(r.stderr)", sourceLocation: sourceLocation) }
        #expect(!FileManager.default.fileExists(atPath: store.path), "no run stored", sourceLocation: sourceLocation)
    }

    @Test("a missing part, a duplicated part, a part of other data, settings or N: exit 2 naming the part, nothing stored")
    func badParts() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let parts = try Self.parts(3, in: dir)
        let fm = FileManager.default
        let p1 = parts.appendingPathComponent("part-1-of-3")
        let saved = dir.appendingPathComponent("saved")
        try fm.moveItem(at: p1, to: saved)
        try Self.expectRefused(parts, dir, startingWith: "\(p1.path): expected all 3 parts, found no part for shard 1/3", mentioning: ["--shard 1/3"])
        // Duplicated: part 0 copied in place of part 1.
        try fm.copyItem(at: parts.appendingPathComponent("part-0-of-3"), to: p1)
        try Self.expectRefused(parts, dir, startingWith: "\(p1.path): expected shard 1/3 as its name says, found shard 0/3")
        try fm.removeItem(at: p1)
        // Other data: shard 1 of the digits with a label changed.
        let labels = dir.appendingPathComponent("other-labels.txt")
        var text = try String(contentsOf: repositoryRoot.appendingPathComponent("fixtures/digits-labels.txt"), encoding: .utf8)
        text = "9" + text.dropFirst()
        try text.write(to: labels, atomically: true, encoding: .utf8)
        #expect(try Self.shard(1, of: 3, into: parts, data: ["fixtures/digits.fbin", labels.path]).status == 0)
        try Self.expectRefused(parts, dir, startingWith: "\(p1.path): expected the data with hash", mentioning: ["like \(parts.path)/part-0-of-3", "another run"])
        // Other settings: shard 1 with another distance.
        #expect(try Self.shard(1, of: 3, into: parts, extra: ["--distance", "ip"]).status == 0)
        try Self.expectRefused(parts, dir, startingWith: "\(p1.path): expected the setting distance = cosine", mentioning: ["found distance = ip"])
        try fm.removeItem(at: p1)
        try fm.moveItem(at: saved, to: p1)
        // Another N in the same folder.
        #expect(try Self.shard(3, of: 4, into: parts).status == 0)
        try Self.expectRefused(parts, dir, startingWith: "\(parts.path)/part-3-of-4: expected shards of 3 like", mentioning: ["found 4 (shard 3/4)"])
        try fm.removeItem(at: parts.appendingPathComponent("part-3-of-4"))
        // Another version: the tool version in the header edited (same length).
        var bytes = try Data(contentsOf: p1)
        let range = try #require(bytes.range(of: Data("\"tool_version\":\"0.1.0\"".utf8)))
        bytes.replaceSubrange(range, with: Data("\"tool_version\":\"0.0.9\"".utf8))
        try bytes.write(to: p1)
        try Self.expectRefused(parts, dir, startingWith: "\(p1.path): expected dmleval version 0.1.0", mentioning: ["found 0.0.9"])
        // A damaged part: truncated.
        try bytes.prefix(bytes.count - 3).write(to: p1)
        try Self.expectRefused(parts, dir, startingWith: "\(p1.path): byte", mentioning: ["truncated"])
        // An empty folder.
        let empty = dir.appendingPathComponent("empty")
        try fm.createDirectory(at: empty, withIntermediateDirectories: true)
        try Self.expectRefused(empty, dir, startingWith: "\(empty.path): expected the parts of a sharded run")
    }

    @Test("--shard 5/4, 0/0 and auto outside an array: exit 2; malformed --shard: exit 64; no part, no store")
    func badShardFlags() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let parts = dir.appendingPathComponent("parts")
        let clean = ["SLURM_ARRAY_TASK_ID": "", "JOB_COMPLETION_INDEX": ""]
        for (shard, status, message) in [("5/4", Int32(2), "error: --shard: expected I/N with I from 0 to N - 1 = 3"),
                                         ("4/4", 2, "error: --shard: expected I/N with I from 0 to N - 1 = 3"),
                                         ("0/0", 2, "error: --shard: expected I/N with N from 1"),
                                         ("auto", 2, "error: --shard auto: expected a job array's environment"),
                                         ("two/4", 64, "Error: --shard: expected I/N (two integers, e.g. 0/4) or auto, found 'two/4'")] {
            let r = try dmleval(Self.digits + ["--shard", shard, "--partial-out", parts.path], in: dir, environment: clean)
            #expect(r.status == status, "\(shard): \(r.stderr)")
            #expect(r.stderr.hasPrefix(message), "\(shard): \(r.stderr)")
            if status == 2 { #expect(r.stderr.split(separator: "\n").count == 1, "\(r.stderr)") }
            #expect(!FileManager.default.fileExists(atPath: parts.path))
            #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("dmleval.sqlite").path))
        }
        let strided = try dmleval(Self.digits + ["--shard", "auto", "--partial-out", parts.path], in: dir, environment:
            ["SLURM_ARRAY_TASK_ID": "4", "SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_MAX": "6", "SLURM_ARRAY_TASK_COUNT": "4"])
        #expect(strided.status == 2 && strided.stderr.contains("a step or gaps"), "\(strided.stderr)")
        for extra in [["--store", "x.sqlite"], ["--index", "hnsw"], ["--save-baseline", "b.json"], ["--dataset", "d"]] {
            let r = try dmleval((extra.first == "--dataset" ? [] : Self.digits) + extra + ["--shard", "0/2", "--partial-out", parts.path], in: dir)
            #expect(r.status == 64, "\(extra): \(r.stderr)")
            #expect(r.stderr.contains("--shard cannot go with") || r.stderr.contains("give either"), "\(r.stderr)")
        }
        let noDir = try dmleval(Self.digits + ["--shard", "0/2"], in: dir)
        #expect(noDir.status == 64 && noDir.stderr.contains("add --partial-out DIR"))
    }

    @Test("a shard killed at any write leaves no part, and the merge names the part missing")
    func killed() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let parts = try Self.parts(2, in: dir)
        let p1 = parts.appendingPathComponent("part-1-of-2")
        try FileManager.default.removeItem(at: p1)
        // The part is one block and its rename: kill at each.
        for write in 1 ... 2 {
            let r = try Self.shard(1, of: 2, into: parts, environment: ["DMLEVAL_FAULT_KILL_AFTER_WRITES": "\(write)"])
            #expect(r.signaled, "write \(write): \(r.stderr)")
            #expect(!FileManager.default.fileExists(atPath: p1.path), "write \(write): a killed task left a part")
            try Self.expectRefused(parts, dir, startingWith: "\(p1.path): expected all 2 parts, found no part for shard 1/2")
        }
        // The next run of that shard clears the killed one's temporary file and completes.
        #expect(try Self.shard(1, of: 2, into: parts).status == 0)
        #expect(try FileManager.default.contentsOfDirectory(atPath: parts.path).sorted() == ["part-0-of-2", "part-1-of-2"])
        #expect(try dmleval(["merge", parts.path, "--no-store"]).status == 0)
    }
}
