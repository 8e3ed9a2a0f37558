import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing

/// `dmleval report`: the HTML parsed as XML, every number in it checked against the run's own
/// values as `runs show`, `runs compare`, `runs training` and an evaluation print them.
@Suite("dmleval report, end to end", .serialized)
struct ReportTests {
    /// A store with: 1 exact cosine, 2 exact l2, 3 HNSW, 4 the test evaluation of training run 1.
    static let fixture: Result<URL, any Error> = Result {
        let dir = try makeTemporaryDirectory()
        let metrics = ["--recall", "1,2,4,8", "--precision", "10", "--map-r"]
        for extra in [["--name", "cosine"], ["--distance", "l2", "--name", "l2"],
                      ["--index", "hnsw", "--ann-check", "200", "--name", "graph"]] {
            let r = try dmleval(digits.map { repositoryRoot.appendingPathComponent($0).path } + metrics + extra, in: dir)
            guard r.status == 0 else { throw CocoaError(.featureUnsupported, userInfo: ["stderr": r.stderr]) }
        }
        try TrainTests().split(into: dir)
        let t = try dmleval(["train", "train.fbin", "train.txt", "--test", "test.fbin", "test.txt", "--loss", "soft-triple",
                             "--dim", "8", "--epochs", "3", "--batch-size", "90", "--lr", "0.01", "--format", "json"], in: dir)
        guard t.status == 0 else { throw CocoaError(.featureUnsupported, userInfo: ["stderr": t.stderr]) }
        return dir
    }

    func element(_ node: XMLNode?) -> XMLElement? { node as? XMLElement }
    /// (Looked up among the attributes by name: in an XHTML document with a default namespace,
    /// corelibs Foundation's `attribute(forName:)` finds none.)
    func attribute(_ e: XMLElement?, _ name: String) -> String? {
        e?.attributes?.first { $0.name == name || $0.localName == name }?.stringValue
    }
    func double(_ e: XMLElement?, _ name: String) -> Double? { attribute(e, name).flatMap(Double.init) }

    func report(_ arguments: [String], in dir: URL) throws -> XMLElement {
        let out = dir.appendingPathComponent("out/\(arguments.joined(separator: "-")).html")
        let r = try dmleval(["report"] + arguments + ["-o", out.path], in: dir)
        #expect(r.status == 0, "\(r.stderr)")
        let text = try String(contentsOf: out, encoding: .utf8)
        #expect(!text.contains("http://") || !text.contains("src=\"http"), "no network")
        #expect(!text.contains("<script"))
        let document = try XMLDocument(data: Data(text.utf8))
        return try #require(document.rootElement())
    }

    @Test func metricsCurvesRAndClassesAreTheRunsOwn() throws {
        let dir = try Self.fixture.get()
        let root = try report(["1"], in: dir)
        let show = try jsonObject(try dmleval(["runs", "show", "1", "--format", "json"], in: dir).stdout)
        let means = try #require(show["metrics"] as? [String: Double])
        let rows = try root.nodes(forXPath: "//*[local-name()='tr'][@class='metric']").compactMap(element)
        #expect(rows.map { attribute($0, "data-metric") ?? "" } == ["recall@1", "recall@2", "recall@4", "recall@8", "precision@10", "map@r"])
        for row in rows {
            let name = attribute(row, "data-metric")!
            let mean = try #require(double(row, "data-mean"))
            #expect(abs(mean - means[name]!) < 1e-15, "\(name)")
            let (lower, upper) = (double(row, "data-lower")!, double(row, "data-upper")!)
            #expect(lower < mean && mean < upper && upper - lower < 0.03, "\(name) [\(lower), \(upper)]")
            // The printed cell is the mean x100 with one decimal.
            let cells = row.children?.compactMap(element) ?? []
            #expect(cells[1].stringValue == String(format: "%.1f", mean * 100))
        }
        // Curves: k = 1 ... 173, the depth every query was searched to (MAP@R takes each query
        // R deep; the smallest digit class has 174 items), equal to the stored @k metrics.
        let recall = try #require(element(try root.nodes(forXPath: "//*[local-name()='g'][@data-series='recall'][@data-run='1']").first))
        let precision = try #require(element(try root.nodes(forXPath: "//*[local-name()='g'][@data-series='precision'][@data-run='1']").first))
        let r = attribute(recall, "data-values")!.split(separator: " ").compactMap { Double($0) }
        let p = attribute(precision, "data-values")!.split(separator: " ").compactMap { Double($0) }
        #expect(r.count == 173 && p.count == 173)
        for k in [1, 2, 4, 8] { #expect(abs(r[k - 1] - means["recall@\(k)"]!) < 1e-12, "recall@\(k)") }
        #expect(abs(p[9] - means["precision@10"]!) < 1e-12)
        #expect(zip(r, r.dropFirst()).allSatisfy { $0 <= $1 })
        let polyline = try #require(recall.children?.compactMap(element).first { $0.localName == "polyline" })
        #expect(attribute(polyline, "points")!.split(separator: " ").count == 173)
        // The heading names the curves' own depth, not the run's 182.
        let headings = try root.nodes(forXPath: "//*[local-name()='h3']").map { $0.stringValue ?? "" }
        #expect(headings.contains("Recall@k and Precision@k, k = 1 to 173"), "\(headings)")
        // R: every digit's class size minus one, 1797 queries.
        let labels = try String(contentsOf: repositoryRoot.appendingPathComponent("fixtures/digits-labels.txt"), encoding: .utf8).split(separator: "\n")
        var sizes: [Substring: Int] = [:]
        for l in labels { sizes[l, default: 0] += 1 }
        var expected: [Int: Int] = [:]
        for (_, size) in sizes { expected[size - 1, default: 0] += size }
        let histogram = try #require(element(try root.nodes(forXPath: "//*[@data-r]").first))
        let rs = attribute(histogram, "data-r")!.split(separator: " ").compactMap { Int($0) }
        let counts = attribute(histogram, "data-queries")!.split(separator: " ").compactMap { Int($0) }
        #expect(Dictionary(uniqueKeysWithValues: zip(rs, counts)) == expected)
        #expect(try root.nodes(forXPath: "//*[local-name()='rect'][@class='bar']").compactMap { double(element($0), "data-count") }.reduce(0, +) == 1797)
        // Per class: recall@1 of each digit, worst first, as --per-class computes it.
        let perClass = try jsonObject(try dmleval(digits + ["--recall", "1", "--per-class", "--no-store", "--format", "json"]).stdout)
        let classes = try #require((perClass["per_class"] as? [String: Any])?["classes"] as? [[String: Any]])
        var byLabel: [String: Double] = [:]
        for c in classes { byLabel[c["label"] as! String] = (c["metrics"] as! [String: Double])["recall@1"] }
        let bars = try root.nodes(forXPath: "//*[local-name()='g'][@class='class']").compactMap(element)
        #expect(bars.count == 10)
        let values = bars.map { double($0, "data-value")! }
        #expect(values == values.sorted())
        for bar in bars { #expect(abs(double(bar, "data-value")! - byLabel[attribute(bar, "data-label")!]!) < 1e-6) }
        #expect(attribute(bars[0], "data-worst") == "true" && attribute(bars[1], "data-worst") == "false")
    }

    @Test func severalRunsSideBySideWithPairedDifferences() throws {
        let dir = try Self.fixture.get()
        let root = try report(["1", "2", "3"], in: dir)
        let compare = try jsonObject(try dmleval(["runs", "compare", "1", "2", "3", "--format", "json", "--ci", "95"], in: dir).stdout)
        let metrics = try #require(compare["metrics"] as? [[String: Any]])
        let table = try #require(element(try root.nodes(forXPath: "//*[local-name()='table'][@class='comparison']").first))
        for m in metrics {
            let name = m["metric"] as! String
            for run in (m["runs"] as! [[String: Any]]).dropFirst() {
                let id = run["run"] as! Int
                let cell = try #require(element(try table.nodes(forXPath: ".//*[@data-run='\(id)'][@data-metric='\(name)']").first))
                #expect(abs(double(cell, "data-mean")! - (run["mean"] as! Double)) < 1e-15)
                let delta = try #require(element(cell.nextSibling))
                #expect(abs(double(delta, "data-delta-points")! - (run["delta_points"] as! Double)) < 1e-12)
                let ci = run["delta_ci_points"] as! [Double]
                #expect(abs(double(delta, "data-lower")! - ci[0]) < 1e-12 && abs(double(delta, "data-upper")! - ci[1]) < 1e-12)
                let wtl = try #require(element(delta.nextSibling?.nextSibling))
                #expect(attribute(wtl, "data-wins") == String(run["wins"] as! Int))
                #expect(attribute(wtl, "data-losses") == String(run["losses"] as! Int))
            }
        }
        // The approximate run's check against exact search, as stored.
        let show = try jsonObject(try dmleval(["runs", "show", "3", "--format", "json"], in: dir).stdout)
        let parameters = try #require(show["parameters"] as? [String: String])
        let ann = try #require(element(try root.nodes(forXPath: "//*[@id='run-3']//*[local-name()='table'][@class='ann']").first))
        let row = try #require(element(try ann.nodes(forXPath: ".//*[local-name()='tr'][*[1]='ann_check_recall_at_10']").first))
        #expect(attribute(row.children?.compactMap(element)[1], "data-value") == parameters["ann_check_recall_at_10"])
        #expect(try root.nodes(forXPath: "//*[@id='run-1']//*[local-name()='table'][@class='ann']").isEmpty)
        // The JSON form holds the same numbers.
        let json = try jsonObject(try dmleval(["report", "1", "2", "3", "--format", "json"], in: dir).stdout)
        let runs = try #require(json["runs"] as? [[String: Any]])
        #expect(runs.map { $0["run"] as? Int } == [1, 2, 3])
        let first = try #require((runs[0]["metrics"] as? [[String: Any]])?.first)
        let row1 = try #require(element(try root.nodes(forXPath: "//*[@id='run-1']//*[local-name()='tr'][@data-metric='recall@1']").first))
        #expect(abs((first["ci"] as! [Double])[0] - double(row1, "data-lower")!) < 1e-15)
    }

    @Test func aTrainingRunShowsItsCurvesAndAnOlderRunItsPoints() throws {
        let dir = try Self.fixture.get()
        let root = try report(["4"], in: dir)
        let training = try jsonObject(try dmleval(["runs", "training", "1", "--format", "json"], in: dir).stdout)
        let epochs = try #require(training["epochs"] as? [[String: Any]])
        let loss = try #require(element(try root.nodes(forXPath: "//*[local-name()='g'][@data-series='loss']").first))
        let values = attribute(loss, "data-values")!.split(separator: " ").compactMap { Double($0) }
        #expect(values.count == 3)
        for (value, epoch) in zip(values, epochs.dropFirst()) { #expect(abs(value - (epoch["loss"] as! Double)) < 1e-12) }
        let test = try #require(element(try root.nodes(forXPath: "//*[local-name()='g'][@data-series='test'][@data-metric='recall@1']").first))
        let recall = attribute(test, "data-values")!.split(separator: " ").compactMap { Double($0) }
        #expect(recall.count == 4)
        #expect(abs(recall[0] - ((epochs[0]["test"] as! [String: Double])["recall@1"]!)) < 1e-12)
        // The training's evaluation run was stored without curves: its stored @k metrics are the points.
        let points = try root.nodes(forXPath: "//*[local-name()='circle'][@class='point']").compactMap(element)
        #expect(points.map { attribute($0, "data-k") } == ["1"])
        let show = try jsonObject(try dmleval(["runs", "show", "4", "--format", "json"], in: dir).stdout)
        #expect(abs(double(points[0], "data-value")! - ((show["metrics"] as! [String: Double])["recall@1"]!)) < 1e-15)
    }

    @Test func badRunsAndFlags() throws {
        let dir = try Self.fixture.get()
        let missing = try dmleval(["report", "9", "-o", "x.html"], in: dir)
        #expect(missing.status == 2 && missing.stderr.hasPrefix("error: no run 9 in "))
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("x.html").path))
        let noOutput = try dmleval(["report", "1"], in: dir)
        #expect(noOutput.status == 64)
    }
}
