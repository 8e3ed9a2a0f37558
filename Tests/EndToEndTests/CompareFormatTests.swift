import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing

/// runs compare --format latex (ranx-style marks) and --ci; check --format junit and --ci.
@Suite("Comparison and gate formats, end to end")
struct CompareFormatTests {
    /// The digits with the first `zeroed` dimensions set to 0: a worse model of the same items.
    static func damagedDigits(_ dir: URL, zeroed: Int) throws -> String {
        var data = try Data(contentsOf: repositoryRoot.appendingPathComponent("fixtures/digits.fbin"))
        for row in 0 ..< 1797 {
            for column in 0 ..< zeroed {
                let offset = 8 + 4 * (row * 64 + column)
                data.replaceSubrange(offset ..< offset + 4, with: [0, 0, 0, 0])
            }
        }
        let path = dir.appendingPathComponent("worse.fbin").path
        try data.write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test func latexNamesRunsAndMarksEverySignificantPair() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let env = ["DMLEVAL_STORE": dir.appendingPathComponent("s.sqlite").path]
        for (distance, name) in [("cosine", "cos_run"), ("l2", "l2 run"), ("ip", "inner")] {
            let r = try dmleval(digits + ["--recall", "1", "--map-r", "--distance", distance, "--name", name], environment: env)
            #expect(r.status == 0, "\(r.stderr)")
        }
        let r = try dmleval(["runs", "compare", "1", "2", "3", "--format", "latex", "--permutations", "2000"], environment: env)
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n").map(String.init)
        #expect(lines[2] == #"Metric & \textsuperscript{a}cos\_run & \textsuperscript{b}l2 run & \textsuperscript{c}inner \\"#)
        // recall@1: cosine and l2 differ on 7 queries (not significant); both beat ip.
        #expect(lines[4] == #"recall@1 & \textbf{98.9}$^{c}$ & 98.8$^{c}$ & 72.1 \\"#)
        // map@r: l2 beats cosine (p < 0.001) and ip; cosine beats ip.
        #expect(lines[5] == #"map@r & 54.0$^{c}$ & \textbf{54.6}$^{ac}$ & 30.1 \\"#)
        let ci = try dmleval(["runs", "compare", "1", "2", "--ci", "95", "--bootstrap", "300", "--format", "json"], environment: env)
        let metrics = try #require(try jsonObject(ci.stdout)["metrics"] as? [[String: Any]])
        let mapR = try #require((metrics[1]["runs"] as? [[String: Any]])?[1])
        let delta = try #require(mapR["delta_points"] as? Double)
        let interval = try #require(mapR["delta_ci_points"] as? [Double])
        #expect(interval[0] > 0 && interval[0] < delta && delta < interval[1], "\(interval) \(delta)")
    }

    @Test func junitReportsEachMetricAndFailsARegression() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let worse = try Self.damagedDigits(dir, zeroed: 48)
        let r = try dmleval(["check", worse, "fixtures/digits-labels.txt", "--baseline", "fixtures/baseline-digits.json", "--no-store",
                             "--format", "junit", "--ci", "95", "--bootstrap", "200"])
        #expect(r.status == 1, "\(r.stderr)")
        let document = try XMLDocument(data: Data(r.stdout.utf8))
        let root = try #require(document.rootElement())
        #expect(root.name == "testsuites")
        let cases = try root.nodes(forXPath: "//testcase").compactMap { $0 as? XMLElement }
        let baseline = try jsonObject(String(contentsOf: repositoryRoot.appendingPathComponent("fixtures/baseline-digits.json"), encoding: .utf8))
        let names = (baseline["metrics"] as? [[String: Any]])?.compactMap { $0["name"] as? String } ?? []
        #expect(cases.map { $0.attribute(forName: "name")?.stringValue ?? "" } == names)
        let failures = try root.nodes(forXPath: "//testcase/failure").count
        #expect(failures > 0)
        #expect(root.attribute(forName: "failures")?.stringValue == String(failures))
        let message = try #require((try root.nodes(forXPath: "//failure").first as? XMLElement)?.stringValue)
        #expect(message.contains("delta -") && message.contains("points ["))
        // The same embeddings pass, with no failure element.
        let pass = try dmleval(["check"] + digits + ["--baseline", "fixtures/baseline-digits.json", "--no-store", "--format", "junit"])
        #expect(pass.status == 0)
        let passed = try XMLDocument(data: Data(pass.stdout.utf8))
        #expect(try passed.nodes(forXPath: "//failure").isEmpty)
        #expect(try passed.nodes(forXPath: "//testcase").count == names.count)
    }

    @Test func checkIntervalsOfTheDifference() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let worse = try Self.damagedDigits(dir, zeroed: 48)
        let r = try dmleval(["check", worse, "fixtures/digits-labels.txt", "--baseline", "fixtures/baseline-digits.json", "--no-store",
                             "--format", "json", "--ci", "90", "--bootstrap", "300"])
        let metrics = try #require(try jsonObject(r.stdout)["metrics"] as? [[String: Any]])
        for m in metrics {
            let delta = try #require(m["delta_points"] as? Double)
            let ci = try #require(m["delta_ci_points"] as? [Double])
            #expect(ci[0] <= delta && delta <= ci[1], "\(m)")
        }
        #expect(metrics.contains { ($0["delta_ci_points"] as? [Double])?[1] ?? 0 < 0 })
    }
}
