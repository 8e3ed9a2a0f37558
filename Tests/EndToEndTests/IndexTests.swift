import Foundation
import Testing

/// Reads an int64 .npy written by --save-neighbors.
func int64Npy(_ path: String) throws -> [Int64] {
    let data = try Data(contentsOf: URL(fileURLWithPath: path))
    let start = 10 + Int(data[8]) + Int(data[9]) << 8
    return data[start...].withUnsafeBytes { raw in
        (0 ..< (data.count - start) / 8).map { raw.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self) }
    }
}

@Suite("dmleval --index hnsw|ivf and dmleval index, end to end")
struct IndexTests {
    @Test func hnswReportsItsErrorAgainstExactSearch() throws {
        let r = try dmleval(digits + ["--index", "hnsw", "--no-store", "--format", "json"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try jsonObject(r.stdout)
        let search = try #require(json["search"] as? [String: Any])
        #expect(search["index"] as? String == "hnsw")
        let settings = try #require(search["settings"] as? [String: Any])
        #expect(settings["m"] as? Int == 16 && settings["ef_construction"] as? Int == 200)
        // The paper's set needs depth R = 182 (the largest class has 183 items): efSearch follows.
        #expect(settings["ef_search"] as? Int == 182)
        let check = try #require(json["ann_check"] as? [String: Any])
        #expect(check["queries"] as? Int == 1000)
        #expect(try #require(check["recall_at_10"] as? Double) >= 0.95)
        let metrics = try #require(json["metrics"] as? [String: Double])
        // On the whole set, every metric is within a point of the exact oracle.
        for (name, value) in metrics { #expect(abs(value - digitsOracle[name]!) < 0.01, "\(name)") }
        let exact = try #require(check["exact"] as? [String: Double])
        let change = try #require(check["change"] as? [String: Double])
        for (name, value) in try #require(check["approximate"] as? [String: Double]) {
            #expect(abs(value - exact[name]! - change[name]!) < 1e-12)
        }
    }

    @Test func tableOutputShowsTheIndexAndTheCheck() throws {
        let r = try dmleval(digits + ["--index", "ivf", "--nlist", "40", "--nprobe", "5", "--ndcg", "2,4,8", "--no-store", "--ann-check", "300"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("search    ivf (nlist 40, kmeans_init random, kmeans_iterations 20, training_per_list 256, seed 1, nprobe 5; built in "))
        #expect(r.stdout.contains("against exact search on 300 sampled queries (seed 1, 300 scored; x100)"))
        #expect(r.stdout.contains("approximate") && r.stdout.contains("change"))
    }

    @Test func ivfProbingEveryListSavesTheExactNeighbours() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let exact = dir.appendingPathComponent("exact.npy").path, ivf = dir.appendingPathComponent("ivf.npy").path
        #expect(try dmleval(digits + ["--recall", "20", "--no-store", "--save-neighbors", exact]).status == 0)
        let r = try dmleval(digits + ["--recall", "20", "--no-store", "--index", "ivf", "--nlist", "16", "--nprobe", "16",
                                      "--save-neighbors", ivf, "--format", "json"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try int64Npy(ivf) == (try int64Npy(exact)))
        let check = try #require(try jsonObject(r.stdout)["ann_check"] as? [String: Any])
        #expect(check["recall_at_depth"] as? Double == 1)
    }

    @Test func aStoredIndexIsReusedForTheSameEmbeddingsAndSettings() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = dir.appendingPathComponent("s.sqlite").path
        let first = try dmleval(digits + ["--index", "hnsw", "--m", "8", "--recall", "1", "--store", store, "--format", "json"])
        #expect(first.status == 0, "\(first.stderr)")
        let origin1 = try #require((try jsonObject(first.stdout)["search"] as? [String: Any])?["origin"] as? String)
        #expect(origin1.hasPrefix("built in "))
        let second = try dmleval(digits + ["--index", "hnsw", "--m", "8", "--recall", "1", "--store", store, "--format", "json"])
        let origin2 = try #require((try jsonObject(second.stdout)["search"] as? [String: Any])?["origin"] as? String)
        #expect(origin2.hasPrefix("stored index 1 "))
        #expect((try jsonObject(second.stdout)["metrics"] as? [String: Double]) == (try jsonObject(first.stdout)["metrics"] as? [String: Double]))
        // Other settings: another index.
        let third = try dmleval(digits + ["--index", "hnsw", "--m", "12", "--recall", "1", "--store", store])
        #expect(third.status == 0)
        let list = try dmleval(["index", "info", "--store", store, "--format", "json"])
        let indexes = try #require(try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]])
        #expect(indexes.count == 2)
        #expect(indexes.map { ($0["settings"] as? [String: Any])?["m"] as? Int } == [8, 12])
        #expect(indexes.allSatisfy { $0["rows"] as? Int == 1797 && $0["type"] as? String == "hnsw" })
        let runs = try dmleval(["runs", "show", "2", "--store", store, "--format", "json"])
        #expect(runs.stdout.contains("\"index_m\""))
        #expect(runs.stdout.contains("\"ann_check_recall_at_10\""))
    }

    @Test func buildToAFileThenSearchWithIt() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("digits.hnsw").path
        let build = try dmleval(["index", "build", "fixtures/digits.fbin", "--index", "hnsw", "--build-threads", "1", "--seed", "7",
                                 "-o", file, "--no-store"])
        #expect(build.status == 0, "\(build.stderr)")
        #expect(build.stdout.contains("hnsw index of fixtures/digits.fbin (1797 x 64, cosine)"))
        #expect(build.stderr.contains("index written to \(file)"))
        let again = dir.appendingPathComponent("again.hnsw").path
        #expect(try dmleval(["index", "build", "fixtures/digits.fbin", "--index", "hnsw", "--build-threads", "1", "--seed", "7",
                             "-o", again, "--no-store"]).status == 0)
        #expect(try Data(contentsOf: URL(fileURLWithPath: file)) == Data(contentsOf: URL(fileURLWithPath: again)))
        let info = try dmleval(["index", "info", "--file", file])
        #expect(info.stdout.contains("hnsw index of 1797 x 64 embeddings, cosine"))
        #expect(info.stdout.contains("m 16, ef_construction 200, seed 7"))
        let r = try dmleval(digits + ["--index", "hnsw", "--index-file", file, "--recall", "1", "--no-store", "--format", "json"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect((try jsonObject(r.stdout)["search"] as? [String: Any])?["origin"] as? String == "file \(file)")
        // The file belongs to these embeddings only.
        let other = dir.appendingPathComponent("other.fbin")
        var bytes = try Data(contentsOf: repositoryRoot.appendingPathComponent("fixtures/digits.fbin"))
        bytes[100] ^= 0x01
        try bytes.write(to: other)
        let wrong = try dmleval([other.path, "fixtures/digits-labels.txt", "--index", "hnsw", "--index-file", file, "--no-store"])
        #expect(wrong.status == 2)
        #expect(wrong.stderr.hasPrefix("error: \(file): expected the embeddings the index was built on"), "\(wrong.stderr)")
        // Asking for IVF with an HNSW file.
        let kind = try dmleval(digits + ["--index", "ivf", "--index-file", file, "--no-store"])
        #expect(kind.status == 2)
        #expect(kind.stderr.contains("expected an ivf index (--index), found an hnsw index"), "\(kind.stderr)")
    }

    @Test func sweepPrintsRecallAgainstSpeed() throws {
        let r = try dmleval(["index", "sweep", "fixtures/digits.fbin", "--index", "hnsw", "--ef-search", "10,40", "--repeats", "1",
                             "--format", "json"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try jsonObject(r.stdout)
        #expect(json["references"] as? Int == 1797 && json["queries"] as? Int == 1797 && json["k"] as? Int == 10)
        let points = try #require(json["points"] as? [[String: Any]])
        #expect(points.map { $0["efSearch"] as? Int } == [10, 40])
        let recalls = points.compactMap { $0["recall"] as? Double }
        #expect(recalls.count == 2 && recalls[0] <= recalls[1] && recalls[1] > 0.97)
        #expect(points.allSatisfy { ($0["queriesPerSecond"] as? Double ?? 0) > 0 })
    }

    @Test(arguments: [["index", "info"], ["index", "info", "3"], ["runs", "list"], ["runs", "show", "1"], ["runs", "training"]])
    func readingAStoreThatIsNotThereCreatesNothing(_ arguments: [String]) throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = dir.appendingPathComponent("missing.sqlite").path
        let r = try dmleval(arguments + ["--store", store])
        #expect(r.status == 2)
        #expect(r.stderr == "error: \(store): no store here yet; record a run first ('dmleval EMBEDDINGS LABELS'), or pass --store (or set $DMLEVAL_STORE) with the store's path\n")
        #expect(!FileManager.default.fileExists(atPath: store))
    }

    @Test(arguments: [
        (["--index", "hnsw", "--m", "1"], 64, "--m: expected at least 2, found 1"),
        (["--m", "8"], 64, "--m is an HNSW setting: add --index hnsw"),
        (["--index", "hnsw", "--nprobe", "3"], 64, "--nprobe is an IVF setting: add --index ivf"),
        (["--index", "hnsw", "--ef-search", "0"], 64, "--ef-search: expected at least 1, found 0"),
        (["--index", "hnsw", "--ef-search", "50"], 2, "HNSW efSearch (50) must be at least k (182)"),
        (["--index", "hnsw", "--distance", "ip"], 2, "an HNSW graph needs cosine or l2"),
        (["--index", "ivf", "--nlist", "5000"], 2, "IVF nlist (5000) cannot exceed the number of references (1797)"),
        (["--index", "ivf", "--nlist", "10", "--nprobe", "11"], 2, "IVF nprobe must be in 1...10 (the number of lists), found 11"),
        (["--index-file", "x.idx"], 64, "--index-file and --rebuild-index need --index hnsw or ivf"),
        (["--index", "hnsw", "--index-file", "missing.idx"], 2, "missing.idx"),
    ])
    func badIndexSettings(_ arguments: [String], _ status: Int32, _ message: String) throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = dir.appendingPathComponent("s.sqlite").path
        let r = try dmleval(digits + arguments + ["--store", store])
        #expect(r.status == status)
        #expect(r.stderr.contains(message), "\(r.stderr)")
        if status == 2 { #expect(r.stderr.split(separator: "\n").count == 1, "one error line: \(r.stderr)") }
        #expect(!FileManager.default.fileExists(atPath: store), "a failed run created the store")
    }
}
