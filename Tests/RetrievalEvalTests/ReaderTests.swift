// Tests of EmbeddingReader (.npy, .fbin, .fvecs, raw) and ArrayWriter, on files built byte
// by byte in a fresh temporary directory.

import Foundation
import RetrievalEval
import Testing

// MARK: - Good embedding files

@Suite("Embedding readers: valid files")
struct EmbeddingReaderValidTests {
    @Test(".npy <f4 in header versions 1.0, 2.0 and 3.0", arguments: [UInt8(1), 2, 3])
    func npyFloat32(major: UInt8) throws {
        let dir = try TemporaryDirectory()
        let path = try dir.write("emb.npy", Npy.float32(Sample.matrix, major: major))
        let m = try EmbeddingReader.read(path)
        #expect(m.rows == 3 && m.columns == 4)
        #expect(bits(m) == bits(Sample.matrix))
    }

    @Test(".npy 2.0 with a header longer than a uint16 can count")
    func npyVersion2LongHeader() throws {
        let dir = try TemporaryDirectory()
        let dict = Npy.dict(descr: "<f4", shape: [3, 4]) + String(repeating: " ", count: 70_000)
        let header = Npy.header(dict, major: 2)
        #expect(header.count > 65_536)
        let path = try dir.write("emb.npy", header + Bytes.float32(Sample.matrix.values))
        #expect(bits(try EmbeddingReader.read(path)) == bits(Sample.matrix))
    }

    @Test(".npy <f8 is converted to Float")
    func npyFloat64() throws {
        let dir = try TemporaryDirectory()
        let doubles: [Double] = [0.1, -2.5, 1e-3, 3, 1.0e38, -7.25, 1e-50, 123456789.123456789, -0.0]
        let path = try dir.write("emb.npy", Npy.file(descr: "<f8", shape: [3, 3], data: Bytes.float64(doubles)))
        let m = try EmbeddingReader.read(path)
        #expect(m.rows == 3 && m.columns == 3)
        #expect(m.values.map(\.bitPattern) == doubles.map { Float($0).bitPattern })
        #expect(m[0, 1] == -2.5 && m[1, 2] == -7.25 && m[2, 0] == 0 && m[2, 1] == 123_456_792)
    }

    @Test("the format follows the extension, in any case", arguments: [
        "emb.fbin", "emb.bin", "EMB.FBIN", "emb.Bin",
    ])
    func fbin(name: String) throws {
        let dir = try TemporaryDirectory()
        let path = try dir.write(name, Fbin.file(Sample.matrix))
        let m = try EmbeddingReader.read(path)
        #expect(m.rows == 3 && m.columns == 4)
        #expect(bits(m) == bits(Sample.matrix))
    }

    @Test(".npy with an upper-case extension")
    func npyUpperCase() throws {
        let dir = try TemporaryDirectory()
        let path = try dir.write("EMB.NPY", Npy.float32(Sample.matrix))
        #expect(bits(try EmbeddingReader.read(path)) == bits(Sample.matrix))
    }

    @Test(".fvecs")
    func fvecs() throws {
        let dir = try TemporaryDirectory()
        let path = try dir.write("emb.fvecs", Fvecs.file(Sample.matrix))
        let m = try EmbeddingReader.read(path)
        #expect(m.rows == 3 && m.columns == 4)
        #expect(bits(m) == bits(Sample.matrix))
    }

    @Test("raw float32 with a dimension", arguments: ["emb.raw", "emb.f32"])
    func raw(name: String) throws {
        let dir = try TemporaryDirectory()
        let path = try dir.write(name, Bytes.float32(Sample.matrix.values))
        let m = try EmbeddingReader.read(path, dimension: 4)
        #expect(m.rows == 3 && m.columns == 4)
        #expect(bits(m) == bits(Sample.matrix))
        // The same bytes read with another dimension give another shape.
        let wide = try EmbeddingReader.read(path, dimension: 6)
        #expect(wide.rows == 2 && wide.columns == 6)
        #expect(bits(wide) == bits(Sample.matrix))
    }

    @Test("the dimension is ignored for formats that store it")
    func dimensionIgnored() throws {
        let dir = try TemporaryDirectory()
        let npy = try dir.write("emb.npy", Npy.float32(Sample.matrix))
        let fbin = try dir.write("emb.fbin", Fbin.file(Sample.matrix))
        #expect(try EmbeddingReader.read(npy, dimension: 99).columns == 4)
        #expect(try EmbeddingReader.read(fbin, dimension: 99).columns == 4)
    }

    @Test("a format override reads a file whose extension misleads")
    func formatOverride() throws {
        let dir = try TemporaryDirectory()

        // .fbin data named .npy: read as .npy it fails on the magic and says to pass --input-format.
        let fbinAsNpy = try dir.write("emb.npy", Fbin.file(Sample.matrix))
        expectInputError(.badHeader, file: fbinAsNpy, at: .byte(0), mentioning: ["\\x93NUMPY", "--input-format"]) {
            try EmbeddingReader.read(fbinAsNpy)
        }
        #expect(bits(try EmbeddingReader.read(fbinAsNpy, format: .fbin)) == bits(Sample.matrix))

        // .npy data named .fvecs.
        let npyAsFvecs = try dir.write("emb.fvecs", Npy.float32(Sample.matrix))
        #expect(bits(try EmbeddingReader.read(npyAsFvecs, format: .npy)) == bits(Sample.matrix))

        // .fvecs data with an extension no reader claims.
        let fvecsAsTxt = try dir.write("emb.txt", Fvecs.file(Sample.matrix))
        expectInputError(.unknownFormat, file: fvecsAsTxt, at: nil, mentioning: ["'.txt'"]) {
            try EmbeddingReader.read(fvecsAsTxt)
        }
        #expect(bits(try EmbeddingReader.read(fvecsAsTxt, format: .fvecs)) == bits(Sample.matrix))

        // Raw data named .fbin.
        let rawAsFbin = try dir.write("emb2.fbin", Bytes.float32(Sample.matrix.values))
        #expect(bits(try EmbeddingReader.read(rawAsFbin, format: .raw, dimension: 4)) == bits(Sample.matrix))
    }

    struct HeaderVariant: Sendable, CustomTestStringConvertible {
        var testDescription: String
        var dict: String
        var align = true
    }

    @Test("header dicts numpy (or Python 2) may write", arguments: [
        HeaderVariant(testDescription: "Python 2 long integers",
                      dict: "{'descr': '<f4', 'fortran_order': False, 'shape': (3L, 4L), }"),
        HeaderVariant(testDescription: "keys in another order, no trailing comma",
                      dict: "{'shape': (3, 4), 'fortran_order': False, 'descr': '<f4'}"),
        HeaderVariant(testDescription: "double quotes and a list shape",
                      dict: "{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": [3, 4]}"),
        HeaderVariant(testDescription: "tabs and extra spaces",
                      dict: "{ 'descr' :\t'<f4' ,  'fortran_order' : False , 'shape' : ( 3 , 4 ) }"),
        HeaderVariant(testDescription: "no padding: data not aligned",
                      dict: "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4)}", align: false),
    ])
    func headerVariants(_ variant: HeaderVariant) throws {
        let dir = try TemporaryDirectory()
        let path = try dir.write(
            "emb.npy", Npy.header(variant.dict, align: variant.align) + Bytes.float32(Sample.matrix.values))
        let m = try EmbeddingReader.read(path)
        #expect(m.rows == 3 && m.columns == 4)
        #expect(bits(m) == bits(Sample.matrix))
    }

    @Test("files larger than a read chunk are read whole", arguments: ["npy-f4", "npy-f8", "fbin", "fvecs"])
    func largeFiles(kind: String) throws {
        // 4 MiB is the chunk size; these files are 4.8 MB (f4) or 9.6 MB (f8).
        let expected = Sample.matrix(rows: 1200, columns: 1000)
        let dir = try TemporaryDirectory()
        let bytes: [UInt8]
        switch kind {
        case "npy-f4": bytes = Npy.float32(expected)
        case "npy-f8":
            bytes = Npy.file(descr: "<f8", shape: [1200, 1000], data: Bytes.float64(expected.values.map(Double.init)))
        case "fbin": bytes = Fbin.file(expected)
        default: bytes = Fvecs.file(expected)
        }
        let name = "emb." + (kind.hasPrefix("npy") ? "npy" : kind)
        let m = try EmbeddingReader.read(try dir.write(name, bytes))
        #expect(m.rows == 1200 && m.columns == 1000)
        #expect(bits(m) == bits(expected))
    }
}

// MARK: - Bad .npy files

@Suite("Embedding readers: broken .npy files")
struct NpyErrorTests {
    @Test("truncated and trailing data", arguments: [
        ("<f4", 44, "truncated"), ("<f4", 52, "trailing bytes"), ("<f4", 0, "truncated"),
        ("<f8", 95, "truncated"), ("<f8", 97, "trailing bytes"),
    ])
    func dataSize(descr: String, dataBytes: Int, what: String) throws {
        let dir = try TemporaryDirectory()
        let header = Npy.header(Npy.dict(descr: descr, shape: [3, 4]))
        let path = try dir.write("emb.npy", header + [UInt8](repeating: 0, count: dataBytes))
        let expected = descr == "<f4" ? 48 : 96
        expectInputError(.wrongSize, file: path, at: .byte(header.count), mentioning: [
            "\(expected) data bytes", "shape (3, 4) \(descr)", "found \(dataBytes)", what,
        ]) {
            try EmbeddingReader.read(path)
        }
    }

    @Test("a header length field larger than the file", arguments: [UInt8(1), 2, 3])
    func oversizedHeaderLength(major: UInt8) throws {
        let dir = try TemporaryDirectory()
        let length = major == 1 ? 5000 : 0xFFFF_FFF0
        let bytes = Npy.header(Npy.dict(descr: "<f4", shape: [3, 4]), major: major, headerLength: length)
            + Bytes.float32(Sample.matrix.values)
        let path = try dir.write("emb.npy", bytes)
        let preamble = Npy.preambleSize(major: major)
        expectInputError(.badHeader, file: path, at: .byte(8), mentioning: [
            "at most \(bytes.count - preamble) bytes", "holds \(bytes.count) bytes", "found \(length)",
        ]) {
            try EmbeddingReader.read(path)
        }
    }

    @Test("a file too short for the preamble")
    func tooShort() throws {
        let dir = try TemporaryDirectory()
        let short = try dir.write("short.npy", Npy.magic + [1, 0])
        expectInputError(.badHeader, file: short, at: .byte(0), mentioning: ["at least 10 bytes", "8 bytes"]) {
            try EmbeddingReader.read(short)
        }
        let empty = try dir.write("empty.npy", [])
        expectInputError(.badHeader, file: empty, at: .byte(0), mentioning: ["0 bytes"]) {
            try EmbeddingReader.read(empty)
        }
        // Version 2 needs a 4-byte length field; this file ends after 3 of its bytes.
        let cut = try dir.write("cut.npy", Npy.magic + [2, 0, 0x10, 0, 0])
        expectInputError(.badHeader, file: cut, at: .byte(8), mentioning: ["4-byte header length", "end of the file"]) {
            try EmbeddingReader.read(cut)
        }
    }

    @Test("bad magic", arguments: [
        (Bytes.utf8("PK") + [3, 4, 0x14, 0, 0, 0, 8, 0, 0, 0], "\"PK\\x03\\x04\\x14\\x00\""),
        (Bytes.utf8("\u{0}NUMPY") + [1, 0, 0, 0, 0, 0], "\"\\x00NUMPY\""),
        (Bytes.utf8("hello world\n"), "\"hello \""),
    ])
    func badMagic(bytes: [UInt8], shown: String) throws {
        let dir = try TemporaryDirectory()
        let path = try dir.write("emb.npy", bytes)
        expectInputError(.badHeader, file: path, at: .byte(0), mentioning: [
            "magic string \\x93NUMPY", "found \(shown)", "not a .npy file", "--input-format",
        ]) {
            try EmbeddingReader.read(path)
        }
    }

    @Test("unsupported versions", arguments: [[UInt8(4), 0], [0, 1], [255, 255]])
    func unsupportedVersion(version: [UInt8]) throws {
        let dir = try TemporaryDirectory()
        let bytes = Npy.header(Npy.dict(descr: "<f4", shape: [3, 4]), major: version[0], minor: version[1])
            + Bytes.float32(Sample.matrix.values)
        let path = try dir.write("emb.npy", bytes)
        expectInputError(.badHeader, file: path, at: .byte(6), mentioning: [
            "version 1.0, 2.0 or 3.0", "found version \(version[0]).\(version[1])",
        ]) {
            try EmbeddingReader.read(path)
        }
    }

    @Test("unsupported dtypes", arguments: ["<i4", "|b1", "<c8", "<i8", "|u1", "<U5", "<f16", "|f2"])
    func wrongDtype(descr: String) throws {
        let dir = try TemporaryDirectory()
        let path = try dir.write("emb.npy", Npy.file(descr: descr, shape: [3, 4], data: [UInt8](repeating: 0, count: 48)))
        expectInputError(.unsupportedType, file: path, at: .byte(8), mentioning: [
            "a float dtype: <f4 (float32), <f2 (float16) or <f8 (float64)", "found dtype \(descr)", "astype(numpy.float32)",
        ]) {
            try EmbeddingReader.read(path)
        }
    }

    @Test("a structured dtype")
    func structuredDtype() throws {
        let dir = try TemporaryDirectory()
        let dict = "{'descr': [('x', '<f4'), ('y', '<f4')], 'fortran_order': False, 'shape': (3, 2), }"
        let path = try dir.write("emb.npy", Npy.header(dict) + Bytes.float32(Sample.matrix.values))
        expectInputError(.badHeader, file: path, at: .byte(10), mentioning: ["simple dtype string", "structured"]) {
            try EmbeddingReader.read(path)
        }
    }

    @Test("Fortran order is transposed on read, in every dtype", arguments: ["<f4", "<f8", "<f2", ">f4"])
    func fortranOrder(descr: String) throws {
        let dir = try TemporaryDirectory()
        // Column-major: element (i, j) of the 3 x 4 sample at j * 3 + i.
        let m = Sample.halfExact
        let columnMajor = (0 ..< m.columns).flatMap { j in (0 ..< m.rows).map { i in m.values[i * m.columns + j] } }
        let path = try dir.write("emb.npy", Npy.file(descr: descr, fortranOrder: true, shape: [3, 4], data: Bytes.encode(columnMajor, descr: descr)))
        let read = try EmbeddingReader.read(path)
        #expect(read.rows == 3 && read.columns == 4)
        #expect(bits(read) == bits(m))
    }

    @Test("arrays that are not 2-D", arguments: [
        ([12], "shape (12,)", "(n, 1)"), ([2, 3, 2], "shape (2, 3, 2)", "save a 2-D array"), ([], "shape ()", "save a 2-D array"),
    ])
    func notTwoDimensional(shape: [Int], shown: String, remedy: String) throws {
        let dir = try TemporaryDirectory()
        let count = shape.reduce(1, *)
        let path = try dir.write(
            "emb.npy", Npy.file(shape: shape, data: Bytes.float32([Float](repeating: 1, count: count))))
        expectInputError(.badShape, file: path, at: .byte(8), mentioning: ["a 2-D array", "found \(shown)", remedy]) {
            try EmbeddingReader.read(path)
        }
    }

    @Test("no rows or no columns", arguments: [[0, 4], [4, 0], [0, 0]])
    func empty(shape: [Int]) throws {
        let dir = try TemporaryDirectory()
        let path = try dir.write("emb.npy", Npy.file(shape: shape, data: []))
        expectInputError(.badShape, file: path, at: nil, mentioning: [
            "at least one row and one dimension", "found \(shape[0]) rows x \(shape[1]) dimensions",
        ]) {
            try EmbeddingReader.read(path)
        }
    }

    @Test("a shape whose byte count overflows is rejected, not trapped on", arguments: [
        ("<f4", [1 << 62, 1 << 62]), ("<f8", [1, 1 << 61]), ("<f4", [1, (1 << 61) - 1]),
        ("<f4", [(1 << 61) - 1, 1]), ("<f8", [1 << 31, 1 << 31]),
    ])
    func hugeShape(descr: String, shape: [Int]) throws {
        let dir = try TemporaryDirectory()
        let header = Npy.header(Npy.dict(descr: descr, shape: shape))
        let path = try dir.write("emb.npy", header + Bytes.float32(Sample.matrix.values))
        expectInputError(.wrongSize, file: path, at: .byte(header.count), mentioning: [
            "data bytes for shape \(Npy.shapeText(shape)) \(descr)", "found 48", "truncated",
        ]) {
            try EmbeddingReader.read(path)
        }
    }

    struct MalformedHeader: Sendable, CustomTestStringConvertible {
        var testDescription: String
        var dict: String
        /// Where the error points, as an offset into the dict (the header starts at byte 10).
        var offset: Int
        var words: [String]
    }

    @Test("malformed header dicts", arguments: [
        MalformedHeader(testDescription: "missing shape",
                        dict: "{'descr': '<f4', 'fortran_order': False, }", offset: 0,
                        words: ["'descr', 'fortran_order' and 'shape'", "found no 'shape'"]),
        MalformedHeader(testDescription: "missing descr and fortran_order",
                        dict: "{'shape': (3, 4), }", offset: 0, words: ["found no 'descr', 'fortran_order'"]),
        MalformedHeader(testDescription: "an unknown key",
                        dict: "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), 'extra': 1, }", offset: 0,
                        words: ["found 'extra'"]),
        MalformedHeader(testDescription: "an unterminated string",
                        dict: "{'descr': '<f4}", offset: 10,
                        words: ["a Python dict literal", "an unterminated string"]),
        MalformedHeader(testDescription: "an unknown word",
                        dict: "{'descr': '<f4', 'fortran_order': None, 'shape': (3, 4)}", offset: 34,
                        words: ["a Python dict literal", "the character 'N'"]),
        MalformedHeader(testDescription: "a negative dimension",
                        dict: "{'descr': '<f4', 'fortran_order': False, 'shape': (-3, 4)}", offset: 0,
                        words: ["non-negative dimensions", "found -3"]),
        MalformedHeader(testDescription: "not a dict",
                        dict: "['descr', '<f4']", offset: 0, words: ["starting with '{'", "['descr'"]),
        MalformedHeader(testDescription: "an unclosed dict",
                        dict: "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4)", offset: 0,
                        words: ["'}' closing the header"]),
        MalformedHeader(testDescription: "an unclosed shape",
                        dict: "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4", offset: 0,
                        words: ["')' closing 'shape'"]),
        MalformedHeader(testDescription: "a number too large for Int",
                        dict: "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999, 4)}",
                        offset: 51, words: ["the number 99999999999999999999"]),
        MalformedHeader(testDescription: "a string in the shape",
                        dict: "{'descr': '<f4', 'fortran_order': False, 'shape': ('3', 4)}", offset: 0,
                        words: ["integers in 'shape'"]),
        MalformedHeader(testDescription: "a key without a value",
                        dict: "{'descr'", offset: 0, words: ["':' after 'descr'", "the end of the header"]),
    ])
    func malformedHeader(_ header: MalformedHeader) throws {
        let dir = try TemporaryDirectory()
        let path = try dir.write("emb.npy", Npy.header(header.dict) + Bytes.float32(Sample.matrix.values))
        expectInputError(.badHeader, file: path, at: .byte(10 + header.offset), mentioning: header.words) {
            try EmbeddingReader.read(path)
        }
    }

    @Test("a version 3.0 header that is not UTF-8")
    func invalidUTF8Header() throws {
        let dir = try TemporaryDirectory()
        let dict = Bytes.utf8("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), 'x\u{FF}': 1}")
        var header = dict
        header[header.count - 6] = 0xFF  // the UTF-8 of \u{FF} is two bytes; break it
        let bytes = Npy.header(bytes: header, major: 3) + Bytes.float32(Sample.matrix.values)
        let path = try dir.write("emb.npy", bytes)
        expectInputError(.badHeader, file: path, at: .byte(12), mentioning: ["a UTF-8 header", "found invalid UTF-8"]) {
            try EmbeddingReader.read(path)
        }
    }
}

// MARK: - Bad .fbin, .fvecs, raw files

@Suite("Embedding readers: broken .fbin, .fvecs and raw files")
struct BinaryErrorTests {
    @Test(".fbin whose size is not 8 + 4nd", arguments: [(52, "truncated"), (60, "trailing bytes"), (8, "truncated")])
    func fbinSize(fileSize: Int, what: String) throws {
        let dir = try TemporaryDirectory()
        let full = Fbin.file(Sample.matrix)
        let bytes = Array(full.prefix(fileSize)) + [UInt8](repeating: 0, count: max(0, fileSize - full.count))
        let path = try dir.write("emb.fbin", bytes)
        expectInputError(.wrongSize, file: path, at: .byte(0), mentioning: [
            "8 + 4*n*d = 56 bytes for n = 3, d = 4", "found \(fileSize) bytes", what, "--input-format",
        ]) {
            try EmbeddingReader.read(path)
        }
    }

    @Test(".fbin shorter than its header")
    func fbinTooShort() throws {
        let dir = try TemporaryDirectory()
        let path = try dir.write("emb.fbin", [3, 0, 0, 0, 4])
        expectInputError(.wrongSize, file: path, at: .byte(0), mentioning: ["8-byte header", "found a file of 5 bytes"]) {
            try EmbeddingReader.read(path)
        }
    }

    @Test(".fbin with no rows or no columns", arguments: [(0, 4), (4, 0)] as [(UInt32, UInt32)])
    func fbinEmpty(rows: UInt32, columns: UInt32) throws {
        let dir = try TemporaryDirectory()
        let path = try dir.write("emb.fbin", Fbin.file(rows: rows, columns: columns, values: []))
        expectInputError(.badShape, file: path, at: nil, mentioning: ["found \(rows) rows x \(columns) dimensions"]) {
            try EmbeddingReader.read(path)
        }
    }

    @Test(".fbin claiming more data than any file holds", arguments: [
        (UInt32.max, UInt32.max), (2_147_483_646, 1_073_741_825), (UInt32.max, 1),
    ] as [(UInt32, UInt32)])
    func fbinHugeHeader(rows: UInt32, columns: UInt32) throws {
        let dir = try TemporaryDirectory()
        let path = try dir.write("emb.fbin", Fbin.file(rows: rows, columns: columns, values: Sample.matrix.values))
        expectInputError(.wrongSize, file: path, at: .byte(0), mentioning: [
            "n = \(rows), d = \(columns)", "found 56 bytes", "truncated",
        ]) {
            try EmbeddingReader.read(path)
        }
    }

    @Test(".fvecs with a row of another dimension names that row")
    func fvecsOtherDimension() throws {
        let dir = try TemporaryDirectory()
        // Row 2 (at byte 24) has 5 values: the file is still a whole number of 12-byte rows.
        let evenPath = try dir.write("even.fvecs", Fvecs.file(rows: [[1, 2], [3, 4], [5, 6, 7, 8, 9]]))
        expectInputError(.badShape, file: evenPath, at: .byte(24), mentioning: [
            "row 2 to have dimension 2 like row 0", "found dimension 5",
        ]) {
            try EmbeddingReader.read(evenPath)
        }
        // Row 1 (at byte 16) has 4 values: the file is no longer a whole number of rows.
        let longerPath = try dir.write("longer.fvecs", Fvecs.file(rows: [[1, 2, 3], [4, 5, 6, 7], [8, 9, 10]]))
        expectInputError(.badShape, file: longerPath, at: .byte(16), mentioning: [
            "row 1 to have dimension 3 like row 0", "found dimension 4",
        ]) {
            try EmbeddingReader.read(longerPath)
        }
        // Row 1 (at byte 20) is shorter, so it lies in what follows the last whole row.
        let shorterPath = try dir.write("shorter.fvecs", Fvecs.file(rows: [[1, 2, 3, 4], [5, 6]]))
        expectInputError(.badShape, file: shorterPath, at: .byte(20), mentioning: [
            "row 1 to have dimension 4 like row 0", "found dimension 2",
        ]) {
            try EmbeddingReader.read(shorterPath)
        }
        // A dimension field that is plainly corrupt, in row 3.
        let corrupt = Fvecs.file(rows: [[1, 2], [3, 4], [5, 6]]) + Fvecs.row([7, 8], dimension: -1)
        let corruptPath = try dir.write("corrupt.fvecs", corrupt)
        expectInputError(.badShape, file: corruptPath, at: .byte(36), mentioning: ["row 3", "found dimension -1"]) {
            try EmbeddingReader.read(corruptPath)
        }
    }

    @Test(".fvecs truncated", arguments: [1, 2, 8, 15, 18])
    func fvecsTruncated(cut: Int) throws {
        let dir = try TemporaryDirectory()
        let bytes = Fvecs.file(Sample.matrix)  // 3 rows of 20 bytes
        let path = try dir.write("emb.fvecs", Array(bytes.dropLast(cut)))
        let leftover = 20 - cut
        expectInputError(.wrongSize, file: path, at: .byte(40), mentioning: [
            "whole number of rows of 20 bytes", "int32 d = 4", "found \(leftover) bytes left after 2 rows", "truncated",
        ]) {
            try EmbeddingReader.read(path)
        }
    }

    @Test(".fvecs that is empty or starts with an impossible dimension")
    func fvecsBadStart() throws {
        let dir = try TemporaryDirectory()
        let empty = try dir.write("empty.fvecs", [])
        expectInputError(.wrongSize, file: empty, at: .byte(0), mentioning: ["4-byte int32 dimension", "0 bytes"]) {
            try EmbeddingReader.read(empty)
        }
        for d: Int32 in [0, -3, 1 << 21] {
            let path = try dir.write("bad\(d).fvecs", Fvecs.row([1, 2, 3], dimension: d))
            expectInputError(.badHeader, file: path, at: .byte(0), mentioning: [
                "between 1 and 1048576", "found \(d)", "not an .fvecs file",
            ]) {
                try EmbeddingReader.read(path)
            }
        }
    }

    @Test("raw without a usable dimension", arguments: [nil, 0, -4] as [Int?])
    func rawWithoutDimension(dimension: Int?) throws {
        let dir = try TemporaryDirectory()
        let path = try dir.write("emb.raw", Bytes.float32(Sample.matrix.values))
        let found = dimension.map { "--dim \($0)" } ?? "none"
        expectInputError(.badShape, file: path, at: nil, mentioning: ["a dimension for raw float32 data", "found \(found)", "--dim D"]) {
            try EmbeddingReader.read(path, dimension: dimension)
        }
    }

    @Test("raw whose size is not a multiple of the row size", arguments: [(5, 48), (4, 50), (4, 0), (100, 48)])
    func rawSize(dimension: Int, size: Int) throws {
        let dir = try TemporaryDirectory()
        let path = try dir.write("emb.raw", [UInt8](repeating: 0, count: size))
        let rowBytes = 4 * dimension
        expectInputError(.wrongSize, file: path, at: .byte(size - size % rowBytes), mentioning: [
            "multiple of 4*d = \(rowBytes) bytes", "found \(size) bytes (\(size % rowBytes) left over)", "--dim",
        ]) {
            try EmbeddingReader.read(path, dimension: dimension)
        }
    }

    @Test("raw with a dimension too large to compute a row size is rejected, not trapped on")
    func rawHugeDimension() throws {
        let dir = try TemporaryDirectory()
        let path = try dir.write("emb.raw", Bytes.float32(Sample.matrix.values))
        let error = expectInputError(.badShape, file: path, at: nil, mentioning: ["found --dim \(Int.max)"]) {
            try EmbeddingReader.read(path, dimension: Int.max)
        }
        #expect(error?.remedy.contains("--dim") == true)
    }
}

// MARK: - Paths and values

@Suite("Embedding readers: paths and non-finite values")
struct EmbeddingPathAndValueTests {
    @Test("an extension no reader claims", arguments: [
        ("emb.csv", "'.csv'"), ("emb", "no extension"), ("emb.npy.gz", "'.gz'"), ("dir.npy/emb", "no extension"),
    ])
    func unknownExtension(name: String, found: String) throws {
        let dir = try TemporaryDirectory()
        let path = dir.path(name)  // need not exist: the format is decided first
        expectInputError(.unknownFormat, file: path, at: nil, mentioning: [
            ".npy, .npz, .safetensors, .fbin, .bin, .fvecs, .raw or .f32", "found \(found)", "--input-format npy|npz|safetensors|fbin|fvecs|raw",
        ]) {
            try EmbeddingReader.read(path)
        }
    }

    @Test("a missing file", arguments: EmbeddingFormat.allCases)
    func missing(format: EmbeddingFormat) throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("missing.\(format.rawValue)")
        expectInputError(.cannotOpen, file: path, at: nil, mentioning: ["a readable file", "no such file", "check the path"]) {
            try EmbeddingReader.read(path, dimension: 4)
        }
    }

    @Test("a directory")
    func directory() throws {
        let dir = try TemporaryDirectory()
        let path = try dir.makeDirectory("emb.npy")
        expectInputError(.cannotOpen, file: path, at: nil, mentioning: ["a regular file", "found a directory"]) {
            try EmbeddingReader.read(path)
        }
    }

    enum Container: String, CaseIterable, Sendable {
        case npy, fbin, fvecs, raw

        func write(_ matrix: Matrix, in dir: TemporaryDirectory) throws -> String {
            let bytes: [UInt8]
            switch self {
            case .npy: bytes = Npy.float32(matrix)
            case .fbin: bytes = Fbin.file(matrix)
            case .fvecs: bytes = Fvecs.file(matrix)
            case .raw: bytes = Bytes.float32(matrix.values)
            }
            return try dir.write("emb.\(rawValue)", bytes)
        }
    }

    @Test("NaN and infinities name the row and column", arguments: Container.allCases, [Float.nan, .infinity, -.infinity])
    func nonFinite(container: Container, value: Float) throws {
        let dir = try TemporaryDirectory()
        var matrix = Sample.matrix(rows: 4, columns: 5)
        matrix[2, 3] = value
        let path = try container.write(matrix, in: dir)
        expectInputError(.nonFinite, file: path, at: .row(2), mentioning: [
            "finite values", "found \(value) in column 3", "remove or repair that row",
        ]) {
            try EmbeddingReader.read(path, dimension: 5)
        }
    }

    @Test("the first non-finite value in row order is the one reported")
    func firstNonFinite() throws {
        let dir = try TemporaryDirectory()
        var matrix = Sample.matrix(rows: 4, columns: 5)
        matrix[3, 0] = .nan
        matrix[1, 4] = .infinity
        let path = try Container.npy.write(matrix, in: dir)
        expectInputError(.nonFinite, file: path, at: .row(1), mentioning: ["found inf in column 4"]) {
            try EmbeddingReader.read(path)
        }
    }

    @Test("float64 values that are not finite in float32", arguments: [
        (1e300, "inf"), (-1e39, "-inf"), (.nan, "nan"), (.infinity, "inf"),
    ])
    func float64NonFinite(value: Double, shown: String) throws {
        let dir = try TemporaryDirectory()
        var doubles = [Double](repeating: 0.5, count: 12)
        doubles[2 * 4 + 1] = value
        let path = try dir.write("emb.npy", Npy.file(descr: "<f8", shape: [3, 4], data: Bytes.float64(doubles)))
        expectInputError(.nonFinite, file: path, at: .row(2), mentioning: ["found \(shown) in column 1"]) {
            try EmbeddingReader.read(path)
        }
    }

    @Test("the largest float64 that rounds to a finite float32 is accepted")
    func float64Edge() throws {
        let dir = try TemporaryDirectory()
        let doubles = [Double(Float.greatestFiniteMagnitude), -Double(Float.greatestFiniteMagnitude), 1e-60, 0]
        let path = try dir.write("emb.npy", Npy.file(descr: "<f8", shape: [2, 2], data: Bytes.float64(doubles)))
        let m = try EmbeddingReader.read(path)
        #expect(m.values == [.greatestFiniteMagnitude, -.greatestFiniteMagnitude, 0, 0])
    }
}

// MARK: - Writers

@Suite("ArrayWriter")
struct ArrayWriterTests {
    /// The header length field and text of a version 1.0 `.npy` file.
    func npyHeader(_ bytes: [UInt8]) throws -> (length: Int, text: String) {
        try #require(bytes.count >= 10)
        #expect(Array(bytes[0 ..< 6]) == Npy.magic)
        #expect(bytes[6] == 1 && bytes[7] == 0)
        let length = Int(bytes[8]) | Int(bytes[9]) << 8
        try #require(bytes.count >= 10 + length)
        return (length, String(decoding: bytes[10 ..< 10 + length], as: UTF8.self))
    }

    @Test("writeNpy then read gives the same matrix; the data is 64-byte aligned", arguments: [
        (1, 1), (3, 4), (7, 123), (1000, 10), (12345, 1),
    ])
    func npyRoundTrip(rows: Int, columns: Int) throws {
        let dir = try TemporaryDirectory()
        let matrix = rows == 3 && columns == 4 ? Sample.matrix : Sample.matrix(rows: rows, columns: columns)
        let path = dir.path("out.npy")
        try ArrayWriter.writeNpy(matrix, to: path)
        let read = try EmbeddingReader.read(path)
        #expect(read.rows == rows && read.columns == columns)
        #expect(bits(read) == bits(matrix))

        let bytes = try dir.read("out.npy")
        let (length, text) = try npyHeader(bytes)
        #expect((10 + length) % 64 == 0)
        #expect(text.hasPrefix("{'descr': '<f4', 'fortran_order': False, 'shape': (\(rows), \(columns)), }"))
        #expect(text.hasSuffix("\n"))
        #expect(bytes.count == 10 + length + 4 * rows * columns)
        #expect(Array(bytes[(10 + length)...]) == Bytes.float32(matrix.values))
        #expect(try dir.listing() == ["out.npy"])
    }

    @Test("writeNpy(int64:) writes dtype <i8 and the values' bytes")
    func npyInt64() throws {
        let dir = try TemporaryDirectory()
        let values: [Int64] = [0, 1, -1, .max, .min, 42]
        let path = dir.path("neighbours.npy")
        try ArrayWriter.writeNpy(int64: values, rows: 3, columns: 2, to: path)
        let bytes = try dir.read("neighbours.npy")
        let (length, text) = try npyHeader(bytes)
        #expect((10 + length) % 64 == 0)
        #expect(text.hasPrefix("{'descr': '<i8', 'fortran_order': False, 'shape': (3, 2), }"))
        #expect(Array(bytes[(10 + length)...]) == Bytes.int64(values))

        // A single column reads back as labels.
        try ArrayWriter.writeNpy(int64: values, rows: 6, columns: 1, to: path)
        #expect(try LabelReader.read(path).values == .integers(values))
    }

    @Test("writeFbin then read gives the same matrix")
    func fbinRoundTrip() throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("out.fbin")
        try ArrayWriter.writeFbin(Sample.matrix, to: path)
        let bytes = try dir.read("out.fbin")
        #expect(bytes == Bytes.le(UInt32(3)) + Bytes.le(UInt32(4)) + Bytes.float32(Sample.matrix.values))
        #expect(bits(try EmbeddingReader.read(path)) == bits(Sample.matrix))
    }

    @Test("write(to:) picks the format from the extension", arguments: ["out.npy", "out.fbin", "out.bin", "OUT.NPY"])
    func writeByExtension(name: String) throws {
        let dir = try TemporaryDirectory()
        let path = dir.path(name)
        try ArrayWriter.write(Sample.matrix, to: path)
        let bytes = try dir.read(name)
        #expect(Array(bytes.prefix(6)) == (name.lowercased().hasSuffix(".npy") ? Npy.magic : Bytes.le(UInt32(3)) + [4, 0]))
        #expect(bits(try EmbeddingReader.read(path)) == bits(Sample.matrix))
    }

    @Test("write(to:) with an unsupported extension", arguments: [
        ("out.fvecs", "'.fvecs'"), ("out.txt", "'.txt'"), ("out", "no extension"),
    ])
    func writeUnsupported(name: String, found: String) throws {
        let dir = try TemporaryDirectory()
        let path = dir.path(name)
        expectInputError(.unknownFormat, file: path, at: nil, mentioning: [
            "output extension .npy, .fbin or .bin", "found \(found)", "name the output file",
        ]) {
            try ArrayWriter.write(Sample.matrix, to: path)
        }
        #expect(try dir.listing() == [])
    }

    @Test("writing into a folder that does not exist leaves nothing behind", arguments: ["npy", "fbin", "int64"])
    func missingFolder(kind: String) throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("missing/out.\(kind == "fbin" ? "fbin" : "npy")")
        expectInputError(.cannotWrite, file: path, at: nil, mentioning: [
            "a writable location", "no such file", "folder exists",
        ]) {
            switch kind {
            case "npy": try ArrayWriter.writeNpy(Sample.matrix, to: path)
            case "fbin": try ArrayWriter.writeFbin(Sample.matrix, to: path)
            default: try ArrayWriter.writeNpy(int64: [1, 2], rows: 2, columns: 1, to: path)
            }
        }
        #expect(try dir.listing() == [])
    }

    @Test("a target that is a directory fails and removes the temporary file")
    func targetIsDirectory() throws {
        let dir = try TemporaryDirectory()
        let path = try dir.makeDirectory("out.npy")
        expectInputError(.cannotWrite, file: path, at: nil, mentioning: ["a writable location"]) {
            try ArrayWriter.writeNpy(Sample.matrix, to: path)
        }
        #expect(try dir.listing() == ["out.npy"])
    }

    @Test("writing replaces an existing file whole")
    func replaces() throws {
        let dir = try TemporaryDirectory()
        let path = try dir.write("out.npy", [UInt8](repeating: 0xAB, count: 100_000))
        try ArrayWriter.writeNpy(Sample.matrix, to: path)
        #expect(bits(try EmbeddingReader.read(path)) == bits(Sample.matrix))
        #expect(try dir.listing() == ["out.npy"])
    }
}

// MARK: - Content hash while reading

@Suite("The embeddings' content hash, computed while reading")
struct ReadHashTests {
    @Test("the digits' hash read with the file equals the hash of the matrix, and hashlib's value")
    func digitsHash() throws {
        let root = repositoryRoot.appendingPathComponent("fixtures")
        let data = try LabeledEmbeddings.read(embeddings: root.appendingPathComponent("digits.fbin").path,
                                              labels: root.appendingPathComponent("digits-labels.txt").path)
        // Python: hashlib.sha256(b"dmleval embeddings float32 1797x64\n" + fbin[8:]). 1797 x 64
        // values span two of the reader's 65,536-value blocks.
        let expected = "4326e65fccc77ddde7570baa112d9b249ec7a499f491001ee06c243d01a20ef8"
        #expect(data.embeddingsHash == expected)
        #expect(data.embeddings.contentHash() == expected)
    }

    @Test("a converted format (float64, Fortran order) hashes its float32 rows, as the matrix does")
    func convertedHash() throws {
        let dir = try TemporaryDirectory()
        let doubles: [Double] = [0.1, -2.5, 1e-3, 3, 1.0e38, -7.25]
        // Fortran order: column by column; the matrix is 2 x 3.
        let npy = Npy.file(descr: "<f8", fortranOrder: true, shape: [2, 3], data: Bytes.float64(doubles))
        let path = try dir.write("emb.npy", npy)
        let labels = try dir.write("labels.txt", text: "a\nb\n")
        let data = try LabeledEmbeddings.read(embeddings: path, labels: labels)
        #expect(data.embeddings.values == [0.1, 1e-3, 1.0e38, -2.5, 3, -7.25].map { Float($0) })
        #expect(data.embeddingsHash == data.embeddings.contentHash())
        #expect(try LabeledEmbeddings(embeddings: data.embeddings, labels: data.labels).embeddingsHash == nil)
    }
}
