import Foundation
import Testing

@Suite("dmleval loss, end to end")
struct LossCommandTests {
    /// Writes a small .npy of float32 (rows x columns) or int64 (one column) values.
    func npy(_ values: [Double], rows: Int, columns: Int, integer: Bool, to url: URL) throws {
        let descr = integer ? "<i8" : "<f4"
        let shape = columns == 1 && integer ? "(\(rows),)" : "(\(rows), \(columns))"
        var dict = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shape), }"
        dict += String(repeating: " ", count: (64 - (10 + dict.utf8.count + 1) % 64) % 64) + "\n"
        var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(dict.utf8.count & 0xFF), UInt8(dict.utf8.count >> 8)])
        data.append(Data(dict.utf8))
        for v in values {
            if integer {
                var x = Int64(v).littleEndian
                data.append(Data(bytes: &x, count: 8))
            } else {
                var x = Float(v).bitPattern.littleEndian
                data.append(Data(bytes: &x, count: 4))
            }
        }
        try data.write(to: url)
    }

    @Test func valueAndGradientFilesForMPAAP() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let e = (0 ..< 6 * 4).map { sin(Double($0)) }, p = (0 ..< 2 * 3 * 4).map { cos(Double($0) * 0.7) }
        try npy(e, rows: 6, columns: 4, integer: false, to: dir.appendingPathComponent("e.npy"))
        try npy(p, rows: 6, columns: 4, integer: false, to: dir.appendingPathComponent("p.npy"))
        try npy([0, 1, 0, 1, 1, 0], rows: 6, columns: 1, integer: true, to: dir.appendingPathComponent("l.npy"))
        let r = try dmleval(["loss", "--loss", "mpa-ap", "e.npy", "l.npy", "--proxy-file", "p.npy", "--proxies", "3",
                             "--json", "--grad-out", "out/grads"], in: dir)
        #expect(r.status == 0, "\(r.stderr)")
        let value = try #require((try jsonObject(r.stdout))["loss"] as? Double)
        #expect(value.isFinite && value > 0)
        for (name, rows) in [("grad_embeddings.npy", 6), ("grad_proxies.npy", 6)] {
            // --grad-out made its missing folders.
            let data = try Data(contentsOf: dir.appendingPathComponent("out/grads").appendingPathComponent(name))
            let start = 10 + Int(data[8]) + Int(data[9]) << 8
            let header = String(decoding: data[10 ..< start], as: UTF8.self)
            #expect(header.contains("'descr': '<f8'") && header.contains("'shape': (\(rows), 4)"))
            #expect(data.count == start + rows * 4 * 8)
        }
    }

    @Test(arguments: [
        (["--loss", "proxy-anchor", "--proxies", "3"], 64, "proxy-anchor has one proxy per class"),
        (["--loss", "mpa", "--lambda", "2"], 64, "mpa has no setting --lambda"),
        (["--loss", "mpa", "--proxies", "4"], 2, "expected a multiple of K = 4 rows"),
        (["--loss", "mpa", "--proxies", "1"], 2, "expected an integer class in [0, 6)"),
    ])
    func badInput(_ arguments: [String], _ status: Int32, _ message: String) throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try npy((0 ..< 12).map(Double.init), rows: 3, columns: 4, integer: false, to: dir.appendingPathComponent("e.npy"))
        try npy((0 ..< 24).map { Double($0 % 5) + 1 }, rows: 6, columns: 4, integer: false, to: dir.appendingPathComponent("p.npy"))
        try npy([0, 1, 9], rows: 3, columns: 1, integer: true, to: dir.appendingPathComponent("l.npy"))
        let r = try dmleval(["loss", "e.npy", "l.npy", "--proxy-file", "p.npy"] + arguments, in: dir)
        #expect(r.status == status)
        #expect(r.stderr.contains(message), "\(r.stderr)")
    }
}
