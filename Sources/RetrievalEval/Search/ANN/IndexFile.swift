import CKernels

/// The byte form of an approximate index, in a file or a store BLOB.
///
/// Layout (little-endian): an 8-byte magic naming the kind (`DMLHNSW1`, `DMLIVF01`), then the
/// kind's header and arrays (see `HNSWIndex.serialized`, `IVFIndex.serialized`). Vectors are
/// not included: an index is loaded onto the vectors it was built on, which are checked by the
/// hash in the header.
public enum IndexFile {
    /// Reads an index from `bytes` onto `vectors` (as given, before any normalisation).
    ///
    /// - Parameter name: the file or BLOB's name for error messages.
    /// - Throws: `InputError` for anything malformed, or for vectors other than the index's.
    public static func load(_ bytes: [UInt8], vectors: Matrix, name: String) throws -> any VectorIndex {
        var reader = ByteReader(bytes: bytes, name: name)
        switch try readKind(&reader) {
        case .hnsw: return try HNSWIndex.load(&reader, vectors: vectors)
        default: return try IVFIndex.load(&reader, vectors: vectors)
        }
    }

    /// The kind an index's magic names (hnsw or ivf).
    static func readKind(_ reader: inout ByteReader) throws -> IndexKind {
        let magic = try reader.bytes(8, what: "an 8-byte magic DMLHNSW1 or DMLIVF01")
        switch magic {
        case Array("DMLHNSW1".utf8): return .hnsw
        case Array("DMLIVF01".utf8): return .ivf
        default:
            throw InputError(
                .unknownFormat, file: reader.name, at: .byte(0), expected: "an index starting with DMLHNSW1 or DMLIVF01",
                found: "bytes \(magic.map { String($0, radix: 16) }.joined(separator: " "))",
                remedy: "pass a file written by 'dmleval index build -o'")
        }
    }

    /// Reads an index file from disk.
    public static func read(_ path: String, vectors: Matrix) throws -> any VectorIndex {
        let file = try BinaryFile(path: path)
        let length = file.size
        var bytes = [UInt8](repeating: 0, count: length)
        try bytes.withUnsafeMutableBytes { try file.read(into: $0, count: length, at: 0) }
        return try load(bytes, vectors: vectors, name: path)
    }

    /// Writes `index` to `path` atomically.
    public static func write(_ index: any VectorIndex, to path: String) throws {
        let bytes = index.serialized()
        try ArrayWriter.write(path: path) { out in try out.append(bytes) }
    }

    /// Checks that `vectors` are the ones the index was built on.
    static func checkVectors(_ vectors: Matrix, count: Int, dimension: Int, hash: UInt64, name: String) throws {
        guard vectors.rows == count && vectors.columns == dimension else {
            throw InputError(
                .countMismatch, file: name, expected: "embeddings of \(count) x \(dimension), the index's",
                found: "\(vectors.rows) x \(vectors.columns)", remedy: "load the index onto the embeddings it was built on, or build a new one")
        }
        guard HNSWIndex.vectorHash(vectors) == hash else {
            throw InputError(
                .countMismatch, file: name, expected: "the embeddings the index was built on (hash \(String(hash, radix: 16)))",
                found: "other embeddings of the same shape (hash \(String(HNSWIndex.vectorHash(vectors), radix: 16)))",
                remedy: "load the index onto the embeddings it was built on, or build a new one")
        }
    }
}

/// Appends little-endian values.
struct ByteWriter {
    var bytes: [UInt8] = []

    mutating func append(_ text: String) { bytes += Array(text.utf8) }
    mutating func append<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes += $0 }
    }
    mutating func append(_ value: Float) { append(value.bitPattern) }
    mutating func append<T: FixedWidthInteger>(contentsOf values: UnsafeBufferPointer<T>) {
        #if _endian(little)
        bytes += UnsafeRawBufferPointer(values)
        #else
        for v in values { append(v) }
        #endif
    }
    mutating func append(contentsOf values: UnsafeBufferPointer<Float>) {
        values.withMemoryRebound(to: UInt32.self) { append(contentsOf: $0) }
    }
}

/// Reads little-endian values, with errors naming the byte offset.
struct ByteReader {
    let bytes: [UInt8]
    let name: String
    private(set) var offset = 0

    init(bytes: [UInt8], name: String) {
        self.bytes = bytes
        self.name = name
    }

    func error(_ expected: String, found: String, at: Int? = nil) -> InputError {
        InputError(.badHeader, file: name, at: .byte(at ?? offset), expected: expected, found: found,
                   remedy: "the index is damaged or from another version: build it again with 'dmleval index build'")
    }

    mutating func bytes(_ n: Int, what: String) throws -> [UInt8] {
        guard n >= 0, bytes.count - offset >= n else {
            throw error(what, found: "the end of the data (\(bytes.count) bytes)")
        }
        defer { offset += n }
        return Array(bytes[offset ..< offset + n])
    }

    mutating func integer<T: FixedWidthInteger>(_: T.Type, what: String) throws -> T {
        let size = MemoryLayout<T>.size
        guard bytes.count - offset >= size else { throw error(what, found: "the end of the data (\(bytes.count) bytes)") }
        var value: T = 0
        withUnsafeMutableBytes(of: &value) { v in
            for i in 0 ..< size { v[i] = bytes[offset + i] }
        }
        offset += size
        return T(littleEndian: value)
    }

    /// `count` integers into a new array.
    mutating func array<T: FixedWidthInteger>(_: T.Type, count: Int, what: String) throws -> [T] {
        let size = MemoryLayout<T>.size
        guard count >= 0, count <= (bytes.count - offset) / size else {
            throw error("\(what): \(count) values of \(size) bytes", found: "\(bytes.count - offset) bytes left")
        }
        var values = [T](repeating: 0, count: count)
        values.withUnsafeMutableBytes { v in
            bytes.withUnsafeBytes { b in
                v.copyMemory(from: UnsafeRawBufferPointer(rebasing: b[offset ..< offset + count * size]))
            }
        }
        offset += count * size
        #if !_endian(little)
        for i in values.indices { values[i] = T(littleEndian: values[i]) }
        #endif
        return values
    }

    mutating func floats(count: Int, what: String) throws -> [Float] {
        try array(UInt32.self, count: count, what: what).map(Float.init(bitPattern:))
    }

    func expectEnd() throws {
        guard offset == bytes.count else {
            throw error("the end of the index", found: "\(bytes.count - offset) more bytes")
        }
    }
}

/// What an index file holds, read from its header alone.
public struct IndexFileHeader: Sendable {
    /// HNSW or IVF.
    public let kind: IndexKind
    /// The similarity the index was built for.
    public let distance: Distance
    /// The number of references indexed.
    public let count: Int
    /// The dimension of the vectors.
    public let dimension: Int
    /// The build settings, as stored with runs and indexes.
    public let settings: [(String, String)]
    /// The hash of the vectors the index was built on: it loads only onto the same vectors.
    public let vectorHash: UInt64
    /// The size of the file, in bytes.
    public let bytes: Int
}

extension IndexFile {
    /// Reads the header of an index file (no vectors needed).
    public static func header(_ path: String) throws -> IndexFileHeader {
        let file = try BinaryFile(path: path)
        let length = min(file.size, 256)
        var bytes = [UInt8](repeating: 0, count: length)
        try bytes.withUnsafeMutableBytes { try file.read(into: $0, count: length, at: 0) }
        var r = ByteReader(bytes: bytes, name: path)
        let kind = try readKind(&r)
        // The same reading and checks as loading, without the vectors.
        let distance: Distance, count: Int, dimension: Int, settings: [(String, String)], hash: UInt64
        if kind == .hnsw {
            let h = try HNSWIndex.readHeader(&r)
            (distance, count, dimension, settings, hash) = (h.distance, h.count, h.dimension, h.parameters.description, h.hash)
        } else {
            let h = try IVFIndex.readHeader(&r)
            (distance, count, dimension, settings, hash) = (h.distance, h.count, h.dimension, h.parameters.description(references: h.count), h.hash)
        }
        return IndexFileHeader(kind: kind, distance: distance, count: count, dimension: dimension,
                               settings: settings, vectorHash: hash, bytes: file.size)
    }

    /// The instruction set the distance kernels use on this machine.
    public static var kernelInstructionSet: String { String(cString: dmle_kernel_isa()) }
}
