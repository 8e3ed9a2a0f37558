// Tests of LabelReader (.txt and .npy), Labels and LabeledEmbeddings, on files built byte by
// byte in a fresh temporary directory.

import Foundation
import RetrievalEval
import Testing

// MARK: - Text labels

@Suite("Label reader: text files")
struct TextLabelTests {
    struct Good: Sendable, CustomTestStringConvertible {
        var testDescription: String
        var bytes: [UInt8]
        var labels: [String]
    }

    @Test("line ends, spaces and unicode", arguments: [
        Good(testDescription: "LF", bytes: Bytes.utf8("a\nb\nc\n"), labels: ["a", "b", "c"]),
        Good(testDescription: "CRLF", bytes: Bytes.utf8("a\r\nb\r\nc\r\n"), labels: ["a", "b", "c"]),
        Good(testDescription: "no final newline", bytes: Bytes.utf8("a\nb\nc"), labels: ["a", "b", "c"]),
        Good(testDescription: "CRLF, no final newline", bytes: Bytes.utf8("a\r\nb\r\nc"), labels: ["a", "b", "c"]),
        Good(testDescription: "LF and CRLF mixed", bytes: Bytes.utf8("a\r\nb\nc\r\n"), labels: ["a", "b", "c"]),
        Good(testDescription: "spaces and tabs around labels",
             bytes: Bytes.utf8("  a\t\n\tb  \r\n c \n"), labels: ["a", "b", "c"]),
        Good(testDescription: "spaces inside a label kept",
             bytes: Bytes.utf8("great tit\n  blue tit \n"), labels: ["great tit", "blue tit"]),
        Good(testDescription: "unicode", bytes: Bytes.utf8("chien\n猫\nπ\n🐈\nnaïve\nKatze\n"),
             labels: ["chien", "猫", "π", "🐈", "naïve", "Katze"]),
        Good(testDescription: "one label, no newline", bytes: Bytes.utf8("x"), labels: ["x"]),
        Good(testDescription: "UTF-8 byte order mark skipped",
             bytes: [0xEF, 0xBB, 0xBF] + Bytes.utf8("cat\ndog\ncat\n"), labels: ["cat", "dog", "cat"]),
        Good(testDescription: "numbers stay text", bytes: Bytes.utf8("1\n01\n1.0\n-1\n"),
             labels: ["1", "01", "1.0", "-1"]),
    ])
    func good(_ c: Good) throws {
        let dir = try TemporaryDirectory()
        let path = try dir.write("labels.txt", c.bytes)
        let labels = try LabelReader.read(path)
        #expect(labels.values == .strings(c.labels))
        #expect(labels.count == c.labels.count)
        #expect((0 ..< labels.count).map(labels.label(at:)) == c.labels)
    }

    @Test("any extension but .npy is read as text", arguments: ["labels", "labels.csv", "labels.tsv", "labels.npy.txt"])
    func textByDefault(name: String) throws {
        let dir = try TemporaryDirectory()
        let path = try dir.write(name, text: "x\ny\n")
        #expect(try LabelReader.read(path).values == .strings(["x", "y"]))
    }

    struct Bad: Sendable, CustomTestStringConvertible {
        var testDescription: String
        var bytes: [UInt8]
        var line: Int
        var words: [String]
    }

    @Test("empty lines, empty files and invalid UTF-8 name the line", arguments: [
        Bad(testDescription: "empty line in the middle", bytes: Bytes.utf8("a\nb\n\nc\n"), line: 3,
            words: ["expected a label", "found an empty line", "remove blank lines"]),
        Bad(testDescription: "blank CRLF line in the middle", bytes: Bytes.utf8("a\r\n\r\nb\r\n"), line: 2,
            words: ["found an empty line"]),
        Bad(testDescription: "line of spaces", bytes: Bytes.utf8("a\n \t \nb\n"), line: 2,
            words: ["found an empty line"]),
        Bad(testDescription: "trailing blank line", bytes: Bytes.utf8("a\nb\n\n"), line: 3,
            words: ["found an empty line"]),
        Bad(testDescription: "trailing blank CRLF line", bytes: Bytes.utf8("a\r\nb\r\n\r\n"), line: 3,
            words: ["found an empty line"]),
        Bad(testDescription: "leading empty line", bytes: Bytes.utf8("\na\n"), line: 1,
            words: ["found an empty line"]),
        Bad(testDescription: "only a newline", bytes: Bytes.utf8("\n"), line: 1, words: ["found an empty line"]),
        Bad(testDescription: "empty file", bytes: [], line: 1,
            words: ["one label per line", "found an empty file"]),
        Bad(testDescription: "invalid UTF-8", bytes: Bytes.utf8("a\n") + [0x62, 0xFF, 0xFE] + Bytes.utf8("\nc\n"), line: 2,
            words: ["expected UTF-8 text", "found invalid UTF-8 at byte 3", "iconv"]),
        Bad(testDescription: "overlong UTF-8 encoding", bytes: Bytes.utf8("a\nb\nc\n") + [0xC0, 0xAF], line: 4,
            words: ["found invalid UTF-8 at byte 6"]),
        Bad(testDescription: "latin-1 text", bytes: Bytes.utf8("caf") + [0xE9], line: 1,
            words: ["found invalid UTF-8 at byte 3"]),
        Bad(testDescription: "invalid UTF-8 after valid multi-byte characters",
            bytes: Bytes.utf8("x\n  π🐈") + [0xF0, 0x9F, 0x90] + Bytes.utf8("\n"), line: 2,
            words: ["found invalid UTF-8 at byte 10"]),
    ])
    func bad(_ c: Bad) throws {
        let dir = try TemporaryDirectory()
        let path = try dir.write("labels.txt", c.bytes)
        expectInputError(.badLabel, file: path, at: .line(c.line), mentioning: c.words) {
            try LabelReader.read(path)
        }
    }

    @Test("missing label file and directories")
    func cannotOpen() throws {
        let dir = try TemporaryDirectory()
        let missing = dir.path("missing.txt")
        expectInputError(.cannotOpen, file: missing, at: nil, mentioning: ["no such file"]) {
            try LabelReader.read(missing)
        }
        let folder = try dir.makeDirectory("labels.npy")
        expectInputError(.cannotOpen, file: folder, at: nil, mentioning: ["found a directory"]) {
            try LabelReader.read(folder)
        }
    }
}

// MARK: - .npy labels

@Suite("Label reader: .npy files")
struct NpyLabelTests {
    struct IntegerCase: Sendable, CustomTestStringConvertible {
        var descr: String
        var values: [Int64]
        var testDescription: String { descr }
        var size: Int { Int(descr.dropFirst(2))! }
    }

    static let integerCases = [
        IntegerCase(descr: "|i1", values: [-128, 127, 0, -1, 5, -1]),
        IntegerCase(descr: "<i1", values: [-128, 127, 0, -1]),
        IntegerCase(descr: "<i2", values: [-32768, 32767, -1, 300, 300]),
        IntegerCase(descr: "<i4", values: [Int64(Int32.min), Int64(Int32.max), -7, 0]),
        IntegerCase(descr: "<i8", values: [.min, .max, -1, 42, -1]),
        IntegerCase(descr: "|u1", values: [0, 255, 7, 255]),
        IntegerCase(descr: "<u2", values: [65535, 0, 256]),
        IntegerCase(descr: "<u4", values: [Int64(UInt32.max), 1, 65536]),
        IntegerCase(descr: "<u8", values: [.max, 0, 3, 1 << 40]),
    ]

    @Test("integer dtypes, as shape (n,) or (n, 1)", arguments: integerCases, [false, true])
    func integers(_ c: IntegerCase, column: Bool) throws {
        let dir = try TemporaryDirectory()
        let shape = column ? [c.values.count, 1] : [c.values.count]
        let data = c.values.flatMap { Bytes.integer($0, size: c.size) }
        let path = try dir.write("labels.npy", Npy.file(descr: c.descr, shape: shape, data: data))
        let labels = try LabelReader.read(path)
        #expect(labels.values == .integers(c.values))
        #expect(labels.count == c.values.count)
        #expect((0 ..< labels.count).map(labels.label(at:)) == c.values.map(String.init))
    }

    @Test("header versions 2.0 and 3.0 and an upper-case extension", arguments: [UInt8(2), 3])
    func versions(major: UInt8) throws {
        let dir = try TemporaryDirectory()
        let path = try dir.write("LABELS.NPY", Npy.file(descr: "<i8", shape: [3], data: Bytes.int64([5, -5, 5]), major: major))
        #expect(try LabelReader.read(path).values == .integers([5, -5, 5]))
    }

    @Test("a format override")
    func formatOverride() throws {
        let dir = try TemporaryDirectory()
        let npyAsBin = try dir.write("labels.bin", Npy.file(descr: "<i4", shape: [2], data: Bytes.le(Int32(9)) + Bytes.le(Int32(-9))))
        #expect(try LabelReader.read(npyAsBin, format: .npy).values == .integers([9, -9]))
        let textAsNpy = try dir.write("labels.npy", text: "cat\ndog\nbird\n")
        #expect(try LabelReader.read(textAsNpy, format: .txt).values == .strings(["cat", "dog", "bird"]))
        expectInputError(.badHeader, file: textAsNpy, at: .byte(0), mentioning: ["\\x93NUMPY"]) {
            try LabelReader.read(textAsNpy)
        }
    }

    @Test("a uint64 label above Int64.max names its row")
    func unsignedTooLarge() throws {
        let dir = try TemporaryDirectory()
        let data = Bytes.le(UInt64(1)) + Bytes.le(UInt64(1) << 63) + Bytes.le(UInt64.max)
        let path = try dir.write("labels.npy", Npy.file(descr: "<u8", shape: [3], data: data))
        expectInputError(.badLabel, file: path, at: .row(1), mentioning: [
            "a label below 2^63", "found 9223372036854775808", "smaller integers",
        ]) {
            try LabelReader.read(path)
        }
    }

    @Test("float dtypes are rejected with a hint", arguments: ["<f4", "<f8", "<f2", ">f8"])
    func floatDtype(descr: String) throws {
        let dir = try TemporaryDirectory()
        let path = try dir.write("labels.npy", Npy.file(descr: descr, shape: [2], data: [UInt8](repeating: 0, count: 16)))
        expectInputError(.unsupportedType, file: path, at: .byte(8), mentioning: [
            "little-endian integer dtype", "found dtype \(descr)", "labels must be integers", "astype(numpy.int64)",
        ]) {
            try LabelReader.read(path)
        }
    }

    @Test("other dtypes are rejected", arguments: [">i4", ">u2", "|b1", "<U5", "|O", "<i3", "<i16", "|S4", ">i1"])
    func otherDtype(descr: String) throws {
        let dir = try TemporaryDirectory()
        let path = try dir.write("labels.npy", Npy.file(descr: descr, shape: [2], data: [UInt8](repeating: 0, count: 16)))
        expectInputError(.unsupportedType, file: path, at: .byte(8), mentioning: [
            "found dtype \(descr)", "astype(numpy.int64)", "one per line to a .txt file",
        ]) {
            try LabelReader.read(path)
        }
    }

    @Test("shapes other than (n,) and (n, 1)", arguments: [[2, 2], [2, 1, 1], [], [1, 3]])
    func badShape(shape: [Int]) throws {
        let dir = try TemporaryDirectory()
        let count = shape.reduce(1, *)
        let path = try dir.write("labels.npy", Npy.file(descr: "<i8", shape: shape, data: Bytes.int64(.init(repeating: 1, count: count))))
        expectInputError(.badShape, file: path, at: .byte(8), mentioning: [
            "a 1-D array of labels", "found shape \(Npy.shapeText(shape))", "labels.ravel()",
        ]) {
            try LabelReader.read(path)
        }
    }

    @Test("no labels", arguments: [[0], [0, 1]])
    func empty(shape: [Int]) throws {
        let dir = try TemporaryDirectory()
        let path = try dir.write("labels.npy", Npy.file(descr: "<i8", shape: shape, data: []))
        expectInputError(.badShape, file: path, at: nil, mentioning: ["at least one label", "found shape \(Npy.shapeText(shape))"]) {
            try LabelReader.read(path)
        }
    }

    @Test("truncated and trailing data", arguments: [
        ("<i4", 11, "truncated"), ("<i4", 13, "trailing bytes"), ("|u1", 0, "truncated"), ("<i8", 25, "trailing bytes"),
    ])
    func dataSize(descr: String, dataBytes: Int, what: String) throws {
        let dir = try TemporaryDirectory()
        let header = Npy.header(Npy.dict(descr: descr, shape: [3]))
        let path = try dir.write("labels.npy", header + [UInt8](repeating: 1, count: dataBytes))
        let size = Int(descr.dropFirst(2))!
        expectInputError(.wrongSize, file: path, at: .byte(header.count), mentioning: [
            "\(3 * size) data bytes for shape (3,) \(descr)", "found \(dataBytes)", what,
        ]) {
            try LabelReader.read(path)
        }
    }

    @Test("a shape whose byte count overflows is rejected, not trapped on", arguments: [
        [1 << 62], [Int.max], [(1 << 61) + 1, 1],
    ])
    func hugeShape(shape: [Int]) throws {
        let dir = try TemporaryDirectory()
        let header = Npy.header(Npy.dict(descr: "<i8", shape: shape))
        let path = try dir.write("labels.npy", header + Bytes.int64([1, 2, 3]))
        expectInputError(.wrongSize, file: path, at: .byte(header.count), mentioning: [
            "data bytes for shape \(Npy.shapeText(shape)) <i8", "found 24", "truncated",
        ]) {
            try LabelReader.read(path)
        }
    }

    @Test("a broken header is reported as for embeddings")
    func brokenHeader() throws {
        let dir = try TemporaryDirectory()
        let bytes = Npy.header(Npy.dict(descr: "<i8", shape: [3]), major: 4) + Bytes.int64([1, 2, 3])
        let path = try dir.write("labels.npy", bytes)
        expectInputError(.badHeader, file: path, at: .byte(6), mentioning: ["found version 4.0"]) {
            try LabelReader.read(path)
        }
    }
}

// MARK: - Labels

@Suite("Labels")
struct LabelsTests {
    @Test("string labels are numbered by first appearance")
    func strings() {
        let labels = Labels(strings: ["b", "a", "b", "c", "a", "b"])
        #expect(labels.classIndex == [0, 1, 0, 2, 1, 0])
        #expect(labels.classNames == ["b", "a", "c"])
        #expect(labels.count == 6)
        #expect(labels.classCount == 3)
        #expect(labels.classSizes() == [3, 2, 1])
        #expect(labels.label(at: 3) == "c")
        #expect(labels.values == .strings(["b", "a", "b", "c", "a", "b"]))
    }

    @Test("integer labels are numbered by first appearance and named in decimal")
    func integers() {
        let labels = Labels(integers: [7, -3, 7, 7, 1 << 40, -3])
        #expect(labels.classIndex == [0, 1, 0, 0, 2, 1])
        #expect(labels.classNames == ["7", "-3", "1099511627776"])
        #expect(labels.classSizes() == [3, 2, 1])
        #expect(labels.label(at: 1) == "-3")
    }

    @Test("labels are compared as read: case, spaces and leading zeros matter")
    func distinctStrings() {
        let labels = Labels(strings: ["Cat", "cat", "cat ", "01", "1"])
        #expect(labels.classCount == 5)
        #expect(labels.classSizes() == [1, 1, 1, 1, 1])
    }

    @Test("a single class and no labels")
    func edgeCases() {
        let one = Labels(integers: [4, 4, 4])
        #expect(one.classIndex == [0, 0, 0] && one.classNames == ["4"] && one.classSizes() == [3])
        let none = Labels(strings: [])
        #expect(none.count == 0 && none.classCount == 0 && none.classSizes() == [])
    }

    @Test("labels read from a file encode the same way")
    func fromFiles() throws {
        let dir = try TemporaryDirectory()
        let text = try LabelReader.read(try dir.write("labels.txt", text: "dog\r\ncat\r\ndog\r\nbird\r\n"))
        #expect(text.classIndex == [0, 1, 0, 2] && text.classNames == ["dog", "cat", "bird"])
        let npy = try LabelReader.read(try dir.write("labels.npy", Npy.file(descr: "<i2", shape: [4], data: [
            9, 0, 0xFF, 0xFF, 9, 0, 2, 0,
        ])))
        #expect(npy.classIndex == [0, 1, 0, 2] && npy.classNames == ["9", "-1", "2"])
        #expect(npy.classSizes() == [2, 1, 1])
    }
}

// MARK: - LabeledEmbeddings

@Suite("LabeledEmbeddings")
struct LabeledEmbeddingsTests {
    @Test("a count mismatch names both counts")
    func mismatch() throws {
        expectInputError(.countMismatch, file: "labels", at: nil, mentioning: [
            "one label per row of embeddings (3 labels)", "found 2 labels", "same items in the same order",
        ]) {
            try LabeledEmbeddings(embeddings: Sample.matrix, labels: Labels(strings: ["a", "b"]))
        }
        expectInputError(.countMismatch, file: "l.txt", at: nil, mentioning: ["row of e.npy (3 labels)", "found 4 labels"]) {
            try LabeledEmbeddings(
                embeddings: Sample.matrix, labels: Labels(integers: [1, 2, 3, 4]), embeddingsPath: "e.npy", labelsPath: "l.txt")
        }
    }

    @Test("reading both files")
    func read() throws {
        let dir = try TemporaryDirectory()
        let emb = try dir.write("emb.npy", Npy.float32(Sample.matrix))
        let good = try dir.write("labels.txt", text: "x\ny\nx\n")
        let pair = try LabeledEmbeddings.read(embeddings: emb, labels: good)
        #expect(bits(pair.embeddings) == bits(Sample.matrix))
        #expect(pair.labels.classIndex == [0, 1, 0])

        let long = try dir.write("long.txt", text: "x\ny\nx\nz\n")
        expectInputError(.countMismatch, file: long, at: nil, mentioning: ["row of \(emb) (3 labels)", "found 4 labels"]) {
            try LabeledEmbeddings.read(embeddings: emb, labels: long)
        }
    }

    @Test("reading with format overrides")
    func readWithFormats() throws {
        let dir = try TemporaryDirectory()
        let emb = try dir.write("emb.dat", Bytes.float32(Sample.matrix.values))
        let labels = try dir.write("labels.dat", Npy.file(descr: "|u1", shape: [2], data: [3, 4]))
        let pair = try LabeledEmbeddings.read(embeddings: emb, labels: labels, format: .raw, dimension: 6, labelFormat: .npy)
        #expect(pair.embeddings.rows == 2 && pair.embeddings.columns == 6)
        #expect(pair.labels.values == .integers([3, 4]))
    }

    @Test("an error in either file is reported for that file")
    func fileErrors() throws {
        let dir = try TemporaryDirectory()
        let emb = try dir.write("emb.npy", Npy.float32(Sample.matrix))
        let labels = try dir.write("labels.txt", text: "x\n\ny\n")
        let missing = dir.path("missing.npy")
        expectInputError(.cannotOpen, file: missing, at: nil) {
            try LabeledEmbeddings.read(embeddings: missing, labels: labels)
        }
        expectInputError(.badLabel, file: labels, at: .line(2)) {
            try LabeledEmbeddings.read(embeddings: emb, labels: labels)
        }
    }
}
