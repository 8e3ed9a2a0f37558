import Foundation
import GRDB
import Testing

/// What reading a store promises (docs/reliability.md): a read never writes, never waits behind
/// another process's write, and what a store or a file holds is printed escaped.
@Suite("Reads never write, never wait; names are printed escaped")
struct StoreSafetyTests {
    static let digits = ["fixtures/digits.fbin", "fixtures/digits-labels.txt"]

    /// A store with one run named `name`, checkpointed so that its main file holds everything.
    static func store(named name: String = "plain", in dir: URL) throws -> URL {
        let url = dir.appendingPathComponent("store.sqlite")
        let r = try dmleval(digits + ["--recall", "1", "--name", name, "--store", url.path])
        #expect(r.status == 0, "\(r.stderr)")
        let db = try DatabaseQueue(path: url.path)
        try db.writeWithoutTransaction { try $0.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
        try db.close()
        return url
    }

    @Test func readCommandsLeaveTheStoreFileByteForByte() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = try Self.store(in: dir)
        let before = try Data(contentsOf: url)
        for args in [["runs", "list"], ["runs", "show", "1"], ["runs", "compare", "1", "1"], ["index", "info"],
                     ["runs", "export", "1", "-o", dir.appendingPathComponent("b.json").path],
                     ["check"] + Self.digits + ["--run", "1", "--no-store"]] {
            let r = try dmleval(args + ["--store", url.path])
            #expect(r.status == 0, "\(args): \(r.stderr)")
            #expect(try Data(contentsOf: url) == before, "\(args) changed the store file")
        }
    }

    @Test func readsDoNotWaitBehindAnotherProcesssWrite() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = try Self.store(in: dir)
        // Another process in the middle of a write transaction, holding SQLite's write lock.
        let other = try DatabasePool(path: url.path)
        try other.writeWithoutTransaction { db in
            try db.execute(sql: "BEGIN IMMEDIATE; INSERT INTO datasetName (name, datasetId) VALUES ('pending', 1)")
            let started = Date()
            let r = try dmleval(["runs", "list", "--store", url.path])
            let waited = Date().timeIntervalSince(started)
            #expect(r.status == 0, "\(r.stderr)")
            #expect(r.stdout.contains("plain"))
            // The busy timeout of a writer is 60 s; a reader does not wait for the lock at all.
            #expect(waited < 30, "runs list waited \(waited) s behind a writer")
            try db.execute(sql: "ROLLBACK")
        }
    }

    @Test func aReadOnlyStoreFileCanBeRead() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = try Self.store(in: dir)
        // A read-only file system is what a read-only mode simulates even for root: SQLite is
        // asked to open the file read-only, so any write would fail with "readonly database".
        try FileManager.default.setAttributes([.posixPermissions: 0o444], ofItemAtPath: url.path)
        let r = try dmleval(["runs", "show", "1", "--store", url.path])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(!r.stderr.contains("readonly"))
    }

    @Test func namesWithNewlinesTabsAndEscapesCannotSplitRows() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let hostile = "evil\nname\twith\u{1B}[31mred"
        let url = try Self.store(named: hostile, in: dir)
        for format in ["table", "markdown", "csv"] {
            let r = try dmleval(["runs", "list", "--format", format, "--store", url.path])
            #expect(r.status == 0, "\(r.stderr)")
            #expect(!r.stdout.contains("\u{1B}"), "\(format): a raw escape reached the output")
            #expect(r.stdout.contains(#"evil\nname\twith\u{1b}[31mred"#), "\(format): \(r.stdout)")
            // One header line (two with the rule), one row.
            let lines = r.stdout.split(separator: "\n")
            #expect(lines.count == (format == "csv" ? 2 : 3), "\(format): \(r.stdout)")
        }
        let show = try dmleval(["runs", "show", "1", "--store", url.path])
        #expect(!show.stdout.contains("\u{1B}") && show.stdout.contains(#"'evil\nname\twith\u{1b}[31mred'"#), "\(show.stdout)")
        let json = try dmleval(["runs", "show", "1", "--format", "json", "--store", url.path])
        #expect(try jsonObject(json.stdout)["name"] as? String == hostile)
    }

    @Test func aFullStandardOutputIsAnErrorNotSuccess() throws {
        let process = Process()
        process.executableURL = dmlevalBinary
        process.arguments = Self.digits + ["--recall", "1", "--no-store", "--format", "json"]
        process.currentDirectoryURL = repositoryRoot
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: "/dev/full"))
        let errors = Pipe()
        process.standardError = errors
        try process.run()
        process.waitUntilExit()
        let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationStatus == 74)
        #expect(stderr.hasPrefix("error: standard output:"), "\(stderr)")
    }
}
