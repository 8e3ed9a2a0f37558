// Baselines and stores are untrusted input: the library checks them itself, whatever front end
// calls it.

import Foundation
import GRDB
import RetrievalEval
import RetrievalEvalStore
import DMLEvalJobs
import Testing

@Suite("Baselines and stores are validated by the library")
struct UntrustedInputTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static func scratch() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dmleval-untrusted-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    @Test func theDemoBaselineIsValid() throws {
        let b = try Baseline.read(Self.repository.appendingPathComponent("fixtures/baseline-digits.json").path)
        try b.validate()
        #expect(b.metrics.count == 8 && b.perQuery.allSatisfy { $0.count == 1797 })
    }

    /// Each edit of a valid baseline, and the field the refusal must name.
    static let edits: [(String, @Sendable (inout Baseline) -> Void)] = [
        ("metrics[0].mean", { $0.means[0] = .nan }),
        ("metrics[2].mean", { $0.means[2] = -0.1 }),
        ("metrics[0].mean", { $0.means[0] -= 0.05 }),
        ("\"metrics\": at least one metric", { $0.metrics = []; $0.means = []; $0.perQuery = [] }),
        ("per_query.recall@1", { $0.perQuery[0][5] = .nan }),
        ("per_query.recall@1", { $0.perQuery[0].removeLast() }),
        ("per_query.ndcg@2[3]", { $0.perQuery[4][3] = 2 }),
        ("tool_version", { $0.toolVersion = "1.0\n::warning::x" }),
        ("dataset.hash", { $0.dataset.hash = "abc" }),
        ("queries", { $0.excludedQueries = 3 }),
        ("search.depth", { $0.depth = 0 }),
        ("search.index", { $0.search = "magic" }),
    ]

    @Test(arguments: 0 ..< edits.count)
    func aTamperedFieldIsNamed(_ i: Int) throws {
        var b = try Baseline.read(Self.repository.appendingPathComponent("fixtures/baseline-digits.json").path)
        let (field, edit) = Self.edits[i]
        edit(&b)
        #expect {
            try b.validate()
        } throws: { ($0 as? BaselineFieldError).map { "\($0.expected)".contains(field) } == true }
    }

    @Test func aForeignDatabaseIsLeftAlone() throws {
        let dir = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("other.sqlite").path
        let db = try DatabaseQueue(path: path)
        try db.write { try $0.execute(sql: "CREATE TABLE t (x); INSERT INTO t VALUES (1)") }
        try db.close()
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        for access in [Store.Access.readWrite, .readOnly] {
            #expect {
                try Store(path: path, access: access)
            } throws: { "\($0)".contains("not a dmleval store") }
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
    }

    @Test func aNewerSchemaIsRefusedAndAnOlderOneUpgraded() throws {
        let dir = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("s.sqlite").path
        _ = try Store(path: path)
        let db = try DatabaseQueue(path: path)
        // A new store carries dmleval's application id ("DMLE").
        #expect(try db.read { try Int32.fetchOne($0, sql: "PRAGMA application_id") } == Store.applicationID)
        try db.write { try $0.execute(sql: "INSERT INTO grdb_migrations VALUES ('v9: later')") }
        #expect { try Store(path: path) } throws: { "\($0)".contains("newer dmleval") }
        // The version that opens it is named: the one given at open, not a global.
        #expect { try Store(path: path, toolVersion: "9.8.7") } throws: { "\($0)".contains("unknown to dmleval 9.8.7)") }
        // An older store (its last migration not yet applied, as a store killed while being
        // made): a writer upgrades it, and so does a reader, once.
        try db.write {
            try $0.execute(sql: "DELETE FROM grdb_migrations WHERE identifier = 'v9: later'")
            try $0.execute(sql: "DROP TABLE annIndex")
            try $0.execute(sql: "DELETE FROM grdb_migrations WHERE identifier LIKE 'v3%'")
        }
        try db.close()
        let store = try Store(path: path, access: .readOnly)
        #expect(try store.indexes().isEmpty)
    }

    @Test func readingAMissingOrEmptyStoreIsAnError() throws {
        let dir = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("none.sqlite").path
        #expect(throws: StoreError.self) { try Store(path: path, access: .readOnly) }
        FileManager.default.createFile(atPath: path, contents: nil)
        #expect(throws: StoreError.self) { try Store(path: path, access: .readOnly) }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)).isEmpty)
    }
}
