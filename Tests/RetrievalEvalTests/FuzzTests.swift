// A seeded mutation fuzzer for the readers of untrusted files: .npy and .fbin headers, label
// files and baseline JSON. Each input is a valid file mutated a few times (bytes flipped,
// set to boundary values, inserted, deleted, runs duplicated, the file cut short); every
// reader must either return or throw, never trap or hang.
//
// It runs for DMLEVAL_FUZZ_SECONDS (default 2) per reader in `make test`, and longer with
// `make fuzz`. Before each input is read it is written to Tests/Fixtures/fuzz/pending-KIND;
// a crash kills the test process and leaves that file behind, which is the crashing input.
// The next run renames it crash-KIND-TIME (commit it with the fix), and
// `replaysRecordedCrashes` reads every such file from then on.

import Foundation
import RetrievalEval
import Testing

@Suite("Fuzzing the readers of untrusted files", .serialized)
struct FuzzTests {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/fuzz")
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static var seconds: Double {
        ProcessInfo.processInfo.environment["DMLEVAL_FUZZ_SECONDS"].flatMap(Double.init) ?? 2
    }

    /// What each kind of input is read with.
    enum Kind: String, CaseIterable, Sendable {
        case npy, fbin, labels, baseline

        var fileExtension: String {
            switch self {
            case .npy: "npy"
            case .fbin: "fbin"
            case .labels: "txt"
            case .baseline: "json"
            }
        }

        func read(_ path: String) {
            switch self {
            case .npy, .fbin: _ = try? EmbeddingReader.read(path, format: nil, dimension: nil)
            case .labels: _ = try? LabelReader.read(path)
            case .baseline: _ = try? Baseline.read(path)
            }
        }

        /// The valid files mutations start from.
        func seeds() throws -> [[UInt8]] {
            switch self {
            case .npy:
                var seeds: [[UInt8]] = []
                for (descr, shape, bytes) in [("<f4", "(3, 2)", 24), ("<f8", "(2, 3)", 48), ("<f4", "(4,)", 16), ("<i8", "(2, 2)", 32)] {
                    var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shape), }"
                    while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
                    header += "\n"
                    let length = UInt16(header.utf8.count)
                    seeds.append([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(length & 0xFF), UInt8(length >> 8)]
                                 + Array(header.utf8) + [UInt8](repeating: 0x3F, count: bytes))
                }
                return seeds
            case .fbin:
                return [[3, 0, 0, 0, 2, 0, 0, 0] + [UInt8](repeating: 0x3F, count: 24),
                        [1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0x80, 0x3F]]
            case .labels:
                return [Array("a\nb\na\nc\n".utf8), Array("\u{FEFF}1\r\n2\r\n 3 \r\n".utf8), Array("é\n日本\nx".utf8)]
            case .baseline:
                return [Array(try Data(contentsOf: repository.appendingPathComponent("fixtures/baseline-digits.json")).prefix(6000))
                        + Array("\n".utf8),
                        Array(try Data(contentsOf: repository.appendingPathComponent("fixtures/baseline-digits.json")))]
            }
        }
    }

    /// A few seeded mutations of `seed`.
    static func mutate(_ seed: [UInt8], _ rng: inout SplitMix64) -> [UInt8] {
        var bytes = seed
        let interesting: [UInt8] = [0, 1, 0x7F, 0x80, 0xFF, 0x22, 0x2C, 0x0A, 0x2D, 0x39, 0x7B, 0x7D, 0x5B, 0x5D]
        for _ in 0 ..< 1 + Int(rng.next() % 4) {
            let position = bytes.isEmpty ? 0 : Int(rng.next() % UInt64(bytes.count))
            switch rng.next() % 7 {
            case 0 where !bytes.isEmpty: bytes[position] ^= UInt8(1 << (rng.next() % 8))
            case 1 where !bytes.isEmpty: bytes[position] = interesting[Int(rng.next() % UInt64(interesting.count))]
            case 2: bytes.insert(UInt8(truncatingIfNeeded: rng.next()), at: position)
            case 3 where !bytes.isEmpty: bytes.remove(at: position)
            case 4: bytes = Array(bytes.prefix(position))
            case 5 where bytes.count > position + 4:
                // A header field set to a boundary: 0, -1 or the largest 32-bit value.
                let value: UInt32 = [0, UInt32.max, UInt32(Int32.max), 0x8000_0000][Int(rng.next() % 4)]
                for b in 0 ..< 4 { bytes[position + b] = UInt8((value >> (8 * UInt32(b))) & 0xFF) }
            default:
                let length = min(bytes.count - position, 1 + Int(rng.next() % 16))
                bytes.insert(contentsOf: bytes[position ..< position + length], at: position)
            }
        }
        return bytes
    }

    @Test(arguments: Kind.allCases)
    func readersNeverTrap(_ kind: Kind) throws {
        try FileManager.default.createDirectory(at: Self.folder, withIntermediateDirectories: true)
        let pending = Self.folder.appendingPathComponent("pending-\(kind.rawValue).\(kind.fileExtension)")
        if FileManager.default.fileExists(atPath: pending.path) {
            // Left by a run that crashed on it: keep it as a recorded crash.
            let stamp = Int(Date().timeIntervalSince1970)
            try FileManager.default.moveItem(at: pending, to: Self.folder.appendingPathComponent("crash-\(kind.rawValue)-\(stamp)"))
            Issue.record("a previous fuzzing run crashed on an input, kept as crash-\(kind.rawValue)-\(stamp) in Tests/Fixtures/fuzz")
        }
        let seeds = try kind.seeds()
        var rng = SplitMix64(seed: 0xD31E_7A1 &+ UInt64(kind.rawValue.utf8.count))
        let deadline = Date().addingTimeInterval(Self.seconds)
        var count = 0
        while Date() < deadline || count < 200 {
            let input = Self.mutate(seeds[count % seeds.count], &rng)
            try Data(input).write(to: pending)
            kind.read(pending.path)
            count += 1
        }
        try FileManager.default.removeItem(at: pending)
        #expect(count >= 200)
    }

    /// Every crashing input found so far (`crash-KIND-*`), read again.
    @Test func replaysRecordedCrashes() throws {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: Self.folder.path)) ?? []
        var replayed = 0
        for name in names where name.hasPrefix("crash-") {
            let kindName = name.dropFirst("crash-".count).prefix { $0 != "-" }
            let kind = try #require(Kind(rawValue: String(kindName)), "\(name): unknown kind")
            // The reader picks the format by extension: read a copy under the kind's extension.
            let copy = FileManager.default.temporaryDirectory.appendingPathComponent("\(UUID().uuidString).\(kind.fileExtension)")
            try FileManager.default.copyItem(at: Self.folder.appendingPathComponent(name), to: copy)
            defer { try? FileManager.default.removeItem(at: copy) }
            kind.read(copy.path)
            replayed += 1
        }
        #expect(replayed == names.filter { $0.hasPrefix("crash-") }.count)
    }
}
