import Foundation
import Testing
@testable import RetrievalEval

/// The repository root, found from this file's path (Tests/RetrievalEvalTests/...).
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

func score(_ metric: Metric, _ list: [UInt8], r: Int) -> Double {
    metric.value(list, relevantCount: r)
}

@Suite("Table 3 of the paper")
struct Table3Tests {
    struct Case: CustomStringConvertible, Sendable {
        let ranking: [UInt8]
        let metricName: String
        let decimals: Int
        let printed: Double
        var description: String { "\(metricName) of \(ranking)" }
    }

    /// All 25 printed values, read from fixtures/table3.json (typed from the paper, not
    /// from the library's own copy).
    static let cases: [Case] = {
        let url = repositoryRoot.appendingPathComponent("fixtures/table3.json")
        guard let data = try? Data(contentsOf: url),
              let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let columns = root["columns"] as? [[String: Any]],
              let rows = root["rows"] as? [[String: Any]]
        else { return [] }
        var out: [Case] = []
        for row in rows {
            let ranking = (row["ranking"] as? [Int] ?? []).map(UInt8.init)
            let paper = row["paper"] as? [String: Double] ?? [:]
            for column in columns {
                let name = column["metric"] as? String ?? ""
                out.append(Case(ranking: ranking, metricName: name, decimals: column["decimals"] as? Int ?? 0,
                                printed: paper[name] ?? .nan))
            }
        }
        return out
    }()

    @Test func fixtureHoldsAll25Values() {
        #expect(Self.cases.count == 25)
        #expect(Self.cases.allSatisfy { $0.printed.isFinite && $0.ranking.count == 10 })
    }

    @Test(arguments: cases)
    func matchesThePaperAtItsPrintedPrecision(_ c: Case) throws {
        let metric = try #require(Metric(name: c.metricName))
        let value = score(metric, c.ranking, r: 4)
        #expect(PaperTable3.roundedPercent(value, decimals: c.decimals) == c.printed)
    }

    @Test func libraryCopyAgreesWithFixture() {
        let cells = PaperTable3.compute().joined()
        #expect(cells.count == 25)
        #expect(cells.allSatisfy { $0.matches })
        for (cell, c) in zip(cells, Self.cases) {
            #expect(cell.column.metric.name == c.metricName)
            #expect(cell.printed == c.printed)
        }
    }
}

@Suite("Hand-computed metric values")
struct HandComputedTests {
    let list: [UInt8] = [1, 0, 1, 0, 0, 0, 1, 0, 0, 1]

    @Test func everyConventionOnOneRanking() {
        // hits = 4 in the top 10; sum of P(i) at relevant ranks = 1 + 2/3 + 3/7 + 4/10.
        let apSum = 1.0 + 2.0 / 3 + 3.0 / 7 + 0.4
        #expect(score(.recall(k: 10), list, r: 4) == 1)
        #expect(score(.recall(k: 10, convention: .ir), list, r: 4) == 1)
        #expect(score(.recall(k: 2, convention: .ir), list, r: 4) == 0.25)
        #expect(score(.recall(k: 2), list, r: 4) == 1)
        #expect(score(.precision(k: 10), list, r: 4) == 0.4)
        #expect(abs(score(.map(k: 10), list, r: 4) - apSum / 10) < 1e-12)
        #expect(abs(score(.map(k: 10, denominator: .r), list, r: 4) - apSum / 4) < 1e-12)
        #expect(abs(score(.map(k: 10, denominator: .minKR), list, r: 4) - apSum / 4) < 1e-12)
        #expect(abs(score(.map(k: 10, denominator: .hits), list, r: 4) - apSum / 4) < 1e-12)
        #expect(abs(score(.mapAtR, list, r: 4) - (1 + 2.0 / 3) / 4) < 1e-12)
        #expect(score(.rPrecision, list, r: 4) == 0.5)
        #expect(score(.mrr, [0, 0, 1], r: 1) == 1.0 / 3)
        #expect(score(.mrr, [0, 0, 0], r: 1) == 0)
    }

    @Test func relevantCountLargerThanK() {
        // R = 12 > k = 10: the denominators diverge.
        let apSum = 1.0 + 2.0 / 3 + 3.0 / 7 + 0.4
        #expect(abs(score(.map(k: 10, denominator: .r), list, r: 12) - apSum / 12) < 1e-12)
        #expect(abs(score(.map(k: 10, denominator: .minKR), list, r: 12) - apSum / 10) < 1e-12)
        #expect(abs(score(.map(k: 10, denominator: .hits), list, r: 12) - apSum / 4) < 1e-12)
        #expect(abs(score(.recall(k: 10, convention: .ir), list, r: 12) - 4.0 / 12) < 1e-12)
        // IDCG@10 holds 10 relevant items when R >= k.
        let ideal = (0 ..< 10).reduce(0.0) { $0 + 1 / log2(Double($1) + 2) }
        let dcg = [0, 2, 6, 9].reduce(0.0) { $0 + 1 / log2(Double($1) + 2) }
        #expect(abs(score(.ndcg(k: 10), list, r: 12) - dcg / ideal) < 1e-12)
    }

    @Test func relevantCountSmallerThanK() {
        // R = 2 < k = 5: a perfect list still has precision 2/5; map@k with D = k cannot reach 1.
        let perfect: [UInt8] = [1, 1, 0, 0, 0]
        #expect(score(.precision(k: 5), perfect, r: 2) == 0.4)
        #expect(score(.map(k: 5), perfect, r: 2) == 0.4)
        #expect(score(.map(k: 5, denominator: .minKR), perfect, r: 2) == 1)
        #expect(score(.ndcg(k: 5), perfect, r: 2) == 1)
        let late: [UInt8] = [0, 1, 1, 0, 0]
        #expect(abs(score(.map(k: 5, denominator: .r), late, r: 2) - (0.5 + 2.0 / 3) / 2) < 1e-12)
        #expect(abs(score(.ndcg(k: 5), late, r: 2) - (1 / log2(3.0) + 0.5) / (1 + 1 / log2(3.0))) < 1e-12)
        #expect(score(.mrr, late, r: 2) == 0.5)
    }

    @Test func queriesWithNothingRelevantAreExcludedAndCounted() throws {
        let table = RelevanceTable(lists: [[1, 0], [0, 0], [0, 1]], relevantCounts: [1, 0, 2])
        let report = try Evaluator.evaluate(table, metrics: [.recall(k: 1), .precision(k: 2)])
        #expect(report.scoredQueries == 2)
        #expect(report.excludedQueries == 1)
        #expect(report.perQuery[0][1].isNaN)
        #expect(report.means == [0.5, 0.5])
    }

    @Test func noScoredQueryGivesNaNMeans() throws {
        let report = try Evaluator.evaluate(RelevanceTable(lists: [[0]], relevantCounts: [0]), metrics: [.mrr])
        #expect(report.scoredQueries == 0 && report.excludedQueries == 1)
        #expect(report.means[0].isNaN)
    }

    @Test func aListShorterThanKIsAnErrorNamingTheQuery() {
        let table = RelevanceTable(lists: [[1, 0, 0, 0, 0], [1, 0, 1]], relevantCounts: [1, 2])
        #expect {
            try Evaluator.evaluate(table, metrics: [.ndcg(k: 5)])
        } throws: { error in
            let e = error as? MetricError
            return e?.code == .listTooShort && e?.message.hasPrefix("query 1: ndcg@5 needs a ranked list of at least 5 items, found 3") == true
        }
    }

    @Test func aListShorterThanRIsAnErrorForMAPAtR() {
        let table = RelevanceTable(lists: [[1, 0, 1]], relevantCounts: [5])
        #expect(throws: MetricError.self) { try Evaluator.evaluate(table, metrics: [.mapAtR]) }
        #expect(throws: MetricError.self) { try Evaluator.evaluate(table, metrics: [.rPrecision]) }
        // MRR reads whatever the list holds.
        #expect(throws: Never.self) { try Evaluator.evaluate(table, metrics: [.mrr]) }
    }

    @Test func perClassMacroMeans() throws {
        // Class 0 has three queries (recall@1 = 1, 1, 0), class 1 has one (0), class 2 none scored.
        let table = RelevanceTable(lists: [[1], [1], [0], [0], [1]], relevantCounts: [1, 1, 1, 1, 0])
        let report = try Evaluator.evaluate(table, metrics: [.recall(k: 1)], queryClasses: [0, 0, 0, 1, 2], classCount: 3)
        let perClass = try #require(report.perClass)
        #expect(perClass.scoredQueries == [3, 1, 0])
        #expect(abs(perClass.classMeans[0][0] - 2.0 / 3) < 1e-12)
        #expect(perClass.classMeans[1][0] == 0)
        #expect(perClass.classMeans[2][0].isNaN)
        #expect(abs(perClass.macroMeans[0] - 1.0 / 3) < 1e-12)
        #expect(report.means[0] == 0.5)
    }
}

@Suite("Metric properties on random rankings")
struct MetricPropertyTests {
    static func metrics(k: Int) -> [Metric] {
        RecallConvention.allCases.map { .recall(k: k, convention: $0) }
            + MAPDenominator.allCases.map { .map(k: k, denominator: $0) }
            + [.precision(k: k), .ndcg(k: k), .mrr, .mapAtR, .rPrecision]
    }

    /// Random (list, R) pairs with R >= hits in the list and R <= the list's length.
    static func samples(count: Int, seed: UInt64) -> [([UInt8], Int)] {
        var rng = SplitMix64(seed: seed)
        return (0 ..< count).map { _ in
            let length = Int.random(in: 1 ... 30, using: &rng)
            let list = (0 ..< length).map { _ in UInt8(Bool.random(using: &rng) ? 1 : 0) }
            let hits = list.filter { $0 == 1 }.count
            return (list, Int.random(in: max(1, hits) ... max(1, length), using: &rng))
        }
    }

    @Test func valuesLieInTheUnitInterval() {
        for (list, r) in Self.samples(count: 2000, seed: 1) {
            for k in [1, 3, list.count] {
                for metric in Self.metrics(k: k) where (metric.requiredDepth(relevantCount: r) ?? 0) <= list.count {
                    let v = score(metric, list, r: r)
                    #expect(v >= 0 && v <= 1 + 1e-12, "\(metric.name) of \(list) with R = \(r) is \(v)")
                }
            }
        }
    }

    @Test func aPerfectRankingScoresOne() {
        for r in 1 ... 12 {
            let list = [UInt8](repeating: 1, count: r) + [UInt8](repeating: 0, count: 8)
            for k in 1 ... list.count {
                #expect(score(.recall(k: k), list, r: r) == 1)
                #expect(abs(score(.ndcg(k: k), list, r: r) - 1) < 1e-12)
                #expect(abs(score(.map(k: k, denominator: .minKR), list, r: r) - 1) < 1e-12)
                #expect(abs(score(.map(k: k, denominator: .hits), list, r: r) - 1) < 1e-12)
                if k <= r {
                    #expect(score(.precision(k: k), list, r: r) == 1)
                    #expect(abs(score(.map(k: k), list, r: r) - 1) < 1e-12)
                }
                if k >= r { #expect(score(.recall(k: k, convention: .ir), list, r: r) == 1) }
            }
            #expect(abs(score(.mapAtR, list, r: r) - 1) < 1e-12)
            #expect(score(.rPrecision, list, r: r) == 1)
            #expect(score(.mrr, list, r: r) == 1)
        }
    }

    @Test func addingARelevantItemNeverLowersRecallPrecisionOrNDCG() {
        var rng = SplitMix64(seed: 7)
        for (list, r) in Self.samples(count: 1500, seed: 2) {
            guard let zero = list.indices.filter({ list[$0] == 0 }).randomElement(using: &rng) else { continue }
            var better = list
            better[zero] = 1
            let rBetter = max(r, better.filter { $0 == 1 }.count)
            for k in 1 ... list.count {
                for metric in [Metric.recall(k: k), .recall(k: k, convention: .ir), .precision(k: k), .ndcg(k: k)] {
                    // Compare at the same R so only the list changes.
                    #expect(score(metric, better, r: rBetter) >= score(metric, list, r: rBetter) - 1e-12,
                            "\(metric.name): \(list) -> \(better), R = \(rBetter)")
                }
            }
        }
    }

    @Test func namesRoundTrip() {
        for metric in Self.metrics(k: 10) {
            #expect(Metric(name: metric.name) == metric)
        }
        #expect(Metric(name: "map@10[denominator=r]") == .map(k: 10, denominator: .r))
        #expect(Metric(name: "recall@10[ir]") == .recall(k: 10, convention: .ir))
        #expect(Metric(name: "NDCG@8") == .ndcg(k: 8))
        for bad in ["recall@0", "recall@", "map@10[r]", "precision@10[ir]", "ndcg", "mrr@5", "foo@1"] {
            #expect(Metric(name: bad) == nil, "\(bad) should not parse")
        }
    }
}
