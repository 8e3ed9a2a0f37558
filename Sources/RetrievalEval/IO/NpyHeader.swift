/// The header of a NumPy `.npy` file (format versions 1.0, 2.0 and 3.0).
///
/// Layout: the magic string `\x93NUMPY`, one byte major and one byte minor version, the
/// header length (uint16 little-endian in 1.0, uint32 in 2.0 and 3.0), then the header: a
/// Python dict literal `{'descr': '<f4', 'fortran_order': False, 'shape': (n, d), }` padded
/// with spaces and a newline. The array data follows it directly.
public struct NpyHeader: Sendable, Equatable {
    /// The dtype string, e.g. `<f4`.
    public var descr: String
    /// Whether the data is in column-major (Fortran) order; the reader transposes it.
    public var fortranOrder: Bool
    /// The array's shape, e.g. [n, d].
    public var shape: [Int]
    /// The byte offset of the first data byte.
    public var dataOffset: Int

    static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]  // \x93NUMPY

    /// Parses the header of `file`, checking every field against the file's real size.
    static func read(from file: some ByteSource) throws -> NpyHeader {
        let path = file.path
        guard file.size >= 10 else {
            throw InputError(
                .badHeader, file: path, at: .byte(0),
                expected: "a .npy header of at least 10 bytes", found: "a file of \(file.size) bytes",
                remedy: "the file is truncated or not a .npy file")
        }
        let prefix = try file.bytes(count: min(12, file.size), at: 0)
        guard Array(prefix[0 ..< 6]) == magic else {
            let shown = prefix[0 ..< 6].map { b in
                (32 ..< 127).contains(b) ? String(UnicodeScalar(b)) : "\\x" + hex(b)
            }.joined()
            throw InputError(
                .badHeader, file: path, at: .byte(0), expected: "the magic string \\x93NUMPY",
                found: "\"\(shown)\"", remedy: "this is not a .npy file; pass --input-format to read it as another format")
        }
        let major = Int(prefix[6]), minor = Int(prefix[7])
        let headerLength: Int
        let headerStart: Int
        switch major {
        case 1:
            headerLength = Int(prefix[8]) | Int(prefix[9]) << 8
            headerStart = 10
        case 2, 3:
            guard file.size >= 12 else {
                throw InputError(
                    .badHeader, file: path, at: .byte(8), expected: "a 4-byte header length",
                    found: "the end of the file", remedy: "the file is truncated; save it again")
            }
            headerLength = Int(littleEndianUInt32(prefix, at: 8))
            headerStart = 12
        default:
            throw InputError(
                .badHeader, file: path, at: .byte(6), expected: "format version 1.0, 2.0 or 3.0",
                found: "version \(major).\(minor)", remedy: "save the array with numpy.save")
        }
        guard headerStart + headerLength <= file.size else {
            throw InputError(
                .badHeader, file: path, at: .byte(8),
                expected: "a header length of at most \(file.size - headerStart) bytes (the file holds \(file.size) bytes)",
                found: "\(headerLength)", remedy: "the header is corrupt or the file truncated; save the array again")
        }
        let raw = try file.bytes(count: headerLength, at: headerStart)
        // Versions 1 and 2 encode the header in latin-1, version 3 in UTF-8. The keys and
        // values we accept are ASCII either way.
        let text: String
        if major == 3 {
            guard let t = String(validating: raw, as: UTF8.self) else {
                throw InputError(
                    .badHeader, file: path, at: .byte(headerStart), expected: "a UTF-8 header",
                    found: "invalid UTF-8", remedy: "save the array again")
            }
            text = t
        } else {
            text = String(decoding: raw.map { $0 < 128 ? $0 : UInt8(ascii: "?") }, as: UTF8.self)
        }
        var header = try parseDict(text, file: path, offset: headerStart)
        header.dataOffset = headerStart + headerLength
        return header
    }

    private static func hex(_ b: UInt8) -> String {
        let digits = Array("0123456789abcdef")
        return String(digits[Int(b >> 4)]) + String(digits[Int(b & 15)])
    }

    // MARK: - The dict literal

    private enum Token: Equatable {
        case open(Character), close(Character), colon, comma
        case string(String), integer(Int), bool(Bool)
    }

    private static func tokenize(_ text: String, file: String, offset: Int) throws -> [Token] {
        var tokens: [Token] = []
        let chars = Array(text.unicodeScalars)
        var i = 0
        func fail(_ what: String) -> InputError {
            InputError(
                .badHeader, file: file, at: .byte(offset + i),
                expected: "a Python dict literal in the .npy header", found: what,
                remedy: "save the array with numpy.save")
        }
        while i < chars.count {
            let c = chars[i]
            switch c {
            case " ", "\t", "\n", "\r", "\0":
                i += 1
            case "{", "(", "[":
                tokens.append(.open(Character(c))); i += 1
            case "}", ")", "]":
                tokens.append(.close(Character(c))); i += 1
            case ":":
                tokens.append(.colon); i += 1
            case ",":
                tokens.append(.comma); i += 1
            case "'", "\"":
                let quote = c
                var j = i + 1
                var s = ""
                while j < chars.count && chars[j] != quote {
                    s.unicodeScalars.append(chars[j]); j += 1
                }
                guard j < chars.count else { throw fail("an unterminated string") }
                tokens.append(.string(s)); i = j + 1
            case "0" ... "9", "-":
                var j = i
                var s = ""
                while j < chars.count, chars[j] == "-" || ("0" ... "9").contains(chars[j]) {
                    s.unicodeScalars.append(chars[j]); j += 1
                }
                // Python 2 wrote long integers with an L suffix: (3L, 4L).
                if j < chars.count && (chars[j] == "L" || chars[j] == "l") { j += 1 }
                guard let v = Int(s) else { throw fail("the number \(s)") }
                tokens.append(.integer(v)); i = j
            default:
                let rest = String(String.UnicodeScalarView(chars[i...].prefix(5)))
                if rest.hasPrefix("True") { tokens.append(.bool(true)); i += 4 }
                else if rest.hasPrefix("False") { tokens.append(.bool(false)); i += 5 }
                else { throw fail("the character '\(c)'") }
            }
        }
        return tokens
    }

    private static func parseDict(_ text: String, file: String, offset: Int) throws -> NpyHeader {
        let tokens = try tokenize(text, file: file, offset: offset)
        func fail(_ expected: String, _ found: String) -> InputError {
            InputError(
                .badHeader, file: file, at: .byte(offset), expected: expected, found: found,
                remedy: "save the array with numpy.save")
        }
        var i = 0
        guard tokens.first == .open("{") else { throw fail("a header starting with '{'", "'\(text.prefix(20))'") }
        i = 1
        var descr: String?
        var fortran: Bool?
        var shape: [Int]?
        while i < tokens.count, tokens[i] != .close("}") {
            guard case .string(let key) = tokens[i] else { throw fail("a quoted key", "\(tokens[i])") }
            i += 1
            guard i < tokens.count, tokens[i] == .colon else { throw fail("':' after '\(key)'", "the end of the header") }
            i += 1
            guard i < tokens.count else { throw fail("a value for '\(key)'", "the end of the header") }
            switch (key, tokens[i]) {
            case ("descr", .string(let s)):
                descr = s; i += 1
            case ("fortran_order", .bool(let b)):
                fortran = b; i += 1
            case ("shape", .open(let o)) where o == "(" || o == "[":
                i += 1
                var dims: [Int] = []
                while i < tokens.count, tokens[i] != .close(")"), tokens[i] != .close("]") {
                    if case .integer(let v) = tokens[i] { dims.append(v); i += 1 }
                    else if tokens[i] == .comma { i += 1 }
                    else { throw fail("integers in 'shape'", "\(tokens[i])") }
                }
                guard i < tokens.count else { throw fail("')' closing 'shape'", "the end of the header") }
                i += 1
                shape = dims
            case ("descr", let t):
                throw fail("a simple dtype string for 'descr'", "\(t) (a structured dtype)")
            default:
                throw fail("the keys 'descr', 'fortran_order' and 'shape'", "'\(key)'")
            }
            if i < tokens.count, tokens[i] == .comma { i += 1 }
        }
        guard i < tokens.count else { throw fail("'}' closing the header", "the end of the header") }
        guard let descr, let fortran, let shape else {
            let missing = [descr == nil ? "'descr'" : nil, fortran == nil ? "'fortran_order'" : nil,
                           shape == nil ? "'shape'" : nil].compactMap { $0 }
            throw fail("the keys 'descr', 'fortran_order' and 'shape'", "no \(missing.joined(separator: ", "))")
        }
        if let bad = shape.first(where: { $0 < 0 }) { throw fail("non-negative dimensions", "\(bad)") }
        return NpyHeader(descr: descr, fortranOrder: fortran, shape: shape, dataOffset: 0)
    }

    /// The shape as numpy prints it, e.g. `(1000, 128)` or `(5,)`.
    public var shapeDescription: String {
        shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
    }

    // MARK: - Writing

    /// Encodes a version 1.0 header for a C-order array of `descr` with `shape`, padded so
    /// that the data starts on a 64-byte boundary (as numpy does).
    static func encode(descr: String, shape: [Int]) -> [UInt8] {
        let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var dict = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shapeText), }"
        let unpadded = 10 + dict.utf8.count + 1
        let padding = (64 - unpadded % 64) % 64
        dict += String(repeating: " ", count: padding) + "\n"
        let length = dict.utf8.count
        return magic + [1, 0, UInt8(length & 0xFF), UInt8(length >> 8)] + Array(dict.utf8)
    }
}
