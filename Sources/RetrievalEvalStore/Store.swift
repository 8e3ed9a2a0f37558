import RetrievalEval
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

    /// How a command uses the store.
    public enum Access: Sendable {
        /// Records: creates the store when missing and brings its schema up to date.
        case readWrite
        /// Only reads: the file is opened read-only and never written, not even to migrate,
        /// so it works on a read-only file and never waits behind another process's write.
        case readOnly
    }

    /// SQLite's `application_id` of a dmleval store ("DMLE").
    public static let applicationID: Int32 = 0x444D_4C45

    /// Opens the store at `path`, checking that it is a sound dmleval store this version can
    /// use (`checkIdentity`): a foreign database, a damaged one, or one written by a newer
    /// dmleval is refused rather than read or written. `.readWrite` creates it when missing.
    /// - Parameter toolVersion: the version of the tool opening it, named when the store is newer.
    /// - Throws: `StoreError` naming the store and the problem.
    public init(path: String, access: Access = .readWrite, toolVersion: String = "of this build") throws {
        self.path = path
        var st = stat()
        if stat(path, &st) == 0 && (st.st_mode & S_IFMT) != S_IFREG {
            throw StoreError("\(path): expected a store file, found \((st.st_mode & S_IFMT) == S_IFDIR ? "a directory" : "a special file (a FIFO, socket or device)"); pass --store with the path of a .sqlite file")
        }
        var configuration = Configuration()
        configuration.readonly = access == .readOnly
        // Writers wait for each other rather than failing at once: concurrent runs are normal.
        // Readers in WAL mode never wait for a writer.
        configuration.busyMode = .timeout(access == .readOnly ? 5 : 60)
        if FaultInjection.isActive {
            configuration.prepareDatabase { db in db.add(transactionObserver: FaultInjectionObserver(), extent: .databaseLifetime) }
        }
        do {
            // The identity is checked through a read-only connection before anything is
            // written, so not even a switch to WAL mode touches a foreign or damaged file.
            var state = State.new
            var stamped = false
            var reader: DatabaseQueue?
            if stat(path, &st) == 0 && st.st_size > 0 {
                var readOnly = configuration
                readOnly.readonly = true
                reader = try DatabaseQueue(path: path, configuration: readOnly)
                (state, stamped) = try Store.checkIdentity(reader!, path: path, toolVersion: toolVersion)
            }
            switch access {
            case .readOnly:
                guard let reader, state != .new else {
                    throw StoreError("\(path): an empty file, not a dmleval store yet; record a run first ('dmleval EMBEDDINGS LABELS'), or pass --store with the store's path")
                }
                if state == .needsMigration {
                    // The one write a reader may make: bringing an older (or half-created)
                    // schema up to date, which changes no data. A store that needs no
                    // migration is never written by a read.
                    do {
                        try Store.migrate(try DatabasePool(path: path, configuration: Configuration()))
                    } catch {
                        throw StoreError("\(path): its schema is older than this dmleval's and the file cannot be upgraded here (\(error)); record into it once with write access, or read it with the dmleval that wrote it")
                    }
                }
                writer = reader
            case .readWrite:
                reader = nil
                writer = try DatabasePool(path: path, configuration: configuration)
                if state != .current {
                    try Store.migrate(writer)
                }
                if state != .current || !stamped {
                    try writer.write { db in try db.execute(sql: "PRAGMA application_id = \(Store.applicationID)") }
                }
            }
        } catch let error as DatabaseError {
            if error.resultCode == .SQLITE_CORRUPT {
                throw StoreError("\(path): the store is damaged (\(error.message ?? "\(error)")); restore it from a copy, or pass --store with another path")
            }
            throw StoreError("\(path): cannot open the store: \(error.message ?? "\(error)"); check the path, or pass --store with another file")
        }
    }

    /// The stores already checked by `quick_check` in this process.
    nonisolated(unsafe) private static var checkedPaths: Set<String> = []
    private static let checkedLock = NSLock()

    /// What `checkIdentity` found.
    enum State { case new, needsMigration, current }

    /// Refuses what is not a dmleval store this version can use:
    /// - a database with tables but neither dmleval's application id nor its first migration
    ///   is someone else's, and is left alone;
    /// - a migration this version does not know means a newer dmleval wrote it;
    /// - `PRAGMA quick_check` must pass the first time this process opens the store.
    /// - Returns: the state, and whether the file carries dmleval's application id (stores
    ///   made before it was set do not; the next write sets it).
    static func checkIdentity(_ reader: DatabaseQueue, path: String, toolVersion: String) throws -> (State, stamped: Bool) {
        let known = Set(migrator.migrations)
        let (tables, applicationID, applied, pending): ([String], Int32, [String], Bool) = try reader.read { db in
            let tables = try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
            let id = try Int32.fetchOne(db, sql: "PRAGMA application_id") ?? 0
            let applied = tables.contains("grdb_migrations")
                ? try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations") : []
            return (tables, id, applied, try !migrator.hasCompletedMigrations(db))
        }
        // A store killed while it was being created may hold GRDB's bookkeeping table alone.
        if applicationID == 0 && applied.isEmpty && tables.allSatisfy({ $0 == "grdb_migrations" }) { return (.new, false) }
        if applicationID != Store.applicationID && !applied.contains(migrator.migrations[0]) {
            throw StoreError("\(path): this SQLite database is not a dmleval store (it has other tables: \(tables.prefix(3).joined(separator: ", "))); dmleval leaves it alone: pass --store with another path")
        }
        if let unknown = applied.first(where: { !known.contains($0) }) {
            throw StoreError("\(path): written by a newer dmleval (its schema has the migration '\(unknown)', unknown to dmleval \(toolVersion)); upgrade dmleval, or pass --store with another path")
        }
        try quickCheck(reader, path: path)
        return (pending ? .needsMigration : .current, applicationID == Store.applicationID)
    }

    private static func quickCheck(_ writer: any DatabaseWriter, path: String) throws {
        let key = path
        let done = checkedLock.withLock { checkedPaths.contains(key) }
        guard !done else { return }
        let result = try writer.read { db in try String.fetchAll(db, sql: "PRAGMA quick_check") }
        guard result == ["ok"] else {
            throw StoreError("\(path): the store is damaged (SQLite quick_check: \(result.first ?? "no answer")\(result.count > 1 ? ", and \(result.count - 1) more" : "")); restore it from a copy, or pass --store with another path")
        }
        checkedLock.withLock { _ = checkedPaths.insert(key) }
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
        migrator.registerMigration("v4: recall and precision curves") { db in
            // Mean Recall@k (hit) and Precision@k at every k = 1 ... depth, for reports. Runs
            // recorded before this migration have none: reports show their stored @k metrics.
            try db.create(table: "runCurve") { t in
                t.column("runId", .integer).notNull().references("run", onDelete: .cascade)
                t.column("k", .integer).notNull()
                t.column("recall", .double)
                t.column("precision", .double)
                t.primaryKey(["runId", "k"])
            }
        }
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
    /// The one-line explanation, with what to do.
    public var message: String
    /// An error with its message.
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
