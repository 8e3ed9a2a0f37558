import ArgumentParser
import DMLEvalJobs
import RetrievalEval
import RetrievalEvalStore

/// `dmleval runs`: the recorded runs.
struct RunsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runs",
        abstract: "List, show, export and compare the runs recorded in the store.",
        subcommands: [List.self, Show.self, Export.self, Compare.self, Training.self]
    )

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List recent runs, newest first.")

        @Option(help: "How many runs to list.")
        var limit: Int = 20

        @Option(help: ArgumentHelp("Only runs of this dataset (name or hash prefix).", valueName: "name|hash"))
        var dataset: String?

        @Option(help: "Output format: table, json, csv or markdown.")
        var format: OutputFormat = .table

        @OptionGroup var storePath: StorePath

        func validate() throws {
            if limit < 1 { throw ValidationError("--limit: expected at least 1, found \(limit)") }
        }

        func run() throws {
            let store = try storePath.openExisting()
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

        @OptionGroup var storePath: StorePath

        func run() throws {
            let store = try storePath.openExisting()
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
                    r.dataset.isTrec
                        ? "dataset   \(r.dataset.shortHash): a TREC run (file hash \(r.dataset.embeddingsHash.prefix(12))) and qrels (hash \(r.dataset.labelsHash.prefix(12)), \(r.dataset.rows) judged queries)"
                        : "dataset   \(r.dataset.names.first.map { "'\($0)' " } ?? "")\(r.dataset.shortHash) (\(r.dataset.rows) x \(r.dataset.dimensions), \(r.dataset.classCount) classes)",
                ]
                if let q = r.queryDataset {
                    lines.append("queries   \(q.names.first.map { "'\($0)' " } ?? "")\(q.shortHash) (\(q.rows) x \(q.dimensions))")
                }
                if r.dataset.isTrec {
                    lines.append("ranking   read from the run file, depth \(r.depth)")
                    let querySet = r.parameters.first { $0.0 == "query_set" }?.1 ?? "?"
                    lines.append("scored    \(r.scoredQueries) queries, \(r.excludedQueries) excluded (query set \(querySet))")
                } else {
                    lines.append("search    \(r.search), \(r.distance), depth \(r.depth)")
                    lines.append("scored    \(r.scoredQueries) queries, \(r.excludedQueries) excluded (R = 0)")
                }
                lines.append("timings   " + r.timings.map { "\($0.0) \(formatFixed($0.1, decimals: 3))s" }.joined(separator: ", "))
                lines.append("")
                lines.append("parameters")
                lines += r.parameters.map { "  \($0.0) = \($0.1)" }
                // Names, paths and parameters come from the store: one line each, escaped.
                lines = lines.map(DisplayText.escape)
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

    struct Training: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the training runs ('dmleval train'), or show one's settings and curves.")

        @Argument(help: ArgumentHelp("A training run's id: show its settings and per-epoch curves.", valueName: "id"))
        var id: Int64?

        @Option(help: "How many runs to list.")
        var limit: Int = 20

        @Option(help: "Output format: table, json, csv or markdown.")
        var format: OutputFormat = .table

        @OptionGroup var storePath: StorePath

        func validate() throws {
            if limit < 1 { throw ValidationError("--limit: expected at least 1, found \(limit)") }
        }

        func run() throws {
            let store = try storePath.openExisting()
            if let id {
                let summary = try store.trainingRuns(limit: Int.max).first { $0.id == id }
                guard let summary else { throw StoreError("no training run \(id) in \(store.path); 'dmleval runs training' lists them") }
                let curves = try store.trainingCurves(id: id)
                let names = summary.metricNames
                if format == .json {
                    print(JSON.object([
                        ("id", .int(Int(id))), ("created_at", .string(summary.createdAt)), ("loss", .string(summary.loss)),
                        ("evaluation_run", summary.evaluationRunID.map { .int(Int($0)) } ?? .null),
                        ("parameters", .object(summary.parameters.map { ($0.0, .string($0.1)) })),
                        ("epochs", .array(curves.map { c in
                            .object([("epoch", .int(c.epoch)), ("loss", c.loss.map(JSON.number) ?? .null),
                                     ("test", .object(names.compactMap { n in c.test[n].map { (n, JSON.number($0)) } }))])
                        })),
                    ]).rendered())
                    return
                }
                let table = TextTable(
                    header: ["epoch", "loss"] + names,
                    rows: curves.map { c in
                        [String(c.epoch), c.loss.map { $0.isFinite ? formatFixed($0, decimals: 4) : "nan" } ?? "-"]
                            + names.map { n in c.test[n].map { v in !v.isFinite ? "nan" : format == .csv ? "\(v)" : percent(v) } ?? "" }
                    }, rightAligned: Set(0 ..< names.count + 2))
                if format == .csv { print(table.csv()); return }
                var lines = ["training run \(id), \(summary.createdAt), loss \(summary.loss)"
                             + (summary.evaluationRunID.map { "; final test evaluation: run \($0)" } ?? ""), "", "parameters"]
                lines += summary.parameters.map { "  \($0.0) = \($0.1)" }
                lines = lines.map(DisplayText.escape)
                lines += ["", "test metrics x100", table.render(format)]
                print(lines.joined(separator: "\n"))
                return
            }
            let runs = try store.trainingRuns(limit: limit)
            if format == .json {
                print(JSON.array(runs.map { r in
                    .object([("id", .int(Int(r.id))), ("created_at", .string(r.createdAt)), ("loss", .string(r.loss)),
                             ("proxies", r.parameter("proxies").map(JSON.string) ?? .null), ("epochs", .int(r.lastEpoch)),
                             ("final_test", .object(zip(r.metricNames, r.lastTest).map { ($0, .number($1)) }))])
                }).rendered())
                return
            }
            if runs.isEmpty && format == .table {
                print("no training runs in \(store.path) yet; 'dmleval train' records them")
                return
            }
            let table = TextTable(
                header: ["id", "time", "loss", "K", "epochs", "seed", "grid", "final test (x100)"],
                rows: runs.map { r in
                    [String(r.id), r.createdAt, r.loss, r.parameter("proxies") ?? "", String(r.lastEpoch), r.parameter("seed") ?? "",
                     r.parameter("repeat").map { "repeat \($0)" } ?? "",
                     zip(r.metricNames, r.lastTest).map { "\($0) \($1.isFinite ? percent($1) : "nan")" }.joined(separator: ", ")]
                }, rightAligned: [0, 3, 4, 5])
            print(table.render(format))
        }
    }

    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a run as a baseline file for 'dmleval check', and/or its per-query values.",
            discussion: """
                -o writes the baseline: the format is versioned and documented in docs/formats.md \
                (Baseline files). --per-query writes every query's values, as the evaluation's \
                own --per-query does: CSV (.csv) or JSON Lines (.jsonl), one row per query with its \
                index, label, R and every metric.
                """)

        @Argument(help: "The run's id (see 'dmleval runs list').")
        var id: Int64

        @Option(name: .shortAndLong, help: ArgumentHelp("The baseline file to write.", valueName: "file.json"))
        var output: String?

        @Option(help: ArgumentHelp("Write every query's values to this file: CSV (.csv) or JSON Lines (.jsonl).", valueName: "file"))
        var perQuery: String?

        @OptionGroup var storePath: StorePath

        func validate() throws {
            if output == nil && perQuery == nil { throw ValidationError("give -o FILE (a baseline), --per-query FILE, or both") }
            if let perQuery, PerQueryExport.Format.fromExtension(of: perQuery) == nil {
                throw ValidationError("--per-query: expected a file name ending in .csv or .jsonl, found '\(perQuery)'")
            }
        }

        func run() throws {
            let (record, clustering) = try RunExportJob(runID: id, store: storePath.location, baselinePath: output,
                                                        perQueryPath: perQuery).run()
            if let output {
                if !clustering.isEmpty {
                    printError("note: \(clustering.joined(separator: " and ")) left out: a baseline holds metrics with per-query values only")
                }
                print("run \(id) (\(record.metrics.count - clustering.count) metrics, \(record.scoredQueries + record.excludedQueries) queries) written to \(output)")
            }
            if let perQuery { print("run \(id): per-query values of \(record.scoredQueries + record.excludedQueries) queries written to \(perQuery)") }
        }
    }

    struct Compare: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Compare runs side by side, with paired significance tests against the first.",
            discussion: """
                For each metric the runs share: the mean of each run, its delta against the
                first run in points, the two-sided paired t-test and randomization-test
                p-values over per-query values (Holm-corrected across the metrics of each
                comparison), and per-query wins/ties/losses. Runs on other queries than the
                first (another test set) get no p-values.

                --ci LEVEL adds a percentile bootstrap interval of each paired difference
                (queries resampled). --format latex names the runs by their names and marks,
                as ranx does, every significant difference between any two runs: a value
                carries the letter of each run it beats (two-sided paired randomization test,
                Holm-corrected across the metrics of that pair, p < --significance).
                """)

        @Argument(help: "Two or more run ids; the first is the reference.")
        var ids: [Int64]

        @Option(help: "Output format: table, markdown, latex or json.")
        var format: CompareFormat = .table

        @Option(help: ArgumentHelp("Random sign flips for the randomization test (100 to 1,000,000).", valueName: "n"))
        var permutations: Int = 10_000

        @Option(help: "Seed of the randomization test.")
        var seed: UInt64 = 0

        @Option(help: ArgumentHelp("LaTeX: the level below which a difference is marked significant.", valueName: "alpha"))
        var significance: Double = 0.05

        @OptionGroup(title: "Confidence intervals")
        var interval: IntervalOptions

        @OptionGroup var storePath: StorePath

        enum CompareFormat: String, ExpressibleByArgument, CaseIterable { case table, markdown, latex, json }

        func validate() throws {
            if ids.count < 2 { throw ValidationError("give at least two run ids") }
            if ids.count > 26 { throw ValidationError("give at most 26 run ids (one letter each in LaTeX)") }
            if !(significance > 0 && significance < 1) { throw ValidationError("--significance: expected a level between 0 and 1, found \(significance)") }
            try checkPermutations(permutations)
        }

        func run() throws {
            let job = RunComparisonJob(runIDs: ids, store: storePath.location, permutations: permutations, seed: seed,
                                       interval: interval.settings, pairwiseSignificance: format == .latex ? significance : nil)
            let outcome = try job.run()
            for id in outcome.unpairedRuns {
                printError("note: run \(id) was made on another test set than run \(ids[0]); it has no p-values")
            }
            show(outcome)
        }

        /// Prints the comparison in the chosen format.
        private func show(_ outcome: RunComparisonJob.Outcome) {
            let (runs, names, metrics, cells, means, tested) = (outcome.runs, outcome.metrics, outcome.metrics, outcome.cells,
                                                                outcome.means, outcome.testedMetrics)
            switch format {
            case .json:
                print(JSON.object([
                    ("runs", .array(ids.map { .int(Int($0)) })),
                    ("metrics", .array(metrics.indices.map { m in
                        .object([("metric", .string(names[m])), ("runs", .array(ids.indices.map { r in
                            let c = cells[r][m]
                            return .object([
                                ("run", .int(Int(ids[r]))), ("mean", .number(c.mean)), ("delta_points", .number(c.deltaPoints)),
                                ("t_test_p_holm", c.tTestP.map { .number($0) } ?? .null),
                                ("randomization_p_holm", c.randomizationP.map { .number($0) } ?? .null),
                                ("wins", c.wins.map { .int($0) } ?? .null), ("ties", c.ties.map { .int($0) } ?? .null),
                                ("losses", c.losses.map { .int($0) } ?? .null),
                            ] + (interval.settings == nil ? [] : [
                                ("delta_ci_points", c.deltaInterval.map { .array([.number($0.lower), .number($0.upper)]) } ?? .null),
                            ]))
                        }))])
                    })),
                ]).rendered())
            case .table, .markdown:
                var table = TextTable(header: ["metric"] + ids.map { "run \($0)" }, rows: [], rightAligned: Set(1 ... ids.count))
                for m in metrics.indices {
                    table.rows.append([names[m]] + ids.indices.map { r in
                        let c = cells[r][m]
                        guard r > 0 else { return percent(c.mean, decimals: 2) }
                        let ci = c.deltaInterval.map { " [\(signed($0.lower)), \(signed($0.upper))]" } ?? ""
                        return percent(c.mean, decimals: 2) + " (\(signed(c.deltaPoints))\(ci))"
                    })
                    table.rows.append(["  p t-test / rand."] + ids.indices.map { r in
                        let c = cells[r][m]
                        guard r > 0 else { return "" }
                        return (c.tTestP.map(pText) ?? "n/a") + " / " + (c.randomizationP.map(pText) ?? "n/a")
                    })
                    table.rows.append(["  wins/ties/losses"] + ids.indices.map { r in
                        let c = cells[r][m]
                        guard r > 0, let w = c.wins, let t = c.ties, let l = c.losses else { return "" }
                        return "\(w)/\(t)/\(l)"
                    })
                }
                print(table.render(format == .markdown ? .markdown : .table))
                print("\nvalues x100; deltas in points against run \(ids[0]); p-values two-sided, Holm-corrected across the \(tested) metrics with per-query values"
                      + (tested < names.count ? "; nmi and ami have none, so no p-values" : "")
                      + (interval.settings.map { "; [ ] \(Int(($0.level * 100).rounded()))% bootstrap intervals of the paired differences (\($0.resamples) resamples, seed \($0.seed))" } ?? ""))
            case .latex:
                // ranx-style: run k is letter k; a value carries the letters of the runs it is
                // significantly better than.
                let better = outcome.better!
                let letters = (0 ..< runs.count).map { String(UnicodeScalar(UInt8(97 + $0))) }
                var lines = ["\\begin{tabular}{l" + String(repeating: "r", count: ids.count) + "}", "\\toprule",
                             "Metric & " + runs.indices.map { r in
                                 "\\textsuperscript{\(letters[r])}" + latexEscape(runs[r].name ?? "run \(runs[r].id)")
                             }.joined(separator: " & ") + " \\\\", "\\midrule"]
                for m in metrics.indices {
                    let best = means.map { $0[m] }.max()
                    let row = ids.indices.map { r -> String in
                        let c = cells[r][m]
                        var s = percent(c.mean, decimals: 1)
                        if c.mean == best { s = "\\textbf{\(s)}" }
                        let marks = letters.indices.filter { better[r][$0][m] }.map { letters[$0] }.joined()
                        if !marks.isEmpty { s += "$^{\(marks)}$" }
                        if let i = c.deltaInterval { s += " {\\scriptsize [\(signed(i.lower)), \(signed(i.upper))]}" }
                        return s
                    }
                    lines.append(latexEscape(names[m]) + " & " + row.joined(separator: " & ") + " \\\\")
                }
                lines += ["\\bottomrule", "\\end{tabular}",
                          "% values x100; a superscript letter marks a run this one is significantly better than (two-sided paired randomization test, \(permutations) sign flips, Holm-corrected across the \(tested) metrics with per-query values of each pair, p < \(significance)); bold: the best mean"
                          + (interval.settings.map { "; [ ]: \(Int(($0.level * 100).rounded()))% bootstrap interval of the difference against \(latexEscape(runs[0].name ?? "run \(runs[0].id)")), in points" } ?? "")]
                print(lines.joined(separator: "\n"))
            }
        }

        private func latexEscape(_ s: String) -> String {
            s.replacingOccurrences(of: "_", with: "\\_").replacingOccurrences(of: "%", with: "\\%")
        }
    }
}

/// A run as JSON, for `runs list` and `runs show`.
func runJSON(_ r: RunRecord) -> JSON {
    var dataset = Baseline.DatasetIdentity(r.dataset).json
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
