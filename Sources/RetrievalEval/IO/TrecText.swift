/// The whitespace-separated lines of a TREC text file (run or qrels), as trec_eval splits them.
///
/// Fields are separated by runs of spaces and tabs; a line ends at `\n` (a `\r` before it is
/// dropped); lines holding nothing but spaces and tabs are skipped. Fields are compared as
/// bytes (`strcmp`), so they are kept as UTF-8 `String`s whose `utf8` views are compared.
struct TrecText {
    let path: String
    let bytes: [UInt8]

    /// Calls `body` with the 1-based line number and the fields of every non-blank line.
    /// - Throws: `InputError` for text that is not UTF-8, or whatever `body` throws.
    func forEachLine(_ body: (Int, [String]) throws -> Void) throws {
        try bytes.withUnsafeBufferPointer { b in
            let count = b.count
            var lineNumber = 0
            var start = b.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0
            var fields: [String] = []
            while start < count {
                lineNumber += 1
                var end = start
                while end < count && b[end] != UInt8(ascii: "\n") { end += 1 }
                var lineEnd = end
                if lineEnd > start && b[lineEnd - 1] == UInt8(ascii: "\r") { lineEnd -= 1 }
                fields.removeAll(keepingCapacity: true)
                var i = start
                while i < lineEnd {
                    while i < lineEnd && (b[i] == 0x20 || b[i] == 0x09) { i += 1 }
                    guard i < lineEnd else { break }
                    let fieldStart = i
                    while i < lineEnd && b[i] != 0x20 && b[i] != 0x09 { i += 1 }
                    let raw = UnsafeBufferPointer(rebasing: b[fieldStart ..< i])
                    guard let field = String(validating: raw, as: UTF8.self) else {
                        throw InputError(
                            .badTrecLine, file: path, at: .line(lineNumber), expected: "UTF-8 text",
                            found: "invalid UTF-8 at byte \(fieldStart + LabelReader.validUTF8Prefix(raw))",
                            remedy: "convert the file to UTF-8 (iconv -t UTF-8)")
                    }
                    fields.append(field)
                }
                if !fields.isEmpty { try body(lineNumber, fields) }
                start = end + 1
            }
        }
    }
}
