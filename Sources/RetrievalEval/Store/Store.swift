import Foundation
import GRDB

/// The SQLite store of datasets and runs.
///
/// One file (by default `./dmleval.sqlite`) in WAL mode, so several dmleval processes can
/// record runs at once; every ingest and every run is one transaction, so an interrupted
/// process leaves no partial dataset or run behind.
public final class Store: @unchecked Sendable {
    let writer: any DatabaseWriter
    /// Where the store lives, or ":memory:".
    public let path: String

    /// Opens (creating if needed) the store at `path` and brings its schema up to date.
    /// - Throws: `StoreError` when the file cannot be opened or is not a dmleval store.
    public init(path: String) throws {
        var configuration = Configuration()
        // Wait for other writers rather than failing at once: concurrent runs are normal.
        configuration.busyMode = .timeout(60)
        self.path = path
        do {
            writer = try DatabasePool(path: path, configuration: configuration)
            try Store.migrate(writer)
        } catch let error as DatabaseError {
            throw StoreError("\(path): cannot open the store: \(error.message ?? "\(error)"); check the path, or pass --store with another file")
        }
    }

    /// An in-memory store, for tests.
    public init() throws {
        path = ":memory:"
        writer = try DatabaseQueue()
        try Store.migrator.migrate(writer)
    }

    /// Brings the schema up to date. Two processes opening a new store at once may both see
    /// a migration as pending; the one that loses fails on "already exists" and, retrying,
    /// finds it applied.
    static func migrate(_ writer: any DatabaseWriter) throws {
        var attempt = 0
        while true {
            do {
                try migrator.migrate(writer)
                return
            } catch let error as DatabaseError where attempt < 5 && error.resultCode == .SQLITE_ERROR {
                attempt += 1
                usleep(useconds_t(20_000 * attempt))
            }
        }
    }

    /// The migrations, in order. A released migration is never edited; changes add new ones.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: datasets and runs") { db in
            try db.create(table: "dataset") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("hash", .text).notNull().unique()
                t.column("embeddingsHash", .text).notNull()
                t.column("labelsHash", .text).notNull()
                t.column("rows", .integer).notNull()
                t.column("dimensions", .integer).notNull()
                t.column("classCount", .integer).notNull()
                t.column("labelKind", .text).notNull()  // "string" or "integer"
                t.column("embeddingsPath", .text)
                t.column("labelsPath", .text)
                t.column("createdAt", .text).notNull()
            }
            try db.create(table: "datasetName") { t in
                t.primaryKey("name", .text)
                t.column("datasetId", .integer).notNull().indexed().references("dataset", onDelete: .cascade)
            }
            // Float32 little-endian rows, a few MiB per chunk.
            try db.create(table: "embeddingChunk") { t in
                t.column("datasetId", .integer).notNull().references("dataset", onDelete: .cascade)
                t.column("chunk", .integer).notNull()
                t.column("firstRow", .integer).notNull()
                t.column("rowCount", .integer).notNull()
                t.column("data", .blob).notNull()
                t.primaryKey(["datasetId", "chunk"])
            }
            // Int32 little-endian class index per row; the class labels in datasetClass.
            try db.create(table: "datasetLabels") { t in
                t.primaryKey("datasetId", .integer).references("dataset", onDelete: .cascade)
                t.column("classIndex", .blob).notNull()
            }
            try db.create(table: "datasetClass") { t in
                t.column("datasetId", .integer).notNull().references("dataset", onDelete: .cascade)
                t.column("classIndex", .integer).notNull()
                t.column("label", .text).notNull()
                t.primaryKey(["datasetId", "classIndex"])
            }
            try db.create(table: "run") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("datasetId", .integer).notNull().indexed().references("dataset")
                t.column("queryDatasetId", .integer).references("dataset")
                t.column("name", .text)
                t.column("createdAt", .text).notNull()
                t.column("toolVersion", .text).notNull()
                t.column("search", .text).notNull()
                t.column("distance", .text).notNull()
                t.column("depth", .integer).notNull()
                t.column("parameters", .text).notNull()  // JSON array of [name, value] pairs, in order: every setting and convention
                t.column("scoredQueries", .integer).notNull()
                t.column("excludedQueries", .integer).notNull()
                t.column("timings", .text).notNull()  // JSON array of [stage, seconds] pairs
            }
            try db.create(table: "runMetric") { t in
                t.column("runId", .integer).notNull().references("run", onDelete: .cascade)
                t.column("position", .integer).notNull()
                t.column("metric", .text).notNull()
                t.column("mean", .double)
                t.column("macroMean", .double)
                // Float32 little-endian per query, NaN for queries excluded (R = 0).
                t.column("perQuery", .blob).notNull()
                t.primaryKey(["runId", "metric"])
            }
        }
        registerTrainingMigration(&migrator)
        registerIndexMigration(&migrator)
        return migrator
    }

    /// Runs `body` with write access, turning SQLite failures into a `StoreError` naming the store.
    func write<T>(_ body: (Database) throws -> T) throws -> T {
        do { return try writer.write(body) } catch let error as DatabaseError { throw wrap(error) }
    }

    /// Runs `body` with read access, turning SQLite failures into a `StoreError`.
    func read<T>(_ body: (Database) throws -> T) throws -> T {
        do { return try writer.read(body) } catch let error as DatabaseError { throw wrap(error) }
    }

    private func wrap(_ error: DatabaseError) -> StoreError {
        StoreError("\(path): \(error.message ?? "\(error)") (SQLite code \(error.resultCode.rawValue)); check the file, the disk and its permissions")
    }

    static func now() -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: Date())
    }
}

/// A store problem a user can act on.
public struct StoreError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
