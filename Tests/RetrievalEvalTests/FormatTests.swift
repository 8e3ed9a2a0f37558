import Foundation
import Testing
@testable import RetrievalEval

/// float16, bfloat16, Fortran order, big-endian, .npz and .safetensors: every reader checked
/// against the float32 .npy of the same values (fixtures/formats, made by
/// scripts/make-format-fixtures.py with numpy, PyTorch and safetensors).
@Suite("Input formats: float16, Fortran order, big-endian, .npz, .safetensors")
struct FormatTests {
    static let folder = repositoryRoot.appendingPathComponent("fixtures/formats").path
    static func fixture(_ name: String) -> String { "\(folder)/\(name)" }

    @Test("float16 widens exactly: all 63,488 finite bit patterns against Swift's Float16")
    func halfWidening() {
        var checked = 0
        for bits in 0 ... UInt16.max {
            let oracle = Float(Float16(bitPattern: bits))
            let mine = StoredFloat.widen(half: bits)
            if oracle.isNaN {
                #expect(mine.isNaN)
            } else {
                #expect(mine.bitPattern == oracle.bitPattern, "bits \(bits)")
                if oracle.isFinite { checked += 1 }
            }
        }
        #expect(checked == 63_488)
    }

    @Test("bfloat16 is the top half of a float32")
    func bfloatWidening() {
        #expect(StoredFloat.widen(bfloat: 0x3F80) == 1)
        #expect(StoredFloat.widen(bfloat: 0xC020) == -2.5)
        #expect(StoredFloat.widen(bfloat: 0x0001) == Float(bitPattern: 0x0001_0000))
        #expect(StoredFloat.widen(bfloat: 0x7F80) == .infinity)
    }

    @Test("float16, float64 and big-endian .npy in C order", arguments: ["<f2", ">f2", ">f4", "<f8", ">f8"])
    func cOrder(descr: String) throws {
        let dir = try TemporaryDirectory()
        let m = Sample.halfExact
        let path = try dir.write("emb.npy", Npy.file(descr: descr, shape: [3, 4], data: Bytes.encode(m.values, descr: descr)))
        #expect(bits(try EmbeddingReader.read(path)) == bits(m))
    }

    // MARK: - The fixtures: each equal to reference.npy

    static let reference = Result { try LabeledEmbeddings.read(embeddings: fixture("reference.npy"), labels: fixture("labels.npy")) }

    @Test("each fixture holds reference.npy's values and labels, and scores the same", arguments: [
        ("float16.npy", "labels.npy", nil, nil),
        ("fortran.npy", "labels.npy", nil, nil),
        ("big-endian.npy", "labels.npy", nil, nil),
        ("big-endian-float16.npy", "labels.npy", nil, nil),
        ("stored.npz", nil, "emb", "labels"),
        ("deflated.npz", nil, nil, "labels"),
        ("single.npz", "labels.npy", nil, nil),
        ("stored.npz", "deflated.npz", "emb", "labels"),
        ("float32.safetensors", nil, nil, "labels"),
        ("float16.safetensors", nil, "emb", "labels"),
        ("bfloat16.safetensors", nil, nil, "labels"),
        ("single.safetensors", "labels.npy", nil, nil),
    ] as [(String, String?, String?, String?)])
    func fixtureMatchesReference(file: String, labels: String?, array: String?, labelsArray: String?) throws {
        let reference = try Self.reference.get()
        let data = try LabeledEmbeddings.read(
            embeddings: Self.fixture(file), labels: labels.map(Self.fixture), array: array, labelsArray: labelsArray)
        #expect(data.embeddings.rows == 120 && data.embeddings.columns == 12)
        #expect(bits(data.embeddings) == bits(reference.embeddings))
        #expect(data.labels.classIndex == reference.labels.classIndex)
        #expect(data.labels.classNames == reference.labels.classNames)
        let metrics: [Metric] = [.recall(k: 1, convention: .hit), .recall(k: 4, convention: .hit), .mapAtR, .ndcg(k: 8)]
        let expected = try RetrievalEvaluation.run(references: reference, metrics: metrics, threads: 1).report
        let found = try RetrievalEvaluation.run(references: data, metrics: metrics, threads: 1).report
        #expect(found.means == expected.means)
        #expect(found.perQuery == expected.perQuery)
        // The data are not trivially separable: a test that could not fail would pass here too.
        #expect(expected.means[0] > 0.5 && expected.means[0] < 0.95)
    }

    // MARK: - Bad input: one line naming the file, the member or tensor, and the byte

    @Test("float16 infinity: the byte, row and column")
    func halfInfinity() {
        let path = Self.fixture("bad-float16-inf.npy")
        // Header of 128 bytes; row 3, column 5 of 12 columns of 2 bytes: 128 + 2 * (3 * 12 + 5).
        expectInputError(.nonFinite, file: path, at: .byte(210), mentioning: ["finite float16 values", "found inf at row 3, column 5", "float32"]) {
            try EmbeddingReader.read(path)
        }
    }

    @Test("a .npz member that is not an array")
    func memberNotArray() {
        let path = Self.fixture("bad-member.npz")
        expectInputError(.badHeader, file: "\(path): member 'emb.npy'", at: .byte(0), mentioning: ["a .npy array", "\"not an\"", "--array"]) {
            try EmbeddingReader.read(path)
        }
    }

    @Test("a truncated safetensors header")
    func truncatedHeader() {
        let path = Self.fixture("bad-truncated-header.safetensors")
        expectInputError(.badHeader, file: path, at: .byte(8), mentioning: ["a JSON header of 128 bytes", "found 64 bytes", "truncated"]) {
            try EmbeddingReader.read(path)
        }
    }

    @Test("a safetensors header that points past the end of the file")
    func pastEnd() {
        let path = Self.fixture("bad-past-end.safetensors")
        expectInputError(.wrongSize, file: "\(path): tensor 'emb'", at: .byte(6856), mentioning: ["ends at byte 6756", "data_offsets [960, 6720]"]) {
            try EmbeddingReader.read(path, array: "emb")
        }
    }

    @Test("choosing an array: the only one, a wrong name, several without a name")
    func choosing() throws {
        let stored = Self.fixture("stored.npz")
        expectInputError(.badShape, file: stored, at: nil, mentioning: ["one array, or --array NAME", "2 arrays ('emb', 'labels')"]) {
            try EmbeddingReader.read(stored)
        }
        expectInputError(.badShape, file: stored, at: nil, mentioning: ["an array named 'x'", "'emb', 'labels'"]) {
            try EmbeddingReader.read(stored, array: "x")
        }
        // "emb" and "emb.npy" name the same member.
        #expect(bits(try EmbeddingReader.read(stored, array: "emb.npy")) == bits(try Self.reference.get().embeddings))
        let tensors = Self.fixture("float16.safetensors")
        expectInputError(.badShape, file: tensors, at: nil, mentioning: ["one tensor, or --tensor NAME", "2 tensors"]) {
            try EmbeddingReader.read(tensors)
        }
        // Labels must be integers; embeddings floats.
        expectInputError(.unsupportedType, file: "\(tensors): tensor 'emb'", at: .byte(8), mentioning: ["integer dtype", "found dtype F16"]) {
            try LabelReader.read(tensors, member: "emb")
        }
        expectInputError(.unsupportedType, file: "\(tensors): tensor 'labels'", at: .byte(8), mentioning: ["F32, F16 or BF16", "found dtype I64"]) {
            try EmbeddingReader.read(tensors, array: "labels")
        }
    }

    @Test("a safetensors header that is not JSON, and one that claims more than the file holds")
    func damagedHeaders() throws {
        let dir = try TemporaryDirectory()
        let notJSON = try dir.write("a.safetensors", Bytes.le(UInt64(4)) + Bytes.utf8("{x: ") + [0, 0])
        expectInputError(.badHeader, file: notJSON, at: .byte(8), mentioning: ["a JSON header", "not JSON"]) {
            try EmbeddingReader.read(notJSON)
        }
        let huge = try dir.write("b.safetensors", Bytes.le(UInt64.max) + Bytes.utf8("{}"))
        expectInputError(.badHeader, file: huge, at: .byte(0), mentioning: ["at most 100 MB"]) {
            try EmbeddingReader.read(huge)
        }
        let header = #"{"emb": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 12]}}"#
        let short = try dir.write("c.safetensors", Bytes.le(UInt64(header.utf8.count)) + Bytes.utf8(header) + [UInt8](repeating: 0, count: 12))
        expectInputError(.wrongSize, file: "\(short): tensor 'emb'", at: .byte(8 + header.utf8.count), mentioning: ["16 bytes for shape [2, 2] F32", "spanning 12 bytes"]) {
            try EmbeddingReader.read(short)
        }
    }

    @Test("not a zip archive, and a truncated one")
    func notZip() throws {
        let dir = try TemporaryDirectory()
        let text = try dir.write("a.npz", Bytes.utf8(String(repeating: "hello ", count: 10)))
        expectInputError(.badHeader, file: text, at: .byte(0), mentioning: ["a zip archive", "not a .npz file"]) {
            try EmbeddingReader.read(text)
        }
        let whole = try Data(contentsOf: URL(fileURLWithPath: Self.fixture("stored.npz")))
        let cut = try dir.write("b.npz", Array(whole.prefix(whole.count - 40)))
        expectInputError(.badHeader, file: cut, at: nil, mentioning: ["a readable zip archive", "truncated or damaged"]) {
            try EmbeddingReader.read(cut)
        }
    }
}
