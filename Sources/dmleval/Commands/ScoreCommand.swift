import ArgumentParser
import DMLEvalJobs
import RetrievalEval
import RetrievalEvalStore

/// `dmleval score`: every metric of one ranking, under every convention.
struct ScoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "score",
        abstract: "Score one ranked relevance list with every metric and convention.",
        discussion: """
            Example: dmleval score --relevance 1,0,1,0,0,0,1,0,0,1 --relevant 4 --k 10

            By default prints recall@k under both conventions, precision@k, map@k under all four \
            denominators, map@r, r-precision, ndcg@k and mrr. Metrics that need more ranked items \
            than the list holds (map@r and r-precision when R exceeds its length) are left out \
            with a note on stderr; asking for one by --metric is an error instead.

            The table and markdown formats also print, beside each value, which other tools \
            (pytorch-metric-learning, ranx, trec_eval, ir_measures, torchmetrics, faiss) report \
            the same number and under which name, so a number from a paper can be matched to its \
            convention; each of these names is tested on that tool's own published cases (see \
            docs/metrics.md).
            """
    )

    @Option(help: ArgumentHelp("The ranked list's binary relevance, best first, comma-separated (1 = relevant).", valueName: "0,1,..."))
    var relevance: String

    @Option(help: ArgumentHelp("R: how many relevant items exist in the whole collection.", valueName: "R"))
    var relevant: Int

    @Option(help: ArgumentHelp("Cutoffs for the @k metrics, comma-separated (default: the list's length).", valueName: "k,..."))
    var k: String?

    @Option(name: .customLong("metric"), help: ArgumentHelp("Score only this metric (repeatable), e.g. map@10[denominator=r].", valueName: "name"))
    var metricNames: [String] = []

    @Option(help: "Output format: table, json, csv or markdown.")
    var format: OutputFormat = .table

    var ranking: [UInt8] = []
    var cutoffs: [Int] = []
    var requested: [Metric] = []

    enum CodingKeys: String, CodingKey { case relevance, relevant, k, metricNames, format }

    mutating func validate() throws {
        let parts = relevance.split(separator: ",", omittingEmptySubsequences: false)
        ranking = []
        for (i, part) in parts.enumerated() {
            switch part.trimmingSpaces() {
            case "1": ranking.append(1)
            case "0": ranking.append(0)
            default:
                throw ValidationError("--relevance item \(i + 1): expected 0 or 1, found '\(part)'")
            }
        }
        guard !ranking.isEmpty else { throw ValidationError("--relevance: expected at least one 0 or 1") }
        let hits = ranking.filter { $0 != 0 }.count
        guard relevant >= 1 else {
            throw ValidationError("--relevant: expected R >= 1, found \(relevant) (no metric is defined for a query with nothing relevant)")
        }
        guard relevant >= hits else {
            throw ValidationError("--relevant: the list itself holds \(hits) relevant items, so R >= \(hits); found \(relevant)")
        }
        cutoffs = try k.map { try parseCutoffs($0, flag: "--k") } ?? [ranking.count]
        requested = []
        for name in metricNames {
            guard let metric = Metric(name: name) else {
                throw ValidationError("--metric: unknown metric '\(name)'; expected e.g. recall@10, recall@10[ir], precision@10, map@10[denominator=r|min-k-r|hits], map@r, r-precision, ndcg@10, mrr")
            }
            requested.append(metric)
        }
    }

    func run() throws {
        var metrics = requested
        if metrics.isEmpty {
            for k in cutoffs { metrics += RecallConvention.allCases.map { .recall(k: k, convention: $0) } }
            for k in cutoffs { metrics.append(.precision(k: k)) }
            for k in cutoffs { metrics += MAPDenominator.allCases.map { .map(k: k, denominator: $0) } }
            if relevant <= ranking.count {
                metrics += [.mapAtR, .rPrecision]
            } else {
                printError("note: map@r and r-precision need \(relevant) ranked items (R = \(relevant)); the list holds \(ranking.count), so they are not reported")
            }
            for k in cutoffs { metrics.append(.ndcg(k: k)) }
            metrics.append(.mrr)
        }
        let table = RelevanceTable(lists: [ranking], relevantCounts: [relevant])
        let report = try Evaluator.evaluate(table, metrics: metrics)
        let values = report.metrics.indices.map { report.perQuery[$0][0] }
        switch format {
        case .json:
            let out = JSON.object([
                ("relevance", .array(ranking.map { .int(Int($0)) })),
                ("relevant", .int(relevant)),
                ("metrics", .object(zip(report.metrics, values).map { ($0.name, .number($1)) })),
            ])
            print(out.rendered())
        case .csv:
            print(TextTable(header: ["metric", "value"], rows: zip(report.metrics, values).map { [$0.name, "\($1)"] }).csv())
        case .table, .markdown:
            // The other tools' names for each value: one per line in the table, all in one
            // cell in Markdown.
            var rows: [[String]] = []
            for (metric, value) in zip(report.metrics, values) {
                let peers = PeerNames.entries(for: metric, relevantCount: relevant).map { $0.rendered(k: metric.cutoff) }
                if format == .markdown || peers.count <= 1 {
                    rows.append([metric.name, percent(value), peers.isEmpty ? "-" : peers.joined(separator: "; ")])
                } else {
                    rows.append([metric.name, percent(value), peers[0]])
                    rows += peers.dropFirst().map { ["", "", $0] }
                }
            }
            let table = TextTable(header: ["metric", "x100", "same number in"], rows: rows, rightAligned: [1])
            print(table.render(format))
        }
    }
}

extension Substring {
    func trimmingSpaces() -> Substring {
        var s = self
        while s.first == " " { s.removeFirst() }
        while s.last == " " { s.removeLast() }
        return s
    }
}
