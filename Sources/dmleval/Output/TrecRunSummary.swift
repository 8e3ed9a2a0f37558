import DMLEvalJobs
import RetrievalEval
import RetrievalEvalStore

/// Everything `score-run` prints, in every output format.
struct TrecRunSummary {
    let outcome: TrecRunJob.Outcome
    let runFile: String
    let qrelsFile: String
    let querySet: TrecQuerySet
    let relevanceLevel: Int

    private var evaluation: TrecEvaluation { outcome.evaluation }
    private var report: MetricReport { evaluation.report }

    func render(_ format: OutputFormat) -> String {
        switch format {
        case .json: return json().rendered()
        case .csv:
            var table = TextTable(header: ["metric", "mean"], rows: [])
            for (m, metric) in report.metrics.enumerated() {
                table.rows.append([metric.name, report.means[m].isFinite ? "\(report.means[m])" : ""])
            }
            return table.csv()
        case .table, .markdown: return text(format)
        }
    }

    private var excludedText: String {
        var parts: [String] = []
        if querySet == .relevant { parts.append("\(evaluation.noRelevantQueries) without a relevant document") }
        if querySet != .all { parts.append("\(evaluation.missingQueries) missing from the run") }
        return "\(report.excludedQueries) excluded (query set \(querySet.rawValue)"
            + (parts.isEmpty ? "" : ": " + parts.joined(separator: ", ")) + ")"
    }

    private func text(_ format: OutputFormat) -> String {
        let names = report.metrics.map(\.name)
        var table = TextTable(header: [""] + names, rows: [], rightAligned: Set(1 ... names.count))
        table.rows.append(["mean"] + report.means.map { percent($0) })
        let d = outcome.dataset
        var heading = [
            "run       \(runFile) (hash \(d.embeddingsHash.prefix(12))) against \(qrelsFile) (\(d.rows) judged queries, hash \(d.labelsHash.prefix(12)))",
            "ranking   by score, equal scores by docid in decreasing byte order (trec_eval); relevance level \(relevanceLevel); depth \(evaluation.depth)",
            "queries   \(report.scoredQueries) scored, \(excludedText)",
        ]
        if evaluation.unjudgedQueries > 0 {
            heading.append("          \(evaluation.unjudgedQueries) queries of the run have no judgments and are ignored")
        }
        if format == .markdown {
            return (heading.map { "    " + $0 } + ["", table.markdown()]).joined(separator: "\n")
        }
        return (heading + ["", "values x100", table.aligned()]).joined(separator: "\n")
    }

    func json() -> JSON {
        let d = outcome.dataset
        return .object([
            ("run", outcome.runID.map { .int(Int($0)) } ?? .null),
            ("dataset", .object(d.json + [("run_file", .string(runFile)), ("qrels", .string(qrelsFile))])),
            ("relevance_level", .int(relevanceLevel)),
            ("query_set", .string(querySet.rawValue)),
            ("depth", .int(evaluation.depth)),
            ("queries", .int(report.scoredQueries + report.excludedQueries)),
            ("scored_queries", .int(report.scoredQueries)),
            ("excluded_queries", .int(report.excludedQueries)),
            ("queries_without_relevant", .int(evaluation.noRelevantQueries)),
            ("queries_missing_from_run", .int(evaluation.missingQueries)),
            ("run_queries_without_judgments", .int(evaluation.unjudgedQueries)),
            ("metrics", .object(zip(report.metrics, report.means).map { ($0.name, .number($1)) })),
            ("timings", .object(outcome.timings.map { ($0.0, .number($0.1)) })),
        ])
    }
}
