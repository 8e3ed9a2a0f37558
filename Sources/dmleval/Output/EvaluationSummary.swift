import RetrievalEval

/// Everything the evaluate command prints, in every output format.
struct EvaluationSummary {
    let run: Int64?
    let source: String
    let dataset: Baseline.DatasetIdentity
    let datasetNames: [String]
    let embeddingsPath: String?
    let labelsPath: String?
    let classNames: [String]
    let queryCount: Int?
    let distance: Distance
    let depth: Int
    let report: MetricReport
    let timings: [(String, Double)]

    func render(_ format: OutputFormat) -> String {
        switch format {
        case .json: return json().rendered()
        case .csv: return csv()
        case .table, .markdown: return text(format)
        }
    }

    private var rows: Int { dataset.rows }

    private var mode: String {
        queryCount.map { "\($0) queries against \(rows) references" } ?? "self-retrieval (each item against the other \(rows - 1))"
    }

    private func text(_ format: OutputFormat) -> String {
        let names = report.metrics.map(\.name)
        var table = TextTable(header: [""] + names, rows: [], rightAligned: Set(1 ... names.count))
        table.rows.append(["mean"] + report.means.map { percent($0) })
        if let perClass = report.perClass {
            table.rows.append(["macro (per-class)"] + perClass.macroMeans.map { percent($0) })
        }
        var lines: [String] = []
        let heading = [
            "dataset   \(source) (\(rows) x \(dataset.dimensions), \(dataset.classes) classes, hash \(dataset.hash.prefix(12)))",
            "search    exact, \(distance.rawValue), \(mode), depth \(depth)",
            "queries   \(report.scoredQueries) scored, \(report.excludedQueries) excluded (R = 0: no other item of their class)",
        ]
        if format == .markdown {
            lines += heading.map { "    " + $0 }
            lines += ["", table.markdown()]
        } else {
            lines += heading
            lines += ["", "values x100", table.aligned()]
        }
        if let perClass = report.perClass {
            var classTable = TextTable(header: ["class", "queries"] + names, rows: [], rightAligned: Set(1 ... names.count + 1))
            for c in perClass.scoredQueries.indices {
                classTable.rows.append([classNames[c], String(perClass.scoredQueries[c])] + perClass.classMeans[c].map { percent($0) })
            }
            lines += ["", "per class (x100)", format == .markdown ? classTable.markdown() : classTable.aligned()]
        }
        return lines.joined(separator: "\n")
    }

    private func csv() -> String {
        var header = ["metric", "mean"]
        if report.perClass != nil { header.append("macro_mean") }
        var table = TextTable(header: header, rows: [])
        for (m, metric) in report.metrics.enumerated() {
            var row = [metric.name, csvNumber(report.means[m])]
            if let perClass = report.perClass { row.append(csvNumber(perClass.macroMeans[m])) }
            table.rows.append(row)
        }
        return table.csv()
    }

    private func csvNumber(_ v: Double) -> String { v.isFinite ? "\(v)" : "" }

    func json() -> JSON {
        var datasetFields = dataset.json
        if !datasetNames.isEmpty { datasetFields.append(("names", .array(datasetNames.map { .string($0) }))) }
        if let embeddingsPath { datasetFields.append(("embeddings", .string(embeddingsPath))) }
        if let labelsPath { datasetFields.append(("labels", .string(labelsPath))) }
        var fields: [(String, JSON)] = [
            ("run", run.map { .int(Int($0)) } ?? .null),
            ("dataset", .object(datasetFields)),
            ("search", .object([
                ("index", .string("exact")), ("distance", .string(distance.rawValue)),
                ("mode", .string(queryCount == nil ? "self-retrieval" : "query-reference")), ("depth", .int(depth)),
            ])),
            ("queries", .int(report.scoredQueries + report.excludedQueries)),
            ("scored_queries", .int(report.scoredQueries)),
            ("excluded_queries", .int(report.excludedQueries)),
            ("metrics", .object(zip(report.metrics, report.means).map { ($0.name, .number($1)) })),
        ]
        if let perClass = report.perClass {
            fields.append(("per_class", .object([
                ("macro", .object(zip(report.metrics, perClass.macroMeans).map { ($0.name, .number($1)) })),
                ("classes", .array(perClass.scoredQueries.indices.map { c in
                    .object([
                        ("label", .string(classNames[c])),
                        ("queries", .int(perClass.scoredQueries[c])),
                        ("metrics", .object(zip(report.metrics, perClass.classMeans[c]).map { ($0.name, .number($1)) })),
                    ])
                })),
            ])))
        }
        fields.append(("timings", .object(timings.map { ($0.0, .number($0.1)) })))
        return .object(fields)
    }
}
