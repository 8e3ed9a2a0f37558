import Foundation
import Testing

/// What a PyTorch or Hugging Face user saves, read by the built binary: the same metrics as
/// the float32 .npy of the same values, and one error line for each kind of broken file.
@Suite("Input formats, end to end")
struct FormatEndToEndTests {
    static let metrics = ["--recall", "1,4", "--map-r", "--ndcg", "8"]

    func means(_ arguments: [String]) throws -> [String: Double] {
        let r = try dmleval(arguments + Self.metrics + ["--format", "json", "--no-store"])
        #expect(r.status == 0, "\(r.stderr)")
        let metrics = try #require(try jsonObject(r.stdout)["metrics"] as? [String: Double])
        #expect(metrics.count == 4)
        return metrics
    }

    @Test func everyFormatScoresAsTheFloat32Npy() throws {
        let f = "fixtures/formats/"
        let expected = try means([f + "reference.npy", f + "labels.npy"])
        #expect(expected["recall@1"]! > 0.5 && expected["recall@1"]! < 0.95)
        for arguments in [
            [f + "float16.npy", f + "labels.npy"],
            [f + "fortran.npy", f + "labels.npy"],
            [f + "big-endian-float16.npy", f + "labels.npy"],
            [f + "deflated.npz", "--labels-array", "labels"],
            [f + "stored.npz", "--array", "emb", "--labels-array", "labels"],
            [f + "bfloat16.safetensors", "--tensor", "emb", "--labels-array", "labels"],
            [f + "float16.safetensors", "--labels-array", "labels"],
        ] {
            #expect(try means(arguments) == expected, "\(arguments)")
        }
    }

    @Test("bad files: one line naming the file, member or tensor, and byte; exit 2; nothing stored", arguments: [
        (["bad-float16-inf.npy", "labels.npy"], "bad-float16-inf.npy: byte 210: expected finite float16 values, found inf at row 3, column 5"),
        (["bad-member.npz", "labels.npy"], "bad-member.npz: member 'emb.npy': byte 0: expected a .npy array"),
        (["bad-truncated-header.safetensors", "labels.npy"], "bad-truncated-header.safetensors: byte 8: expected a JSON header of 128 bytes"),
        (["bad-past-end.safetensors", "--labels-array", "labels"], "bad-past-end.safetensors: tensor 'emb': byte 6856: expected data inside the file"),
    ])
    func badFiles(_ arguments: [String], _ message: String) throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = dir.appendingPathComponent("s.sqlite").path
        let files = arguments.map { $0.contains(".") ? "fixtures/formats/" + $0 : $0 }
        let r = try dmleval(files + ["--store", store])
        #expect(r.status == 2)
        #expect(r.stdout.isEmpty)
        #expect(r.stderr.hasPrefix("error: fixtures/formats/" + message), "\(r.stderr)")
        #expect(r.stderr.filter { $0 == "\n" }.count == 1, "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: store))
    }

    @Test func labelsLeftOutNeedLabelsArray() throws {
        let r = try dmleval(["fixtures/formats/stored.npz", "--no-store"])
        #expect(r.status == 64)
        #expect(r.stderr.contains("--labels-array NAME"))
    }
}
