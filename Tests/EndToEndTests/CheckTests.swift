import Foundation
import Testing

/// Writes the digits with Gaussian-ish noise of the given scale (a seeded LCG), as .fbin.
func noisyDigits(scale: Float, to url: URL) throws {
    var data = try Data(contentsOf: repositoryRoot.appendingPathComponent("fixtures/digits.fbin"))
    var state: UInt64 = 12345
    data.withUnsafeMutableBytes { raw in
        for i in 0 ..< (raw.count - 8) / 4 {
            var noise: Float = 0
            for _ in 0 ..< 4 {
                state = state &* 6364136223846793005 &+ 1442695040888963407
                noise += Float(state >> 40) / Float(1 << 24) - 0.5
            }
            let offset = 8 + 4 * i
            let value = raw.loadUnaligned(fromByteOffset: offset, as: Float.self) + scale * noise
            raw.storeBytes(of: value, toByteOffset: offset, as: Float.self)
        }
    }
    try data.write(to: url)
}

@Suite("dmleval check, runs export and runs compare, end to end")
struct CheckTests {
    let baseline = "fixtures/baseline-digits.json"

    @Test func theSavedBaselinePassesWithPOne() throws {
        let r = try dmleval(["check"] + digits + ["--baseline", baseline, "--significance", "0.05", "--no-store"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("recall@1     98.89    98.89  +0.00    1.0000  ok"))
        #expect(r.stdout.contains("PASS: no metric dropped by more than 0.50 points significantly"))
        #expect(r.stdout.contains("the embeddings are the baseline's own"))
    }

    @Test func aRealDropFailsWithExitOneAndNamesTheMetric() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try noisyDigits(scale: 12, to: dir.appendingPathComponent("noisy.fbin"))
        let r = try dmleval(["check", dir.appendingPathComponent("noisy.fbin").path, "fixtures/digits-labels.txt",
                             "--baseline", baseline, "--significance", "0.05", "--metric", "recall@1", "--format", "json", "--no-store"])
        #expect(r.status == 1)
        let root = try jsonObject(r.stdout)
        #expect(root["passed"] as? Bool == false)
        let metrics = try #require(root["metrics"] as? [[String: Any]])
        #expect(metrics.count == 1)
        #expect(metrics[0]["metric"] as? String == "recall@1")
        #expect(metrics[0]["regressed"] as? Bool == true)
        #expect((metrics[0]["delta_points"] as? Double ?? 0) < -5)
        #expect((metrics[0]["p_holm"] as? Double ?? 1) < 0.001)
    }

    @Test func aSmallDropWithinNoisePassesWithSignificance() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try noisyDigits(scale: 0.4, to: dir.appendingPathComponent("slight.fbin"))
        let args = ["check", dir.appendingPathComponent("slight.fbin").path, "fixtures/digits-labels.txt",
                    "--baseline", baseline, "--metric", "recall@4", "--tolerance", "0", "--no-store", "--format", "json"]
        let strict = try dmleval(args)
        let lenient = try dmleval(args + ["--significance", "0.05"])
        let strictDelta = try #require(((try jsonObject(strict.stdout))["metrics"] as? [[String: Any]])?.first?["delta_points"] as? Double)
        // Some change, but noise: fails with tolerance 0 only when it is a drop, never with --significance.
        #expect(strictDelta != 0)
        #expect(strict.status == (strictDelta < 0 ? 1 : 0))
        #expect(lenient.status == 0, "\(lenient.stdout)")
    }

    @Test func aBaselineOfAnotherTestSetIsRefused() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var labels = try String(contentsOf: repositoryRoot.appendingPathComponent("fixtures/digits-labels.txt"), encoding: .utf8)
            .split(separator: "\n").map(String.init)
        labels.swapAt(0, 1)
        let path = dir.appendingPathComponent("shuffled.txt")
        try (labels.joined(separator: "\n") + "\n").write(to: path, atomically: true, encoding: .utf8)
        let r = try dmleval(["check", "fixtures/digits.fbin", path.path, "--baseline", baseline, "--no-store"])
        #expect(r.status == 2)
        #expect(r.stderr.hasPrefix("error: fixtures/baseline-digits.json: expected the baseline's test set (labels hash f52874ff2faf, 1797 items), found labels hash"))
        #expect(r.stderr.contains("pass --allow-dataset-change"))
        let allowed = try dmleval(["check", "fixtures/digits.fbin", path.path, "--baseline", baseline, "--no-store",
                                   "--allow-dataset-change", "--tolerance", "100"])
        #expect(allowed.status == 0)
        #expect(allowed.stdout.contains("n/a"))
    }

    @Test func githubFormatAnnotatesAndWritesTheStepSummary() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let summary = dir.appendingPathComponent("summary.md").path
        let r = try dmleval(["check"] + digits + ["--baseline", baseline, "--format", "github", "--metric", "map@r", "--no-store"],
                            environment: ["GITHUB_STEP_SUMMARY": summary])
        #expect(r.status == 0)
        #expect(r.stdout.hasPrefix("::notice title=dmleval check::map@r: 54.00 -> 54.00 (+0.00 points, p = 1.0000)"))
        let text = try String(contentsOfFile: summary, encoding: .utf8)
        #expect(text.contains("### dmleval check"))
        #expect(text.contains("| map@r  |    54.00 |   54.00 | +0.00 |   1.0000 | ok      |"))
    }

    @Test func badBaselineInput() throws {
        let missing = try dmleval(["check"] + digits + ["--baseline", "nope.json", "--no-store"])
        #expect(missing.status == 2)
        #expect(missing.stderr.hasPrefix("error: nope.json: expected a readable file"))
        let unknownMetric = try dmleval(["check"] + digits + ["--baseline", baseline, "--metric", "mrr", "--no-store"])
        #expect(unknownMetric.status == 2)
        #expect(unknownMetric.stderr.contains("expected one of the baseline's metrics"))
        let both = try dmleval(["check"] + digits + ["--baseline", baseline, "--run", "1"])
        #expect(both.status == 64)
    }

    @Test func exportCompareAndCheckAgainstAStoredRun() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let env = ["DMLEVAL_STORE": dir.appendingPathComponent("s.sqlite").path]
        try noisyDigits(scale: 3, to: dir.appendingPathComponent("noisy.fbin"))
        #expect(try dmleval(digits + ["--recall", "1,4", "--map-r"], environment: env).status == 0)
        #expect(try dmleval([dir.appendingPathComponent("noisy.fbin").path, "fixtures/digits-labels.txt", "--recall", "1,4", "--map-r"], environment: env).status == 0)
        let exported = dir.appendingPathComponent("run1.json").path
        let export = try dmleval(["runs", "export", "1", "-o", exported], environment: env)
        #expect(export.status == 0)
        #expect(export.stdout == "run 1 (3 metrics, 1797 queries) written to \(exported)\n")
        let viaFile = try dmleval(["check"] + digits + ["--baseline", exported, "--no-store"], environment: env)
        #expect(viaFile.status == 0)
        let viaRun = try dmleval(["check", dir.appendingPathComponent("noisy.fbin").path, "fixtures/digits-labels.txt", "--run", "1"], environment: env)
        #expect(viaRun.status == 1)
        #expect(viaRun.stdout.contains("REGRESSED"))
        let compare = try dmleval(["runs", "compare", "1", "2", "--format", "json"], environment: env)
        #expect(compare.status == 0)
        let metrics = try #require((try jsonObject(compare.stdout))["metrics"] as? [[String: Any]])
        #expect(metrics.map { $0["metric"] as? String } == ["recall@1", "recall@4", "map@r"])
        let second = try #require((metrics[2]["runs"] as? [[String: Any]])?[1])
        #expect((second["delta_points"] as? Double ?? 0) < 0)
        #expect((second["randomization_p_holm"] as? Double ?? 1) < 0.01)
        #expect((second["wins"] as? Int ?? 0) + (second["ties"] as? Int ?? 0) + (second["losses"] as? Int ?? 0) == 1797)
        let latex = try dmleval(["runs", "compare", "1", "2", "--format", "latex"], environment: env)
        #expect(latex.stdout.hasPrefix("\\begin{tabular}{lrr}"))
        let markdown = try dmleval(["runs", "compare", "1", "2", "--format", "markdown"], environment: env)
        #expect(markdown.stdout.hasPrefix("| metric"))
    }
}
