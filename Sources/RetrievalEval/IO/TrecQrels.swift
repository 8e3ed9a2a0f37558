/// TREC relevance judgments (qrels): `qid iter docid grade` lines, graded (docs/formats.md,
/// "TREC runs and qrels").
///
/// A grade is an integer from 0 (judged not relevant) to `maximumGrade`. trec_eval reads a
/// negative grade as "in the pool but unjudged"; dmleval refuses it rather than guess. The
/// `iter` column is ignored, as in trec_eval. A (qid, docid) pair judged twice is an error,
/// as in trec_eval ("duplicate docs").
public struct TrecQrels: Sendable {
    /// The largest grade accepted: 2^grade - 1 (the exponential gain) stays finite in a sum.
    public static let maximumGrade = 1000

    /// The path the judgments were read from (for messages).
    public let path: String
    /// Each query's judged documents and their grades.
    public let judgments: [String: [String: Int]]
    /// SHA-256 of the file's bytes: the test set's identity in the store.
    public let contentHash: String

    /// The query ids, in byte order.
    public var queryIDs: [String] { judgments.keys.sorted(by: trecPrecedes) }

    /// Judgments as given (not checked): query id to document id to grade.
    public init(path: String, judgments: [String: [String: Int]], contentHash: String) {
        self.path = path
        self.judgments = judgments
        self.contentHash = contentHash
    }

    /// Reads the judgments in `path`.
    /// - Throws: `InputError` naming the file, the line and the field: a line without exactly
    ///   four fields, a grade that is not an integer from 0 to `maximumGrade`, a pair judged twice.
    public static func read(_ path: String) throws -> TrecQrels {
        try parse(try BinaryFile(path: path).readAll(), path: path)
    }

    /// Parses qrels text (`path` names it in errors).
    public static func parse(_ bytes: [UInt8], path: String) throws -> TrecQrels {
        var judgments: [String: [String: Int]] = [:]
        var lines: [String: [String: Int]] = [:]
        try TrecText(path: path, bytes: bytes).forEachLine { line, f in
            guard f.count == 4 else {
                throw InputError(
                    .badTrecLine, file: path, at: .line(line), expected: "4 fields (qid iter docid grade)",
                    found: "\(f.count) field\(f.count == 1 ? "" : "s")",
                    remedy: "write one judgment per line as 'qid 0 docid grade'" + (f.count == 6 ? " (this looks like a run: give the run first, then the qrels)" : ""))
            }
            guard let grade = Int(f[3]), grade >= 0, grade <= maximumGrade else {
                let negative = Int(f[3]).map { $0 < 0 } ?? false
                throw InputError(
                    .badTrecLine, file: path, at: .line(line), expected: "an integer grade from 0 to \(maximumGrade) in field 4 (grade)",
                    found: "'\(f[3].prefix(40))'",
                    remedy: negative
                        ? "trec_eval reads negative grades as 'unjudged'; remove those lines, or write 0 for judged not relevant"
                        : "write the grade as a whole number (0 = not relevant)")
            }
            let (qid, docid) = (f[0], f[2])
            if let first = lines[qid]?[docid] {
                throw InputError(
                    .badTrecLine, file: path, at: .line(line), expected: "each (qid, docid) pair judged once, as trec_eval requires",
                    found: "query '\(qid.prefix(40))', document '\(docid.prefix(40))' (field 3) again, first on line \(first)",
                    remedy: "keep one judgment per document")
            }
            lines[qid, default: [:]][docid] = line
            judgments[qid, default: [:]][docid] = grade
        }
        guard !judgments.isEmpty else {
            throw InputError(
                .badTrecLine, file: path, at: .line(1), expected: "at least one 'qid iter docid grade' line",
                found: "an empty file", remedy: "check the path: the file holds no judgments")
        }
        return TrecQrels(path: path, judgments: judgments, contentHash: SHA256.hex(bytes))
    }
}
