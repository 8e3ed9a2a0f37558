import Foundation
import Testing

@Suite("dmleval table3 and score, end to end")
struct Table3AndScoreTests {
    @Test func table3PrintsThePaperAndExitsZero() throws {
        let r = try dmleval(["table3"])
        #expect(r.status == 0)
        #expect(r.stderr.isEmpty)
        #expect(r.stdout.contains("[1,0,1,0,0,0,1,0,0,1]  100 / 100       40 / 40    41.7 / 41.7  25.0 / 25.0    82.9 / 82.9"))
        #expect(r.stdout.contains("All 25 values match the paper at its printed precision."))
    }

    @Test func table3AsJSON() throws {
        let r = try dmleval(["table3", "--format", "json"])
        #expect(r.status == 0)
        let root = try jsonObject(r.stdout)
        #expect(root["matches"] as? Bool == true)
        let rows = try #require(root["rows"] as? [[String: Any]])
        #expect(rows.count == 5)
        let metrics = try #require(rows[1]["metrics"] as? [String: Double])
        #expect(metrics["recall@10"] == 1.0)
        #expect(metrics["precision@10"] == 0.2)
        #expect(abs((metrics["ndcg@10"] ?? 0) - 0.5032) < 1e-4)
    }

    @Test(arguments: ["csv", "markdown"])
    func table3OtherFormats(_ format: String) throws {
        let r = try dmleval(["table3", "--format", format])
        #expect(r.status == 0)
        if format == "csv" {
            #expect(r.stdout.hasPrefix("ranking,metric,computed,paper,matches\n"))
            #expect(r.stdout.split(separator: "\n").count == 26)
        } else {
            #expect(r.stdout.contains("| Search results"))
            #expect(r.stdout.contains("| [1,1,1,1,0,0,0,0,0,0] |"))
        }
    }

    @Test func scoreTheIssueExample() throws {
        let r = try dmleval(["score", "--relevance", "1,0,1,0,0,0,1,0,0,1", "--relevant", "4", "--k", "10", "--format", "json"])
        #expect(r.status == 0)
        let metrics = try #require(try jsonObject(r.stdout)["metrics"] as? [String: Double])
        #expect(metrics["recall@10"] == 1.0)
        #expect(metrics["precision@10"] == 0.4)
        #expect(abs((metrics["map@10"] ?? 0) - 0.2495238) < 1e-6)
        #expect(abs((metrics["map@10[denominator=r]"] ?? 0) - 0.6238095) < 1e-6)
        #expect(abs((metrics["map@r"] ?? 0) - 0.4166667) < 1e-6)
        #expect(metrics["r-precision"] == 0.5)
        #expect(abs((metrics["ndcg@10"] ?? 0) - 0.8285419) < 1e-6)
        #expect(metrics["mrr"] == 1.0)
        #expect(metrics.count == 11)
    }

    @Test func scoreTablePrintsPercentWithOneDecimal() throws {
        let r = try dmleval(["score", "--relevance", "1,0,1,0,0,0,1,0,0,1", "--relevant", "4"])
        #expect(r.status == 0)
        #expect(r.stdout.contains("map@10                        25.0"))
        #expect(r.stdout.contains("ndcg@10                       82.9"))
    }

    @Test func scoreTablePrintsTheOtherToolsNamesBesideEachValue() throws {
        let r = try dmleval(["score", "--relevance", "1,0,1,0,0,0,1,0,0,1", "--relevant", "4", "--k", "10"])
        #expect(r.status == 0)
        #expect(r.stderr.isEmpty)
        let lines = r.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines[0] == "metric                        x100  same number in")
        // PML divides by R: its mean_average_precision is map@k[denominator=r], not [denominator=hits].
        let mapR = try #require(lines.firstIndex { $0.hasPrefix("map@10[denominator=r] ") })
        #expect(Array(lines[mapR ... mapR + 3]) == [
            "map@10[denominator=r]         62.4  pytorch-metric-learning mean_average_precision (AccuracyCalculator(k=10))",
            "                                    ranx map@10",
            "                                    trec_eval map_cut_10",
            "                                    ir_measures AP@10",
        ])
        #expect(lines.contains("map@10[denominator=hits]      62.4  torchmetrics RetrievalMAP(top_k=10)"))
        #expect(lines.contains("map@10                        25.0  -"))
        #expect(lines.contains("map@r                         41.7  pytorch-metric-learning mean_average_precision_at_r"))
        #expect(lines.contains("ndcg@10                       82.9  ranx ndcg@10"))
        #expect(lines.contains("                                    trec_eval recip_rank"))
        // faiss's knn_intersection_measure only when R = k.
        #expect(!r.stdout.contains("faiss"))
    }

    @Test func scoreMarkdownPutsTheNamesInOneCell() throws {
        let r = try dmleval(["score", "--relevance", "1,0,1", "--relevant", "3", "--k", "3", "--format", "markdown"])
        #expect(r.status == 0)
        #expect(r.stdout.contains("| precision@3                |  66.7 | ranx precision@3; trec_eval P_3; ir_measures P@3; torchmetrics RetrievalPrecision(top_k=3); faiss knn_intersection_measure (relevant = the exact 3 nearest) |"))
        #expect(r.stdout.contains("| recall@3[ir]               |  66.7 | ranx recall@3; trec_eval recall_3;"))
    }

    @Test func scoreLeavesOutMetricsDeeperThanTheListWithANote() throws {
        let r = try dmleval(["score", "--relevance", "1,0,1", "--relevant", "5", "--format", "csv"])
        #expect(r.status == 0)
        #expect(!r.stdout.contains("map@r"))
        #expect(r.stderr.contains("note: map@r and r-precision need 5 ranked items"))
    }

    @Test func scoreAskedForAMetricTheListCannotHoldFails() throws {
        let r = try dmleval(["score", "--relevance", "1,0,1", "--relevant", "2", "--metric", "ndcg@5"])
        #expect(r.status == 2)
        #expect(r.stderr == "error: query 0: ndcg@5 needs a ranked list of at least 5 items, found 3; retrieve deeper or drop the metric (dmleval never scores a shorter list as if it were complete)\n")
        #expect(r.stdout.isEmpty)
    }

    @Test(arguments: [
        (["--relevance", "1,2,0", "--relevant", "2"], "--relevance item 2: expected 0 or 1, found '2'"),
        (["--relevance", "1,1,0", "--relevant", "1"], "the list itself holds 2 relevant items"),
        (["--relevance", "0,0", "--relevant", "0"], "expected R >= 1"),
        (["--relevance", "1,0", "--relevant", "1", "--metric", "recall@x"], "unknown metric 'recall@x'"),
        (["--relevance", "1,0", "--relevant", "1", "--k", "0"], "--k: expected positive integers"),
    ])
    func scoreRejectsBadArguments(_ arguments: [String], _ message: String) throws {
        let r = try dmleval(["score"] + arguments)
        #expect(r.status == 64)
        #expect(r.stderr.contains(message), "stderr was: \(r.stderr)")
    }

    @Test func helpListsExitCodes() throws {
        let r = try dmleval(["--help"])
        #expect(r.status == 0)
        #expect(r.stdout.contains("EXIT CODES"))
        #expect(r.stdout.contains("table3"))
        #expect(r.stdout.contains("score"))
    }
}
