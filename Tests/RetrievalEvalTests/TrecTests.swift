// The TREC path: the readers (ranking, duplicates, bad lines), TrecEvaluation against
// trec_eval's own numbers (its quicktest files, fixtures/trec_eval/, and a graded case run
// through trec_eval), graded and exponential nDCG, the query-set switch, and the writer's
// round trip back to the main job's numbers.

import Foundation
import Testing
@testable import RetrievalEval

@Suite("TREC runs and qrels")
struct TrecTests {
    static let fixtures = repositoryRoot.appendingPathComponent("fixtures/trec_eval").path

    // MARK: trec_eval's quicktest files through TrecEvaluation

    /// The out.test.a / out.test.aq measures that score-run shares, as dmleval metrics.
    static func dmlevalMetric(_ trecName: String) -> Metric? {
        func cut(_ prefix: String) -> Int? {
            trecName.hasPrefix(prefix) ? Int(trecName.dropFirst(prefix.count)) : nil
        }
        if let k = cut("P_") { return .precision(k: k) }
        if let k = cut("recall_") { return .recall(k: k, convention: .ir) }
        if let k = cut("ndcg_cut_") { return .ndcg(k: k) }
        if let k = cut("map_cut_") { return .map(k: k, denominator: .r) }
        if trecName == "recip_rank" { return .mrr }
        if trecName == "Rprec" { return .rPrecision }
        return nil
    }

    /// trec_eval v10.0 (commit f425365), `trec_eval -m all_trec -q test/qrels.test test/results.test`:
    /// every shared measure, per query and over all queries, through TrecRun, TrecQrels and
    /// TrecEvaluation, to trec_eval's 4 decimals.
    @Test func quicktestAgreesWithTrecEvalPerQueryAndOverall() throws {
        let run = try TrecRun.read("\(Self.fixtures)/results.test")
        let qrels = try TrecQrels.read("\(Self.fixtures)/qrels.test")
        var expected: [(String, Metric, [String: Double])] = []
        let perQuery = TrecFiles.measures(TrecFiles.fixture("out.test.aq"))
        let overall = TrecFiles.measures(TrecFiles.fixture("out.test.a"))
        for name in perQuery.keys.sorted() {
            guard let metric = Self.dmlevalMetric(name) else { continue }
            var values = perQuery[name]!
            values["all"] = try #require(overall[name]?["all"])
            expected.append((name, metric, values))
        }
        // P, recall, ndcg_cut, map_cut at 9 cutoffs each, recip_rank and Rprec.
        #expect(expected.count == 4 * 9 + 2)
        let evaluation = TrecEvaluation.run(run: run, qrels: qrels, metrics: expected.map(\.1))
        #expect(evaluation.queryIDs == ["301", "302", "303"])
        #expect(evaluation.report.scoredQueries == 3 && evaluation.report.excludedQueries == 0)
        #expect(evaluation.depth == 500)
        for (m, (name, metric, values)) in expected.enumerated() {
            for (q, qid) in evaluation.queryIDs.enumerated() {
                let value = evaluation.report.perQuery[m][q]
                #expect(abs(value - values[qid]!) <= Tolerance.fourDecimals, "\(name) query \(qid): \(metric.name) = \(value)")
            }
            #expect(abs(evaluation.report.means[m] - values["all"]!) <= Tolerance.fourDecimals, "\(name): \(metric.name)")
        }
    }

    // MARK: Graded judgments, relevance levels and query sets, against trec_eval

    // Graded qrels and a run with a tie (x and a, both 0.7, in query q1: trec_eval puts x
    // first), a query (q3) whose only relevant document has grade 1, a query the run lacks
    // (q4) and a run query without judgments (q9).
    static let gradedQrels = """
        q1 0 a 3
        q1 0 b 2
        q1 0 c 0
        q1 0 d 1
        q1 0 e 2
        q2 0 a 1
        q2 0 f 1
        q2 0 g 0
        q3 0 x 0
        q3 0 y 1
        q4 0 z 2

        """
    static let gradedRun = """
        q1 Q0 c 1 0.9 r
        q1 Q0 b 2 0.8 r
        q1 Q0 x 3 0.7 r
        q1 Q0 a 4 0.7 r
        q1 Q0 d 5 0.5 r
        q2 Q0 g 1 2.0 r
        q2 Q0 f 2 1.5 r
        q3 Q0 y 1 3 r
        q3 Q0 x 2 2 r
        q9 Q0 a 1 1 r

        """

    static let gradedMetrics: [Metric] = [
        .precision(k: 1), .precision(k: 2), .precision(k: 5), .recall(k: 2, convention: .ir), .recall(k: 5, convention: .ir),
        .ndcg(k: 3), .ndcg(k: 5), .map(k: 5, denominator: .r), .mrr, .rPrecision,
    ]

    /// trec_eval v10.0 (built from commit f425365) on the files above with `-m P.1,2,5 -m
    /// recall.2,5 -m ndcg_cut.3,5 -m map_cut.5 -m recip_rank -m Rprec`, in `gradedMetrics`'
    /// order. `-q` per query for q1, q2, q3 (trec_eval v10.0 then stops on q4, which the run
    /// lacks, instead of skipping it as its help says), and the means of `-c` over q1 to q4.
    struct TrecEvalOutput {
        let level: Int
        let perQuery: [String: [Double]]
        let complete: [Double]
    }

    static let levelOne = TrecEvalOutput(
        level: 1,
        perQuery: [
            "q1": [0, 0.5, 0.6, 0.25, 0.75, 0.2398, 0.5166, 0.4, 0.5, 0.5],
            "q2": [0, 0.5, 0.2, 0.5, 0.5, 0.3869, 0.3869, 0.25, 0.5, 0.5],
            "q3": [1, 0.5, 0.2, 1, 1, 1, 1, 1, 1, 1],
        ],
        complete: [0.25, 0.375, 0.25, 0.4375, 0.5625, 0.4067, 0.4759, 0.4125, 0.5, 0.5])

    // `-l2`: q2 and q3 have no document graded 2 or more; their binary measures are 0, their
    // nDCG is still read from the grades.
    static let levelTwo = TrecEvalOutput(
        level: 2,
        perQuery: [
            "q1": [0, 0.5, 0.4, 0.3333, 0.6667, 0.2398, 0.5166, 0.3333, 0.5, 0.3333],
            "q2": [0, 0, 0, 0, 0, 0.3869, 0.3869, 0, 0, 0],
            "q3": [0, 0, 0, 0, 0, 1, 1, 0, 0, 0],
        ],
        complete: [0, 0.125, 0.1, 0.0833, 0.1667, 0.4067, 0.4759, 0.0833, 0.125, 0.0833])

    @Test(arguments: [levelOne, levelTwo])
    func gradedCaseAgreesWithTrecEval(_ expected: TrecEvalOutput) throws {
        let run = TrecFiles.run(Self.gradedRun), qrels = TrecFiles.qrels(Self.gradedQrels)
        let metrics = Self.gradedMetrics
        func check(_ querySet: TrecQuerySet, scored: [String], means: [Double]) {
            let e = TrecEvaluation.run(run: run, qrels: qrels, metrics: metrics, relevanceLevel: expected.level, querySet: querySet)
            #expect(e.queryIDs == ["q1", "q2", "q3", "q4"])
            #expect(e.report.scoredQueries == scored.count, "\(querySet)")
            #expect(e.missingQueries == 1 && e.unjudgedQueries == 1)
            for (m, metric) in metrics.enumerated() {
                for (q, qid) in e.queryIDs.enumerated() {
                    let value = e.report.perQuery[m][q]
                    if !scored.contains(qid) {
                        #expect(value.isNaN, "\(querySet) \(qid) \(metric.name) should be excluded")
                    } else if let trec = expected.perQuery[qid] {
                        #expect(abs(value - trec[m]) <= Tolerance.fourDecimals, "\(querySet) \(qid) \(metric.name) = \(value), trec_eval \(trec[m])")
                    } else {
                        #expect(value == 0, "\(querySet) \(qid) (not in the run) \(metric.name)")
                    }
                }
                #expect(abs(e.report.means[m] - means[m]) <= Tolerance.fourDecimals,
                        "\(querySet) mean \(metric.name) = \(e.report.means[m]), expected \(means[m])")
            }
        }
        let retrieved = ["q1", "q2", "q3"]
        let mean = { (ids: [String]) in metrics.indices.map { m in ids.reduce(0.0) { $0 + expected.perQuery[$1]![m] } / Double(ids.count) } }
        // judged: trec_eval's documented default, the mean over the judged queries the run answers.
        check(.judged, scored: retrieved, means: mean(retrieved))
        // all: trec_eval -c.
        check(.all, scored: retrieved + ["q4"], means: expected.complete)
        // relevant: only queries with a relevant document at this level.
        let relevant = expected.level == 1 ? retrieved : ["q1"]
        check(.relevant, scored: relevant, means: mean(relevant))
    }

    /// Burges' gain 2^grade - 1, by hand: q1 ranks c (0), b (2), x (unjudged), a (3), d (1);
    /// its ideal ranking is 3, 2, 2, 1 (grade 0 left out).
    @Test func exponentialGainByHand() throws {
        let run = TrecFiles.run(Self.gradedRun), qrels = TrecFiles.qrels(Self.gradedQrels)
        let e = TrecEvaluation.run(run: run, qrels: qrels, metrics: [.ndcg(k: 5, gain: .exponential), .ndcg(k: 2, gain: .exponential)])
        let dcg5 = 3 / log2(3.0) + 7 / log2(5.0) + 1 / log2(6.0)
        let ideal5 = 7 + 3 / log2(3.0) + 3 / 2.0 + 1 / log2(5.0)
        #expect(abs(e.report.perQuery[0][0] - dcg5 / ideal5) < 1e-12)
        #expect(abs(e.report.perQuery[1][0] - (3 / log2(3.0)) / (7 + 3 / log2(3.0))) < 1e-12)
        // q2: grades 0, 1 against an ideal 1, 1: with grades of 0 and 1 the gains agree.
        let linear = TrecEvaluation.run(run: run, qrels: qrels, metrics: [.ndcg(k: 5)])
        #expect(abs(e.report.perQuery[0][1] - linear.report.perQuery[0][1]) < 1e-15)
        #expect(abs(e.report.perQuery[0][1] - (1 / log2(3.0)) / (1 + 1 / log2(3.0))) < 1e-12)
    }

    @Test func metricNamesOfTheGain() {
        #expect(Metric.ndcg(k: 10, gain: .exponential).name == "ndcg@10[gain=exponential]")
        #expect(Metric.ndcg(k: 10).name == "ndcg@10")
        #expect(Metric(name: "ndcg@10[gain=exponential]") == .ndcg(k: 10, gain: .exponential))
        #expect(Metric(name: "ndcg@10[gain=linear]") == .ndcg(k: 10))
        #expect(Metric(name: "ndcg@10[gain=cubic]") == nil)
    }

    // MARK: Reading

    @Test func ranksByScoreThenDocidDecreasingAndIgnoresTheRankColumn() throws {
        let run = TrecFiles.run("q 0 b 1 0.5 t\nq 0 a 2 0.5 t\nq 0 c 3 0.5 t\nq 0 z 9 0.9 t\nq\t0\tB10 4 0.5 t\r\n")
        #expect(run.rankings["q"]!.map(\.docid) == ["z", "c", "b", "a", "B10"])
    }

    @Test func badRunLines() throws {
        let dir = try TemporaryDirectory()
        let columns = try dir.write("columns.trec", text: "q Q0 a 1 0.5 t\n\nq Q0 b 2 0.4\n")
        expectInputError(.badTrecLine, file: columns, at: .line(3), mentioning: ["6 fields", "found 5 fields"]) { try TrecRun.read(columns) }
        let score = try dir.write("score.trec", text: "q Q0 a 1 0.5 t\nq Q0 b 2 high t\n")
        expectInputError(.badTrecLine, file: score, at: .line(2), mentioning: ["field 5 (score)", "'high'"]) { try TrecRun.read(score) }
        let nan = try dir.write("nan.trec", text: "q Q0 a 1 nan t\n")
        expectInputError(.badTrecLine, file: nan, at: .line(1), mentioning: ["finite number"]) { try TrecRun.read(nan) }
        let duplicate = try dir.write("dup.trec", text: "q Q0 a 1 0.5 t\nr Q0 a 1 0.5 t\nq Q0 a 2 0.4 t\n")
        expectInputError(.badTrecLine, file: duplicate, at: .line(3), mentioning: ["once", "first on line 1", "field 3"]) { try TrecRun.read(duplicate) }
        let empty = try dir.write("empty.trec", text: "\n  \n")
        expectInputError(.badTrecLine, file: empty, at: .line(1), mentioning: ["empty file"]) { try TrecRun.read(empty) }
    }

    @Test func badQrelsLines() throws {
        let dir = try TemporaryDirectory()
        let columns = try dir.write("columns.qrels", text: "q 0 a 1\nq 0 b 2 1\n")
        expectInputError(.badTrecLine, file: columns, at: .line(2), mentioning: ["4 fields", "found 5 fields"]) { try TrecQrels.read(columns) }
        let run = try dir.write("run.qrels", text: "q Q0 a 1 0.5 t\n")
        expectInputError(.badTrecLine, file: run, at: .line(1), mentioning: ["looks like a run"]) { try TrecQrels.read(run) }
        let negative = try dir.write("negative.qrels", text: "q 0 a 1\nq 0 b -1\n")
        expectInputError(.badTrecLine, file: negative, at: .line(2), mentioning: ["field 4 (grade)", "'-1'", "unjudged"]) { try TrecQrels.read(negative) }
        let fraction = try dir.write("fraction.qrels", text: "q 0 a 0.5\n")
        expectInputError(.badTrecLine, file: fraction, at: .line(1), mentioning: ["integer grade"]) { try TrecQrels.read(fraction) }
        let duplicate = try dir.write("dup.qrels", text: "q 0 a 1\nq 1 a 0\n")
        expectInputError(.badTrecLine, file: duplicate, at: .line(2), mentioning: ["judged once", "first on line 1"]) { try TrecQrels.read(duplicate) }
    }

    @Test func theHashIsTheFilesBytes() throws {
        let a = TrecFiles.qrels("q 0 a 1\n"), b = TrecFiles.qrels("q 0 a 1\n"), c = TrecFiles.qrels("q 0 a 2\n")
        #expect(a.contentHash == b.contentHash && a.contentHash != c.contentHash)
        #expect(a.contentHash == SHA256.hex(Array("q 0 a 1\n".utf8)))
    }

    // MARK: Writing: the main job's lists and labels round-trip through score-run's path

    @Test(arguments: [false, true])
    func savedRunAndQrelsGiveTheJobsNumbers(withQuerySet: Bool) throws {
        // Three classes, with exact ties (rows 0 and 4 are equal, as are 2 and 6).
        let rows: [[Float]] = [[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9], [1, 0], [0.7, 0.7], [0, 1], [-1, 0.2], [-0.9, 0.1]]
        let labels = Labels(strings: ["a", "a", "b", "b", "a", "c", "b", "c", "c"])
        let data = try LabeledEmbeddings(embeddings: Matrix(rows: rows.count, columns: 2, values: rows.flatMap { $0 }), labels: labels)
        let queryData = withQuerySet
            ? try LabeledEmbeddings(embeddings: Matrix(rows: 3, columns: 2, values: [1, 0.05, 0, 1, -1, 0]), labels: Labels(strings: ["a", "b", "d"]))
            : nil
        let metrics: [Metric] = [.recall(k: 1), .recall(k: 3, convention: .ir), .precision(k: 2), .map(k: 3), .map(k: 3, denominator: .r),
                                 .mapAtR, .rPrecision, .ndcg(k: 3), .mrr]
        let evaluation = try RetrievalEvaluation.run(references: data, queries: queryData, metrics: metrics, threads: 1, keepNeighbors: true)
        let neighbors = try #require(evaluation.neighbors)
        let judgments = queryData.map { RelevanceJudgments(queries: $0.labels, references: labels) } ?? RelevanceJudgments(selfRetrieval: labels)
        let dir = try TemporaryDirectory()
        let names = TrecWriter.RowNames(names: (0 ..< rows.count).map { "doc-\($0)" })
        let queryNames: TrecWriter.RowNames = withQuerySet ? .indices : names
        let runFile = try TrecWriter.prepareRun(neighbors, queries: queryNames, references: names, to: dir.path("knn.trec"))
        let qrelsFile = try TrecWriter.prepareQrels(judgments, selfRetrieval: !withQuerySet, queries: queryNames, references: names, to: dir.path("knn.qrels"))
        #expect(try dir.listing().count == 2)
        try runFile.commit()
        try qrelsFile.commit()
        let run = try TrecRun.read(dir.path("knn.trec")), qrels = try TrecQrels.read(dir.path("knn.qrels"))
        // Every list comes back in the job's order, ties included.
        for q in 0 ..< neighbors.queries {
            let qid = withQuerySet ? String(q) : "doc-\(q)"
            #expect(run.rankings[qid]!.map(\.docid) == neighbors.indices(of: q).map { "doc-\($0)" })
        }
        let scored = TrecEvaluation.run(run: run, qrels: qrels, metrics: metrics)
        #expect(scored.report.scoredQueries == evaluation.report.scoredQueries)
        for m in metrics.indices {
            #expect(abs(scored.report.means[m] - evaluation.report.means[m]) < 1e-12, "\(metrics[m].name)")
        }
        // The qrels hold each query's relevant references, the query itself left out.
        let firstQuery = withQuerySet ? "0" : "doc-0"
        #expect(Set(qrels.judgments[firstQuery]!.keys) == (withQuerySet ? ["doc-0", "doc-1", "doc-4"] : ["doc-1", "doc-4"]))
    }

    @Test func rowNamesAreCheckedAgainstTheRows() throws {
        let dir = try TemporaryDirectory()
        let ok = try dir.write("ids.txt", text: "a\nb\nc\n")
        #expect(try TrecWriter.RowNames.read(ok, rows: 3).name(2) == "c")
        expectInputError(.countMismatch, file: ok, at: nil, mentioning: ["4 ids", "found 3"]) { try TrecWriter.RowNames.read(ok, rows: 4) }
        let space = try dir.write("space.txt", text: "a\nb c\n")
        expectInputError(.badLabel, file: space, at: .line(2), mentioning: ["without spaces"]) { try TrecWriter.RowNames.read(space, rows: 2) }
        let twice = try dir.write("twice.txt", text: "a\nb\na\n")
        expectInputError(.badLabel, file: twice, at: .line(3), mentioning: ["first on line 1"]) { try TrecWriter.RowNames.read(twice, rows: 3) }
    }
}
