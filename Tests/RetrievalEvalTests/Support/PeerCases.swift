// What the peer-convention tests share: one query as another tool gives it (ranked relevance
// and R), a peer's published case, the dmleval metrics the cross-walk (`PeerNames`) names for
// a peer's name, and a reader of trec_eval's qrels and run files that ranks as trec_eval does.

import Foundation
import RetrievalEval
import Testing

/// One query: its ranked binary relevance, best first, and R.
struct RankedQuery: Sendable {
    var relevance: [UInt8]
    var relevantCount: Int

    init(_ relevance: [UInt8], r: Int) {
        self.relevance = relevance
        relevantCount = r
    }

    /// A query given as document ids, the ranked run and the relevant set (ranx, faiss).
    init(run: [Int], relevant: [Int]) {
        let set = Set(relevant)
        relevance = run.map { set.contains($0) ? 1 : 0 }
        relevantCount = set.count
    }

    /// A query given as scores and targets (torchmetrics): ranked by score, highest first;
    /// R is the number of true targets.
    init(scores: [Double], targets: [Bool]) {
        let order = scores.indices.sorted { scores[$0] > scores[$1] || (scores[$0] == scores[$1] && $0 < $1) }
        relevance = order.map { targets[$0] ? 1 : 0 }
        relevantCount = targets.filter { $0 }.count
    }
}

/// A case published by another tool: its queries, its name for the metric, its number.
struct PeerCase: Sendable, CustomStringConvertible {
    let tool: PeerNames.Tool
    /// The tool's own name, e.g. `map_cut_10` or `RetrievalMAP(top_k=3)`.
    let name: String
    /// The cutoff that fills `{k}` in the cross-walk's templates (nil when there is none).
    let k: Int?
    let queries: [RankedQuery]
    let expected: Double
    /// Agreement: 0.5e-4 for numbers printed with 4 decimals, 1e-6 for float32 results,
    /// 1e-12 for exact fractions.
    let tolerance: Double
    /// The key of `PeerNames.sources` this case comes from.
    let source: String

    var description: String { "\(tool.rawValue) \(name) [\(source)] = \(expected)" }
}

enum Tolerance {
    static let exact = 1e-12
    static let float32 = 1e-6
    /// A value printed with 4 decimals (trec_eval, torchmetrics' docstrings, ir_measures' places=4).
    static let fourDecimals = 0.5e-4 + 1e-12
}

/// The dmleval metrics the cross-walk gives for a tool's `name` at cutoff `k`.
func dmlevalMetrics(for tool: PeerNames.Tool, name: String, k: Int?) -> [Metric] {
    PeerNames.rows.flatMap { row -> [Metric] in
        row.entries.filter { $0.tool == tool && $0.name(k: k) == name }.compactMap { _ in
            Metric(name: k.map { row.pattern.replacingOccurrences(of: "@k", with: "@\($0)") } ?? row.pattern)
        }
    }
}

/// The mean of `metric` over the queries with R > 0, each scored by the library's metric
/// function on the list as given.
func meanScore(_ metric: Metric, _ queries: [RankedQuery]) -> Double {
    let scored = queries.filter { $0.relevantCount > 0 }
    return scored.reduce(0.0) { $0 + metric.value($1.relevance, relevantCount: $1.relevantCount) } / Double(scored.count)
}

// MARK: - trec_eval files

/// trec_eval's inputs read by the library's TREC readers (`TrecRun`, `TrecQrels`), which rank
/// as trec_eval does (v10.0, form_res_rels.c): by score, highest first, equal scores by
/// document id in decreasing byte order; a document is relevant when its grade is at least 1,
/// R counts those; only the queries of the run that also have judgments are returned.
enum TrecFiles {
    /// qrels: `qid iter docno rel` per line.
    static func qrels(_ text: String) -> TrecQrels {
        try! TrecQrels.parse(Array(text.utf8), path: "qrels")
    }

    /// A run: `qid Q0 docno rank score tag` per line.
    static func run(_ text: String) -> TrecRun {
        try! TrecRun.parse(Array(text.utf8), path: "run")
    }

    /// Each evaluated query's ranked relevance and R, by query id.
    static func rankedQueries(qrels: TrecQrels, run: TrecRun) -> [String: RankedQuery] {
        var out: [String: RankedQuery] = [:]
        for q in TrecEvaluation.judge(run: run, qrels: qrels) where q.retrieved {
            out[q.id] = RankedQuery(q.relevance, r: q.relevantCount)
        }
        return out
    }

    /// An evaluation file (`measure \t qid \t value` per line) as [measure: [qid: value]].
    static func measures(_ text: String) -> [String: [String: Double]] {
        var out: [String: [String: Double]] = [:]
        for line in text.split(whereSeparator: \.isNewline) {
            let f = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard f.count == 3, let value = Double(f[2]) else { continue }
            out[String(f[0]), default: [:]][String(f[1])] = value
        }
        return out
    }

    static func fixture(_ name: String) -> String {
        let url = repositoryRoot.appendingPathComponent("fixtures/trec_eval/\(name)")
        return (try? String(contentsOf: url, encoding: .utf8)) ?? ""
    }
}
