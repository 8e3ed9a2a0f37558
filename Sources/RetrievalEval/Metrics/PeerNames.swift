/// The cross-walk: which other evaluation tools report the same number as a dmleval metric, and
/// under which name.
///
/// Every entry is checked by Tests/RetrievalEvalTests/PeerConventionTests.swift, which feeds
/// dmleval the tool's own published cases (its test files and documentation examples) and
/// asserts the tool's numbers; `sources` says where each entry was checked. docs/metrics.md
/// prints the same table, and a test holds the two together. `dmleval score` prints the names
/// beside each value.
public enum PeerNames {
    /// A tool whose numbers dmleval reproduces.
    public enum Tool: String, CaseIterable, Sendable {
        case pytorchMetricLearning = "pytorch-metric-learning"
        case ranx
        case trecEval = "trec_eval"
        case irMeasures = "ir_measures"
        case torchmetrics
        case faiss
    }

    /// When a peer's name stands for the dmleval metric only under a condition on k or R.
    public enum Condition: Sendable, Hashable {
        /// Always.
        case always
        /// Only at k = 1 (pytorch-metric-learning's precision_at_1).
        case kIsOne
        /// Only when R = k: the relevant items are the exact k nearest neighbours (faiss).
        case relevantEqualsK
    }

    /// One cell of the cross-walk: a peer's name for a dmleval metric.
    public struct Entry: Sendable, Hashable {
        /// The tool that uses this name.
        public let tool: Tool
        /// The peer's name with `{k}` standing for the cutoff, e.g. `map_cut_{k}`.
        public let template: String
        /// Extra words a person needs to get the same number, with `{k}` for the cutoff,
        /// e.g. `AccuracyCalculator(k={k})`; nil when the name says it all.
        public let note: String?
        /// When the name stands for the dmleval metric (always, or only at some k or R).
        public let condition: Condition
        /// Keys into `PeerNames.sources`: where this entry was checked.
        public let sources: [String]

        init(_ tool: Tool, _ template: String, note: String? = nil, when condition: Condition = .always, sources: [String]) {
            self.tool = tool
            self.template = template
            self.note = note
            self.condition = condition
            self.sources = sources
        }

        /// The name at cutoff `k` (the template itself when k is nil).
        public func name(k: Int?) -> String { Self.fill(template, k) }

        /// The note at cutoff `k`.
        public func note(k: Int?) -> String? { note.map { Self.fill($0, k) } }

        /// `tool name (note)`, as `dmleval score` prints it.
        public func rendered(k: Int?) -> String {
            var s = "\(tool.rawValue) \(name(k: k))"
            if let n = note(k: k) { s += " (\(n))" }
            return s
        }

        /// `text` with every `{k}` replaced by k.
        static func fill(_ text: String, _ k: Int?) -> String {
            guard let k else { return text }
            var out = ""
            var rest = Substring(text)
            while let open = rest.firstIndex(of: "{") {
                let tail = rest[open...]
                out += rest[..<open]
                if tail.hasPrefix("{k}") {
                    out += String(k)
                    rest = tail.dropFirst(3)
                } else {
                    out += "{"
                    rest = tail.dropFirst()
                }
            }
            return out + rest
        }
    }

    /// One row of the cross-walk: a dmleval metric family, named with `k` for the cutoff.
    public struct Row: Sendable {
        /// e.g. `map@k[denominator=r]`; `Metric.namePattern` gives it for a metric.
        public let pattern: String
        /// The peers' names for this metric, one per tool that has one.
        public let entries: [Entry]
    }

    /// Where the entries were checked, by key. The versions are those the tests' data come
    /// from and that the numbers were confirmed with.
    public static let sources: [(key: String, text: String)] = [
        ("P1", "pytorch-metric-learning tests/utils/test_calculate_accuracies.py (test_accuracy_calculator, _test_accuracy_calculator_and_faiss_avg_of_avgs, test_tied_distances) at commit 216a792 (v2.8.1); the same numbers from pytorch-metric-learning 2.9.0"),
        ("P2", "pytorch-metric-learning 2.9.0, utils/accuracy_calculator.py: mean_average_precision divides by every relevant reference (R), also when k < R; run on k = 2, R = 3 and on an 8-point self-retrieval set"),
        ("R1", "ranx tests/unit/ranx/meta/evaluate_test.py and metrics_test.py at commit 2cae52f (0.3.20); the same numbers from ranx 0.3.21"),
        ("R2", "ranx 0.3.21, ranx/metrics/ndcg.py and average_precision.py: ndcg@k (Järvelin's gain, equal to 2^rel - 1 for binary labels) and map@k run on evaluate_test.py's binary case"),
        ("T1", "trec_eval v10.0 (commit f425365) quicktest: test/qrels.test, test/results.test and the expected test/out.test.a, test/out.test.aq (fixtures/trec_eval/)"),
        ("I1", "ir_measures tests/test_pytrec_eval.py (test_infAP, test_P, test_Success) at commit dc04a88 (0.4.3)"),
        ("I2", "ir_measures 0.4.3 (pytrec_eval provider) gives trec_eval's test/out.test.a numbers on trec_eval's test files"),
        ("M1", "torchmetrics 1.9.0 documentation examples (docstrings of src/torchmetrics/retrieval/*.py and functional/retrieval/*.py, commit dab0333)"),
        ("M2", "torchmetrics 1.9.0, functional/retrieval/average_precision.py (the mean over the hits in the top k) and its test tests/unittests/retrieval/test_map.py (sklearn's average precision of the top-k list); run with top_k = 3, 6 and none"),
        ("F1", "faiss-cpu 1.15.1, faiss/contrib/evaluation.py knn_intersection_measure, run on a two-query case"),
    ]

    /// The cross-walk, one row per dmleval metric family, in `score`'s order.
    public static let rows: [Row] = [
        Row(pattern: "recall@k", entries: [
            Entry(.pytorchMetricLearning, "precision_at_1", when: .kIsOne, sources: ["P1"]),
            Entry(.ranx, "hit_rate@{k}", sources: ["R1"]),
            Entry(.trecEval, "success_{k}", sources: ["T1"]),
            Entry(.irMeasures, "Success@{k}", sources: ["I1", "I2"]),
            Entry(.torchmetrics, "RetrievalHitRate(top_k={k})", sources: ["M1"]),
        ]),
        Row(pattern: "recall@k[ir]", entries: [
            Entry(.ranx, "recall@{k}", sources: ["R1"]),
            Entry(.trecEval, "recall_{k}", sources: ["T1"]),
            Entry(.irMeasures, "R@{k}", sources: ["I2"]),
            Entry(.torchmetrics, "RetrievalRecall(top_k={k})", sources: ["M1"]),
            Entry(.faiss, "knn_intersection_measure", note: "relevant = the exact {k} nearest", when: .relevantEqualsK, sources: ["F1"]),
        ]),
        Row(pattern: "precision@k", entries: [
            Entry(.pytorchMetricLearning, "precision_at_1", when: .kIsOne, sources: ["P1"]),
            Entry(.ranx, "precision@{k}", sources: ["R1"]),
            Entry(.trecEval, "P_{k}", sources: ["T1"]),
            Entry(.irMeasures, "P@{k}", sources: ["I1", "I2"]),
            Entry(.torchmetrics, "RetrievalPrecision(top_k={k})", sources: ["M1"]),
            Entry(.faiss, "knn_intersection_measure", note: "relevant = the exact {k} nearest", when: .relevantEqualsK, sources: ["F1"]),
        ]),
        Row(pattern: "map@k", entries: []),
        Row(pattern: "map@k[denominator=r]", entries: [
            Entry(.pytorchMetricLearning, "mean_average_precision", note: "AccuracyCalculator(k={k})", sources: ["P1", "P2"]),
            Entry(.ranx, "map@{k}", sources: ["R1", "R2"]),
            Entry(.trecEval, "map_cut_{k}", sources: ["T1"]),
            Entry(.irMeasures, "AP@{k}", sources: ["I1", "I2"]),
        ]),
        Row(pattern: "map@k[denominator=min-k-r]", entries: []),
        Row(pattern: "map@k[denominator=hits]", entries: [
            Entry(.torchmetrics, "RetrievalMAP(top_k={k})", sources: ["M1", "M2"]),
        ]),
        Row(pattern: "map@r", entries: [
            Entry(.pytorchMetricLearning, "mean_average_precision_at_r", sources: ["P1", "P2"]),
        ]),
        Row(pattern: "r-precision", entries: [
            Entry(.pytorchMetricLearning, "r_precision", sources: ["P1", "P2"]),
            Entry(.ranx, "r-precision", sources: ["R1"]),
            Entry(.trecEval, "Rprec", sources: ["T1"]),
            Entry(.irMeasures, "Rprec", sources: ["I2"]),
            Entry(.torchmetrics, "RetrievalRPrecision()", sources: ["M1"]),
        ]),
        Row(pattern: "ndcg@k", entries: [
            Entry(.ranx, "ndcg@{k}", sources: ["R2"]),
            Entry(.trecEval, "ndcg_cut_{k}", sources: ["T1"]),
            Entry(.irMeasures, "nDCG@{k}", sources: ["I2"]),
            Entry(.torchmetrics, "RetrievalNormalizedDCG(top_k={k})", sources: ["M1", "M2"]),
        ]),
        // Burges' gain; with binary relevance the same number as ndcg@k. No peer case holds
        // graded judgments yet (ranx's ndcg_burges@k would be one).
        Row(pattern: "ndcg@k[gain=exponential]", entries: []),
        Row(pattern: "mrr", entries: [
            Entry(.pytorchMetricLearning, "mean_reciprocal_rank", note: "k = the list's length", sources: ["P1", "P2"]),
            Entry(.ranx, "mrr", sources: ["R1"]),
            Entry(.trecEval, "recip_rank", sources: ["T1"]),
            Entry(.irMeasures, "RR", sources: ["I2"]),
            Entry(.torchmetrics, "RetrievalMRR()", sources: ["M1"]),
        ]),
    ]

    /// The row of `metric`'s family.
    public static func row(for metric: Metric) -> Row? {
        rows.first { $0.pattern == metric.namePattern }
    }

    /// The peers that report `metric`'s number for a query with `relevantCount` relevant items
    /// (nil: any R, so entries that hold only when R = k are left out).
    public static func entries(for metric: Metric, relevantCount: Int? = nil) -> [Entry] {
        guard let row = row(for: metric) else { return [] }
        let k = metric.cutoff
        return row.entries.filter { entry in
            switch entry.condition {
            case .always: true
            case .kIsOne: k == 1
            case .relevantEqualsK: k != nil && relevantCount == k
            }
        }
    }
}
