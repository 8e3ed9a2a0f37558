import Foundation
import Testing

/// `dmleval score-run` as a user runs it: trec_eval's numbers on trec_eval's own files, bad
/// input refused with one line and nothing stored, the main job's TREC files scored back to
/// its numbers, and stored TREC runs compared and gated.
@Suite("dmleval score-run, end to end")
struct ScoreRunTests {
    static let run = "fixtures/trec_eval/results.test"
    static let qrels = "fixtures/trec_eval/qrels.test"

    /// `measure -> value` of the `all` rows of a trec_eval output file.
    static func trecEvalMeans(_ file: String) throws -> [String: Double] {
        let text = try String(contentsOf: repositoryRoot.appendingPathComponent(file), encoding: .utf8)
        var out: [String: Double] = [:]
        for line in text.split(separator: "\n") {
            let f = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            if f.count == 3, f[1] == "all", let v = Double(f[2]) { out[String(f[0])] = v }
        }
        return out
    }

    /// trec_eval v10.0's out.test.a (fixtures/trec_eval/, `trec_eval -m all_trec`): P_k,
    /// recall_k, ndcg_cut_k and map_cut_k at its nine cutoffs, recip_rank and Rprec, to its
    /// 4 decimals, through the binary.
    @Test func agreesWithTrecEvalOnItsQuicktest() throws {
        let cutoffs = "5,10,15,20,30,100,200,500,1000"
        let r = try dmleval(["score-run", Self.run, Self.qrels, "--precision", cutoffs, "--recall", cutoffs, "--recall-convention", "ir",
                             "--ndcg", cutoffs, "--map", cutoffs, "--map-denominator", "r", "--mrr", "--r-precision",
                             "--format", "json", "--no-store"])
        #expect(r.status == 0, "\(r.stderr)")
        let metrics = try #require(try jsonObject(r.stdout)["metrics"] as? [String: Double])
        let trec = try Self.trecEvalMeans("fixtures/trec_eval/out.test.a")
        var pairs: [(String, String)] = [("mrr", "recip_rank"), ("r-precision", "Rprec")]
        for k in cutoffs.split(separator: ",") {
            pairs += [("precision@\(k)", "P_\(k)"), ("recall@\(k)[ir]", "recall_\(k)"), ("ndcg@\(k)", "ndcg_cut_\(k)"),
                      ("map@\(k)[denominator=r]", "map_cut_\(k)")]
        }
        #expect(metrics.count == pairs.count)
        for (ours, theirs) in pairs {
            let value = try #require(metrics[ours], "\(ours) missing")
            let expected = try #require(trec[theirs], "\(theirs) missing from out.test.a")
            #expect(abs(value - expected) <= 0.5e-4 + 1e-12, "\(ours) = \(value), trec_eval \(theirs) = \(expected)")
        }
        #expect(r.stderr.isEmpty)
    }

    @Test func theTableNamesTheFilesTheRankingAndTheQueries() throws {
        let r = try dmleval(["score-run", Self.run, Self.qrels, "--no-store"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("ranking   by score, equal scores by docid in decreasing byte order (trec_eval); relevance level 1; depth 500"))
        #expect(r.stdout.contains("queries   3 scored, 0 excluded (query set relevant: 0 without a relevant document, 0 missing from the run)"))
        #expect(r.stdout.contains("mean     30.2          30.0            49.8                    16.2         21.7  40.6"), "\(r.stdout)")
    }

    /// One line naming file, line and field; exit 2; no store created.
    @Test(arguments: [
        ("run", "q Q0 a 1 0.5 t\nq Q0 b 2 0.4\n", "run.trec: line 2: expected 6 fields (qid Q0 docid rank score tag), found 5 fields"),
        ("run", "q Q0 a 1 0.5 t\nq Q0 b 2 x t\n", "run.trec: line 2: expected a finite number in field 5 (score), found 'x'"),
        ("run", "q Q0 a 1 0.5 t\nq Q0 a 2 0.4 t\n", "run.trec: line 2: expected each (qid, docid) pair once, as trec_eval requires, found query 'q', document 'a' (field 3) again, first on line 1"),
        ("qrels", "q 0 a 1\nq 0 b -1\n", "q.qrels: line 2: expected an integer grade from 0 to 1000 in field 4 (grade), found '-1'"),
        ("qrels", "q 0 a\n", "q.qrels: line 1: expected 4 fields (qid iter docid grade), found 3 fields"),
    ])
    func badInputIsOneLineAndExitTwo(_ which: String, _ text: String, _ message: String) throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try (which == "run" ? text : "q Q0 a 1 0.5 t\n").write(to: dir.appendingPathComponent("run.trec"), atomically: true, encoding: .utf8)
        try (which == "qrels" ? text : "q 0 a 1\n").write(to: dir.appendingPathComponent("q.qrels"), atomically: true, encoding: .utf8)
        let r = try dmleval(["score-run", "run.trec", "q.qrels", "--store", "s.sqlite"], in: dir)
        #expect(r.status == 2)
        #expect(r.stdout.isEmpty)
        #expect(r.stderr.hasPrefix("error: " + message), "\(r.stderr)")
        #expect(r.stderr.split(separator: "\n").count == 1)
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("s.sqlite").path))
    }

    /// The main job's --save-run and --save-qrels, scored by score-run, give the job's numbers
    /// (up to the order of the float sums); the files are named by --ids.
    @Test func savedRunAndQrelsRoundTrip() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let ids = (0 ..< 1797).map { "digit-\($0)" }.joined(separator: "\n") + "\n"
        try ids.write(to: dir.appendingPathComponent("ids.txt"), atomically: true, encoding: .utf8)
        let metricFlags = ["--recall", "1,4", "--precision", "5", "--map", "10", "--map-denominator", "r", "--map-r", "--r-precision", "--ndcg", "8", "--mrr"]
        let job = try dmleval(["fixtures/digits.fbin", "fixtures/digits-labels.txt"] + metricFlags + [
            "--save-run", dir.appendingPathComponent("knn.trec").path, "--save-qrels", dir.appendingPathComponent("knn.qrels").path,
            "--ids", dir.appendingPathComponent("ids.txt").path, "--format", "json", "--store", dir.appendingPathComponent("s.sqlite").path])
        #expect(job.status == 0, "\(job.stderr)")
        let knn = try String(contentsOf: dir.appendingPathComponent("knn.trec"), encoding: .utf8)
        #expect(knn.hasPrefix("digit-0 Q0 digit-877 1 0.9807387 dmleval\n"), "\(knn.prefix(80))")
        let scored = try dmleval(["score-run", dir.appendingPathComponent("knn.trec").path, dir.appendingPathComponent("knn.qrels").path]
                                 + metricFlags + ["--format", "json", "--no-store"])
        #expect(scored.status == 0, "\(scored.stderr)")
        let a = try #require(try jsonObject(job.stdout)["metrics"] as? [String: Double])
        let b = try #require(try jsonObject(scored.stdout)["metrics"] as? [String: Double])
        #expect(a.count == 8 && Set(a.keys) == Set(b.keys))
        for (name, value) in a { #expect(abs(value - b[name]!) < 1e-12, "\(name): \(value) vs \(b[name]!)") }
        #expect(try jsonObject(scored.stdout)["scored_queries"] as? Int == 1797)
    }

    @Test func storedRunsCompareAndGate() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = ["--store", dir.appendingPathComponent("s.sqlite").path]
        // A worse run: every query's ranking read backwards.
        let lines = try String(contentsOf: repositoryRoot.appendingPathComponent(Self.run), encoding: .utf8).split(separator: "\n")
        let reversed = lines.map { line -> String in
            var f = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            f[4] = String(-Double(f[4])!)
            return f.joined(separator: " ")
        }.joined(separator: "\n") + "\n"
        let worse = dir.appendingPathComponent("worse.trec").path
        try reversed.write(toFile: worse, atomically: true, encoding: .utf8)

        let first = try dmleval(["score-run", Self.run, Self.qrels, "--ndcg", "10", "--precision", "10"] + store)
        #expect(first.status == 0 && first.stderr.contains("run 1 stored"), "\(first.stderr)")
        let second = try dmleval(["score-run", worse, Self.qrels, "--ndcg", "10", "--precision", "10"] + store)
        #expect(second.status == 0, "\(second.stderr)")
        let compare = try dmleval(["runs", "compare", "1", "2", "--format", "json"] + store)
        #expect(compare.status == 0, "\(compare.stderr)")
        #expect(!compare.stderr.contains("another test set"), "runs on the same qrels pair up: \(compare.stderr)")
        let compared = try #require(try jsonObject(compare.stdout)["metrics"] as? [[String: Any]])
        let secondRun = try #require((compared.first?["runs"] as? [[String: Any]])?.last)
        #expect(secondRun["t_test_p_holm"] is Double, "paired by query: \(compare.stdout)")
        #expect((secondRun["delta_points"] as? Double ?? 0) < -10, "\(compare.stdout)")
        let show = try dmleval(["runs", "show", "1"] + store)
        #expect(show.stdout.contains("a TREC run (file hash 69019319f6cb) and qrels (hash 6c44a070a10b, 3 judged queries)"), "\(show.stdout)")
        #expect(show.stdout.contains("query_set = relevant"))

        let baseline = dir.appendingPathComponent("b.json").path
        #expect(try dmleval(["runs", "export", "1", "-o", baseline] + store).status == 0)
        let same = try dmleval(["check", Self.run, Self.qrels, "--baseline", baseline, "--no-store"])
        #expect(same.status == 0, "\(same.stderr)")
        #expect(same.stdout.contains("the run file is the baseline's own"))
        let drop = try dmleval(["check", worse, Self.qrels, "--baseline", baseline, "--no-store"])
        #expect(drop.status == 1, "\(drop.stderr)")
        #expect(drop.stdout.contains("FAIL: precision@10 dropped 23.33 points") && drop.stdout.contains("ndcg@10 dropped 25.42 points"), "\(drop.stdout)")
        // Other qrels are another test set.
        let otherQrels = dir.appendingPathComponent("other.qrels").path
        try "301 0 FR940202-2-00150 1\n".write(toFile: otherQrels, atomically: true, encoding: .utf8)
        let other = try dmleval(["check", Self.run, otherQrels, "--baseline", baseline, "--no-store"])
        #expect(other.status == 2)
        #expect(other.stderr.hasPrefix("error: \(baseline): expected the baseline's qrels (hash 6c44a070a10b, 3 judged queries)"), "\(other.stderr)")
        // A TREC dataset holds no embeddings.
        let shown = try jsonObject(try dmleval(["runs", "show", "1", "--format", "json"] + store).stdout)
        let hash = try #require((shown["dataset"] as? [String: Any])?["hash"] as? String)
        let dataset = try dmleval(["evaluate", "--dataset", String(hash.prefix(12))] + store)
        #expect(dataset.status == 2)
        #expect(dataset.stderr.contains("is a TREC run and its qrels, with no embeddings; score it with 'dmleval score-run RUN QRELS'"), "\(dataset.stderr)")
    }
}
