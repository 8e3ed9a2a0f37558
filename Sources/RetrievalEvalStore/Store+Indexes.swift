import RetrievalEval
import Foundation
import GRDB

/// An approximate index kept in the store, without its bytes.
public struct StoredIndexInfo: Sendable {
    /// The store's id of the index.
    public let id: Int64
    /// HNSW or IVF.
    public let kind: IndexKind
    /// The similarity it was built for.
    public let distance: Distance
    /// The SHA-256 of the embeddings it indexes (their identity in the store's datasets).
    public let embeddingsHash: String
    /// The number of references indexed.
    public let rows: Int
    /// The dimension of the vectors.
    public let dimensions: Int
    /// The build settings, in order.
    public let settings: [(String, String)]
    /// The size of the serialised index as stored (without its vectors), in bytes.
    public let bytes: Int
    /// The memory the index holds when loaded (vectors included), in bytes.
    public let memoryBytes: Int
    /// Seconds the build took.
    public let buildSeconds: Double
    /// The number of threads that built it.
    public let buildThreads: Int
    /// When it was stored: ISO 8601, UTC.
    public let createdAt: String
    /// The dmleval version that built it.
    public let toolVersion: String
}

extension Store {
    static func registerIndexMigration(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v3: approximate indexes") { db in
            try db.create(table: "annIndex") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("kind", .text).notNull()
                t.column("distance", .text).notNull()
                t.column("embeddingsHash", .text).notNull()
                t.column("rows", .integer).notNull()
                t.column("dimensions", .integer).notNull()
                t.column("settingsKey", .text).notNull()  // the settings as "name=value;..." for lookups
                t.column("settings", .text).notNull()  // JSON array of [name, value] pairs
                t.column("memoryBytes", .integer).notNull()
                t.column("buildSeconds", .double).notNull()
                t.column("buildThreads", .integer).notNull()
                t.column("createdAt", .text).notNull()
                t.column("toolVersion", .text).notNull()
                t.column("data", .blob).notNull()
                t.uniqueKey(["embeddingsHash", "kind", "distance", "settingsKey"])
            }
        }
    }

    static func settingsKey(_ settings: [(String, String)]) -> String {
        settings.map { "\($0.0)=\($0.1)" }.joined(separator: ";")
    }

    /// The stored index for these embeddings, kind, distance and settings, with its bytes.
    public func findIndex(
        embeddingsHash: String, kind: IndexKind, distance: Distance, settings: [(String, String)]
    ) throws -> (info: StoredIndexInfo, data: [UInt8])? {
        try read { db in
            guard let row = try IndexRow.fetchOne(
                db, sql: "SELECT * FROM annIndex WHERE embeddingsHash = ? AND kind = ? AND distance = ? AND settingsKey = ?",
                arguments: [embeddingsHash, kind.rawValue, distance.rawValue, Store.settingsKey(settings)])
            else { return nil }
            return Store.withBytes(row)
        }
    }

    /// A stored index by id, with its bytes.
    public func index(id: Int64) throws -> (info: StoredIndexInfo, data: [UInt8]) {
        try read { db in
            guard let row = try IndexRow.fetchOne(db, key: id) else {
                throw StoreError("no index \(id) in \(path); 'dmleval index info' lists them")
            }
            return Store.withBytes(row)
        }
    }

    /// Every stored index, oldest first, without the bytes.
    public func indexes() throws -> [StoredIndexInfo] {
        try read { db in
            try Row.fetchAll(db, sql: """
                SELECT id, kind, distance, embeddingsHash, rows, dimensions, settingsKey, settings, memoryBytes, buildSeconds,
                       buildThreads, createdAt, toolVersion, length(data) AS bytes
                FROM annIndex ORDER BY id
                """).map { row in Store.indexInfo(try IndexRow(row: row), bytes: row["bytes"]) }
        }
    }

    /// Stores an index built on embeddings with SHA-256 `embeddingsHash`; an index with the
    /// same embeddings, kind, distance and settings is replaced.
    /// - Returns: its id.
    @discardableResult
    public func saveIndex(
        _ index: any VectorIndex, embeddingsHash: String, buildSeconds: Double, buildThreads: Int, toolVersion: String
    ) throws -> Int64 {
        let data = Data(index.serialized())
        return try write { db in
            let key = Store.settingsKey(index.settings)
            try db.execute(
                sql: "DELETE FROM annIndex WHERE embeddingsHash = ? AND kind = ? AND distance = ? AND settingsKey = ?",
                arguments: [embeddingsHash, index.kind.rawValue, index.distance.rawValue, key])
            try IndexRow(
                id: nil, kind: index.kind.rawValue, distance: index.distance.rawValue, embeddingsHash: embeddingsHash,
                rows: index.count, dimensions: index.dimension, settingsKey: key, settings: NamedValues(index.settings),
                memoryBytes: index.memoryBytes, buildSeconds: buildSeconds, buildThreads: buildThreads, createdAt: Store.now(),
                toolVersion: toolVersion, data: data
            ).insert(db)
            return db.lastInsertedRowID
        }
    }

    /// Removes a stored index (one a command saved and then could not use).
    public func removeIndex(id: Int64) throws {
        try write { db in try db.execute(sql: "DELETE FROM annIndex WHERE id = ?", arguments: [id]) }
    }

    /// A row read with its bytes: the description and the bytes.
    private static func withBytes(_ row: IndexRow) -> (info: StoredIndexInfo, data: [UInt8]) {
        let data = row.data ?? Data()
        return (indexInfo(row, bytes: data.count), [UInt8](data))
    }

    private static func indexInfo(_ row: IndexRow, bytes: Int) -> StoredIndexInfo {
        StoredIndexInfo(
            id: row.id ?? 0, kind: IndexKind(rawValue: row.kind) ?? .exact, distance: Distance(rawValue: row.distance) ?? .cosine,
            embeddingsHash: row.embeddingsHash, rows: row.rows, dimensions: row.dimensions, settings: row.settings.pairs,
            bytes: bytes, memoryBytes: row.memoryBytes, buildSeconds: row.buildSeconds, buildThreads: row.buildThreads,
            createdAt: row.createdAt, toolVersion: row.toolVersion)
    }
}
