import Foundation
import GRDB
import Testing

/// Every writing command killed at many points (the fault-injection hook sends SIGKILL at the
/// N-th write: a row changed in the store or a block of an output file): the store must stay
/// sound and hold no half-recorded dataset, run or training run, and an output file is either
/// absent or whole.
@Suite("Kills at injected points leave the store whole")
struct KillTests {
    struct Command: Sendable, CustomTestStringConvertible {
        let name: String
        /// `$D` is the scratch folder; the store is `$D/store.sqlite`.
        let arguments: [String]
        /// Output files the command writes (relative to `$D`), and their complete size.
        let outputs: [String]
        var testDescription: String { name }
    }

    static let digits = ["fixtures/digits.fbin", "fixtures/digits-labels.txt"]
    static let store = ["--store", "$D/store.sqlite"]

    static let commands: [Command] = [
        Command(name: "evaluate with --save-neighbors and --save-baseline",
                arguments: digits + ["--recall", "1,4", "--map-r"] + store + ["--save-neighbors", "$D/nn.npy", "--save-baseline", "$D/b.json"],
                outputs: ["nn.npy", "b.json"]),
        Command(name: "evaluate with a query set", arguments: ["$D/q.fbin", "fixtures/digits-labels.txt", "--queries", "fixtures/digits.fbin",
                                                             "--query-labels", "fixtures/digits-labels.txt", "--recall", "1"] + store, outputs: []),
        Command(name: "ingest", arguments: ["ingest"] + digits + ["--name", "digits"] + store, outputs: []),
        Command(name: "train with a test set and --out", arguments: ["train"] + digits + ["--test"] + digits
                    + ["--epochs", "1", "--dim", "16", "--out", "$D/head.npy"] + store, outputs: ["head.npy"]),
        Command(name: "score-run", arguments: ["score-run", "fixtures/trec_eval/results.test", "fixtures/trec_eval/qrels.test",
                                               "--precision", "10", "--ndcg", "10"] + store, outputs: []),
        Command(name: "index build into the store", arguments: ["index", "build", "fixtures/digits.fbin", "--index", "ivf", "--nlist", "8"] + store,
                outputs: []),
    ]

    static func run(_ c: Command, in dir: URL, environment: [String: String]) throws -> CommandResult {
        try dmleval(c.arguments.map { $0.replacingOccurrences(of: "$D", with: dir.path) }, environment: environment)
    }

    /// A fresh folder with an empty store that has been opened once, and the second embeddings.
    static func scratch() throws -> URL {
        let dir = try makeTemporaryDirectory()
        try FileManager.default.copyItem(at: URL(fileURLWithPath: "fixtures/digits.fbin", relativeTo: repositoryRoot),
                                         to: dir.appendingPathComponent("q.fbin"))
        return dir
    }

    /// What is wrong with the store, or an empty list.
    static func problems(_ url: URL) throws -> [String] {
        guard FileManager.default.fileExists(atPath: url.path) else { return [] }
        var c = Configuration()
        c.readonly = true
        let db = try DatabaseQueue(path: url.path, configuration: c)
        return try db.read { db in
            var out: [String] = []
            let integrity = try String.fetchAll(db, sql: "PRAGMA integrity_check")
            if integrity != ["ok"] { out.append("integrity_check: \(integrity)") }
            let tables = try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table'")
            guard tables.contains("run") else { return out }
            if try Row.fetchAll(db, sql: "PRAGMA foreign_key_check").count > 0 { out.append("foreign keys broken") }
            let checks = [
                ("a run without metrics", "SELECT COUNT(*) FROM run WHERE id NOT IN (SELECT runId FROM runMetric)"),
                // A scored TREC run's dataset is one row (the run's and the qrels' hashes), by design.
                ("a dataset without labels", "SELECT COUNT(*) FROM dataset WHERE labelKind != 'trec' AND id NOT IN (SELECT datasetId FROM datasetLabels)"),
                ("a dataset without all its rows", """
                    SELECT COUNT(*) FROM dataset d WHERE labelKind != 'trec' AND rows != (SELECT COALESCE(SUM(rowCount), 0) FROM embeddingChunk WHERE datasetId = d.id)
                    """),
                ("a dataset without all its classes", """
                    SELECT COUNT(*) FROM dataset d WHERE labelKind != 'trec' AND classCount != (SELECT COUNT(*) FROM datasetClass WHERE datasetId = d.id)
                    """),
                ("a training run without epochs", "SELECT COUNT(*) FROM trainingRun WHERE id NOT IN (SELECT trainingRunId FROM trainingEpoch)"),
                ("a training run with a test set and no evaluation", "SELECT COUNT(*) FROM trainingRun WHERE testDatasetId IS NOT NULL AND evaluationRunId IS NULL"),
                ("a test evaluation without its training run", """
                    SELECT COUNT(*) FROM run WHERE name LIKE '% head on %' AND id NOT IN (SELECT evaluationRunId FROM trainingRun WHERE evaluationRunId IS NOT NULL)
                    """),
            ]
            for (what, sql) in checks where !sql.contains("trainingRun") || tables.contains("trainingRun") {
                if try (Int.fetchOne(db, sql: sql) ?? 0) > 0 { out.append(what) }
            }
            return out
        }
    }

    @Test(arguments: commands)
    func killedAtEveryKindOfPointLeavesNothingHalfDone(_ c: Command) throws {
        // The writes a whole run makes, and its outputs' complete sizes.
        let full = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: full) }
        let counted = try Self.run(c, in: full, environment: ["DMLEVAL_FAULT_COUNT_WRITES": "1"])
        #expect(counted.status == 0, "\(counted.stderr)")
        let line = try #require(counted.stderr.split(separator: "\n").last { $0.hasPrefix("writes: ") })
        let writes = try #require(Int(line.dropFirst("writes: ".count)))
        #expect(writes >= 3)
        var sizes: [String: Int] = [:]
        for name in c.outputs {
            sizes[name] = try FileManager.default.attributesOfItem(atPath: full.appendingPathComponent(name).path)[.size] as? Int
        }
        let points = Array(Set([1, 2, 3, writes / 4, writes / 2, 3 * writes / 4, writes - 1, writes].filter { $0 >= 1 })).sorted()
        for k in points {
            let dir = try Self.scratch()
            defer { try? FileManager.default.removeItem(at: dir) }
            let r = try Self.run(c, in: dir, environment: ["DMLEVAL_FAULT_KILL_AFTER_WRITES": String(k)])
            #expect(r.signaled && r.status == SIGKILL, "\(c.name) at write \(k) of \(writes): not killed (\(r.status)) \(r.stderr.prefix(300))")
            let store = dir.appendingPathComponent("store.sqlite")
            let found = try Self.problems(store)
            #expect(found.isEmpty, "\(c.name) killed at write \(k) of \(writes): \(found)")
            for name in c.outputs {
                let path = dir.appendingPathComponent(name).path
                if FileManager.default.fileExists(atPath: path) {
                    let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int
                    // A baseline's size varies with its time stamp and run id by a few bytes.
                    #expect(abs((size ?? 0) - (sizes[name] ?? 0)) < 16, "\(c.name) at write \(k): \(name) is partial")
                }
            }
            // The store opens and reads after the kill.
            if FileManager.default.fileExists(atPath: store.path) {
                let list = try dmleval(["runs", "list", "--store", store.path])
                #expect(list.status == 0 || list.stderr.contains("not a dmleval store yet"), "\(list.stderr)")
            }
        }
    }
}
