/// Writes k-NN lists as a TREC run and label-derived judgments as TREC qrels, so that
/// trec_eval, ranx, ir_measures and `dmleval score-run` read what the main job ranked
/// (docs/formats.md, "TREC runs and qrels").
///
/// Both are written under a temporary name and committed later (`ArrayWriter.PendingFile`),
/// like every output file of a run.
public enum TrecWriter {
    /// Names for rows: row indices, or the ids read from a file.
    public struct RowNames: Sendable {
        let names: [String]?

        /// Row i is named `i`.
        public static let indices = RowNames(names: nil)

        /// Row i is named `names[i]`.
        public init(names: [String]?) { self.names = names }

        func name(_ row: Int) -> String { names?[row] ?? String(row) }

        /// Reads one id per line from `path`: `rows` lines, each id without spaces or tabs
        /// (TREC fields are separated by them), every id once.
        /// - Throws: `InputError` naming the file and line.
        public static func read(_ path: String, rows: Int) throws -> RowNames {
            let bytes = try BinaryFile(path: path).readAll()
            var names: [String] = []
            var lineOf: [String: Int] = [:]
            var line = 0
            // Every line counts, blank or not, so that line i + 1 names row i.
            var text = String(decoding: bytes, as: UTF8.self)
            if text.hasPrefix("\u{FEFF}") { text.removeFirst() }
            var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
            if lines.last == "" { lines.removeLast() }
            for raw in lines {
                line += 1
                var id = raw
                if id.hasSuffix("\r") { id.removeLast() }
                guard !id.isEmpty, !id.contains(" "), !id.contains("\t") else {
                    throw InputError(
                        .badLabel, file: path, at: .line(line), expected: "one id per line, without spaces or tabs",
                        found: id.isEmpty ? "an empty line" : "'\(id.prefix(40))'",
                        remedy: "TREC files separate fields by spaces and tabs; replace them in the ids")
                }
                if let first = lineOf[String(id)] {
                    throw InputError(
                        .badLabel, file: path, at: .line(line), expected: "every id once",
                        found: "'\(id.prefix(40))' again, first on line \(first)", remedy: "make the ids unique")
                }
                lineOf[String(id)] = line
                names.append(String(id))
            }
            guard names.count == rows else {
                throw InputError(
                    .countMismatch, file: path, expected: "\(rows) ids, one per embedding row", found: "\(names.count)",
                    remedy: "write one id per row of the embeddings, in the same order")
            }
            return RowNames(names: names)
        }
    }

    /// Writes `neighbors` as a TREC run (`qid Q0 docid rank score tag`) under a temporary name
    /// next to `path`.
    ///
    /// The score is the similarity. Readers rank by score and break ties by document id in
    /// decreasing byte order (trec_eval), while dmleval ranks ties by the lower index: so that
    /// every reader gets dmleval's order, each item after the first of a run of equal scores is
    /// written one double-precision step (`nextDown`) below the one before it.
    public static func prepareRun(
        _ neighbors: Neighbors, queries: RowNames, references: RowNames, tag: String = "dmleval", to path: String
    ) throws -> ArrayWriter.PendingFile {
        try ArrayWriter.prepare(path: path) { out in
            var buffer: [UInt8] = []
            buffer.reserveCapacity(1 << 20)
            for q in 0 ..< neighbors.queries {
                let qid = queries.name(q)
                var previous = Double.infinity
                for i in 0 ..< neighbors.depth {
                    let p = q * neighbors.depth + i
                    let reference = Int(neighbors.indices[p])
                    guard reference >= 0 else { break }
                    var score = Double(String(neighbors.scores[p]))!
                    if score >= previous { score = previous.nextDown }
                    previous = score
                    buffer += Array("\(qid) Q0 \(references.name(reference)) \(i + 1) \(score) \(tag)\n".utf8)
                }
                if buffer.count >= 1 << 20 {
                    try out.append(buffer)
                    buffer.removeAll(keepingCapacity: true)
                }
            }
            try out.append(buffer)
        }
    }

    /// Writes the judgments the labels imply as TREC qrels (`qid 0 docid 1`, one line per
    /// relevant reference of each query; not relevant is not written) under a temporary name
    /// next to `path`.
    ///
    /// - Parameters:
    ///   - judgments: the queries' and references' classes.
    ///   - selfRetrieval: the queries are the references, and a query is not relevant to itself.
    public static func prepareQrels(
        _ judgments: RelevanceJudgments, selfRetrieval: Bool, queries: RowNames, references: RowNames, to path: String
    ) throws -> ArrayWriter.PendingFile {
        let classCount = Int(judgments.referenceClasses.max() ?? -1) + 1
        var members = [[Int]](repeating: [], count: classCount)
        for (r, c) in judgments.referenceClasses.enumerated() { members[Int(c)].append(r) }
        return try ArrayWriter.prepare(path: path) { out in
            var buffer: [UInt8] = []
            buffer.reserveCapacity(1 << 20)
            for (q, c) in judgments.queryClasses.enumerated() where c >= 0 {
                let qid = queries.name(q)
                for r in members[Int(c)] where !(selfRetrieval && r == q) {
                    buffer += Array("\(qid) 0 \(references.name(r)) 1\n".utf8)
                    if buffer.count >= 1 << 20 {
                        try out.append(buffer)
                        buffer.removeAll(keepingCapacity: true)
                    }
                }
            }
            try out.append(buffer)
        }
    }
}
