// Every cell of the cross-walk (`PeerNames`, docs/metrics.md) checked on the other tool's own
// published cases: the rankings, labels and expected numbers of its test files and
// documentation examples, typed here as data with the project, file and version. Each test
// asks the cross-walk which dmleval metric stands for the tool's name and asserts that the
// library gives the tool's number. Where a tool's tests hold no hand-computed number for a
// cell, the number comes from running the named release (noted as such).

import Foundation
import Testing
@testable import RetrievalEval

// MARK: - pytorch-metric-learning

/// pytorch-metric-learning's AccuracyCalculator, tests/utils/test_calculate_accuracies.py
/// (commit 216a792, v2.8.1; pytorch-metric-learning 2.9.0 gives the same numbers).
@Suite("pytorch-metric-learning's AccuracyCalculator cases")
struct PMLConventionTests {
    // test_accuracy_calculator: the labels of the 5 nearest references of 6 queries, and
    // how many references carry each label (label_counts).
    static let queryLabels: [Int] = [1, 1, 2, 3, 4, 0]
    static let knnLabels: [[Int]] = [
        [0, 1, 1, 2, 2],
        [1, 0, 1, 1, 3],
        [4, 4, 4, 4, 2],
        [3, 1, 3, 1, 3],
        [0, 0, 4, 2, 2],
        [1, 2, 3, 4, 5],
    ]
    static let labelCounts: [Int: Int] = [0: 2, 1: 3, 2: 5, 3: 4, 4: 5]

    /// The queries as dmleval sees them. With the query among the references
    /// (ref_includes_query=True) PML's test drops the first neighbour, the query itself, and
    /// R is the label count less one; with a separate query set R is the label count.
    static func queries(refIncludesQuery: Bool) -> [RankedQuery] {
        zip(queryLabels, knnLabels).map { label, knn in
            let list = refIncludesQuery ? Array(knn.dropFirst()) : knn
            return RankedQuery(list.map { $0 == label ? 1 : 0 }, r: labelCounts[label]! - (refIncludesQuery ? 1 : 0))
        }
    }

    /// PML's expected values: correct_precision_at_1 gives the per-class values [class 0 ...
    /// class 4] and the overall mean; the other correct_* functions give acc0 ... acc5, one
    /// per query, and average them per class as [acc5, (acc0 + acc1) / 2, acc2, acc3, acc4].
    struct Expected {
        let precisionAt1Overall: Double
        let precisionAt1PerClass: [Double]
        let perQuery: [String: [Double]]
    }

    static let separateQuerySet = Expected(
        precisionAt1Overall: 2.0 / 6, precisionAt1PerClass: [0, 0.5, 0, 1, 0],
        perQuery: [
            "r_precision": [2.0 / 3, 2.0 / 3, 1.0 / 5, 2.0 / 4, 1.0 / 5, 0],
            "mean_average_precision_at_r": [(1.0 / 2 + 2.0 / 3) / 3, (1 + 2.0 / 3) / 3, (1.0 / 5) / 5, (1 + 2.0 / 3) / 4, (1.0 / 3) / 5, 0],
            "mean_average_precision": [(1.0 / 2 + 2.0 / 3) / 3, (1 + 2.0 / 3 + 3.0 / 4) / 3, (1.0 / 5) / 5, (1 + 2.0 / 3 + 3.0 / 5) / 4, (1.0 / 3) / 5, 0],
            "mean_reciprocal_rank": [1.0 / 2, 1, 1.0 / 5, 1, 1.0 / 3, 0],
        ])

    static let queryAmongReferences = Expected(
        precisionAt1Overall: 1.0 / 6, precisionAt1PerClass: [0, 0.5, 0, 0, 0],
        perQuery: [
            "r_precision": [1.0 / 1, 1.0 / 2, 1.0 / 4, 1.0 / 3, 1.0 / 4, 0],
            "mean_average_precision_at_r": [1, (1.0 / 2) / 2, (1.0 / 4) / 4, (1.0 / 2) / 3, (1.0 / 2) / 4, 0],
            "mean_average_precision": [1, (1.0 / 2 + 2.0 / 3) / 2, (1.0 / 4) / 4, (1.0 / 2 + 2.0 / 4) / 3, (1.0 / 2) / 4, 0],
            "mean_reciprocal_rank": [1, 1.0 / 2, 1.0 / 4, 1.0 / 2, 1.0 / 2, 0],
        ])

    static func perClass(_ acc: [Double]) -> Double {
        [acc[5], (acc[0] + acc[1]) / 2, acc[2], acc[3], acc[4]].reduce(0, +) / 5
    }

    @Test(arguments: [false, true])
    func accuracyCalculatorCase(refIncludesQuery: Bool) throws {
        let queries = Self.queries(refIncludesQuery: refIncludesQuery)
        let expected = refIncludesQuery ? Self.queryAmongReferences : Self.separateQuerySet
        let k = queries[0].relevance.count  // PML's k: the neighbours it was given
        let table = RelevanceTable(lists: queries.map(\.relevance), relevantCounts: queries.map(\.relevantCount))
        let classes = Self.queryLabels.map { Int32($0) }

        var checked: [(name: String, micro: Double, macro: Double)] = [
            ("precision_at_1", expected.precisionAt1Overall, expected.precisionAt1PerClass.reduce(0, +) / 5),
        ]
        for (name, acc) in expected.perQuery {
            checked.append((name, acc.reduce(0, +) / 6, Self.perClass(acc)))
        }
        for (name, micro, macro) in checked {
            let metrics = dmlevalMetrics(for: .pytorchMetricLearning, name: name, k: name == "precision_at_1" ? 1 : k)
            try #require(!metrics.isEmpty, "the cross-walk has no row for \(name)")
            // avg_of_avgs=False is the mean over queries; avg_of_avgs=True the per-class mean.
            let report = try Evaluator.evaluate(table, metrics: metrics, queryClasses: classes, classCount: 5)
            for (m, metric) in metrics.enumerated() {
                #expect(abs(report.means[m] - micro) < Tolerance.exact, "\(name) as \(metric.name)")
                #expect(abs(report.perClass!.macroMeans[m] - macro) < Tolerance.exact, "\(name) avg_of_avgs as \(metric.name)")
                if let perQuery = expected.perQuery[name] {
                    for q in 0 ..< 6 {
                        #expect(abs(report.perQuery[m][q] - perQuery[q]) < Tolerance.exact, "\(name) query \(q)")
                    }
                }
            }
        }
    }

    /// The same test's second half: every query's label is lone (not_lone_query_mask all
    /// false), and PML reports NaN; dmleval gives R = 0, leaves every query out, and its means
    /// are NaN.
    @Test func loneQueriesAreLeftOut() throws {
        let queries = Self.queries(refIncludesQuery: false)
        let table = RelevanceTable(lists: queries.map(\.relevance), relevantCounts: [Int](repeating: 0, count: 6))
        let report = try Evaluator.evaluate(table, metrics: [.recall(k: 1), .rPrecision, .mapAtR, .map(k: 5, denominator: .r), .mrr])
        #expect(report.means.allSatisfy { $0.isNaN })
        #expect(report.excludedQueries == 6)
    }

    /// mean_average_precision divides by R also when k < R. pytorch-metric-learning 2.9.0,
    /// AccuracyCalculator(k=2).get_accuracy(query [[0]] labelled 0, references [[1], [5], [6],
    /// [2], [3]] labelled [0, 0, 0, 1, 1], ref_includes_query=False): the list is [1, 0] with
    /// R = 3, and PML reports mean_average_precision 1/3 (hits would give 1, min(k, R) 1/2),
    /// precision_at_1 1, mean_reciprocal_rank 1.
    @Test func meanAveragePrecisionDividesByRWhenKIsBelowR() throws {
        let query = [RankedQuery([1, 0], r: 3)]
        for (name, k, value) in [("mean_average_precision", 2, 1.0 / 3), ("precision_at_1", 1, 1.0), ("mean_reciprocal_rank", 2, 1.0)] {
            let metrics = dmlevalMetrics(for: .pytorchMetricLearning, name: name, k: k)
            try #require(!metrics.isEmpty)
            for metric in metrics { #expect(abs(meanScore(metric, query) - value) < Tolerance.exact, "\(metric.name)") }
        }
        #expect(meanScore(.map(k: 2, denominator: .hits), query) == 1)
    }

    /// 1-D embeddings searched by dmleval's exact search with squared L2 (PML's default
    /// distance ranks the same), then scored; `run` resolves PML's names to dmleval metrics.
    static func evaluate(
        references: [Float], referenceLabels: [Int64], queries: [Float]? = nil, queryLabels: [Int64]? = nil,
        names: [String], k: Int
    ) throws -> (metrics: [String: [Metric]], result: RetrievalEvaluation) {
        var byName: [String: [Metric]] = [:]
        for name in names { byName[name] = dmlevalMetrics(for: .pytorchMetricLearning, name: name, k: name == "precision_at_1" ? 1 : k) }
        let refs = try LabeledEmbeddings(
            embeddings: Matrix(rows: references.count, columns: 1, values: references), labels: Labels(integers: referenceLabels))
        let qs = try queries.map {
            try LabeledEmbeddings(embeddings: Matrix(rows: $0.count, columns: 1, values: $0), labels: Labels(integers: queryLabels!))
        }
        let all = Array(byName.values.joined())
        let result = try RetrievalEvaluation.run(references: refs, queries: qs, metrics: all, distance: .squaredL2, perClass: true, threads: 1)
        return (byName, result)
    }

    static func mean(_ result: RetrievalEvaluation, _ metric: Metric, perClass: Bool) -> Double {
        let m = result.report.metrics.firstIndex(of: metric)!
        return perClass ? result.report.perClass!.macroMeans[m] : result.report.means[m]
    }

    /// _test_accuracy_calculator_and_faiss_avg_of_avgs (a separate query set): queries 0 ... 8
    /// and 100 labelled [0 x 9, 1], references -100 and 1 ... 9 labelled [1, 0 x 9]. PML:
    /// precision_at_1, r_precision, mean_average_precision_at_r 0.9 and mean_average_precision
    /// 0.9 + 0.01; with avg_of_avgs 0.5 and (1 + 0.1) / 2.
    @Test func avgOfAvgsWithASeparateQuerySet() throws {
        var queries = (0 ..< 10).map { Float($0) }
        queries[9] = 100
        var references = (0 ..< 10).map { Float($0) }
        references[0] = -100
        let names = ["precision_at_1", "r_precision", "mean_average_precision_at_r", "mean_average_precision"]
        // PML's default k (None) scores every reference: 10.
        let (byName, result) = try Self.evaluate(
            references: references, referenceLabels: [1] + [Int64](repeating: 0, count: 9),
            queries: queries, queryLabels: [Int64](repeating: 0, count: 9) + [1], names: names, k: 10)
        let expected: [String: (Double, Double)] = [
            "precision_at_1": (0.9, 0.5), "r_precision": (0.9, 0.5),
            "mean_average_precision_at_r": (0.9, 0.5), "mean_average_precision": (0.9 + 0.01, (1 + 0.1) / 2),
        ]
        for name in names {
            let metrics = try #require(byName[name], "\(name)")
            try #require(!metrics.isEmpty)
            for metric in metrics {
                #expect(abs(Self.mean(result, metric, perClass: false) - expected[name]!.0) < Tolerance.exact, "\(metric.name)")
                #expect(abs(Self.mean(result, metric, perClass: true) - expected[name]!.1) < Tolerance.exact, "\(metric.name) avg_of_avgs")
            }
        }
    }

    /// TestEmbeddingsComeFromSameSource.test_tied_distances (self-retrieval): embeddings
    /// [[10], [10], [20], [20]] labelled [1, 0, 1, 0]; PML: precision_at_1 = 0.
    @Test func selfRetrievalDropsTheQueryItself() throws {
        let (byName, result) = try Self.evaluate(
            references: [10, 10, 20, 20], referenceLabels: [1, 0, 1, 0], names: ["precision_at_1"], k: 3)
        for metric in byName["precision_at_1"]! { #expect(Self.mean(result, metric, perClass: false) == 0) }
    }

    /// Self-retrieval with unequal classes, run with pytorch-metric-learning 2.9.0:
    /// AccuracyCalculator(exclude=("NMI", "AMI"), avg_of_avgs=False / True).get_accuracy(x, y)
    /// with x = [0, 1.1, 3.3, 4.7, 10.2, 11.6, 13.5, 20.9] (one column) and
    /// y = [0, 0, 1, 0, 1, 0, 0, 1]: PML's k is every other item, 7.
    @Test func selfRetrievalAgainstPMLRun() throws {
        let names = ["precision_at_1", "r_precision", "mean_average_precision_at_r", "mean_average_precision", "mean_reciprocal_rank"]
        let (byName, result) = try Self.evaluate(
            references: [0, 1.1, 3.3, 4.7, 10.2, 11.6, 13.5, 20.9], referenceLabels: [0, 0, 1, 0, 1, 0, 0, 1], names: names, k: 7)
        let expected: [String: (Double, Double)] = [
            "precision_at_1": (0.375, 0.3),
            "r_precision": (0.3125, 0.25),
            "mean_average_precision_at_r": (0.22395833333333331, 0.17916666666666664),
            "mean_average_precision": (0.5224702380952381, 0.4781349206349206),
            // PML computes the reciprocal ranks in float32.
            "mean_reciprocal_rank": (0.6041666865348816, 0.5388889312744141),
        ]
        for name in names {
            let metrics = try #require(byName[name])
            try #require(!metrics.isEmpty)
            for metric in metrics {
                #expect(abs(Self.mean(result, metric, perClass: false) - expected[name]!.0) < Tolerance.float32, "\(metric.name)")
                #expect(abs(Self.mean(result, metric, perClass: true) - expected[name]!.1) < Tolerance.float32, "\(metric.name) avg_of_avgs")
            }
        }
    }
}

// MARK: - ranx, torchmetrics, ir_measures, faiss, trec_eval: one table of cases

@Suite("Other tools' published cases")
struct PeerCaseTests {
    // ranx, tests/unit/ranx/meta/evaluate_test.py (commit 2cae52f, 0.3.20; ranx 0.3.21 gives
    // the same). Documents are ids; y_true the relevant ones, y_pred the ranked run.
    static let ranxAB = RankedQuery(run: [1, 2, 3, 4, 5, 7], relevant: [1, 4, 5, 6])
    static let ranxRP1 = RankedQuery(run: [2, 4, 3, 1, 5, 6, 7], relevant: [1, 2, 3])
    static let ranxRP2 = RankedQuery(run: [2, 4, 3, 1, 5, 6, 7], relevant: [1, 2])
    static let ranx: [PeerCase] = [
        // test_hit_rate_single, test_hit_rate_parallel
        PeerCase(tool: .ranx, name: "hit_rate@5", k: 5, queries: [RankedQuery(run: [1, 2, 4, 3, 5, 7], relevant: [1, 2, 4])],
                 expected: 1, tolerance: Tolerance.exact, source: "R1"),
        PeerCase(tool: .ranx, name: "hit_rate@5", k: 5,
                 queries: [RankedQuery(run: [1, 2, 3, 4, 5, 7], relevant: [9, 6, 8, 6]), RankedQuery(run: [1, 2, 4, 3, 5, 7], relevant: [1, 2, 4])],
                 expected: 0.5, tolerance: Tolerance.exact, source: "R1"),
        // test_precision_single: 3 / k
        PeerCase(tool: .ranx, name: "precision@5", k: 5, queries: [ranxAB], expected: 3.0 / 5, tolerance: Tolerance.exact, source: "R1"),
        // test_average_precision: map@6 = 0.525 = (1 + 2/4 + 3/5) / 4, R = 4 (hits would give 0.7)
        PeerCase(tool: .ranx, name: "map@6", k: 6, queries: [ranxAB], expected: 0.525, tolerance: Tolerance.exact, source: "R1"),
        // test_reciprocal_rank_single, _single_no_match, _parallel (mrr@5 of 5-document runs,
        // so the whole run: ranx's mrr). The parallel case's third run repeats a document.
        PeerCase(tool: .ranx, name: "mrr", k: nil, queries: [RankedQuery(run: [2, 3, 1, 4, 5], relevant: [3])],
                 expected: 0.5, tolerance: Tolerance.exact, source: "R1"),
        PeerCase(tool: .ranx, name: "mrr", k: nil, queries: [RankedQuery(run: [2, 1, 4, 5], relevant: [3])],
                 expected: 0, tolerance: Tolerance.exact, source: "R1"),
        PeerCase(tool: .ranx, name: "mrr", k: nil,
                 queries: [RankedQuery(run: [2, 3, 1, 4, 5], relevant: [3]), RankedQuery(run: [1, 2, 3, 4, 5], relevant: [1]),
                           RankedQuery(run: [1, 1, 1, 4, 5], relevant: [3])],
                 expected: 0.5, tolerance: Tolerance.exact, source: "R1"),
        // test_r_precision_single, test_r_precision_parallel
        PeerCase(tool: .ranx, name: "r-precision", k: nil, queries: [ranxRP1], expected: 2.0 / 3, tolerance: Tolerance.exact, source: "R1"),
        PeerCase(tool: .ranx, name: "r-precision", k: nil, queries: [ranxRP1, ranxRP2], expected: (2.0 / 3 + 1.0 / 2) / 2, tolerance: Tolerance.exact, source: "R1"),
        // test_recall_single, test_recall_parallel
        PeerCase(tool: .ranx, name: "recall@2", k: 2, queries: [ranxRP1], expected: 1.0 / 3, tolerance: Tolerance.exact, source: "R1"),
        PeerCase(tool: .ranx, name: "recall@2", k: 2, queries: [ranxRP1, ranxRP2], expected: (1.0 / 3 + 1.0 / 2) / 2, tolerance: Tolerance.exact, source: "R1"),
        // ranx 0.3.21 run on test_average_precision's binary case: evaluate(y_true, y_pred, m).
        // ndcg's gain is the relevance label (Järvelin), which is 2^rel - 1 for 0/1 labels.
        PeerCase(tool: .ranx, name: "ndcg@5", k: 5, queries: [ranxAB], expected: 0.7095272044910244, tolerance: Tolerance.exact, source: "R2"),
        PeerCase(tool: .ranx, name: "ndcg@3", k: 3, queries: [ranxAB], expected: 0.46927872602275644, tolerance: Tolerance.exact, source: "R2"),
        PeerCase(tool: .ranx, name: "map@3", k: 3, queries: [ranxAB], expected: 0.25, tolerance: Tolerance.exact, source: "R2"),
    ]

    // torchmetrics 1.9.0 docstring examples (commit dab0333), printed with 4 decimals. The
    // class examples use indexes [0, 0, 0, 1, 1, 1, 1], preds [0.2, 0.3, 0.5, 0.1, 0.3, 0.5,
    // 0.2]; the metrics without top_k score every document of a query (3 and 4 here), which
    // is top_k = 4 for both.
    static func torchmetricsClass(_ target: [Bool]) -> [RankedQuery] {
        let preds = [0.2, 0.3, 0.5, 0.1, 0.3, 0.5, 0.2]
        return [RankedQuery(scores: Array(preds[0 ..< 3]), targets: Array(target[0 ..< 3])),
                RankedQuery(scores: Array(preds[3...]), targets: Array(target[3...]))]
    }
    static let tmTarget = [false, false, true, false, true, false, true]
    // The functional examples: preds [0.2, 0.3, 0.5], target [True, False, True].
    static let tmFunctional = [RankedQuery(scores: [0.2, 0.3, 0.5], targets: [true, false, true])]
    // torchmetrics 1.9.0 run: one query, preds [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.1], target
    // [True, False, False, True, True, False, True]: the ranking [1,0,0,1,1,0,1] with R = 4.
    static let tmRun = [RankedQuery(scores: [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.1], targets: [true, false, false, true, true, false, true])]
    static let torchmetrics: [PeerCase] = [
        // retrieval/average_precision.py: RetrievalMAP() -> 0.7917
        PeerCase(tool: .torchmetrics, name: "RetrievalMAP(top_k=4)", k: 4, queries: torchmetricsClass(tmTarget), expected: 0.7917, tolerance: Tolerance.fourDecimals, source: "M1"),
        // retrieval/ndcg.py: RetrievalNormalizedDCG() -> 0.8467
        PeerCase(tool: .torchmetrics, name: "RetrievalNormalizedDCG(top_k=4)", k: 4, queries: torchmetricsClass(tmTarget), expected: 0.8467, tolerance: Tolerance.fourDecimals, source: "M1"),
        // retrieval/precision.py: RetrievalPrecision(top_k=2) -> 0.5
        PeerCase(tool: .torchmetrics, name: "RetrievalPrecision(top_k=2)", k: 2, queries: torchmetricsClass(tmTarget), expected: 0.5, tolerance: Tolerance.fourDecimals, source: "M1"),
        // retrieval/r_precision.py: RetrievalRPrecision() -> 0.75
        PeerCase(tool: .torchmetrics, name: "RetrievalRPrecision()", k: nil, queries: torchmetricsClass(tmTarget), expected: 0.75, tolerance: Tolerance.fourDecimals, source: "M1"),
        // retrieval/recall.py: RetrievalRecall(top_k=2) -> 0.75
        PeerCase(tool: .torchmetrics, name: "RetrievalRecall(top_k=2)", k: 2, queries: torchmetricsClass(tmTarget), expected: 0.75, tolerance: Tolerance.fourDecimals, source: "M1"),
        // retrieval/reciprocal_rank.py: RetrievalMRR() -> 0.75
        PeerCase(tool: .torchmetrics, name: "RetrievalMRR()", k: nil, queries: torchmetricsClass(tmTarget), expected: 0.75, tolerance: Tolerance.fourDecimals, source: "M1"),
        // retrieval/hit_rate.py: target [True, False, False, False, True, False, True], RetrievalHitRate(top_k=2) -> 0.5
        PeerCase(tool: .torchmetrics, name: "RetrievalHitRate(top_k=2)", k: 2,
                 queries: torchmetricsClass([true, false, false, false, true, false, true]), expected: 0.5, tolerance: Tolerance.fourDecimals, source: "M1"),
        // functional/retrieval/*.py: retrieval_average_precision -> 0.8333, retrieval_hit_rate(top_k=2)
        // -> 1, retrieval_precision(top_k=2) -> 0.5, retrieval_r_precision -> 0.5,
        // retrieval_recall(top_k=2) -> 0.5; retrieval_reciprocal_rank with target [False, True, False] -> 0.5.
        PeerCase(tool: .torchmetrics, name: "RetrievalMAP(top_k=3)", k: 3, queries: tmFunctional, expected: 0.8333, tolerance: Tolerance.fourDecimals, source: "M1"),
        PeerCase(tool: .torchmetrics, name: "RetrievalHitRate(top_k=2)", k: 2, queries: tmFunctional, expected: 1, tolerance: Tolerance.fourDecimals, source: "M1"),
        PeerCase(tool: .torchmetrics, name: "RetrievalPrecision(top_k=2)", k: 2, queries: tmFunctional, expected: 0.5, tolerance: Tolerance.fourDecimals, source: "M1"),
        PeerCase(tool: .torchmetrics, name: "RetrievalRPrecision()", k: nil, queries: tmFunctional, expected: 0.5, tolerance: Tolerance.fourDecimals, source: "M1"),
        PeerCase(tool: .torchmetrics, name: "RetrievalRecall(top_k=2)", k: 2, queries: tmFunctional, expected: 0.5, tolerance: Tolerance.fourDecimals, source: "M1"),
        PeerCase(tool: .torchmetrics, name: "RetrievalMRR()", k: nil, queries: [RankedQuery(scores: [0.2, 0.3, 0.5], targets: [false, true, false])],
                 expected: 0.5, tolerance: Tolerance.fourDecimals, source: "M1"),
        // The run: RetrievalMAP(top_k=6) = 0.7 = (1 + 2/4 + 3/5) / 3, the hits' mean (R would
        // give 0.525); top_k=3: 1 (one hit); no top_k (7): 0.6678571. float32 results.
        PeerCase(tool: .torchmetrics, name: "RetrievalMAP(top_k=6)", k: 6, queries: tmRun, expected: 0.699999988079071, tolerance: Tolerance.float32, source: "M2"),
        PeerCase(tool: .torchmetrics, name: "RetrievalMAP(top_k=3)", k: 3, queries: tmRun, expected: 1.0, tolerance: Tolerance.float32, source: "M2"),
        PeerCase(tool: .torchmetrics, name: "RetrievalMAP(top_k=7)", k: 7, queries: tmRun, expected: 0.6678571105003357, tolerance: Tolerance.float32, source: "M2"),
        PeerCase(tool: .torchmetrics, name: "RetrievalNormalizedDCG(top_k=5)", k: 5, queries: tmRun, expected: 0.7095271944999695, tolerance: Tolerance.float32, source: "M2"),
    ]

    // ir_measures, tests/test_pytrec_eval.py (commit dc04a88, 0.4.3): TREC qrels and runs,
    // ranked as trec_eval ranks them (by score); labels >= 1 are relevant.
    // Their qrels grade some documents -1, which trec_eval reads as "in the pool, unjudged" and
    // scores as not relevant, like a document the qrels leave out; dmleval refuses negative
    // grades, so those lines are left out here, which gives every measure below the same value.
    static func trec(_ qrels: String, _ run: String) -> [RankedQuery] {
        let judged = qrels.split(separator: "\n").filter { !$0.hasSuffix(" -1") }.joined(separator: "\n")
        let ranked = TrecFiles.rankedQueries(qrels: TrecFiles.qrels(judged), run: TrecFiles.run(run))
        return ranked.keys.sorted().map { ranked[$0]! }
    }
    static let irmAPQrels = "0 0 D0 1\n0 0 D1 -1\n0 0 D2 0\n0 0 D3 2\n0 0 D4 0\n1 0 D0 1\n1 0 D3 2\n1 0 D4 -1\n1 0 D5 0\n"
    static let irmAPRun = "0 0 D0 1 0.8 run\n0 0 D2 2 0.7 run\n0 0 D1 3 0.3 run\n0 0 D3 4 0.4 run\n0 0 D4 5 0.1 run\n1 0 D1 1 0.8 run\n1 0 D4 2 0.7 run\n1 0 D3 3 0.3 run\n1 0 D2 4 0.4 run\n"
    static let irMeasures: [PeerCase] = [
        // test_infAP: AP = 0.8333 and 0.125, mean 0.47916666666666663 (runs of 5 and 4
        // documents, so AP is AP@5).
        PeerCase(tool: .irMeasures, name: "AP@5", k: 5, queries: trec(irmAPQrels, irmAPRun), expected: 0.47916666666666663, tolerance: Tolerance.fourDecimals, source: "I1"),
        // test_P: P@4 = 0.5 and 0.25.
        PeerCase(tool: .irMeasures, name: "P@4", k: 4,
                 queries: trec("0 0 D0 -1\n0 0 D1 1\n0 0 D3 2\n0 0 D4 1\n1 0 D0 1\n1 0 D3 0\n1 0 D4 -1\n",
                               "0 0 D0 1 0.8 run\n0 0 D2 2 0.7 run\n0 0 D1 3 0.3 run\n0 0 D3 4 0.4 run\n0 0 D4 5 0.1 run\n1 0 D1 1 0.8 run\n1 0 D0 2 0.7 run\n1 0 D3 3 0.3 run\n1 0 D2 4 0.4 run\n"),
                 expected: (0.5 + 0.25) / 2, tolerance: Tolerance.exact, source: "I1"),
        // test_Success: Success@2 = 1 and 0, aggregate 0.5.
        PeerCase(tool: .irMeasures, name: "Success@2", k: 2,
                 queries: trec("0 0 D0 0\n0 0 D1 1\n0 0 D2 2\n0 0 D3 2\n0 0 D4 0\n1 0 D0 1\n1 0 D3 2\n1 0 D5 0\n",
                               "0 0 D0 1 0.8 run\n0 0 D2 2 0.7 run\n0 0 D1 3 0.3 run\n0 0 D3 4 0.4 run\n0 0 D4 5 0.1 run\n1 0 D1 1 0.8 run\n1 0 D4 2 0.7 run\n1 0 D3 3 0.3 run\n1 0 D2 4 0.4 run\n"),
                 expected: 0.5, tolerance: Tolerance.exact, source: "I1"),
    ] + irMeasuresOnTrecFiles

    // ir_measures 0.4.3 run: ir_measures.calc_aggregate on trec_eval's test/qrels.test and
    // test/results.test gives out.test.a's numbers (4 decimals as printed there).
    static let irMeasuresOnTrecFiles: [PeerCase] = {
        let queries = trecQueries
        let values: [(String, Int?, Double)] = [
            ("P@5", 5, 0.2667), ("P@100", 100, 0.2467), ("R@5", 5, 0.0173), ("R@100", 100, 0.4980),
            ("AP@5", 5, 0.0154), ("AP@100", 100, 0.1622), ("nDCG@5", 5, 0.2768), ("nDCG@100", 100, 0.3916),
            ("RR", nil, 0.4064), ("Rprec", nil, 0.2174), ("Success@1", 1, 0.3333), ("Success@10", 10, 0.6667),
        ]
        return values.map { PeerCase(tool: .irMeasures, name: $0.0, k: $0.1, queries: queries, expected: $0.2, tolerance: Tolerance.fourDecimals, source: "I2") }
    }()

    // faiss-cpu 1.15.1 run: knn_intersection_measure(I, gt) with I = [[0, 1, 2], [3, 4, 5]] and
    // gt = [[0, 2, 9], [7, 8, 5]] is 0.5; the relevant items are gt's rows, R = k = 3.
    static let faiss: [PeerCase] = [
        PeerCase(tool: .faiss, name: "knn_intersection_measure", k: 3,
                 queries: [RankedQuery(run: [0, 1, 2], relevant: [0, 2, 9]), RankedQuery(run: [3, 4, 5], relevant: [7, 8, 5])],
                 expected: 0.5, tolerance: Tolerance.exact, source: "F1"),
    ]

    // trec_eval v10.0 (commit f425365) quicktest, `trec_eval -m all_trec test/qrels.test
    // test/results.test`, expected output test/out.test.a: fixtures/trec_eval/.
    static let trecQueries: [RankedQuery] = {
        let ranked = TrecFiles.rankedQueries(qrels: TrecFiles.qrels(TrecFiles.fixture("qrels.test")), run: TrecFiles.run(TrecFiles.fixture("results.test")))
        return ranked.keys.sorted().map { ranked[$0]! }
    }()

    /// The out.test.a measures dmleval shares: name -> cutoff (nil for none).
    static func sharedTrecMeasure(_ name: String) -> (k: Int?, shared: Bool) {
        for prefix in ["P_", "recall_", "ndcg_cut_", "map_cut_", "success_"] where name.hasPrefix(prefix) {
            if let k = Int(name.dropFirst(prefix.count)) { return (k, true) }
        }
        return (nil, name == "recip_rank" || name == "Rprec")
    }

    static let trecEval: [PeerCase] = {
        let all = TrecFiles.measures(TrecFiles.fixture("out.test.a"))
        return all.keys.sorted().compactMap { name in
            let (k, shared) = sharedTrecMeasure(name)
            guard shared, let value = all[name]?["all"] else { return nil }
            return PeerCase(tool: .trecEval, name: name, k: k, queries: trecQueries, expected: value, tolerance: Tolerance.fourDecimals, source: "T1")
        }
    }()

    static let all: [PeerCase] = ranx + torchmetrics + irMeasures + faiss + trecEval

    @Test(arguments: all)
    func dmlevalGivesThePeersNumber(_ c: PeerCase) throws {
        let metrics = dmlevalMetrics(for: c.tool, name: c.name, k: c.k)
        try #require(!metrics.isEmpty, "the cross-walk has no dmleval metric for \(c.tool.rawValue) \(c.name)")
        for metric in metrics {
            let value = meanScore(metric, c.queries)
            #expect(abs(value - c.expected) <= c.tolerance, "\(metric.name) = \(value), \(c)")
        }
    }

    /// trec_eval's per-query numbers (out.test.aq, `-q`) for the same measures.
    @Test func trecEvalPerQuery() throws {
        let perQuery = TrecFiles.measures(TrecFiles.fixture("out.test.aq"))
        let ranked = TrecFiles.rankedQueries(qrels: TrecFiles.qrels(TrecFiles.fixture("qrels.test")), run: TrecFiles.run(TrecFiles.fixture("results.test")))
        try #require(ranked.count == 3)
        var compared = 0
        for (name, values) in perQuery {
            let (k, shared) = Self.sharedTrecMeasure(name)
            guard shared else { continue }
            for metric in dmlevalMetrics(for: .trecEval, name: name, k: k) {
                for (qid, expected) in values where qid != "all" {
                    let q = try #require(ranked[qid])
                    let value = metric.value(q.relevance, relevantCount: q.relevantCount)
                    #expect(abs(value - expected) <= Tolerance.fourDecimals, "\(name) query \(qid): \(metric.name) = \(value), trec_eval \(expected)")
                    compared += 1
                }
            }
        }
        // 9 cutoffs x 4 @k measures + 3 success cutoffs + recip_rank + Rprec, for 3 queries.
        #expect(compared == (9 * 4 + 3 + 2) * 3)
    }

    /// trec_eval breaks ties in score by document id in decreasing strcmp order (v10.0,
    /// form_res_rels.c). Run through pytrec_eval-terrier 0.5.11 (trec_eval's code) and
    /// ir_measures 0.4.3: qrels `q1 0 A 1`, `q1 0 B 0`, `q1 0 C 0` and a run scoring A, B and
    /// C all 1.0 give recip_rank 1/3 and P_1 0: C, B, A. (The quicktest files' tied scores
    /// happen not to change any number.)
    @Test func trecEvalBreaksTiesByDocumentIDDecreasing() throws {
        let ranked = TrecFiles.rankedQueries(
            qrels: TrecFiles.qrels("q1 0 A 1\nq1 0 B 0\nq1 0 C 0\n"), run: TrecFiles.run("q1 Q0 A 1 1.0 r\nq1 Q0 B 2 1.0 r\nq1 Q0 C 3 1.0 r\n"))
        let q = try #require(ranked["q1"])
        #expect(q.relevance == [0, 0, 1])
        for metric in dmlevalMetrics(for: .trecEval, name: "recip_rank", k: nil) {
            #expect(abs(meanScore(metric, [q]) - 1.0 / 3) < Tolerance.exact)
        }
        for metric in dmlevalMetrics(for: .trecEval, name: "P_1", k: 1) { #expect(meanScore(metric, [q]) == 0) }
    }
}

// MARK: - The cross-walk itself

@Suite("The cross-walk (PeerNames) and docs/metrics.md")
struct PeerNamesTests {
    /// PML's names resolved in PMLConventionTests, with the source keys those tests hold.
    static let pmlChecked: [(name: String, k: Int?, sources: [String])] = [
        ("precision_at_1", 1, ["P1", "P2"]), ("r_precision", nil, ["P1", "P2"]),
        ("mean_average_precision_at_r", nil, ["P1", "P2"]), ("mean_average_precision", 5, ["P1", "P2"]),
        ("mean_reciprocal_rank", nil, ["P1", "P2"]),
    ]

    @Test func everyEntryIsCheckedByACaseFromEachOfItsSources() {
        for row in PeerNames.rows {
            for entry in row.entries {
                for source in entry.sources {
                    let byCase = PeerCaseTests.all.contains { $0.tool == entry.tool && $0.source == source && entry.name(k: $0.k) == $0.name }
                    let byPML = entry.tool == .pytorchMetricLearning
                        && Self.pmlChecked.contains { entry.name(k: $0.k) == $0.name && $0.sources.contains(source) }
                    #expect(byCase || byPML, "\(row.pattern): \(entry.tool.rawValue) \(entry.template) has no case from \(source)")
                }
            }
        }
    }

    @Test func everySourceKeyIsDefined() {
        let keys = Set(PeerNames.sources.map(\.key))
        #expect(keys.count == PeerNames.sources.count)
        for row in PeerNames.rows { for entry in row.entries { #expect(entry.sources.allSatisfy { keys.contains($0) }) } }
    }

    @Test func everyMetricFamilyHasARow() {
        let families: [Metric] = [
            .recall(k: 3), .recall(k: 3, convention: .ir), .precision(k: 3), .map(k: 3), .map(k: 3, denominator: .r),
            .map(k: 3, denominator: .minKR), .map(k: 3, denominator: .hits), .mapAtR, .rPrecision, .ndcg(k: 3),
            .ndcg(k: 3, gain: .exponential), .mrr,
        ]
        #expect(PeerNames.rows.map(\.pattern) == families.map(\.namePattern))
        for metric in families { #expect(PeerNames.row(for: metric) != nil) }
    }

    @Test func entriesAtACutoffAndR() {
        let names = { (m: Metric, r: Int?) in PeerNames.entries(for: m, relevantCount: r).map { $0.rendered(k: m.cutoff) } }
        #expect(names(.map(k: 10, denominator: .r), 4) == [
            "pytorch-metric-learning mean_average_precision (AccuracyCalculator(k=10))", "ranx map@10", "trec_eval map_cut_10", "ir_measures AP@10",
        ])
        #expect(names(.recall(k: 1), nil).first == "pytorch-metric-learning precision_at_1")
        #expect(!names(.recall(k: 2), nil).contains { $0.hasPrefix("pytorch-metric-learning") })
        #expect(names(.precision(k: 3), 3).contains("faiss knn_intersection_measure (relevant = the exact 3 nearest)"))
        #expect(!names(.precision(k: 3), 4).contains { $0.hasPrefix("faiss") })
        #expect(names(.map(k: 10), 4).isEmpty)
    }

    /// The table as docs/metrics.md prints it between its peer-names markers.
    static func markdown() -> String {
        let tools = PeerNames.Tool.allCases
        var lines = ["| dmleval | " + tools.map(\.rawValue).joined(separator: " | ") + " |",
                     "| --- | " + tools.map { _ in "---" }.joined(separator: " | ") + " |"]
        for row in PeerNames.rows {
            let cells = tools.map { tool -> String in
                let entries = row.entries.filter { $0.tool == tool }
                guard !entries.isEmpty else { return "-" }
                return entries.map { e in
                    var cell = "`\(e.template.replacingOccurrences(of: "{k}", with: "k"))`"
                    switch e.condition {
                    case .always: break
                    case .kIsOne: cell += " at k = 1"
                    case .relevantEqualsK: cell += " when R = k"
                    }
                    if let note = e.note { cell += " (\(note.replacingOccurrences(of: "{k}", with: "k")))" }
                    return cell + " [" + e.sources.joined(separator: ", ") + "]"
                }.joined(separator: "; ")
            }
            lines.append("| `\(row.pattern)` | " + cells.joined(separator: " | ") + " |")
        }
        lines.append("")
        lines.append("Sources:")
        lines.append("")
        for source in PeerNames.sources { lines.append("- **\(source.key)**: \(source.text).") }
        return lines.joined(separator: "\n")
    }

    @Test func docsTableAgreesWithTheLibrary() throws {
        let text = try String(contentsOf: repositoryRoot.appendingPathComponent("docs/metrics.md"), encoding: .utf8)
        let begin = try #require(text.range(of: "<!-- peer-names:begin -->\n"))
        let end = try #require(text.range(of: "<!-- peer-names:end -->", range: begin.upperBound ..< text.endIndex))
        var table = String(text[begin.upperBound ..< end.lowerBound])
        if table.hasSuffix("\n") { table.removeLast() }
        let expected = Self.markdown()
        #expect(table == expected, "docs/metrics.md should hold, between its peer-names markers:\n\(expected)")
    }
}
