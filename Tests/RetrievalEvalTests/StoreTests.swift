import Foundation
import Synchronization
import GRDB
import Testing
@testable import RetrievalEval
@testable import RetrievalEvalStore
import DMLEvalJobs

func sampleData(rows: Int = 50, columns: Int = 6, seed: UInt64 = 1, integerLabels: Bool = false) throws -> LabeledEmbeddings {
    let x = floatMatrix(rows: rows, columns: columns, duplicates: 0, seed: seed)
    let labels = integerLabels
        ? Labels(integers: (0 ..< rows).map { Int64($0 % 5) * 1000 - 7 })
        : Labels(strings: (0 ..< rows).map { ["cat", "dog", "großer Hund", "emu"][$0 % 4] })
    return try LabeledEmbeddings(embeddings: x, labels: labels)
}

@Suite("SHA-256")
struct SHA256Tests {
    // FIPS 180-4 example vectors.
    @Test(arguments: [
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
    ])
    func knownVectors(_ input: String, _ digest: String) {
        #expect(SHA256.hex(Array(input.utf8)) == digest)
    }

    @Test func millionAsInPiecesOfEverySize() {
        var h = SHA256()
        var fed = 0
        var piece = 1
        while fed < 1_000_000 {
            let n = min(piece, 1_000_000 - fed)
            h.update([UInt8](repeating: UInt8(ascii: "a"), count: n))
            fed += n
            piece = piece % 130 + 1
        }
        #expect(h.finalizeHex() == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }
}

@Suite("The store")
struct StoreTests {
    @Test("ingest then load gives back the same embeddings and labels", arguments: [false, true])
    func roundTrip(_ integerLabels: Bool) throws {
        let store = try Store()
        // More rows than one 4 MiB chunk holds, so several chunks are written and read.
        let data = try sampleData(rows: 3000, columns: 700, integerLabels: integerLabels)
        #expect(Store.rowsPerChunk(dimensions: 700) < 3000)
        let (record, created) = try store.ingest(data, name: "train", embeddingsPath: "e.npy", labelsPath: "l.txt")
        #expect(created)
        #expect(record.rows == 3000 && record.dimensions == 700)
        #expect(record.names == ["train"])
        #expect(record.labelKind == (integerLabels ? "integer" : "string"))
        let loaded = try store.load(record)
        #expect(loaded.embeddings == data.embeddings)
        #expect(loaded.labels == data.labels)
    }

    @Test("the same content is stored once, whatever its name")
    func idempotentIngest() throws {
        let store = try Store()
        let data = try sampleData()
        let first = try store.ingest(data, name: "a")
        let second = try store.ingest(data, name: "b")
        let third = try store.ingest(data)
        #expect(first.created && !second.created && !third.created)
        #expect(first.dataset.id == second.dataset.id && second.dataset.id == third.dataset.id)
        #expect(third.dataset.names == ["a", "b"])
        #expect(try store.datasets().count == 1)
        // Another labelling of the same embeddings is another dataset, with the same embeddings hash.
        let relabelled = try LabeledEmbeddings(embeddings: data.embeddings, labels: Labels(strings: (0 ..< 50).map { "x\($0 % 3)" }))
        let other = try store.ingest(relabelled)
        #expect(other.created)
        #expect(other.dataset.embeddingsHash == first.dataset.embeddingsHash)
        #expect(other.dataset.labelsHash != first.dataset.labelsHash)
        #expect(throws: StoreError.self) { try store.ingest(relabelled, name: "a") }
    }

    @Test("datasets are found by name or hash prefix, with a useful error otherwise")
    func lookup() throws {
        let store = try Store()
        let record = try store.ingest(try sampleData(), name: "digits").dataset
        #expect(try store.findDataset("digits") == record)
        #expect(try store.findDataset(String(record.hash.prefix(8))) == record)
        #expect(try store.findDataset(record.hash.uppercased()) == record)
        #expect {
            try store.findDataset("cub")
        } throws: { error in
            (error as? StoreError)?.message == "no dataset named or hashed 'cub' in :memory:; known names: digits"
        }
    }

    @Test("a run is recorded with its parameters, means and per-query values")
    func recordAndReadRuns() throws {
        let store = try Store()
        let data = try sampleData()
        let dataset = try store.ingest(data).dataset
        let evaluation = try RetrievalEvaluation.run(references: data, metrics: Metric.paperSet, perClass: true)
        let id = try store.record(RunInput(
            datasetID: dataset.id, name: "baseline", toolVersion: "test", search: "exact", distance: .cosine,
            depth: evaluation.depth, parameters: [("metrics", "paper"), ("distance", "cosine")],
            report: evaluation.report, timings: [("search", 0.5), ("total", 1.25)]))
        let run = try store.run(id: id)
        #expect(run.name == "baseline")
        #expect(run.dataset == dataset)
        #expect(run.metrics.map(\.metric) == Metric.paperSet.map(\.name))
        #expect(run.metrics.map(\.mean) == evaluation.report.means)
        #expect(run.metrics.map(\.macroMean) == evaluation.report.perClass!.macroMeans.map { Optional($0) })
        #expect(run.parameters.map(\.0) == ["metrics", "distance"])
        #expect(run.timings.map(\.1) == [0.5, 1.25])
        #expect(run.scoredQueries == 50 && run.excludedQueries == 0)
        let perQuery = try store.perQueryValues(runID: id)
        #expect(perQuery.count == 8)
        #expect(perQuery[0].values == evaluation.report.perQuery[0].map(Float.init))
        #expect(try store.runs().map(\.id) == [id])
        #expect(throws: StoreError.self) { try store.run(id: id + 1) }
    }

    @Test("writers in several connections at once lose no run")
    func concurrentWriters() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dmleval-store-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("runs.sqlite").path
        let data = try sampleData()
        let report = try RetrievalEvaluation.run(references: data, metrics: [.recall(k: 1)]).report
        let writers = 6, runsEach = 10
        let failures = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: writers) { w in
            // Each writer opens its own connection pool, as separate processes would.
            do {
                let store = try Store(path: path)
                let dataset = try store.ingest(data).dataset
                for _ in 0 ..< runsEach {
                    try store.record(RunInput(
                        datasetID: dataset.id, name: "writer \(w)", toolVersion: "test", search: "exact", distance: .cosine,
                        depth: 1, parameters: [], report: report, timings: []))
                }
            } catch {
                failures.withLock { $0.append("writer \(w): \(error)") }
            }
        }
        #expect(failures.withLock { $0 } == [])
        let store = try Store(path: path)
        #expect(try store.runs(limit: 1000).count == writers * runsEach)
        #expect(try store.datasets().count == 1)
    }
}

@Suite("Training runs in the store")
struct TrainingStoreTests {
    @Test func curvesRoundTrip() throws {
        let store = try Store()
        let dataset = try store.ingest(try sampleData()).dataset
        let id = try store.record(TrainingInput(
            trainingDatasetID: dataset.id, testDatasetID: nil, evaluationRunID: nil, loss: "mpa-ap", toolVersion: "t",
            parameters: [("epochs", "2")], metricNames: ["recall@1", "map@r"],
            epochs: [(0, nil, [0.5, 0.25], 0), (1, 3.5, [], 1.5), (2, 2.25, [0.75, 0.5], 1.25)])).training
        let curves = try store.trainingCurves(id: id)
        #expect(curves.map(\.epoch) == [0, 1, 2])
        #expect(curves.map(\.loss) == [nil, 3.5, 2.25])
        #expect(curves[0].test == ["recall@1": 0.5, "map@r": 0.25])
        #expect(curves[1].test.isEmpty)
        #expect(throws: StoreError.self) { try store.trainingCurves(id: id + 1) }
    }

    @Test("a diverged epoch is stored as NULL and read back as NaN, never 0")
    func nonFiniteEpochs() throws {
        let store = try Store()
        let dataset = try store.ingest(try sampleData()).dataset
        let id = try store.record(TrainingInput(
            trainingDatasetID: dataset.id, testDatasetID: nil, evaluationRunID: nil, loss: "mpa", toolVersion: "t",
            parameters: [], metricNames: ["recall@1", "map@r"],
            epochs: [(0, nil, [0.5, .nan], 0), (1, .nan, [.infinity, 0.25], 1), (2, .infinity, [0.75, 0.5], 1)])).training
        let stored = try store.read { db in
            try Row.fetchAll(db, sql: "SELECT loss, test FROM trainingEpoch WHERE trainingRunId = ? ORDER BY epoch", arguments: [id])
        }
        #expect(stored.map { $0["loss"] as Double? } == [nil, nil, nil])
        #expect(stored.map { $0["test"] as String } == ["[0.5,null]", "[null,0.25]", "[0.75,0.5]"])
        let curves = try store.trainingCurves(id: id)
        #expect(curves[0].loss == nil)
        #expect(curves[1].loss!.isNaN && curves[2].loss!.isNaN)
        #expect(curves[0].test["recall@1"] == 0.5 && curves[0].test["map@r"]!.isNaN)
        #expect(curves[1].test["recall@1"]!.isNaN && curves[1].test["map@r"] == 0.25)
        let summary = try #require(try store.trainingRuns(limit: 1).first)
        #expect(summary.lastLoss!.isNaN && summary.lastTest == [0.75, 0.5])
    }
}
