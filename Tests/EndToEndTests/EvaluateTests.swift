import Foundation
import Testing

/// The digits fixture's values, computed independently with numpy in float64 (pairwise
/// cosine, ties to the lower index): see docs/benchmarks.md for the script.
let digitsOracle: [String: Double] = [
    "recall@1": 0.9888703394546466, "recall@2": 0.9938786867000556, "recall@4": 0.9977740678909294,
    "recall@8": 0.998330550918197, "ndcg@2": 0.9862870151993242, "ndcg@4": 0.9824152391357553,
    "ndcg@8": 0.9737358494055668, "map@r": 0.5400442195869245, "r-precision": 0.6064546259469518,
    "precision@10": 0.9628269337785198, "map@10": 0.9548544531891777, "map@10[denominator=r]": 0.05341900768040385,
]

let digits = ["fixtures/digits.fbin", "fixtures/digits-labels.txt"]

@Suite("dmleval EMBEDDINGS LABELS, end to end")
struct EvaluateTests {
    @Test func theMainJobPrintsThePaperSetAndStoresTheRun() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = dir.appendingPathComponent("runs.sqlite").path
        let r = try dmleval(digits + ["--store", store])
        #expect(r.status == 0)
        #expect(r.stdout.contains("1797 scored, 0 excluded"))
        #expect(r.stdout.contains("recall@1  recall@2  recall@4  recall@8  ndcg@2  ndcg@4  ndcg@8  map@r"))
        #expect(r.stdout.contains("mean      98.9      99.4      99.8      99.8    98.6    98.2    97.4   54.0"))
        #expect(r.stderr == "run 1 stored in \(store)\n")
        let again = try dmleval(digits + ["--store", store, "--ndcg", "2,4,8"])
        #expect(again.stderr == "run 2 stored in \(store)\n")
        #expect(again.stdout.contains("ndcg@2  ndcg@4  ndcg@8"))
        #expect(!again.stdout.contains("recall@1"))
    }

    @Test func jsonCarriesEveryMetricAsAFraction() throws {
        let r = try dmleval(digits + ["--recall", "1,2,4,8", "--ndcg", "2,4,8", "--map-r", "--r-precision",
                                      "--precision", "10", "--map", "10", "--no-store", "--format", "json"])
        #expect(r.status == 0)
        #expect(r.stderr.isEmpty)
        let root = try jsonObject(r.stdout)
        #expect(root["run"] is NSNull)
        #expect(root["queries"] as? Int == 1797)
        #expect(root["excluded_queries"] as? Int == 0)
        let dataset = try #require(root["dataset"] as? [String: Any])
        #expect(dataset["rows"] as? Int == 1797 && dataset["dimensions"] as? Int == 64 && dataset["classes"] as? Int == 10)
        let metrics = try #require(root["metrics"] as? [String: Double])
        #expect(metrics.count == 11)
        for (name, value) in metrics {
            let expected = try #require(digitsOracle[name], "\(name)")
            #expect(abs(value - expected) < 1e-5, "\(name): \(value) vs \(expected)")
        }
        let timings = try #require(root["timings"] as? [String: Double])
        #expect(Set(timings.keys) == ["read", "search", "metrics", "total"])
    }

    @Test func aNonDefaultConventionIsNamedInTheOutput() throws {
        let r = try dmleval(digits + ["--map", "10", "--map-denominator", "r", "--recall", "5", "--recall-convention", "ir",
                                      "--no-store", "--format", "csv"])
        #expect(r.status == 0)
        let lines = r.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first == "metric,mean")
        #expect(lines.contains { $0.hasPrefix("recall@5[ir],") })
        let map = try #require(lines.first { $0.hasPrefix("map@10[denominator=r],") })
        #expect(abs(Double(map.split(separator: ",")[1])! - digitsOracle["map@10[denominator=r]"]!) < 1e-6)
    }

    @Test func perClassMeansAndTheMacroAverage() throws {
        let r = try dmleval(digits + ["--recall", "1", "--per-class", "--no-store", "--format", "json"])
        let perClass = try #require(try jsonObject(r.stdout)["per_class"] as? [String: Any])
        let classes = try #require(perClass["classes"] as? [[String: Any]])
        #expect(classes.count == 10)
        #expect(classes.map { $0["queries"] as? Int ?? 0 }.reduce(0, +) == 1797)
        let macro = try #require((perClass["macro"] as? [String: Double])?["recall@1"])
        let mean = classes.map { ($0["metrics"] as? [String: Double])?["recall@1"] ?? 0 }.reduce(0, +) / 10
        #expect(abs(macro - mean) < 1e-12)
        let table = try dmleval(digits + ["--recall", "1", "--per-class", "--no-store"])
        #expect(table.stdout.contains("macro (per-class)"))
        #expect(table.stdout.contains("per class (x100)"))
    }

    @Test func savedNeighboursAreIndicesBestFirstWithoutSelf() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("nn.npy").path
        let r = try dmleval(digits + ["--recall", "5", "--no-store", "--save-neighbors", out])
        #expect(r.status == 0)
        let data = try Data(contentsOf: URL(fileURLWithPath: out))
        let start = 10 + Int(data[8]) + Int(data[9]) << 8
        #expect(start % 64 == 0)
        let header = String(decoding: data[10 ..< start], as: UTF8.self)
        #expect(header.contains("'descr': '<i8'") && header.contains("'shape': (1797, 5)"))
        #expect(data.count == start + 1797 * 5 * 8)
        let values = data[start...].withUnsafeBytes { raw in (0 ..< 1797 * 5).map { raw.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self) } }
        #expect((0 ..< 1797).allSatisfy { q in !values[q * 5 ..< q * 5 + 5].contains(Int64(q)) })
        #expect(values.allSatisfy { $0 >= 0 && $0 < 1797 })
    }

    @Test func queriesAgainstAGallery() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // Split the digits: rows 0..<300 are queries, the rest the gallery; one query label is unknown.
        let all = try Data(contentsOf: repositoryRoot.appendingPathComponent("fixtures/digits.fbin"))
        let labels = try String(contentsOf: repositoryRoot.appendingPathComponent("fixtures/digits-labels.txt"), encoding: .utf8)
            .split(separator: "\n").map(String.init)
        func fbin(_ rows: Range<Int>) -> Data {
            var n = UInt32(rows.count).littleEndian, d = UInt32(64).littleEndian
            var out = Data(bytes: &n, count: 4)
            out.append(Data(bytes: &d, count: 4))
            out.append(all[(8 + rows.lowerBound * 256) ..< (8 + rows.upperBound * 256)])
            return out
        }
        try fbin(0 ..< 300).write(to: dir.appendingPathComponent("q.fbin"))
        try fbin(300 ..< 1797).write(to: dir.appendingPathComponent("g.fbin"))
        var queryLabels = Array(labels[0 ..< 300])
        queryLabels[0] = "eleven"
        try (queryLabels.joined(separator: "\n") + "\n").write(to: dir.appendingPathComponent("q.txt"), atomically: true, encoding: .utf8)
        try (labels[300...].joined(separator: "\n") + "\n").write(to: dir.appendingPathComponent("g.txt"), atomically: true, encoding: .utf8)
        let r = try dmleval(["g.fbin", "g.txt", "--queries", "q.fbin", "--query-labels", "q.txt", "--recall", "1",
                             "--no-store", "--format", "json"], in: dir)
        #expect(r.status == 0, "\(r.stderr)")
        let root = try jsonObject(r.stdout)
        #expect(root["queries"] as? Int == 300)
        #expect(root["excluded_queries"] as? Int == 1)
        let recall = try #require((root["metrics"] as? [String: Double])?["recall@1"])
        #expect(recall > 0.95 && recall <= 1)
    }

    @Test func ingestThenEvaluateByNameThenListAndShowRuns() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let env = ["DMLEVAL_STORE": dir.appendingPathComponent("s.sqlite").path]
        let ingest = try dmleval(["ingest"] + digits + ["--name", "digits"], environment: env)
        #expect(ingest.status == 0)
        #expect(ingest.stdout.contains("(1797 x 64, 10 classes) stored in"))
        let again = try dmleval(["ingest"] + digits + ["--name", "digits"], environment: env)
        #expect(again.stdout.contains("already stored"))
        let byName = try dmleval(["evaluate", "--dataset", "digits", "--recall", "1", "--format", "json", "--name", "first"], environment: env)
        #expect(byName.status == 0, "\(byName.stderr)")
        let root = try jsonObject(byName.stdout)
        #expect(root["run"] as? Int == 1)
        #expect(abs(((root["metrics"] as? [String: Double])?["recall@1"] ?? 0) - digitsOracle["recall@1"]!) < 1e-9)
        let list = try dmleval(["runs", "list"], environment: env)
        #expect(list.status == 0)
        #expect(list.stdout.contains("digits"))
        #expect(list.stdout.contains("recall@1 98.9"))
        let show = try dmleval(["runs", "show", "1"], environment: env)
        #expect(show.stdout.contains("run       1 'first'"))
        #expect(show.stdout.contains("dataset = digits"))
        #expect(show.stdout.contains("map_denominator = k"))
        let missing = try dmleval(["runs", "show", "7"], environment: env)
        #expect(missing.status == 2)
        #expect(missing.stderr.hasPrefix("error: no run 7 in "))
        let unknown = try dmleval(["evaluate", "--dataset", "cub"], environment: env)
        #expect(unknown.status == 2)
        #expect(unknown.stderr.contains("no dataset named or hashed 'cub'"))
        #expect(unknown.stderr.contains("known names: digits"))
    }

    @Test func aQueryWithNothingRelevantIsExcludedAndCounted() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var labels = try String(contentsOf: repositoryRoot.appendingPathComponent("fixtures/digits-labels.txt"), encoding: .utf8)
            .split(separator: "\n").map(String.init)
        labels[5] = "singleton"
        try (labels.joined(separator: "\n") + "\n").write(to: dir.appendingPathComponent("l.txt"), atomically: true, encoding: .utf8)
        let r = try dmleval([repositoryRoot.appendingPathComponent("fixtures/digits.fbin").path, "l.txt", "--no-store"], in: dir)
        #expect(r.status == 0)
        #expect(r.stdout.contains("1796 scored, 1 excluded (R = 0"))
    }
}

@Suite("Bad input, end to end: one error line, exit 2, the store unchanged")
struct EvaluateErrorTests {
    func storeFile(_ dir: URL) -> String { dir.appendingPathComponent("s.sqlite").path }

    @Test(arguments: [
        (["missing.npy", "fixtures/digits-labels.txt"], "error: missing.npy: expected a readable file, found no such file or directory; check the path and its permissions\n"),
        (["fixtures/digits.fbin", "fixtures/table3.json"], "error: fixtures/table3.json: expected one label per row of fixtures/digits.fbin (1797 labels), found 79 labels; the two files must describe the same items in the same order\n"),
        (["fixtures/digits-labels.txt", "fixtures/digits-labels.txt"], "error: fixtures/digits-labels.txt: expected an extension .npy, .npz, .safetensors, .fbin, .bin, .fvecs, .raw or .f32, found '.txt'; pass --input-format npy|npz|safetensors|fbin|fvecs|raw\n"),
    ])
    func badFiles(_ arguments: [String], _ message: String) throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try dmleval(arguments + ["--store", storeFile(dir)])
        #expect(r.status == 2)
        #expect(r.stderr == message)
        #expect(r.stdout.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: storeFile(dir)))
    }

    @Test func tooFewItemsForACutoffIsAnErrorNotAShorterList() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try dmleval(digits + ["--recall", "5000", "--store", storeFile(dir)])
        #expect(r.status == 2)
        #expect(r.stderr.hasPrefix("error: query 0: recall@5000 needs a ranked list of at least 5000 items, found 1796"))
        #expect(!FileManager.default.fileExists(atPath: storeFile(dir)))
    }

    @Test func aFailedRunLeavesAnExistingStoreAsItWas() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect(try dmleval(digits + ["--recall", "1", "--store", storeFile(dir)]).status == 0)
        let before = try dmleval(["runs", "list", "--format", "json", "--store", storeFile(dir)]).stdout
        let bad = try dmleval(digits + ["--recall", "5000", "--store", storeFile(dir)])
        #expect(bad.status == 2)
        #expect(try dmleval(["runs", "list", "--format", "json", "--store", storeFile(dir)]).stdout == before)
    }

    @Test(arguments: [
        (["fixtures/digits.fbin"], "missing LABELS"),
        ([String](), "give EMBEDDINGS and LABELS files, or --dataset NAME"),
        (["fixtures/digits.fbin", "fixtures/digits-labels.txt", "--recall", "1,x"], "--recall: expected positive integers"),
        (["fixtures/digits.fbin", "fixtures/digits-labels.txt", "--distance", "manhattan"], "manhattan"),
        (["fixtures/digits.fbin", "fixtures/digits-labels.txt", "--queries", "q.npy"], "--queries and --query-labels go together"),
        (["fixtures/digits.fbin", "fixtures/digits-labels.txt", "--map-denominator", "r"], "--recall-convention and --map-denominator apply to --recall and --map"),
    ])
    func badFlags(_ arguments: [String], _ message: String) throws {
        let r = try dmleval(arguments + ["--no-store"])
        #expect(r.status == 64)
        #expect(r.stderr.contains(message), "\(r.stderr)")
    }

    @Test func aKilledIngestLeavesNoPartialDataset() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = storeFile(dir)
        #expect(try dmleval(["ingest", "fixtures/digits.fbin", "fixtures/digits-labels.txt", "--name", "kept", "--store", store]).status == 0)
        // A second dataset (other labels), stalled by the test hook inside its transaction, then killed.
        let labels = dir.appendingPathComponent("other.txt")
        let text = try String(contentsOf: repositoryRoot.appendingPathComponent("fixtures/digits-labels.txt"), encoding: .utf8)
        try text.replacingOccurrences(of: "1", with: "one").write(to: labels, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = dmlevalBinary
        process.arguments = ["ingest", "fixtures/digits.fbin", labels.path, "--name", "killed", "--store", store]
        process.currentDirectoryURL = repositoryRoot
        process.environment = ProcessInfo.processInfo.environment.merging(["DMLEVAL_TEST_STALL_INGEST": "1"]) { $1 }
        let err = Pipe()
        process.standardError = err
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        // Wait for the hook's line: the transaction is open and a chunk is written.
        let line = String(decoding: err.fileHandleForReading.availableData, as: UTF8.self)
        #expect(line.contains("stalled"))
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        let list = try dmleval(["evaluate", "--dataset", "killed", "--store", store])
        #expect(list.status == 2)
        #expect(list.stderr.contains("known names: kept"))
        let kept = try dmleval(["evaluate", "--dataset", "kept", "--recall", "1", "--store", store, "--format", "json"])
        #expect(kept.status == 0)
    }

    @Test func concurrentProcessesRecordEveryRun() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = storeFile(dir)
        let processes = (0 ..< 4).map { i -> Process in
            let p = Process()
            p.executableURL = dmlevalBinary
            p.arguments = digits + ["--recall", "\(i + 1)", "--store", store, "--threads", "1"]
            p.currentDirectoryURL = repositoryRoot
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            return p
        }
        for p in processes { try p.run() }
        for p in processes { p.waitUntilExit() }
        #expect(processes.allSatisfy { $0.terminationStatus == 0 })
        let runs = try JSONSerialization.jsonObject(with: Data(try dmleval(["runs", "list", "--format", "json", "--store", store]).stdout.utf8)) as? [[String: Any]]
        #expect(runs?.count == 4)
        #expect(Set(runs?.compactMap { ($0["metrics"] as? [String: Double])?.keys.first } ?? []) == ["recall@1", "recall@2", "recall@3", "recall@4"])
    }
}

@Suite("A store that cannot be created")
struct StorePathTests {
    @Test func aMissingFolderFailsBeforeAnyWork() throws {
        let r = try dmleval(digits + ["--store", "/nonexistent-dmleval-folder/runs.sqlite"])
        #expect(r.status == 2)
        #expect(r.stdout.isEmpty)
        #expect(r.stderr == "error: /nonexistent-dmleval-folder/runs.sqlite: cannot create the store: the folder '/nonexistent-dmleval-folder' does not exist or is not writable; create it, or pass --store with another path (or --no-store)\n")
    }

    @Test func aFileThatIsNotAStoreIsRefused() throws {
        let r = try dmleval(["runs", "list", "--store", "README.md"])
        #expect(r.status == 2)
        #expect(r.stderr == "error: README.md: cannot open the store: file is not a database; check the path, or pass --store with another file\n")
    }
}
