import Foundation
import Testing

/// --per-query, runs export --per-query, --per-class CSV and --ci, as a user runs them.
@Suite("Per-query export and confidence intervals, end to end")
struct ExportAndIntervalTests {
    @Test func perQueryCSVAndJSONLinesHoldEveryQueryAndMatchTheMeans() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let csv = dir.appendingPathComponent("new/folder/q.csv").path
        let store = dir.appendingPathComponent("s.sqlite").path
        let r = try dmleval(digits + ["--recall", "1", "--map-r", "--format", "json", "--store", store, "--per-query", csv])
        #expect(r.status == 0, "\(r.stderr)")
        let means = try #require(try jsonObject(r.stdout)["metrics"] as? [String: Double])
        let lines = try String(contentsOfFile: csv, encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(lines.count == 1798)
        #expect(lines[0] == "query,label,r,recall@1,map@r")
        let labels = try String(contentsOfFile: "fixtures/digits-labels.txt", encoding: .utf8).split(separator: "\n").map(String.init)
        var sizes: [String: Int] = [:]
        for l in labels { sizes[l, default: 0] += 1 }
        var sum = [0.0, 0.0]
        for (q, line) in lines.dropFirst().enumerated() {
            let cells = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            #expect(cells[0] == String(q) && cells[1] == labels[q] && cells[2] == String(sizes[labels[q]]! - 1))
            sum[0] += Double(cells[3])!
            sum[1] += Double(cells[4])!
        }
        // Values are written at float32 precision, so the means agree to float32 rounding.
        #expect(abs(sum[0] / 1797 - means["recall@1"]!) < 1e-6)
        #expect(abs(sum[1] / 1797 - means["map@r"]!) < 1e-6)

        // runs export --per-query writes the same file from the store, as CSV or JSON Lines.
        let again = dir.appendingPathComponent("again.csv").path
        let export = try dmleval(["runs", "export", "1", "--per-query", again, "--store", store])
        #expect(export.status == 0, "\(export.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: again)) == Data(contentsOf: URL(fileURLWithPath: csv)))
        let jsonl = dir.appendingPathComponent("q.jsonl").path
        #expect(try dmleval(["runs", "export", "1", "--per-query", jsonl, "--store", store]).status == 0)
        let rows = try String(contentsOfFile: jsonl, encoding: .utf8).split(separator: "\n")
        #expect(rows.count == 1797)
        let first = try jsonObject(String(rows[0]))
        #expect(first["query"] as? Int == 0 && first["label"] as? String == labels[0] && first["r"] as? Int == sizes[labels[0]]! - 1)
        #expect(first["recall@1"] as? Double == Double(lines[1].split(separator: ",")[3]))
    }

    @Test("the hidden --search-products: sgemm's and the canonical products give the same per-query values and saved lists")
    func searchProductsForcedGiveTheSameFiles() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var files: [Data] = []
        for kernel in ["blas", "canonical", "automatic"] {
            let csv = dir.appendingPathComponent("\(kernel).csv").path, npy = dir.appendingPathComponent("\(kernel).npy").path
            let r = try dmleval(digits + ["--map-r", "--no-store", "--search-products", kernel, "--per-query", csv, "--save-neighbors", npy])
            #expect(r.status == 0, "\(r.stderr)")
            files.append(try Data(contentsOf: URL(fileURLWithPath: csv)) + Data(contentsOf: URL(fileURLWithPath: npy)))
        }
        #expect(files.count == 3 && files[0] == files[1] && files[1] == files[2] && files[0].count > 1_000_000)
        let bad = try dmleval(digits + ["--no-store", "--search-products", "fused"])
        #expect(bad.status == 64 && bad.stderr.contains("'fused' is invalid for '--search-products'"))
    }

    @Test("the hidden --time-products: a 'products' timing after the search, and the same values and lists")
    func timeProductsAddsATimingOnly() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var outputs: [(metrics: [String: Double], timings: [String: Double], lists: Data)] = []
        for flags in [[], ["--time-products"], ["--time-products", "--search-products", "blas"]] {
            let npy = dir.appendingPathComponent("\(outputs.count).npy").path
            let r = try dmleval(digits + ["--map-r", "--recall", "1", "--no-store", "--format", "json", "--save-neighbors", npy] + flags)
            #expect(r.status == 0, "\(r.stderr)")
            let json = try jsonObject(r.stdout)
            outputs.append((try #require(json["metrics"] as? [String: Double]), try #require(json["timings"] as? [String: Double]),
                            try Data(contentsOf: URL(fileURLWithPath: npy))))
        }
        #expect(outputs[0].timings["products"] == nil)
        for o in outputs.dropFirst() {
            let products = try #require(o.timings["products"])
            #expect(products > 0 && products < o.timings["total"]!)
            #expect(o.metrics == outputs[0].metrics && o.lists == outputs[0].lists)
        }
        #expect(outputs[0].metrics["map@r"]! > 0.5 && outputs[0].lists.count > 1_000_000)
        // Only an exact search's products are timed: refused with an index, not ignored.
        let bad = try dmleval(digits + ["--no-store", "--time-products", "--index", "hnsw"])
        #expect(bad.status == 64 && bad.stderr.contains("--time-products times the exact search's products and cannot go with --index hnsw"))
    }

    @Test func aFailedRunWritesNoPerQueryFileAndNoFolder() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("made/q.csv").path
        // 79 labels for 1797 rows: refused after the folder would be needed.
        let r = try dmleval(["fixtures/digits.fbin", "fixtures/table3.json", "--per-query", out, "--no-store"])
        #expect(r.status == 2)
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("made").path))
        // An empty scored set: the recall@1000 list is too short, after the folder is made.
        let big = try dmleval(digits + ["--recall", "5000", "--per-query", out, "--no-store"])
        #expect(big.status == 2)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
        let bad = try dmleval(digits + ["--per-query", dir.appendingPathComponent("q.txt").path, "--no-store"])
        #expect(bad.status == 64)
        #expect(bad.stderr.contains("--per-query: expected a file name ending in .csv or .jsonl"))
    }

    @Test func perClassRowsInCSV() throws {
        let r = try dmleval(digits + ["--recall", "1", "--per-class", "--no-store", "--format", "csv"])
        let lines = r.stdout.split(separator: "\n").map(String.init)
        #expect(lines[0] == "scope,label,queries,recall@1")
        #expect(lines[1] == "mean,,1797,\(digitsOracle["recall@1"]!)")
        #expect(lines[2].hasPrefix("macro,,10,"))
        #expect(lines.count == 13)
        #expect(lines[3...].allSatisfy { $0.hasPrefix("class,") })
        let json = try jsonObject(try dmleval(digits + ["--recall", "1", "--per-class", "--no-store", "--format", "json"]).stdout)
        let classes = try #require((json["per_class"] as? [String: Any])?["classes"] as? [[String: Any]])
        for (c, line) in lines[3...].enumerated() {
            let cells = line.split(separator: ",").map(String.init)
            #expect(cells[1] == classes[c]["label"] as? String)
            #expect(Int(cells[2]) == classes[c]["queries"] as? Int)
            // (Foundation's JSON parser may round the last digit.)
            #expect(abs(Double(cells[3])! - ((classes[c]["metrics"] as? [String: Double])?["recall@1"] ?? 0)) < 1e-15)
        }
    }

    @Test func intervalsInEveryFormatSameForTheSameSeed() throws {
        let args = digits + ["--recall", "1", "--map-r", "--no-store", "--ci", "95", "--bootstrap", "200"]
        let json = try jsonObject(try dmleval(args + ["--format", "json"]).stdout)
        let confidence = try #require(json["confidence"] as? [String: Any])
        #expect(confidence["level"] as? Double == 0.95 && confidence["resamples"] as? Int == 200)
        let metrics = try #require(confidence["metrics"] as? [String: [String: Any]])
        for name in ["recall@1", "map@r"] {
            let mean = try #require(metrics[name]?["mean"] as? Double)
            let ci = try #require(metrics[name]?["ci"] as? [Double])
            #expect(ci.count == 2 && ci[0] < mean && mean < ci[1] && ci[1] - ci[0] < 0.05, "\(name) \(ci)")
        }
        let again = try jsonObject(try dmleval(args + ["--format", "json"]).stdout)
        #expect(((again["confidence"] as? [String: Any])?["metrics"] as? [String: [String: Any]])?["map@r"]?["ci"] as? [Double]
                == metrics["map@r"]?["ci"] as? [Double])
        let other = try jsonObject(try dmleval(args + ["--format", "json", "--bootstrap-seed", "7"]).stdout)
        #expect(((other["confidence"] as? [String: Any])?["metrics"] as? [String: [String: Any]])?["map@r"]?["ci"] as? [Double]
                != metrics["map@r"]?["ci"] as? [Double])
        let ci = metrics["map@r"]!["ci"] as! [Double]
        let table = try dmleval(args).stdout
        #expect(table.contains("54.0 [\(String(format: "%.1f", ci[0] * 100)), \(String(format: "%.1f", ci[1] * 100))]"), "\(table)")
        #expect(table.contains("intervals 95% percentile bootstrap intervals over queries (200 resamples, seed 0"))
        let csv = try dmleval(args + ["--format", "csv"]).stdout.split(separator: "\n").map(String.init)
        #expect(csv[0] == "metric,mean,ci_lower,ci_upper")
        let cells = csv[2].split(separator: ",").map(String.init)
        #expect(cells[0] == "map@r")
        for (cell, value) in zip(cells.dropFirst(), [(json["metrics"] as! [String: Double])["map@r"]!, ci[0], ci[1]]) {
            #expect(abs(Double(cell)! - value) < 1e-15)
        }
    }

    @Test func intervalsNeedTwoScoredQueries() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var bytes = Data()
        for v: UInt32 in [3, 2] { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
        for v: Float in [1, 0, 0, 1, 1, 1] { withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
        try bytes.write(to: dir.appendingPathComponent("e.fbin"))
        try "a\nb\nc\n".write(to: dir.appendingPathComponent("l.txt"), atomically: true, encoding: .utf8)
        let store = dir.appendingPathComponent("s.sqlite").path
        let r = try dmleval(["e.fbin", "l.txt", "--recall", "1", "--ci", "95", "--store", store], in: dir)
        #expect(r.status == 2)
        #expect(r.stderr == "error: --ci: a bootstrap interval needs at least 2 scored queries to resample, found 0 (queries with R = 0 are not scored); drop --ci\n")
        #expect(!FileManager.default.fileExists(atPath: store))
    }
}
