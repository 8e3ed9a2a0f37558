import ArgumentParser
import DMLEvalJobs
import RetrievalEval
import RetrievalEvalStore

/// `dmleval table3`: the paper's Table 3 recomputed by the library, next to the printed values.
struct Table3Command: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "table3",
        abstract: "Recompute Table 3 of Saeki et al. (2023) and compare it with the printed values.",
        discussion: """
            Scores the paper's five example rankings (R = 4 relevant items) with Recall@10, \
            Precision@10, MAP@R, MAP@10 and nDCG@10, and prints each computed value next to the \
            paper's (computed / paper). Exits 1 if any value differs at the paper's printed \
            precision.
            """
    )

    @Option(help: "Output format: table, json, csv or markdown.")
    var format: OutputFormat = .table

    func run() throws {
        let cells = PaperTable3.compute()
        let mismatches = cells.joined().filter { !$0.matches }
        switch format {
        case .json:
            print(json(cells, mismatches: mismatches.count).rendered())
        case .csv:
            var table = TextTable(header: ["ranking", "metric", "computed", "paper", "matches"], rows: [])
            for row in cells {
                for cell in row {
                    table.rows.append([
                        rankingText(PaperTable3.rows[cell.row].ranking), cell.column.metric.name,
                        "\(cell.computed)", "\(cell.printed / 100)", cell.matches ? "true" : "false",
                    ])
                }
            }
            print(table.csv())
        case .table, .markdown:
            var table = TextTable(
                header: ["Search results"] + PaperTable3.columns.map(\.heading),
                rows: [], rightAligned: Set(1 ... PaperTable3.columns.count))
            for row in cells {
                let ranking = rankingText(PaperTable3.rows[row[0].row].ranking)
                table.rows.append([ranking] + row.map { cell in
                    let mine = formatFixed(cell.computedAtPrintedPrecision, decimals: cell.column.decimals)
                    let paper = formatFixed(cell.printed, decimals: cell.column.decimals)
                    return mine + " / " + paper + (cell.matches ? "" : " !")
                })
            }
            let title = "Table 3 of Saeki et al. (2023), R = \(PaperTable3.relevantCount): dmleval / paper (x100)"
            if format == .markdown {
                print("**\(title)**\n\n" + table.markdown())
            } else {
                print(title + "\n\n" + table.aligned())
            }
            let total = cells.joined().count
            print(mismatches.isEmpty
                ? "\nAll \(total) values match the paper at its printed precision."
                : "\n\(mismatches.count) of \(total) values differ from the paper (marked !).")
        }
        if !mismatches.isEmpty {
            for cell in mismatches {
                printError("error: table3 row \(cell.row + 1) \(cell.column.metric.name): computed "
                    + "\(formatFixed(cell.computedAtPrintedPrecision, decimals: cell.column.decimals)), paper prints "
                    + "\(formatFixed(cell.printed, decimals: cell.column.decimals))")
            }
            throw CheckFailed()
        }
    }

    private func rankingText(_ ranking: [UInt8]) -> String {
        "[" + ranking.map(String.init).joined(separator: ",") + "]"
    }

    private func json(_ cells: [[PaperTable3.Cell]], mismatches: Int) -> JSON {
        .object([
            ("source", .string("Saeki, Kawahara, Aman (2023), Table 3")),
            ("relevant", .int(PaperTable3.relevantCount)),
            ("rows", .array(cells.map { row in
                .object([
                    ("ranking", .array(PaperTable3.rows[row[0].row].ranking.map { .int(Int($0)) })),
                    ("metrics", .object(row.map { ($0.column.metric.name, .number($0.computed)) })),
                    ("paper", .object(row.map { ($0.column.metric.name, .number($0.printed / 100)) })),
                    ("matches", .bool(row.allSatisfy(\.matches))),
                ])
            })),
            ("matches", .bool(mismatches == 0)),
        ])
    }
}
