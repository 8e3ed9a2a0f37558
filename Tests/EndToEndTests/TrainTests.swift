import Foundation
import GRDB
import Testing

@Suite("dmleval train and project, end to end")
struct TrainTests {
    /// Splits the digits fixture by row parity into train and test .fbin + .txt files.
    func split(into dir: URL) throws {
        let data = try Data(contentsOf: repositoryRoot.appendingPathComponent("fixtures/digits.fbin"))
        let labels = try String(contentsOf: repositoryRoot.appendingPathComponent("fixtures/digits-labels.txt"), encoding: .utf8)
            .split(separator: "\n").map(String.init)
        for (name, parity) in [("train", 0), ("test", 1)] {
            let rows = Array(stride(from: parity, to: 1797, by: 2))
            var n = UInt32(rows.count).littleEndian, d = UInt32(64).littleEndian
            var out = Data(bytes: &n, count: 4)
            out.append(Data(bytes: &d, count: 4))
            for r in rows { out.append(data[(8 + r * 256) ..< (8 + (r + 1) * 256)]) }
            try out.write(to: dir.appendingPathComponent("\(name).fbin"))
            try (rows.map { labels[$0] }.joined(separator: "\n") + "\n")
                .write(to: dir.appendingPathComponent("\(name).txt"), atomically: true, encoding: .utf8)
        }
    }

    @Test func trainingImprovesRecallAtOneOverTheUntrainedHead() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try split(into: dir)
        let r = try dmleval(["train", "train.fbin", "train.txt", "--test", "test.fbin", "test.txt", "--loss", "soft-triple",
                             "--dim", "4", "--epochs", "10", "--batch-size", "90", "--lr", "0.01", "--format", "json",
                             "--out", "head.npy"], in: dir)
        #expect(r.status == 0, "\(r.stderr)")
        let history = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]])
        #expect(history.count == 11)
        let before = try #require((history[0]["test"] as? [String: Double])?["recall@1"])
        let after = try #require((history[10]["test"] as? [String: Double])?["recall@1"])
        #expect(after > before + 0.1, "recall@1 \(before) -> \(after)")
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("head-proxies.npy").path))
        #expect(r.stderr.contains("training run 1 stored in dmleval.sqlite; the final head's test evaluation is run 1"))
        let stored = try dmleval(["runs", "show", "1", "--format", "json"], in: dir)
        let storedRecall = try #require((try jsonObject(stored.stdout)["metrics"] as? [String: Double])?["recall@1"])
        #expect(abs(storedRecall - after) < 1e-9)
        let project = try dmleval(["project", "head.npy", "test.fbin", "-o", "z.npy"], in: dir)
        #expect(project.status == 0)
        #expect(project.stdout == "898 embeddings of 4 dimensions written to z.npy\n")
        // The projected embeddings score as the last epoch did.
        let evaluated = try dmleval(["z.npy", "test.txt", "--recall", "1", "--no-store", "--format", "json"], in: dir)
        let recall = try #require((try jsonObject(evaluated.stdout)["metrics"] as? [String: Double])?["recall@1"])
        #expect(abs(recall - after) < 1e-9)
    }

    @Test func aGridStoresEveryRunAndReportsMeanAndSpread() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try split(into: dir)
        let r = try dmleval(["train", "train.fbin", "train.txt", "--test", "test.fbin", "test.txt", "--loss", "mpa,soft-triple",
                             "--proxies", "1,2", "--repeats", "2", "--dim", "8", "--epochs", "2", "--batch-size", "128",
                             "--format", "json"], in: dir)
        #expect(r.status == 0, "\(r.stderr)")
        let cells = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]])
        #expect(cells.map { "\($0["loss"]!) \($0["proxies"]!)" } == ["mpa 1", "mpa 2", "soft-triple 1", "soft-triple 2"])
        #expect(cells.compactMap { $0["training_runs"] as? [Int] } == [[1, 2], [3, 4], [5, 6], [7, 8]])
        #expect(r.stderr.contains("every run stored in dmleval.sqlite: 'dmleval runs training' lists them"))
        let list = try dmleval(["runs", "training", "--format", "json"], in: dir)
        let runs = try #require(try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]])
        #expect(runs.map { $0["id"] as? Int } == [8, 7, 6, 5, 4, 3, 2, 1])
        #expect(runs.allSatisfy { $0["epochs"] as? Int == 2 })
        // The cell's mean is the mean of its two stored runs' final recall@1.
        let finals = runs.compactMap { ($0["final_test"] as? [String: Double])?["recall@1"] }
        let mean = try #require((cells[3]["mean"] as? [String: Double])?["recall@1"])
        #expect(abs(mean - (finals[0] + finals[1]) / 2) < 1e-12)
        let shown = try dmleval(["runs", "training", "8"], in: dir)
        #expect(shown.stdout.contains("training run 8, "))
        #expect(shown.stdout.contains("  loss = soft-triple"))
        #expect(shown.stdout.contains("  repeat = 2 of 2"))
        #expect(shown.stdout.contains("  grid = losses mpa,soft-triple; proxies 1,2; repeats 2"))
        #expect(try dmleval(["runs", "training", "99"], in: dir).status == 2)
    }

    @Test func zeroEpochsWritesTheUntrainedHead() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try split(into: dir)
        let r = try dmleval(["train", "train.fbin", "train.txt", "--epochs", "0", "--dim", "64", "--initialization", "identity",
                             "--out", "head.npy"], in: dir)
        #expect(r.status == 0, "\(r.stderr)")
        let head = try Data(contentsOf: dir.appendingPathComponent("head.npy"))
        let start = 10 + Int(head[8]) + Int(head[9]) << 8
        let values = head[start...].withUnsafeBytes { raw in (0 ..< 64 * 64).map { raw.loadUnaligned(fromByteOffset: 4 * $0, as: Float.self) } }
        #expect((0 ..< 64).allSatisfy { values[$0 * 64 + $0] == 1 } && values.reduce(0, +) == 64)
    }

    @Test(arguments: [
        (["--loss", "mpa-xx"], "unknown loss 'mpa-xx'"),
        (["--loss", "proxy-anchor", "--proxies", "4"], "proxy-anchor has one proxy per class"),
        (["--loss", "mpa,mpa-dw", "--out", "h.npy"], "--out writes one head"),
        (["--test", "a.npy"], "--test takes two files"),
        (["--dim", "32", "--initialization", "identity", "--epochs", "0"], "an identity head needs --dim equal"),
    ])
    func badSettings(_ arguments: [String], _ message: String) throws {
        let r = try dmleval(["train", "fixtures/digits.fbin", "fixtures/digits-labels.txt"] + arguments)
        #expect(r.status != 0)
        #expect(r.stderr.contains(message), "\(r.stderr)")
    }
}

@Suite("Diverged training epochs, end to end")
struct DivergedEpochTests {
    @Test func aNonFiniteEpochShowsNanNeverZero() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try TrainTests().split(into: dir)
        let r = try dmleval(["train", "train.fbin", "train.txt", "--test", "test.fbin", "test.txt", "--loss", "soft-triple",
                             "--dim", "4", "--epochs", "2", "--batch-size", "90"], in: dir)
        #expect(r.status == 0, "\(r.stderr)")
        // What a diverged epoch leaves in the store: NULL for its loss and its test values.
        let db = try DatabaseQueue(path: dir.appendingPathComponent("dmleval.sqlite").path)
        try db.write { db in
            try db.execute(sql: "UPDATE trainingEpoch SET loss = NULL, test = '[null,null,null,null,null]' WHERE epoch = 2")
        }
        let table = try dmleval(["runs", "training", "1"], in: dir)
        let last = try #require(table.stdout.split(separator: "\n").last.map(String.init))
        #expect(last.split(separator: " ").map(String.init) == ["2", "nan", "nan", "nan", "nan", "nan", "nan"], "\(last)")
        let json = try jsonObject(try dmleval(["runs", "training", "1", "--format", "json"], in: dir).stdout)
        let epochs = try #require(json["epochs"] as? [[String: Any]])
        #expect(epochs[2]["loss"] is NSNull)
        #expect((epochs[2]["test"] as? [String: Any])?.values.allSatisfy { $0 is NSNull } == true)
        #expect(epochs[1]["loss"] as? Double != nil)
    }
}
