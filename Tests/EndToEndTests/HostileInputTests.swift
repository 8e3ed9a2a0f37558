import Foundation
import GRDB
import Testing

/// The standing hostile-input suite: one case per class of the probes that once broke dmleval
/// (docs/reliability.md). Every case asserts the exit code, exactly one `error:` line on
/// stderr, no signal, and that the store and the output files are as they were.
@Suite("Hostile inputs: one error line, the right exit code, nothing changed")
struct HostileInputTests {
    /// One hostile invocation. `$D` in the arguments is the case's scratch folder, which holds
    /// `store.sqlite` (a store with one recorded run) and whatever `setup` writes.
    struct Case: Sendable, CustomTestStringConvertible {
        let name: String
        let arguments: [String]
        let status: Int32
        /// Text the error line must contain.
        let says: String
        var setup: @Sendable (URL) throws -> Void = { _ in }
        var testDescription: String { name }
    }

    static let digits = ["fixtures/digits.fbin", "fixtures/digits-labels.txt"]

    // MARK: - Files

    /// Little-endian bytes of integers.
    static func le32(_ values: [Int32]) -> Data { values.reduce(into: Data()) { d, v in withUnsafeBytes(of: v.littleEndian) { d.append(contentsOf: $0) } } }

    static func npy(_ header: String, payload: Int = 0) -> Data {
        var h = header
        while (10 + h.count + 1) % 64 != 0 { h += " " }
        h += "\n"
        var d = Data([0x93] + Array("NUMPY".utf8) + [1, 0])
        withUnsafeBytes(of: UInt16(h.utf8.count).littleEndian) { d.append(contentsOf: $0) }
        d.append(contentsOf: Array(h.utf8))
        d.append(Data(count: payload))
        return d
    }

    static func write(_ data: Data, _ name: String) -> @Sendable (URL) throws -> Void {
        { dir in try data.write(to: dir.appendingPathComponent(name)) }
    }

    static let labels10 = Data((0 ..< 10).map { "c\($0 % 3)\n" }.joined().utf8)

    static let headerCases: [Case] = [
        Case(name: "fbin truncated", arguments: ["$D/e.fbin", "$D/l.txt", "--no-store"], status: 2, says: "e.fbin: byte",
             setup: { d in try le32([10, 4]).write(to: d.appendingPathComponent("e.fbin")); try labels10.write(to: d.appendingPathComponent("l.txt")) }),
        Case(name: "fbin negative count", arguments: ["$D/e.fbin", "$D/l.txt", "--no-store"], status: 2, says: "e.fbin",
             setup: { d in try (le32([-1, 4]) + Data(count: 160)).write(to: d.appendingPathComponent("e.fbin")); try labels10.write(to: d.appendingPathComponent("l.txt")) }),
        Case(name: "fbin overflowing shape", arguments: ["$D/e.fbin", "$D/l.txt", "--no-store"], status: 2, says: "e.fbin",
             setup: { d in try (le32([Int32.max, Int32.max]) + Data(count: 64)).write(to: d.appendingPathComponent("e.fbin")); try labels10.write(to: d.appendingPathComponent("l.txt")) }),
        Case(name: "fbin header only", arguments: ["$D/e.fbin", "$D/l.txt", "--no-store"], status: 2, says: "e.fbin",
             setup: { d in try Data([1, 0, 0]).write(to: d.appendingPathComponent("e.fbin")); try labels10.write(to: d.appendingPathComponent("l.txt")) }),
        Case(name: "fvecs with a wrong row dimension", arguments: ["$D/e.fvecs", "$D/l.txt", "--no-store"], status: 2, says: "e.fvecs",
             setup: { d in try (le32([2, 0, 0, 3, 0, 0, 0])).write(to: d.appendingPathComponent("e.fvecs")); try labels10.write(to: d.appendingPathComponent("l.txt")) }),
        Case(name: "fvecs negative dimension", arguments: ["$D/e.fvecs", "$D/l.txt", "--no-store"], status: 2, says: "e.fvecs",
             setup: { d in try (le32([-5, 0, 0])).write(to: d.appendingPathComponent("e.fvecs")); try labels10.write(to: d.appendingPathComponent("l.txt")) }),
        Case(name: "raw not a multiple of the dimension", arguments: ["$D/e.raw", "$D/l.txt", "--dim", "3", "--no-store"], status: 2, says: "e.raw",
             setup: { d in try Data(count: 40).write(to: d.appendingPathComponent("e.raw")); try labels10.write(to: d.appendingPathComponent("l.txt")) }),
        Case(name: "npy truncated payload", arguments: ["$D/e.npy", "$D/l.txt", "--no-store"], status: 2, says: "e.npy",
             setup: write(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (10, 4), }", payload: 100), "e.npy")),
        Case(name: "npy oversized shape", arguments: ["$D/e.npy", "$D/l.txt", "--no-store"], status: 2, says: "e.npy",
             setup: write(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999, 4), }"), "e.npy")),
        Case(name: "npy negative shape", arguments: ["$D/e.npy", "$D/l.txt", "--no-store"], status: 2, says: "e.npy",
             setup: write(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (-10, 4), }"), "e.npy")),
        Case(name: "npy overflowing shape", arguments: ["$D/e.npy", "$D/l.txt", "--no-store"], status: 2, says: "e.npy",
             setup: write(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 4), }"), "e.npy")),
        Case(name: "npy header with a NUL is printed escaped", arguments: ["$D/e.npy", "$D/l.txt", "--no-store"], status: 2, says: "\\u{0}",
             setup: write(npy("{'descr': '<f4\u{0}', 'fortran_order': False, 'shape': (10, 4), }", payload: 160), "e.npy")),
        Case(name: "a FIFO as the embeddings", arguments: ["$D/fifo", "$D/l.txt", "--input-format", "fbin", "--no-store"], status: 2, says: "a FIFO",
             setup: { d in _ = mkfifo(d.appendingPathComponent("fifo").path, 0o644); try labels10.write(to: d.appendingPathComponent("l.txt")) }),
        Case(name: "a directory as the labels", arguments: ["fixtures/digits.fbin", "$D"], status: 2, says: "a directory"),
    ]

    static let labelCases: [Case] = [
        Case(name: "a NUL byte inside a label", arguments: ["fixtures/digits.fbin", "$D/l.txt", "--store", "$D/store.sqlite"], status: 2,
             says: "NUL byte", setup: { d in
                 var text = try String(contentsOfFile: "fixtures/digits-labels.txt", encoding: .utf8)
                 text = text.replacingOccurrences(of: "\n0\n", with: "\n0\u{0}b\n")
                 try text.write(to: d.appendingPathComponent("l.txt"), atomically: true, encoding: .utf8)
             }),
        Case(name: "invalid UTF-8 in a label", arguments: ["fixtures/digits.fbin", "$D/l.txt", "--store", "$D/store.sqlite"], status: 2,
             says: "UTF-8", setup: { d in
                 var data = try Data(contentsOf: URL(fileURLWithPath: "fixtures/digits-labels.txt"))
                 data[4] = 0xFF
                 try data.write(to: d.appendingPathComponent("l.txt"))
             }),
        Case(name: "too few labels", arguments: ["fixtures/digits.fbin", "$D/l.txt", "--store", "$D/store.sqlite"], status: 2,
             says: "l.txt", setup: write(labels10, "l.txt")),
        Case(name: "an empty line", arguments: ["fixtures/digits.fbin", "$D/l.txt", "--store", "$D/store.sqlite"], status: 2,
             says: "empty line", setup: { d in
                 let text = try String(contentsOfFile: "fixtures/digits-labels.txt", encoding: .utf8)
                 try text.replacingOccurrences(of: "\n1\n", with: "\n\n").write(to: d.appendingPathComponent("l.txt"), atomically: true, encoding: .utf8)
             }),
    ]

    // MARK: - Baselines

    /// The demo's baseline with `edit` applied to its JSON object, written to `$D/b.json`.
    static func tampered(_ edit: @escaping @Sendable (inout [String: Any]) -> Void) -> @Sendable (URL) throws -> Void {
        { dir in
            let data = try Data(contentsOf: URL(fileURLWithPath: "fixtures/baseline-digits.json"))
            var root = try JSONSerialization.jsonObject(with: data) as! [String: Any]
            edit(&root)
            try JSONSerialization.data(withJSONObject: root).write(to: dir.appendingPathComponent("b.json"))
            // A real regression to gate: the digits with heavy noise.
            try noisyDigits(scale: 12, to: dir.appendingPathComponent("noisy.fbin"))
        }
    }

    static func editMetric(_ i: Int, _ field: String, _ value: Any?) -> @Sendable (inout [String: Any]) -> Void {
        nonisolated(unsafe) let value = value
        return { root in
            var metrics = root["metrics"] as! [[String: Any]]
            if let value { metrics[i][field] = value } else { metrics[i].removeValue(forKey: field) }
            root["metrics"] = metrics
        }
    }

    static func editPerQuery(_ transform: @escaping @Sendable ([Any]) -> [Any]) -> @Sendable (inout [String: Any]) -> Void {
        { root in
            var perQuery = root["per_query"] as! [String: Any]
            for key in perQuery.keys { perQuery[key] = transform(perQuery[key] as! [Any]) }
            root["per_query"] = perQuery
        }
    }

    static let check = ["check", "$D/noisy.fbin", "fixtures/digits-labels.txt", "--baseline", "$D/b.json", "--no-store"]

    static let baselineCases: [Case] = [
        Case(name: "a mean that is a string", arguments: check + ["--format", "json"], status: 2, says: "metrics[0].mean",
             setup: tampered(editMetric(0, "mean", "0.98"))),
        Case(name: "a mean that is null", arguments: check + ["--format", "json"], status: 2, says: "metrics[0].mean",
             setup: tampered(editMetric(0, "mean", NSNull()))),
        Case(name: "a missing mean", arguments: check + ["--format", "json"], status: 2, says: "mean",
             setup: tampered(editMetric(0, "mean", nil))),
        Case(name: "a NaN mean, table format", arguments: check + ["--format", "table"], status: 2, says: "b.json",
             setup: { d in
                 try tampered { _ in }(d)
                 let url = d.appendingPathComponent("b.json")
                 var text = try String(contentsOf: url, encoding: .utf8)
                 let range = text.range(of: #""mean":[0-9.e-]+"#, options: .regularExpression)!
                 text.replaceSubrange(range, with: "\"mean\":NaN")
                 try text.write(to: url, atomically: true, encoding: .utf8)
             }),
        Case(name: "a NaN mean, github format", arguments: check + ["--format", "github"], status: 2, says: "b.json",
             setup: { d in
                 try tampered { _ in }(d)
                 let url = d.appendingPathComponent("b.json")
                 var text = try String(contentsOf: url, encoding: .utf8)
                 text = text.replacingOccurrences(of: #""mean":[0-9.e-]+"#, with: "\"mean\":NaN", options: .regularExpression)
                 try text.write(to: url, atomically: true, encoding: .utf8)
             }),
        Case(name: "a mean above 1", arguments: check, status: 2, says: "[0, 1]", setup: tampered(editMetric(0, "mean", 1.5))),
        Case(name: "a mean that is not its per-query values' mean", arguments: check, status: 2, says: "the mean of its per-query values",
             setup: tampered(editMetric(0, "mean", 0.1))),
        Case(name: "no metrics", arguments: check, status: 2, says: "at least one metric", setup: tampered { $0["metrics"] = [] }),
        Case(name: "an unknown metric", arguments: check, status: 2, says: "metrics[1].name",
             setup: tampered(editMetric(1, "name", "recall@1[convention=magic]"))),
        Case(name: "a metric listed twice", arguments: check, status: 2, says: "each metric once",
             setup: tampered(editMetric(1, "name", "recall@1"))),
        Case(name: "per-query values that are null", arguments: check + ["--significance", "0.05"], status: 2, says: "per_query",
             setup: tampered(editPerQuery { $0.map { _ in NSNull() } })),
        Case(name: "per-query values that are strings", arguments: check + ["--significance", "0.05"], status: 2, says: "per_query",
             setup: tampered(editPerQuery { $0.map { "\($0)" } })),
        Case(name: "per-query arrays one short", arguments: check + ["--significance", "0.05"], status: 2, says: "per_query",
             setup: tampered(editPerQuery { Array($0.dropLast()) })),
        Case(name: "a tool version that injects a workflow command", arguments: check + ["--format", "github"], status: 2,
             says: "tool_version", setup: tampered { $0["tool_version"] = "0.1.0\n::warning::pwned" }),
        Case(name: "a newer format version", arguments: check, status: 2, says: "upgrade dmleval", setup: tampered { $0["version"] = 99 }),
        Case(name: "another kind of JSON", arguments: check, status: 2, says: "dmleval-baseline", setup: tampered { $0["format"] = "something" }),
        Case(name: "a hash that is not SHA-256", arguments: check, status: 2, says: "labels_hash",
             setup: tampered { root in var d = root["dataset"] as! [String: Any]; d["labels_hash"] = "zz"; root["dataset"] = d }),
        Case(name: "a query count that is not the rows", arguments: check, status: 2, says: "queries", setup: tampered { $0["queries"] = 5 }),
        Case(name: "a baseline that claims this test set with another row count", arguments: check, status: 2,
             says: "1797 rows in 10 classes", setup: tampered { root in
                 var d = root["dataset"] as! [String: Any]
                 d["rows"] = 1798
                 root["dataset"] = d
                 root["queries"] = 1798
                 let means = Dictionary(uniqueKeysWithValues: (root["metrics"] as! [[String: Any]]).map { ($0["name"] as! String, $0["mean"]!) })
                 var perQuery = root["per_query"] as! [String: Any]
                 for key in perQuery.keys { perQuery[key] = (perQuery[key] as! [Any]) + [means[key]!] }
                 root["per_query"] = perQuery
             }),
        Case(name: "a per-query NaN literal", arguments: check, status: 2, says: "per_query", setup: { d in
            try tampered { _ in }(d)
            let url = d.appendingPathComponent("b.json")
            var text = try String(contentsOf: url, encoding: .utf8)
            let range = text.range(of: #"\[[0-9.]+,"#, options: .regularExpression)!
            text.replaceSubrange(range, with: "[NaN,")
            try text.write(to: url, atomically: true, encoding: .utf8)
        }),
        Case(name: "not JSON", arguments: check, status: 2, says: "JSON", setup: write(Data("{\"format\": ".utf8), "b.json")),
        Case(name: "a baseline larger than the bound", arguments: check, status: 2, says: "at most 512 MiB", setup: { d in
            let url = d.appendingPathComponent("b.json")
            FileManager.default.createFile(atPath: url.path, contents: nil)
            let h = try FileHandle(forWritingTo: url)
            try h.truncate(atOffset: 600 << 20)  // sparse: no disk used
            try h.close()
        }),
    ]

    // MARK: - Flags

    static let flagCases: [Case] = [
        Case(name: "--tolerance nan", arguments: check + ["--tolerance", "nan"], status: 64, says: "--tolerance", setup: tampered { _ in }),
        Case(name: "--tile-size Int.max", arguments: digits + ["--no-store", "--tile-size", "9223372036854775807"], status: 64, says: "--tile-size"),
        Case(name: "--threads huge", arguments: digits + ["--no-store", "--threads", "100000000"], status: 64, says: "--threads"),
        Case(name: "--ann-check huge", arguments: digits + ["--no-store", "--ann-check", "9223372036854775807"], status: 64, says: "--ann-check"),
        Case(name: "--permutations Int.max in compare", arguments: ["runs", "compare", "1", "1", "--store", "$D/store.sqlite", "--permutations", "9223372036854775807"],
             status: 64, says: "--permutations"),
        Case(name: "--significance nan", arguments: check + ["--significance", "nan"], status: 64, says: "--significance", setup: tampered { _ in }),
        Case(name: "train --dim 100000000", arguments: ["train"] + digits + ["--store", "$D/store.sqlite", "--dim", "100000000", "--epochs", "1"],
             status: 2, says: "GiB"),
        Case(name: "train --proxies Int.max", arguments: ["train"] + digits + ["--store", "$D/store.sqlite", "--proxies", "9223372036854775807", "--epochs", "1"],
             status: 2, says: "more than 2^63 bytes"),
        Case(name: "train --epochs Int.max", arguments: ["train"] + digits + ["--store", "$D/store.sqlite", "--epochs", "9223372036854775807"],
             status: 64, says: "--epochs"),
        Case(name: "a negative k", arguments: digits + ["--no-store", "--recall", "-1"], status: 64, says: "--recall"),
        Case(name: "a k past the references", arguments: digits + ["--store", "$D/store.sqlite", "--recall", "5000"], status: 2, says: "recall@5000"),
    ]

    // MARK: - Stores and outputs

    static let storeCases: [Case] = [
        Case(name: "a foreign SQLite database", arguments: digits + ["--store", "$D/other.sqlite"], status: 2, says: "not a dmleval store",
             setup: { d in
                 let db = try DatabaseQueue(path: d.appendingPathComponent("other.sqlite").path)
                 try db.write { try $0.execute(sql: "CREATE TABLE notes (text TEXT); INSERT INTO notes VALUES ('mine')") }
             }),
        Case(name: "a store of a newer dmleval", arguments: digits + ["--store", "$D/store.sqlite"], status: 2, says: "newer dmleval",
             setup: { d in
                 let db = try DatabaseQueue(path: d.appendingPathComponent("store.sqlite").path)
                 try db.write { try $0.execute(sql: "INSERT INTO grdb_migrations VALUES ('v99: from the future')") }
             }),
        Case(name: "a newer store, read", arguments: ["runs", "list", "--store", "$D/store.sqlite"], status: 2, says: "newer dmleval",
             setup: { d in
                 let db = try DatabaseQueue(path: d.appendingPathComponent("store.sqlite").path)
                 try db.write { try $0.execute(sql: "INSERT INTO grdb_migrations VALUES ('v99: from the future')") }
             }),
        Case(name: "a store with damaged pages", arguments: digits + ["--store", "$D/store.sqlite"], status: 2, says: "damaged",
             setup: { d in try damagePages(d.appendingPathComponent("store.sqlite")) }),
        Case(name: "a damaged store, read", arguments: ["runs", "show", "1", "--store", "$D/store.sqlite"], status: 2, says: "damaged",
             setup: { d in try damagePages(d.appendingPathComponent("store.sqlite")) }),
        Case(name: "a text file as the store", arguments: ["runs", "list", "--store", "fixtures/digits-labels.txt"], status: 2, says: "digits-labels.txt"),
        Case(name: "a FIFO as the store", arguments: digits + ["--store", "$D/fifo"], status: 2, says: "store file",
             setup: { d in _ = mkfifo(d.appendingPathComponent("fifo").path, 0o644) }),
        // (A missing folder is created now: a path under a regular file cannot be.)
        Case(name: "an unwritable --save-baseline", arguments: digits + ["--store", "$D/store.sqlite", "--save-baseline", "$D/store.sqlite/b.json"],
             status: 2, says: "b.json"),
        Case(name: "--save-neighbors with an unwritable --save-baseline", arguments: digits + ["--store", "$D/store.sqlite",
             "--save-neighbors", "$D/nn.npy", "--save-baseline", "$D/store.sqlite/b.json"], status: 2, says: "b.json"),
        Case(name: "a stored run that is not a sound baseline", arguments: ["check"] + digits + ["--run", "1", "--store", "$D/store.sqlite", "--no-store"],
             status: 2, says: "cannot serve as a baseline", setup: { d in
                 let db = try DatabaseQueue(path: d.appendingPathComponent("store.sqlite").path)
                 try db.write { try $0.execute(sql: "UPDATE runMetric SET mean = NULL WHERE runId = 1") }
             }),
    ]

    static let trec = ["score-run", "$D/run.trec", "fixtures/trec_eval/qrels.test", "--store", "$D/store.sqlite"]

    static let trecCases: [Case] = [
        Case(name: "a TREC run with a wrong column count", arguments: trec, status: 2, says: "run.trec: line 2",
             setup: write(Data("301 Q0 d1 1 2.5 tag\n301 Q0 d2 1 tag\n".utf8), "run.trec")),
        Case(name: "a TREC run with a non-numeric score", arguments: trec, status: 2, says: "run.trec: line 1",
             setup: write(Data("301 Q0 d1 1 high tag\n".utf8), "run.trec")),
        Case(name: "a TREC run with a duplicate document", arguments: trec, status: 2, says: "run.trec",
             setup: write(Data("301 Q0 d1 1 2.5 tag\n301 Q0 d1 2 2.0 tag\n".utf8), "run.trec")),
        Case(name: "qrels with a negative grade", arguments: ["score-run", "$D/run.trec", "$D/q.txt", "--store", "$D/store.sqlite"],
             status: 2, says: "q.txt: line 1", setup: { d in
                 try Data("301 Q0 d1 1 2.5 tag\n".utf8).write(to: d.appendingPathComponent("run.trec"))
                 try Data("301 0 d1 -1\n".utf8).write(to: d.appendingPathComponent("q.txt"))
             }),
    ]

    static var allCases: [Case] { headerCases + labelCases + baselineCases + flagCases + storeCases + trecCases }

    /// Overwrites the start of every page after the first (b-tree headers, overflow links),
    /// as a bad disk or a half-copied file would, so quick_check fails.
    static func damagePages(_ url: URL) throws {
        let h = try FileHandle(forUpdating: url)
        let size = try h.seekToEnd()
        for page in stride(from: UInt64(4096), to: size, by: 4096) {
            try h.seek(toOffset: page)
            try h.write(contentsOf: Data(repeating: 0xA5, count: 16))
        }
        try h.close()
    }

    /// The shared store every case starts from: one run of the digits, checkpointed into the
    /// main file so that a case can copy one file.
    static let seedStore: URL = {
        let dir = try! makeTemporaryDirectory()
        let url = dir.appendingPathComponent("store.sqlite")
        let r = try! dmleval(digits + ["--recall", "1", "--store", url.path])
        precondition(r.status == 0, r.stderr)
        let db = try! DatabaseQueue(path: url.path)
        try! db.writeWithoutTransaction { try $0.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
        return url
    }()

    /// What a store holds, table by table: row counts and the largest rowid.
    static func fingerprint(_ url: URL) -> String {
        guard FileManager.default.fileExists(atPath: url.path),
              let db = try? DatabaseQueue(path: url.path, configuration: { var c = Configuration(); c.readonly = true; return c }())
        else { return "absent" }
        return (try? db.read { db -> String in
            let tables = try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            return try tables.map { t in "\(t):\(try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM \"\(t)\"") ?? -1)" }.joined(separator: ",")
        }) ?? "unreadable"
    }

    @Test(arguments: allCases)
    func refusedWithOneLineAndNothingChanged(_ c: Case) throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = dir.appendingPathComponent("store.sqlite")
        try FileManager.default.copyItem(at: Self.seedStore, to: store)
        try c.setup(dir)
        let before = Self.fingerprint(store)
        let filesBefore = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        let args = c.arguments.map { $0.replacingOccurrences(of: "$D", with: dir.path) }
        let r = try dmleval(args)
        #expect(!r.signaled, "ended by a signal: \(r.stderr.prefix(400))")
        #expect(r.status == c.status, "\(c.name): exit \(r.status), stderr \(r.stderr.prefix(400))")
        let lines = r.stderr.split(separator: "\n", omittingEmptySubsequences: true)
        if c.status == 2 {
            #expect(lines.count == 1 && lines[0].hasPrefix("error: "), "\(c.name): \(r.stderr.prefix(600))")
        }
        #expect(r.stderr.contains(c.says), "\(c.name): \(r.stderr.prefix(600))")
        // Whatever GitHub reads as a command starts a line: none may come from the input.
        #expect(!r.stdout.contains("::warning::") && !r.stderr.contains("\n::"))
        #expect(Self.fingerprint(store) == before, "\(c.name): the store changed")
        let filesAfter = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
            .filter { !$0.hasSuffix("-wal") && !$0.hasSuffix("-shm") }
        #expect(filesAfter == filesBefore.filter { !$0.hasSuffix("-wal") && !$0.hasSuffix("-shm") }, "\(c.name): files left behind")
    }
}
