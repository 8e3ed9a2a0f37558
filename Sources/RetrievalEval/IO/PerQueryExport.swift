/// Every query's values in a file that pandas reads: CSV (`pandas.read_csv`) or JSON Lines
/// (`pandas.read_json(path, lines=True)`), chosen by the file's extension.
///
/// One row per query, in query order: `query` (0-based index), `label`, `r` (the number of
/// relevant references), then one column per metric. Queries excluded because R = 0 have
/// empty cells (CSV) or `null` (JSON). Values are written at float32 precision, the precision
/// the store keeps, so a run's file is the same whether written by the run itself or later by
/// `dmleval runs export --per-query`.
public enum PerQueryExport {
    /// The file format of a per-query export.
    public enum Format: String, Sendable {
        case csv
        case jsonLines = "jsonl"

        /// `.csv`, or `.jsonl` / `.ndjson`; nil for any other extension.
        public static func fromExtension(of path: String) -> Format? {
            let lower = path.lowercased()
            if lower.hasSuffix(".csv") { return .csv }
            if lower.hasSuffix(".jsonl") || lower.hasSuffix(".ndjson") { return .jsonLines }
            return nil
        }
    }

    /// The error for an extension that names neither format.
    public static func unknownExtension(_ path: String) -> InputError {
        InputError(.unknownFormat, file: path, expected: "an extension .csv or .jsonl (JSON Lines)",
                   found: EmbeddingReader.extensionDescription(path), remedy: "name the per-query file .csv or .jsonl")
    }

    /// The file's text.
    /// - Parameters:
    ///   - metrics: the metric names, in column order.
    ///   - labels: the queries' labels.
    ///   - relevantCounts: R of each query.
    ///   - perQuery: `perQuery[metric][query]`, NaN for excluded queries.
    public static func render(
        _ format: Format, metrics: [String], labels: Labels, relevantCounts: [Int], perQuery: [[Float]]
    ) -> String {
        let n = relevantCounts.count
        precondition(labels.count == n && perQuery.allSatisfy { $0.count == n })
        var out = ""
        func value(_ v: Float) -> String? { v.isFinite ? "\(v)" : nil }
        switch format {
        case .csv:
            out = (["query", "label", "r"] + metrics).map(csvField).joined(separator: ",") + "\n"
            for q in 0 ..< n {
                out += "\(q)," + csvField(labels.label(at: q)) + ",\(relevantCounts[q])"
                for m in perQuery.indices { out += "," + (value(perQuery[m][q]) ?? "") }
                out += "\n"
            }
        case .jsonLines:
            let integer: Bool = if case .integers = labels.values { true } else { false }
            for q in 0 ..< n {
                let label = labels.label(at: q)
                out += "{\"query\": \(q), \"label\": " + (integer ? label : JSONValue.quote(label)) + ", \"r\": \(relevantCounts[q])"
                for (m, name) in metrics.enumerated() {
                    out += ", " + JSONValue.quote(name) + ": " + (value(perQuery[m][q]) ?? "null")
                }
                out += "}\n"
            }
        }
        return out
    }

    static func csvField(_ s: String) -> String {
        let escaped = DisplayText.escape(s)
        guard escaped.contains(where: { $0 == "," || $0 == "\"" }) else { return escaped }
        return "\"" + escaped.split(separator: "\"", omittingEmptySubsequences: false).joined(separator: "\"\"") + "\""
    }
}
