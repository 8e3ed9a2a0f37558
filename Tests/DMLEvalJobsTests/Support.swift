import Foundation
import DMLEvalJobs
import RetrievalEval
import Testing

/// A temporary folder holding synthetic embeddings, labels and a store, removed afterwards.
final class Scratch {
    let folder: String

    init() throws {
        folder = NSTemporaryDirectory() + "dmleval-jobs-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: folder) }

    func path(_ name: String) -> String { folder + "/" + name }

    /// The store of this folder (created on first use).
    var store: StoreLocation { StoreLocation(path: path("store.sqlite"), toolVersion: "0.0-test") }

    /// Writes `classes` clusters of `perClass` points in `dimensions` dimensions (each class
    /// around its own random centre, `noise` apart) as NAME.npy and NAME.txt.
    /// - Returns: the embeddings' and labels' paths.
    @discardableResult
    func clusters(_ name: String, classes: Int = 4, perClass: Int = 12, dimensions: Int = 8, noise: Float = 0.6,
                  seed: UInt64 = 1, labelOrder: [Int]? = nil) throws -> (embeddings: String, labels: String) {
        var random = Generator(seed: seed)
        let centres = (0 ..< classes).map { _ in (0 ..< dimensions).map { _ in random.uniform() * 2 - 1 } }
        var values: [Float] = []
        var labels: [String] = []
        for i in 0 ..< classes * perClass {
            let c = labelOrder?[i] ?? i % classes
            values += centres[c].map { $0 + noise * (random.uniform() * 2 - 1) }
            labels.append("class\(c)")
        }
        let embeddings = path(name + ".npy"), labelsPath = path(name + ".txt")
        try ArrayWriter.writeNpy(Matrix(rows: classes * perClass, columns: dimensions, values: values), to: embeddings)
        try (labels.joined(separator: "\n") + "\n").write(toFile: labelsPath, atomically: true, encoding: .utf8)
        return (embeddings, labelsPath)
    }
}

/// A small seeded generator (SplitMix64) for the synthetic data.
struct Generator {
    var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    mutating func uniform() -> Float { Float(next() >> 40) / Float(1 << 24) }
}
