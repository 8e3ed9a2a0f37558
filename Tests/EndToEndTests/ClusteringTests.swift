import Foundation
import Testing

/// `--nmi` and `--ami` as a user runs them: printed, timed as their own stage, stored, and
/// compared without p-values.
@Suite("dmleval --nmi --ami, end to end")
struct ClusteringEndToEndTests {
    @Test func clusteringIsItsOwnStageStoredAndCompared() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = ["--store", dir.appendingPathComponent("s.sqlite").path]
        let first = try dmleval(["fixtures/digits.fbin", "fixtures/digits-labels.txt", "--recall", "1", "--nmi", "--ami",
                                 "--kmeans-restarts", "2", "--format", "json"] + store)
        #expect(first.status == 0, "\(first.stderr)")
        let json = try jsonObject(first.stdout)
        let clustering = try #require(json["clustering"] as? [String: Any])
        let nmi = try #require(clustering["nmi"] as? Double), ami = try #require(clustering["ami"] as? Double)
        // The digits' pixel vectors cluster far from perfectly but far above chance.
        #expect(nmi > 0.5 && nmi < 0.95 && ami > 0.5 && ami < nmi, "nmi \(nmi), ami \(ami)")
        #expect(clustering["clusters"] as? Int == 10 && clustering["restarts"] as? Int == 2)
        let timings = try #require(json["timings"] as? [String: Double])
        #expect(timings["kmeans"] != nil && timings["nmi-ami"] != nil, "\(timings)")
        // The same seed gives the same numbers.
        let again = try dmleval(["fixtures/digits.fbin", "fixtures/digits-labels.txt", "--recall", "1", "--nmi", "--ami",
                                 "--kmeans-restarts", "2", "--format", "json", "--no-store"])
        #expect((try jsonObject(again.stdout)["clustering"] as? [String: Any])?["nmi"] as? Double == nmi)

        let show = try dmleval(["runs", "show", "1", "--format", "json"] + store)
        let metrics = try #require(try jsonObject(show.stdout)["metrics"] as? [String: Double])
        #expect(metrics["nmi"] == nmi && metrics["ami"] == ami)
        #expect(show.stdout.contains("\"kmeans_restarts\""))

        let second = try dmleval(["fixtures/digits.fbin", "fixtures/digits-labels.txt", "--recall", "1", "--nmi", "--ami", "--kmeans-seed", "9"] + store)
        #expect(second.status == 0, "\(second.stderr)")
        #expect(second.stdout.contains("clustering: k-means, 10 clusters (the classes), best of 1 k-means++ start (seed 9); x100"))
        let compare = try dmleval(["runs", "compare", "1", "2", "--format", "json"] + store)
        #expect(compare.status == 0, "\(compare.stderr)")
        let rows = try #require(try jsonObject(compare.stdout)["metrics"] as? [[String: Any]])
        #expect(rows.map { $0["metric"] as? String } == ["recall@1", "nmi", "ami"])
        let nmiRun2 = try #require((rows[1]["runs"] as? [[String: Any]])?.last)
        #expect(nmiRun2["t_test_p_holm"] is NSNull && nmiRun2["wins"] is NSNull)
        #expect((try #require((rows[0]["runs"] as? [[String: Any]])?.last))["t_test_p_holm"] is Double)

        let baseline = dir.appendingPathComponent("b.json").path
        let export = try dmleval(["runs", "export", "1", "-o", baseline] + store)
        #expect(export.status == 0 && export.stderr.contains("note: nmi and ami left out"), "\(export.stderr)")
    }

    @Test func badKMeansSettingsAreUsageErrors() throws {
        let r = try dmleval(["fixtures/digits.fbin", "fixtures/digits-labels.txt", "--nmi", "--kmeans-restarts", "0", "--no-store"])
        #expect(r.status == 64)
        #expect(r.stderr.contains("--kmeans-restarts: expected 1 to 1000, found 0"))
    }
}
