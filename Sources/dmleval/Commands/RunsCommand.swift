import ArgumentParser
import RetrievalEval

/// `dmleval runs`: the recorded runs.
struct RunsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runs",
        abstract: "List and show the runs recorded in the store.",
        subcommands: [List.self, Show.self]
    )

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List recent runs, newest first.")

        @Option(help: "How many runs to list.")
        var limit: Int = 20

        @Option(help: ArgumentHelp("Only runs of this dataset (name or hash prefix).", valueName: "name|hash"))
        var dataset: String?

        @Option(help: "Output format: table, json, csv or markdown.")
        var format: OutputFormat = .table

        @Option(help: ArgumentHelp("The SQLite store (default: $DMLEVAL_STORE, else ./dmleval.sqlite).", valueName: "path"))
        var store: String?

        func validate() throws {
            if limit < 1 { throw ValidationError("--limit: expected at least 1, found \(limit)") }
        }

        func run() throws {
            let store = try StoreOptions(store: store).open()
            let filter = try dataset.map { try store.findDataset($0) }
            let runs = try store.runs(limit: limit, dataset: filter)
            if format == .json {
                print(JSON.array(runs.map(runJSON)).rendered())
                return
            }
            let table = TextTable(
                header: ["run", "time", "dataset", "rows", "search", "name", "metrics (x100)"],
                rows: runs.map { r in
                    [String(r.id), r.createdAt, r.dataset.names.first ?? r.dataset.shortHash, String(r.dataset.rows),
                     "\(r.search) \(r.distance)", r.name ?? "",
                     r.metrics.prefix(4).map { "\($0.metric) \(percent($0.mean))" }.joined(separator: ", ")
                        + (r.metrics.count > 4 ? ", ..." : "")]
                }, rightAligned: [0, 3])
            if runs.isEmpty && format == .table {
                print("no runs in \(store.path) yet; run 'dmleval EMBEDDINGS LABELS' to record one")
            } else {
                print(table.render(format))
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one run: dataset, parameters, timings and metrics.")

        @Argument(help: "The run's id (see 'dmleval runs list').")
        var id: Int64

        @Option(help: "Output format: table, json, csv or markdown.")
        var format: OutputFormat = .table

        @Option(help: ArgumentHelp("The SQLite store (default: $DMLEVAL_STORE, else ./dmleval.sqlite).", valueName: "path"))
        var store: String?

        func run() throws {
            let store = try StoreOptions(store: store).open()
            let r = try store.run(id: id)
            switch format {
            case .json:
                print(runJSON(r).rendered())
            case .csv:
                let hasMacro = r.metrics.contains { $0.macroMean != nil }
                print(TextTable(
                    header: ["metric", "mean"] + (hasMacro ? ["macro_mean"] : []),
                    rows: r.metrics.map { m in
                        [m.metric, m.mean.isFinite ? "\(m.mean)" : ""] + (hasMacro ? [m.macroMean.map { "\($0)" } ?? ""] : [])
                    }).csv())
            case .table, .markdown:
                var lines = [
                    "run       \(r.id)" + (r.name.map { " '\($0)'" } ?? "") + ", \(r.createdAt), dmleval \(r.toolVersion)",
                    "dataset   \(r.dataset.names.first.map { "'\($0)' " } ?? "")\(r.dataset.shortHash) (\(r.dataset.rows) x \(r.dataset.dimensions), \(r.dataset.classCount) classes)",
                ]
                if let q = r.queryDataset {
                    lines.append("queries   \(q.names.first.map { "'\($0)' " } ?? "")\(q.shortHash) (\(q.rows) x \(q.dimensions))")
                }
                lines.append("search    \(r.search), \(r.distance), depth \(r.depth)")
                lines.append("scored    \(r.scoredQueries) queries, \(r.excludedQueries) excluded (R = 0)")
                lines.append("timings   " + r.timings.map { "\($0.0) \(formatFixed($0.1, decimals: 3))s" }.joined(separator: ", "))
                lines.append("")
                lines.append("parameters")
                lines += r.parameters.map { "  \($0.0) = \($0.1)" }
                let hasMacro = r.metrics.contains { $0.macroMean != nil }
                let table = TextTable(
                    header: ["metric", "x100"] + (hasMacro ? ["macro x100"] : []),
                    rows: r.metrics.map { m in [m.metric, percent(m.mean)] + (hasMacro ? [m.macroMean.map { percent($0) } ?? ""] : []) },
                    rightAligned: [1, 2])
                lines += ["", table.render(format)]
                print(lines.joined(separator: "\n"))
            }
        }
    }
}

/// A run as JSON, for `runs list` and `runs show`.
func runJSON(_ r: RunRecord) -> JSON {
    var dataset: [(String, JSON)] = [
        ("hash", .string(r.dataset.hash)), ("embeddings_hash", .string(r.dataset.embeddingsHash)),
        ("labels_hash", .string(r.dataset.labelsHash)),
        ("rows", .int(r.dataset.rows)), ("dimensions", .int(r.dataset.dimensions)), ("classes", .int(r.dataset.classCount)),
    ]
    if !r.dataset.names.isEmpty { dataset.append(("names", .array(r.dataset.names.map { .string($0) }))) }
    var fields: [(String, JSON)] = [
        ("run", .int(Int(r.id))), ("name", r.name.map { .string($0) } ?? .null), ("created_at", .string(r.createdAt)),
        ("tool_version", .string(r.toolVersion)), ("dataset", .object(dataset)),
    ]
    if let q = r.queryDataset { fields.append(("query_dataset", .object([("hash", .string(q.hash)), ("rows", .int(q.rows))]))) }
    fields += [
        ("search", .object([("index", .string(r.search)), ("distance", .string(r.distance)), ("depth", .int(r.depth))])),
        ("parameters", .object(r.parameters.map { ($0.0, .string($0.1)) })),
        ("queries", .int(r.scoredQueries + r.excludedQueries)),
        ("excluded_queries", .int(r.excludedQueries)),
        ("metrics", .object(r.metrics.map { ($0.metric, .number($0.mean)) })),
    ]
    if r.metrics.contains(where: { $0.macroMean != nil }) {
        fields.append(("macro_metrics", .object(r.metrics.map { ($0.metric, $0.macroMean.map { .number($0) } ?? .null) })))
    }
    fields.append(("timings", .object(r.timings.map { ($0.0, .number($0.1)) })))
    return .object(fields)
}
