import Foundation
import Testing
@testable import RetrievalEval
import RetrievalEvalStore

/// References read from a mapped file, tile by tile, against the same rows loaded into memory:
/// lists, scores and metrics the same bit for bit, for every mappable format, distance, mode,
/// path, tile size and thread count; the file's hash and errors those of the loading reader.
@Suite("References streamed from a mapped file")
struct StreamedSearchTests {
    /// An odd dimension (tails in every SIMD loop), duplicates (exact ties).
    static let data = floatMatrix(rows: 157, columns: 19, duplicates: 9, seed: 41)
    static let queries = floatMatrix(rows: 45, columns: 19, duplicates: 0, seed: 42)
    static let formats: [EmbeddingFormat] = [.npy, .fbin, .fvecs, .raw]

    /// `matrix` written as `format` in a fresh folder.
    static func write(_ matrix: Matrix, as format: EmbeddingFormat, name: String = "x") throws -> String {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("streamed-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let values = Bytes.float32(matrix.values)
        switch format {
        case .npy:
            let path = folder + "/\(name).npy"
            try ArrayWriter.writeNpy(matrix, to: path)
            return path
        case .fbin:
            let path = folder + "/\(name).fbin"
            try ArrayWriter.writeFbin(matrix, to: path)
            return path
        case .fvecs:
            var bytes: [UInt8] = []
            for r in 0 ..< matrix.rows {
                bytes += Bytes.le(Int32(matrix.columns)) + Bytes.float32(matrix.row(r))
            }
            let path = folder + "/\(name).fvecs"
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            return path
        default:
            let path = folder + "/\(name).raw"
            try Data(values).write(to: URL(fileURLWithPath: path))
            return path
        }
    }

    static func map(_ matrix: Matrix, as format: EmbeddingFormat) throws -> MappedEmbeddings {
        try MappedEmbeddings(path: write(matrix, as: format), dimension: format == .raw ? matrix.columns : nil)
    }

    struct Case: Sendable, CustomTestStringConvertible {
        let format: EmbeddingFormat
        let distance: Distance
        let selfRetrieval: Bool
        var testDescription: String { "\(format) \(distance) \(selfRetrieval ? "self" : "query/reference")" }
    }

    static let cases: [Case] = formats.flatMap { f in
        Distance.allCases.flatMap { d in [true, false].map { Case(format: f, distance: d, selfRetrieval: $0) } }
    }

    @Test("lists and scores are those of the loaded matrix, bit for bit", arguments: cases)
    func sameLists(_ c: Case) throws {
        let mapped = try Self.map(Self.data, as: c.format)
        let queries = c.selfRetrieval ? nil : Self.queries
        for tile in [7, 37, 1024] {
            for threads in [1, 2] {
                for path in [ExactSearchPath.candidates, .rows] {
                    var memory = try ExactSearch(references: Self.data, queries: queries, distance: c.distance,
                                                 tileSize: tile, threads: threads)
                    // sgemm's products on one thread count, the canonical kernel's on the other.
                    memory.productKernel = threads == 1 ? .blas : .canonical
                    var streamed = try ExactSearch(references: .mapped(mapped), queries: queries.map { .matrix($0) },
                                                   distance: c.distance, tileSize: tile, threads: threads)
                    #expect(streamed.streamsReferences)
                    // Blocks of two tiles of copied queries: several blocks even on this small set.
                    streamed.queryBlockBytes = 2 * tile * 4 * Self.data.columns
                    memory.path = path
                    streamed.path = path
                    streamed.productKernel = memory.productKernel
                    streamed.rowBlockRows = 13
                    memory.rowBlockRows = 13
                    let k = path == .rows ? 60 : 11
                    let expected = try memory.search(k: k)
                    let found = try streamed.search(k: k)
                    #expect(found.indices == expected.indices, "tile \(tile), \(threads) threads, \(path)")
                    #expect(found.scores.map(\.bitPattern) == expected.scores.map(\.bitPattern), "tile \(tile), \(threads) threads, \(path)")
                }
            }
        }
        // And the oracle, once.
        let naive = naiveNeighbors(Self.data, queries: queries, distance: c.distance, k: 11)
        let streamed = try ExactSearch(references: .mapped(mapped), queries: queries.map { .matrix($0) }, distance: c.distance, tileSize: 16)
        #expect(lists(try streamed.search(k: 11)) == naive)
    }

    @Test("a range of the rows as queries: the rows' own lists, bit for bit from the file", arguments: [Distance.cosine, .squaredL2])
    func queryRange(_ distance: Distance) throws {
        let mapped = try Self.map(Self.data, as: .fvecs)
        let all = try ExactSearch(references: Self.data, distance: distance, tileSize: 16, threads: 2).search(k: 9)
        for (rows, kernel) in [(0 ..< 157, ExactProductKernel.blas), (40 ..< 97, .blas), (156 ..< 157, .blas), (0 ..< 157, .canonical), (40 ..< 97, .canonical)] {
            var memory = try ExactSearch(references: .matrix(Self.data), queryRows: rows, distance: distance, tileSize: 16, threads: 2)
            var streamed = try ExactSearch(references: .mapped(mapped), queryRows: rows, distance: distance, tileSize: 16, threads: 2)
            memory.productKernel = kernel
            streamed.productKernel = kernel
            streamed.queryBlockBytes = 16 * 4 * 19
            #expect(memory.queryCount == rows.count && memory.availableDepth == 156)
            let a = try memory.search(k: 9), b = try streamed.search(k: 9)
            #expect(a.indices == b.indices)
            #expect(a.scores.map(\.bitPattern) == b.scores.map(\.bitPattern))
            // The same lists as the whole self-retrieval's rows (scores may come from the other
            // side of a symmetric tile, so only the lists are compared).
            #expect(a.indices == Array(all.indices[rows.lowerBound * 9 ..< rows.upperBound * 9]))
            // Itself never among its neighbours.
            for i in 0 ..< rows.count { #expect(!a.indices(of: i).contains(Int32(rows.lowerBound + i))) }
        }
    }

    @Test("metrics from the file equal the loaded matrix's, bit for bit", arguments: formats)
    func sameMetrics(_ format: EmbeddingFormat) throws {
        let labels = Labels(integers: (0 ..< Int64(Self.data.rows)).map { $0 % 7 })
        let queryLabels = Labels(integers: (0 ..< Int64(Self.queries.rows)).map { $0 % 5 })
        let mapped = try Self.map(Self.data, as: format)
        let metrics: [Metric] = [.recall(k: 1), .precision(k: 5), .mapAtR, .rPrecision, .ndcg(k: 10)]
        for queries in [nil, try LabeledEmbeddings(embeddings: Self.queries, labels: queryLabels)] {
            for path in [ExactSearchPath.candidates, .rows] {
                let memory = try RetrievalEvaluation.run(
                    references: LabeledEmbeddings(embeddings: Self.data, labels: labels), queries: queries,
                    metrics: metrics, threads: 2, tileSize: 29, path: path)
                let streamed = try RetrievalEvaluation.run(
                    references: .mapped(mapped), labels: labels, queries: queries, metrics: metrics,
                    threads: 2, tileSize: 29, path: path)
                #expect(streamed.report.means.map(\.bitPattern) == memory.report.means.map(\.bitPattern))
                #expect(streamed.report.perQuery.map { $0.map(\.bitPattern) } == memory.report.perQuery.map { $0.map(\.bitPattern) })
                #expect(streamed.report.means.contains { $0 > 0 })
            }
        }
    }

    @Test("the hash and norms of one pass are the loaded matrix's", arguments: formats)
    func hashAndNorms(_ format: EmbeddingFormat) throws {
        let mapped = try Self.map(Self.data, as: format)
        #expect(mapped.rows == 157 && mapped.columns == 19)
        #expect(mapped.contentHash == Self.data.contentHash())
        #expect(mapped.norms.map(\.bitPattern) == Self.data.rowNorms().map(\.bitPattern))
        let loaded = try EmbeddingReader.read(mapped.path, dimension: format == .raw ? 19 : nil)
        #expect(loaded == Self.data)
    }

    @Test("a non-finite value is the reader's error line, naming the row", arguments: formats)
    func nonFinite(_ format: EmbeddingFormat) throws {
        for bad in [Float.nan, .infinity] {
            var m = Self.data
            m[83, 4] = bad
            m[120, 0] = .nan
            let path = try Self.write(m, as: format)
            let dimension = format == .raw ? 19 : nil
            let readerError = #expect(throws: InputError.self) { try EmbeddingReader.read(path, dimension: dimension) }
            let mappedError = #expect(throws: InputError.self) { try MappedEmbeddings(path: path, dimension: dimension) }
            #expect(mappedError?.description == readerError?.description)
            #expect(mappedError?.description.contains("row 83") == true)
            #expect(mappedError?.description.split(separator: "\n").count == 1)
        }
    }

    @Test("a .fvecs row of another dimension is the reader's error, before a later non-finite value")
    func fvecsOtherDimension() throws {
        var m = Self.data
        m[100, 3] = .nan
        let path = try Self.write(m, as: .fvecs)
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let rowBytes = 4 * 20
        bytes.replaceSubrange(130 * rowBytes ..< 130 * rowBytes + 4, with: Bytes.le(Int32(18)))
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let readerError = #expect(throws: InputError.self) { try EmbeddingReader.read(path) }
        let mappedError = #expect(throws: InputError.self) { try MappedEmbeddings(path: path) }
        #expect(mappedError?.description == readerError?.description)
        #expect(mappedError?.description.contains("row 130") == true)
    }

    @Test("formats that must be converted are not mapped, and say why")
    func unmappable() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("streamed-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let values: [Float] = [1, 2, 3, 4, 5, 6]
        for (descr, fortran, why) in [("<f8", false, "dtype <f8"), ("<f2", false, "dtype <f2"), (">f4", false, "dtype >f4"), ("<f4", true, "Fortran")] {
            let path = folder + "/\(descr.dropFirst())-\(fortran).npy"
            let bytes = Npy.header(Npy.dict(descr: descr, fortranOrder: fortran, shape: [2, 3])) + Bytes.encode(values, descr: descr)
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            #expect(try EmbeddingReader.read(path).rows == 2)
            #expect(try MappedEmbeddings.unmappableReason(path: path)?.contains(why) == true)
            let error = #expect(throws: InputError.self) { try MappedEmbeddings(path: path) }
            #expect(error?.code == .unsupportedLayout)
        }
        let ok = try Self.write(Self.data, as: .npy)
        #expect(try MappedEmbeddings.unmappableReason(path: ok) == nil)
    }

    @Test("a zero row is refused for cosine as from memory")
    func zeroRow() throws {
        var m = Self.data
        for j in 0 ..< 19 { m[12, j] = 0 }
        let mapped = try Self.map(m, as: .fbin)
        let memoryError = #expect(throws: SearchError.self) { try ExactSearch(references: m) }
        let mappedError = #expect(throws: SearchError.self) { try ExactSearch(references: .mapped(mapped)) }
        #expect(mappedError == memoryError)
        #expect(try ExactSearch(references: .mapped(mapped), distance: .squaredL2).search(k: 3).depth == 3)
    }
}
