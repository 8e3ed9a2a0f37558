import RetrievalEval
import Foundation
import GRDB

/// A dataset kept in the store.
public struct DatasetRecord: Sendable, Equatable {
    /// The store's id of the dataset.
    public let id: Int64
    /// SHA-256 of the embeddings' and labels' content hashes: the dataset's identity.
    public let hash: String
    /// SHA-256 of the embeddings (shape and float32 values), whatever file they came from.
    public let embeddingsHash: String
    /// SHA-256 of the labels in order.
    public let labelsHash: String
    /// The number of items (rows of the embedding matrix; queries of a TREC run).
    public let rows: Int
    /// The length of each embedding.
    public let dimensions: Int
    /// The number of distinct labels.
    public let classCount: Int
    /// How the labels were read: "string", "integer", or `trecKind` for a TREC run and its qrels.
    public let labelKind: String
    /// The embeddings file it was ingested from (the run file for TREC), if known.
    public let embeddingsPath: String?
    /// The labels file it was ingested from (the qrels file for TREC), if known.
    public let labelsPath: String?
    /// When it was first stored: ISO 8601, UTC.
    public let createdAt: String
    /// The names given to it with `--name`, in byte order.
    public let names: [String]

    /// The first 12 hex digits of the hash, enough to name it on the command line.
    public var shortHash: String { String(hash.prefix(12)) }

    /// The label kind of a TREC run and its qrels (`Store.ingestTrec`).
    public static let trecKind = "trec"

    /// Whether this is a TREC run and its qrels rather than embeddings and labels.
    public var isTrec: Bool { labelKind == Self.trecKind }
}

extension LabeledEmbeddings {
    /// The content hashes: (dataset, embeddings, labels).
    public func contentHashes() -> (dataset: String, embeddings: String, labels: String) {
        let embeddingsHash = self.embeddingsHash ?? embeddings.contentHash()
        let labelsHash = LabeledEmbeddings.labelsHash(labels)
        return (SHA256.hex(Array((embeddingsHash + labelsHash).utf8)), embeddingsHash, labelsHash)
    }

    /// SHA-256 of the labels in order: the identity of a test set.
    public static func labelsHash(_ labels: Labels) -> String {
        var l = SHA256()
        switch labels.values {
        case .strings(let s):
            l.update("dmleval labels string \(s.count)\n")
            for label in s { l.update("\(label.utf8.count):\(label)\n") }
        case .integers(let v):
            l.update("dmleval labels integer \(v.count)\n")
            for label in v { l.update("\(label)\n") }
        }
        return l.finalizeHex()
    }
}

extension Store {
    /// Rows per stored chunk: about 4 MiB of float32.
    static func rowsPerChunk(dimensions: Int) -> Int { max(1, (4 << 20) / (4 * max(1, dimensions))) }

    /// Stores `data` once: the same content ingested again returns the existing dataset (and
    /// adds `name` to it). One transaction: an interrupted ingest leaves nothing behind.
    ///
    /// - Returns: the dataset and whether it was new.
    /// - Throws: `StoreError` when `name` already names another dataset.
    @discardableResult
    public func ingest(
        _ data: LabeledEmbeddings, name: String? = nil, embeddingsPath: String? = nil, labelsPath: String? = nil,
        afterChunk: ((Int) -> Void)? = nil
    ) throws -> (dataset: DatasetRecord, created: Bool) {
        let hashes = data.contentHashes()
        let created: Bool = try write { db in
            let existing = try Int64.fetchOne(db, sql: "SELECT id FROM dataset WHERE hash = ?", arguments: [hashes.dataset])
            let id: Int64
            if let existing {
                id = existing
            } else {
                try DatasetRow(
                    id: nil, hash: hashes.dataset, embeddingsHash: hashes.embeddings, labelsHash: hashes.labels,
                    rows: data.embeddings.rows, dimensions: data.embeddings.columns, classCount: data.labels.classCount,
                    labelKind: data.labels.kind, embeddingsPath: embeddingsPath, labelsPath: labelsPath, createdAt: Store.now()
                ).insert(db)
                id = db.lastInsertedRowID
                try insertEmbeddings(db, id: id, matrix: data.embeddings, afterChunk: afterChunk)
                try insertLabels(db, id: id, labels: data.labels)
            }
            if let name {
                if let owner = try Int64.fetchOne(db, sql: "SELECT datasetId FROM datasetName WHERE name = ?", arguments: [name]) {
                    if owner != id {
                        let other = try String.fetchOne(db, sql: "SELECT hash FROM dataset WHERE id = ?", arguments: [owner]) ?? "?"
                        throw StoreError("the name '\(name)' already names dataset \(other.prefix(12)) with other content; choose another --name")
                    }
                } else {
                    try db.execute(sql: "INSERT INTO datasetName (name, datasetId) VALUES (?, ?)", arguments: [name, id])
                }
            }
            return existing == nil
        }
        guard let record = try dataset(hash: hashes.dataset) else { throw StoreError("dataset vanished after ingest") }
        return (record, created)
    }

    /// Stores the identity of a TREC run and its qrels as a dataset (once per content): the run
    /// file's hash in place of the embeddings', the qrels' hash in place of the labels' (so runs
    /// on the same qrels pair up in `runs compare`), `rows` the qrels' queries, no dimensions,
    /// no classes, label kind "trec" and no embeddings.
    /// - Returns: the dataset and whether it was new.
    @discardableResult
    public func ingestTrec(
        runHash: String, qrelsHash: String, queries: Int, runPath: String?, qrelsPath: String?
    ) throws -> (dataset: DatasetRecord, created: Bool) {
        let hash = Store.trecDatasetHash(runHash: runHash, qrelsHash: qrelsHash)
        let created: Bool = try write { db in
            if try Int64.fetchOne(db, sql: "SELECT id FROM dataset WHERE hash = ?", arguments: [hash]) != nil { return false }
            try DatasetRow(
                id: nil, hash: hash, embeddingsHash: runHash, labelsHash: qrelsHash, rows: queries, dimensions: 0, classCount: 0,
                labelKind: DatasetRecord.trecKind, embeddingsPath: runPath, labelsPath: qrelsPath, createdAt: Store.now()
            ).insert(db)
            return true
        }
        guard let record = try dataset(hash: hash) else { throw StoreError("dataset vanished after ingest") }
        return (record, created)
    }

    /// The dataset hash of a TREC run and its qrels, from the two files' SHA-256 hashes.
    public static func trecDatasetHash(runHash: String, qrelsHash: String) -> String {
        SHA256.hex(Array("dmleval trec \(runHash) \(qrelsHash)".utf8))
    }

    /// Removes datasets that no run or training run refers to (a command that added them and
    /// then could not record its run takes them out again).
    public func removeDatasets(_ ids: [Int64]) throws {
        guard !ids.isEmpty else { return }
        try write { db in
            for id in ids {
                let used = try Bool.fetchOne(db, sql: """
                    SELECT EXISTS(SELECT 1 FROM run WHERE datasetId = ?1 OR queryDatasetId = ?1)
                        OR EXISTS(SELECT 1 FROM trainingRun WHERE trainingDatasetId = ?1 OR testDatasetId = ?1)
                    """, arguments: [id]) ?? true
                if !used { try db.execute(sql: "DELETE FROM dataset WHERE id = ?", arguments: [id]) }
            }
        }
    }

    private func insertEmbeddings(_ db: Database, id: Int64, matrix: Matrix, afterChunk: ((Int) -> Void)?) throws {
        let perChunk = Store.rowsPerChunk(dimensions: matrix.columns)
        let statement = try db.makeStatement(
            sql: "INSERT INTO embeddingChunk (datasetId, chunk, firstRow, rowCount, data) VALUES (?, ?, ?, ?, ?)")
        var chunk = 0
        try matrix.values.withUnsafeBytes { bytes in
            for first in stride(from: 0, to: matrix.rows, by: perChunk) {
                let count = min(perChunk, matrix.rows - first)
                let start = first * matrix.columns * 4
                let blob = Data(bytes[start ..< start + count * matrix.columns * 4])
                try statement.execute(arguments: [id, chunk, first, count, blob])
                afterChunk?(chunk)
                chunk += 1
            }
        }
    }

    private func insertLabels(_ db: Database, id: Int64, labels: Labels) throws {
        let blob = labels.classIndex.withUnsafeBytes { Data($0) }
        try db.execute(sql: "INSERT INTO datasetLabels (datasetId, classIndex) VALUES (?, ?)", arguments: [id, blob])
        let statement = try db.makeStatement(sql: "INSERT INTO datasetClass (datasetId, classIndex, label) VALUES (?, ?, ?)")
        for (c, label) in labels.classNames.enumerated() { try statement.execute(arguments: [id, c, label]) }
    }

    /// The dataset with exactly this hash.
    public func dataset(hash: String) throws -> DatasetRecord? {
        try read { db in try Store.fetchDataset(db, whereSQL: "hash = ?", arguments: [hash]).first }
    }

    /// Finds a dataset by name, or by hash or a unique hash prefix of at least 6 hex digits.
    /// - Throws: `StoreError` naming what was looked for, when nothing or several match.
    public func findDataset(_ key: String) throws -> DatasetRecord {
        try read { db in
            if let id = try Int64.fetchOne(db, sql: "SELECT datasetId FROM datasetName WHERE name = ?", arguments: [key]),
               let record = try Store.fetchDataset(db, whereSQL: "id = ?", arguments: [id]).first {
                return record
            }
            let hex = key.lowercased()
            if hex.count >= 6, hex.allSatisfy(\.isHexDigit) {
                let matches = try Store.fetchDataset(db, whereSQL: "hash LIKE ?", arguments: [hex + "%"])
                if matches.count == 1 { return matches[0] }
                if matches.count > 1 {
                    throw StoreError("the hash prefix '\(key)' matches \(matches.count) datasets in \(path); give more digits")
                }
            }
            let known = try String.fetchAll(db, sql: "SELECT name FROM datasetName ORDER BY name LIMIT 10")
            throw StoreError("no dataset named or hashed '\(key)' in \(path)"
                + (known.isEmpty ? "; ingest one with 'dmleval ingest EMBEDDINGS LABELS --name NAME'" : "; known names: \(known.joined(separator: ", "))"))
        }
    }

    /// Every dataset, newest first.
    public func datasets() throws -> [DatasetRecord] {
        try read { db in try Store.fetchDataset(db, whereSQL: "1", arguments: [], order: "id DESC") }
    }

    /// The stored embeddings and labels of a dataset.
    /// - Throws: `StoreError` for a TREC run's dataset, which holds no embeddings.
    public func load(_ record: DatasetRecord) throws -> LabeledEmbeddings {
        guard !record.isTrec else {
            throw StoreError("dataset \(record.shortHash) in \(path) is a TREC run and its qrels, with no embeddings; score it with 'dmleval score-run RUN QRELS'")
        }
        return try read { db in
            var values = [Float](repeating: 0, count: record.rows * record.dimensions)
            let rows = try Row.fetchCursor(
                db, sql: "SELECT firstRow, rowCount, data FROM embeddingChunk WHERE datasetId = ? ORDER BY chunk",
                arguments: [record.id])
            var loaded = 0
            try values.withUnsafeMutableBytes { out in
                while let row = try rows.next() {
                    let first: Int = row["firstRow"], count: Int = row["rowCount"]
                    let data: Data = row["data"]
                    let bytes = count * record.dimensions * 4
                    guard data.count == bytes, first == loaded, first + count <= record.rows else {
                        throw StoreError("\(path): dataset \(record.shortHash) has a damaged embedding chunk at row \(first); ingest the files again")
                    }
                    data.withUnsafeBytes { src in
                        out.baseAddress!.advanced(by: first * record.dimensions * 4).copyMemory(from: src.baseAddress!, byteCount: bytes)
                    }
                    loaded += count
                }
            }
            guard loaded == record.rows else {
                throw StoreError("\(path): dataset \(record.shortHash) holds \(loaded) of \(record.rows) rows; ingest the files again")
            }
            let labels = try loadLabels(db, record)
            return try LabeledEmbeddings(embeddings: Matrix(rows: record.rows, columns: record.dimensions, values: values), labels: labels)
        }
    }

    /// The stored labels of a dataset alone (without its embeddings).
    public func labels(of record: DatasetRecord) throws -> Labels {
        try read { db in try loadLabels(db, record) }
    }

    private func loadLabels(_ db: Database, _ record: DatasetRecord) throws -> Labels {
        let blob = try Data.fetchOne(db, sql: "SELECT classIndex FROM datasetLabels WHERE datasetId = ?", arguments: [record.id]) ?? Data()
        let names = try String.fetchAll(db, sql: "SELECT label FROM datasetClass WHERE datasetId = ? ORDER BY classIndex", arguments: [record.id])
        guard blob.count == record.rows * 4 else {
            throw StoreError("\(path): dataset \(record.shortHash) has damaged labels; ingest the files again")
        }
        let codes = blob.withUnsafeBytes { raw in (0 ..< record.rows).map { raw.loadUnaligned(fromByteOffset: 4 * $0, as: Int32.self) } }
        guard codes.allSatisfy({ $0 >= 0 && Int($0) < names.count }) else {
            throw StoreError("\(path): dataset \(record.shortHash) has damaged labels; ingest the files again")
        }
        if record.labelKind == "integer" {
            return Labels(integers: codes.map { Int64(names[Int($0)]) ?? 0 })
        }
        return Labels(strings: codes.map { names[Int($0)] })
    }

    static func fetchDataset(_ db: Database, whereSQL: String, arguments: StatementArguments, order: String = "id") throws -> [DatasetRecord] {
        let rows = try DatasetRow.fetchAll(db, sql: "SELECT * FROM dataset WHERE \(whereSQL) ORDER BY \(order)", arguments: arguments)
        return try rows.map { row in
            let id = row.id ?? 0
            let names = try String.fetchAll(db, sql: "SELECT name FROM datasetName WHERE datasetId = ? ORDER BY name", arguments: [id])
            return DatasetRecord(
                id: id, hash: row.hash, embeddingsHash: row.embeddingsHash, labelsHash: row.labelsHash, rows: row.rows,
                dimensions: row.dimensions, classCount: row.classCount, labelKind: row.labelKind,
                embeddingsPath: row.embeddingsPath, labelsPath: row.labelsPath, createdAt: row.createdAt, names: names)
        }
    }
}

extension Labels {
    /// "string" or "integer": how the labels were read, so they are given back the same way.
    public var kind: String {
        switch values {
        case .strings: "string"
        case .integers: "integer"
        }
    }
}
