// Helpers that build input files byte by byte, so the reader tests need nothing but Swift:
// little-endian encoders, hand-made .npy headers (well-formed and broken), .fbin and .fvecs
// files, a temporary directory per test, and a check for `InputError`s.

import Foundation
import RetrievalEval
import Testing

// MARK: - Bytes

/// Little-endian encoders.
enum Bytes {
    static func le<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        withUnsafeBytes(of: value.littleEndian) { Array($0) }
    }

    static func float32(_ values: [Float]) -> [UInt8] { values.flatMap { le($0.bitPattern) } }

    /// `values` as numpy's `descr` stores them: `<f2`, `<f4`, `<f8`, or big-endian `>f2`, `>f4`, `>f8`.
    static func encode(_ values: [Float], descr: String) -> [UInt8] {
        let bigEndian = descr.hasPrefix(">")
        func order(_ bytes: [UInt8]) -> [UInt8] { bigEndian ? bytes.reversed() : bytes }
        switch descr.dropFirst() {
        case "f2": return values.flatMap { order(le(Float16($0).bitPattern)) }
        case "f8": return values.flatMap { order(le(Double($0).bitPattern)) }
        default: return values.flatMap { order(le($0.bitPattern)) }
        }
    }
    static func float64(_ values: [Double]) -> [UInt8] { values.flatMap { le($0.bitPattern) } }
    static func int64(_ values: [Int64]) -> [UInt8] { values.flatMap { le($0) } }

    /// The low `size` bytes of `value` (two's complement), little-endian.
    static func integer(_ value: Int64, size: Int) -> [UInt8] { Array(le(value).prefix(size)) }

    static func utf8(_ text: String) -> [UInt8] { Array(text.utf8) }
}

// MARK: - .npy

/// Hand-made `.npy` files: magic, version, header length, then the header dict.
enum Npy {
    static let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)

    /// The shape as numpy writes it: `(5,)`, `(3, 4)`, `()`.
    static func shapeText(_ shape: [Int]) -> String {
        shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
    }

    /// The header dict numpy writes.
    static func dict(descr: String, fortranOrder: Bool = false, shape: [Int]) -> String {
        "{'descr': '\(descr)', 'fortran_order': \(fortranOrder ? "True" : "False"), 'shape': \(shapeText(shape)), }"
    }

    /// The size of the fixed preamble (magic, version, length field) for a major version.
    static func preambleSize(major: UInt8) -> Int { major >= 2 ? 12 : 10 }

    /// Everything before the data: magic, `major.minor`, the header length (uint16 for
    /// major 1, uint32 otherwise) and `header`. With `align`, the header is padded with
    /// spaces and a newline so the data starts on a multiple of 64, as numpy does.
    /// `headerLength` overrides the length field (to write a corrupt one).
    static func header(
        bytes header: [UInt8], major: UInt8 = 1, minor: UInt8 = 0, align: Bool = true,
        headerLength: Int? = nil, magic: [UInt8] = Npy.magic
    ) -> [UInt8] {
        let preamble = preambleSize(major: major)
        var text = header
        if align {
            let unpadded = preamble + text.count + 1
            text += [UInt8](repeating: 0x20, count: (64 - unpadded % 64) % 64) + [0x0A]
        }
        let length = headerLength ?? text.count
        let lengthField = preamble == 10
            ? Bytes.le(UInt16(truncatingIfNeeded: length)) : Bytes.le(UInt32(truncatingIfNeeded: length))
        return magic + [major, minor] + lengthField + text
    }

    static func header(
        _ dict: String, major: UInt8 = 1, minor: UInt8 = 0, align: Bool = true, headerLength: Int? = nil
    ) -> [UInt8] {
        header(bytes: Bytes.utf8(dict), major: major, minor: minor, align: align, headerLength: headerLength)
    }

    /// A whole `.npy` file with a numpy-style header and `data` after it.
    static func file(
        descr: String = "<f4", fortranOrder: Bool = false, shape: [Int], data: [UInt8], major: UInt8 = 1
    ) -> [UInt8] {
        header(dict(descr: descr, fortranOrder: fortranOrder, shape: shape), major: major) + data
    }

    /// `matrix` as a `<f4` `.npy` file.
    static func float32(_ matrix: Matrix, major: UInt8 = 1) -> [UInt8] {
        file(shape: [matrix.rows, matrix.columns], data: Bytes.float32(matrix.values), major: major)
    }
}

// MARK: - .fbin, .fvecs

enum Fbin {
    /// A `.fbin` file: uint32 n, uint32 d, then `values`.
    static func file(rows: UInt32, columns: UInt32, values: [Float]) -> [UInt8] {
        Bytes.le(rows) + Bytes.le(columns) + Bytes.float32(values)
    }

    static func file(_ matrix: Matrix) -> [UInt8] {
        file(rows: UInt32(matrix.rows), columns: UInt32(matrix.columns), values: matrix.values)
    }
}

enum Fvecs {
    /// One `.fvecs` row: int32 dimension (by default the row's length), then the floats.
    static func row(_ values: [Float], dimension: Int32? = nil) -> [UInt8] {
        Bytes.le(dimension ?? Int32(values.count)) + Bytes.float32(values)
    }

    /// A `.fvecs` file with one row per element of `rows` (which may differ in length).
    static func file(rows: [[Float]]) -> [UInt8] { rows.flatMap { row($0) } }

    static func file(_ matrix: Matrix) -> [UInt8] { file(rows: (0 ..< matrix.rows).map(matrix.row)) }
}

// MARK: - Sample data

enum Sample {
    /// A 3 x 4 matrix whose values are all distinct bit patterns, among them a negative
    /// zero, subnormals and both extremes of float32.
    static let matrix = Matrix(rows: 3, columns: 4, values: [
        1, -2.5, 0.1, .greatestFiniteMagnitude,
        -Float.leastNormalMagnitude / 4, 1234.5678, -0.0, 7,
        .leastNonzeroMagnitude, -.greatestFiniteMagnitude, 1.0 / 3.0, 42,
    ])

    /// A 3 x 4 matrix that float16 holds exactly: its largest finite value, its smallest
    /// subnormal, a negative zero and values of several exponents.
    static let halfExact = Matrix(rows: 3, columns: 4, values: [
        1, -2.5, 0.125, 65504,
        -0.0, 7, 0x1p-24, -3.75,
        0x1p-10, 42, -1000, 0.3330078125,
    ])

    /// A deterministic `rows` x `columns` matrix with no two equal neighbours.
    static func matrix(rows: Int, columns: Int) -> Matrix {
        Matrix(rows: rows, columns: columns, values: (0 ..< rows * columns).map { i in
            Float(i % 9973) * 0.25 - Float(i % 7) * 1.5 + 0.125
        })
    }
}

/// The bit patterns of a matrix's values, to compare exactly (-0 and NaN included).
func bits(_ matrix: Matrix) -> [UInt32] { matrix.values.map(\.bitPattern) }

// MARK: - Temporary files

/// A fresh directory under the system's temporary folder, removed with everything in it
/// when the value goes away.
final class TemporaryDirectory {
    let path: String

    init() throws {
        let base = FileManager.default.temporaryDirectory.path
        path = "\(base)/dmleval-tests-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// The path of `name` in this directory (the file need not exist).
    func path(_ name: String) -> String { "\(path)/\(name)" }

    /// Writes `bytes` to `name` and returns its path.
    @discardableResult
    func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let file = path(name)
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        return file
    }

    /// Writes `text` as UTF-8 to `name` and returns its path.
    @discardableResult
    func write(_ name: String, text: String) throws -> String { try write(name, Bytes.utf8(text)) }

    /// Creates the directory `name` and returns its path.
    @discardableResult
    func makeDirectory(_ name: String) throws -> String {
        let dir = path(name)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: false)
        return dir
    }

    /// The bytes of `name`.
    func read(_ name: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: path(name)))) }

    /// The names of everything in this directory and below, sorted.
    func listing() throws -> [String] {
        (FileManager.default.subpaths(atPath: path) ?? []).sorted()
    }
}

// MARK: - Checking errors

/// Runs `body`, expecting it to throw an `InputError` with `code` about `file` at
/// `location`, whose description starts with the file and location and contains every
/// one of `words`. Returns the error for further checks.
@discardableResult
func expectInputError<R>(
    _ code: InputError.Code, file: String, at location: InputError.Location?,
    mentioning words: [String] = [],
    sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () throws -> R
) -> InputError? {
    let error: InputError
    do {
        let result = try body()
        Issue.record("expected InputError \(code.rawValue), got \(result)", sourceLocation: sourceLocation)
        return nil
    } catch let e as InputError {
        error = e
    } catch {
        Issue.record("expected InputError \(code.rawValue), got \(error)", sourceLocation: sourceLocation)
        return nil
    }
    let text = error.description
    #expect(error.code == code, "\(text)", sourceLocation: sourceLocation)
    #expect(error.file == file, sourceLocation: sourceLocation)
    #expect(error.location == location, "\(text)", sourceLocation: sourceLocation)
    let prefix = location.map { "\(file): \($0): expected " } ?? "\(file): expected "
    #expect(text.hasPrefix(prefix), "\(text)", sourceLocation: sourceLocation)
    #expect(!text.contains("\n"), "the description is one line", sourceLocation: sourceLocation)
    for word in words {
        #expect(text.contains(word), "'\(word)' missing from: \(text)", sourceLocation: sourceLocation)
    }
    return error
}
