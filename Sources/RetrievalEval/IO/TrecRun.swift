/// A TREC run: every query's retrieved documents with their scores, read from
/// `qid Q0 docid rank score tag` lines (docs/formats.md, "TREC runs and qrels").
///
/// The ranking is trec_eval's (v10.0, `form_res_rels.c`): by score descending, and equal
/// scores by document id in *decreasing* byte (`strcmp`) order. The rank column, the `Q0`
/// column and the tag are not used for ranking, as in trec_eval. A (qid, docid) pair given
/// twice is an error, as in trec_eval (which refuses the run with "duplicate docs").
public struct TrecRun: Sendable {
    /// One retrieved document.
    public struct Entry: Sendable, Equatable {
        /// The document's id.
        public var docid: String
        /// The run's score; higher ranks first.
        public var score: Double
    }

    /// The path the run was read from (for messages).
    public let path: String
    /// Each query's documents, ranked (best first).
    public let rankings: [String: [Entry]]
    /// SHA-256 of the file's bytes: the run's identity in the store.
    public let contentHash: String

    /// The query ids, in byte order.
    public var queryIDs: [String] { rankings.keys.sorted(by: trecPrecedes) }

    /// Reads and ranks the run in `path`.
    /// - Throws: `InputError` naming the file, the line and the field: a line without exactly
    ///   six fields, a score that is not a finite number, a (qid, docid) pair given twice.
    public static func read(_ path: String) throws -> TrecRun {
        let bytes = try BinaryFile(path: path).readAll()
        return try parse(bytes, path: path)
    }

    /// Parses run text (`path` names it in errors).
    public static func parse(_ bytes: [UInt8], path: String) throws -> TrecRun {
        var lists: [String: [Entry]] = [:]
        var seen: [String: [String: Int]] = [:]
        try TrecText(path: path, bytes: bytes).forEachLine { line, f in
            guard f.count == 6 else {
                throw InputError(
                    .badTrecLine, file: path, at: .line(line), expected: "6 fields (qid Q0 docid rank score tag)",
                    found: "\(f.count) field\(f.count == 1 ? "" : "s")",
                    remedy: "write one retrieved document per line as 'qid Q0 docid rank score tag'")
            }
            guard let score = Double(f[4]), score.isFinite else {
                throw InputError(
                    .badTrecLine, file: path, at: .line(line), expected: "a finite number in field 5 (score)",
                    found: "'\(f[4].prefix(40))'", remedy: "the fifth field is the document's score; write it as a decimal number")
            }
            let (qid, docid) = (f[0], f[2])
            if let first = seen[qid]?[docid] {
                throw InputError(
                    .badTrecLine, file: path, at: .line(line), expected: "each (qid, docid) pair once, as trec_eval requires",
                    found: "query '\(qid.prefix(40))', document '\(docid.prefix(40))' (field 3) again, first on line \(first)",
                    remedy: "keep one line per retrieved document")
            }
            seen[qid, default: [:]][docid] = line
            lists[qid, default: []].append(Entry(docid: docid, score: score))
        }
        guard !lists.isEmpty else {
            throw InputError(
                .badTrecLine, file: path, at: .line(1), expected: "at least one 'qid Q0 docid rank score tag' line",
                found: "an empty file", remedy: "check the path: the run holds no results")
        }
        return TrecRun(
            path: path, rankings: lists.mapValues { $0.sorted(by: Self.ranksBefore) },
            contentHash: SHA256.hex(bytes))
    }

    /// A run from rankings already in trec_eval's order (not sorted or checked here).
    public init(path: String, rankings: [String: [Entry]], contentHash: String) {
        self.path = path
        self.rankings = rankings
        self.contentHash = contentHash
    }

    /// trec_eval's order: the higher score first; equal scores by document id, the greater
    /// (in byte order) first.
    public static func ranksBefore(_ a: Entry, _ b: Entry) -> Bool {
        a.score != b.score ? a.score > b.score : trecPrecedes(b.docid, a.docid)
    }
}

/// Byte (`strcmp`) order of two ids.
public func trecPrecedes(_ a: String, _ b: String) -> Bool {
    a.utf8.lexicographicallyPrecedes(b.utf8)
}
