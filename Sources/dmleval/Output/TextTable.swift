import DMLEvalJobs
import RetrievalEval
import RetrievalEvalStore

/// A grid of text cells rendered as aligned columns, Markdown or CSV.
struct TextTable {
    var header: [String]
    var rows: [[String]]
    /// Columns aligned to the right in the aligned and Markdown forms (numbers).
    var rightAligned: Set<Int> = []

    /// The header and rows as printed. Cells may hold names and labels from files, baselines
    /// and stores: control characters are escaped so that no cell can split a row (in any
    /// format, CSV included) or reach the terminal.
    private var printed: (header: [String], rows: [[String]]) {
        (header.map(DisplayText.escape), rows.map { $0.map(DisplayText.escape) })
    }

    func render(_ format: OutputFormat) -> String {
        switch format {
        case .markdown: return markdown()
        case .csv: return csv()
        case .table, .json: return aligned()
        }
    }

    func aligned() -> String {
        let (header, rows) = printed
        let widths = columnWidths(header, rows)
        let lines = [header] + rows
        return lines.enumerated().map { index, cells -> String in
            var line = zip(cells.indices, cells).map { c, cell in pad(cell, widths[c], right: rightAligned.contains(c)) }
                .joined(separator: "  ")
            while line.hasSuffix(" ") { line.removeLast() }
            if index == 0 {
                let rule = widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")
                return line + "\n" + rule
            }
            return line
        }.joined(separator: "\n")
    }

    func markdown() -> String {
        let (header, rows) = printed
        let widths = columnWidths(header, rows).map { max($0, 3) }
        func row(_ cells: [String]) -> String {
            "| " + zip(cells.indices, cells).map { c, cell in
                pad(cell.replacingPipes(), widths[c], right: rightAligned.contains(c))
            }.joined(separator: " | ") + " |"
        }
        let rule = "|" + widths.indices.map { c in
            rightAligned.contains(c) ? " " + String(repeating: "-", count: widths[c] - 1) + ": "
                : " " + String(repeating: "-", count: widths[c]) + " "
        }.joined(separator: "|") + "|"
        return ([row(header), rule] + rows.map(row)).joined(separator: "\n")
    }

    func csv() -> String {
        let (header, rows) = printed
        return ([header] + rows).map { $0.map(TextTable.csvField).joined(separator: ",") }.joined(separator: "\n")
    }

    static func csvField(_ s: String) -> String {
        guard s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return s }
        return "\"" + s.split(separator: "\"", omittingEmptySubsequences: false).joined(separator: "\"\"") + "\""
    }

    private func columnWidths(_ header: [String], _ rows: [[String]]) -> [Int] {
        var widths = header.map(\.count)
        for row in rows {
            for (c, cell) in row.enumerated() where c < widths.count { widths[c] = max(widths[c], cell.count) }
        }
        return widths
    }

    private func pad(_ s: String, _ width: Int, right: Bool) -> String {
        let fill = String(repeating: " ", count: max(0, width - s.count))
        return right ? fill + s : s + fill
    }
}

private extension String {
    func replacingPipes() -> String {
        split(separator: "|", omittingEmptySubsequences: false).joined(separator: "\\|")
    }
}
