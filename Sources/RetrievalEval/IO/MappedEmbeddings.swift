#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Embeddings read in place from a memory-mapped file (.npy, .fbin, .fvecs or raw float32),
/// for sets larger than the memory a process has: the pages are the file's, which the kernel
/// drops and reads again as it needs, so they are not the process's anonymous memory.
///
/// Opening validates the file as `EmbeddingReader` does (header, size, every .fvecs row's
/// dimension, finite values, the first bad row named), and in the same single pass computes
/// the content hash (the one a loaded `Matrix` gets: the same bytes hashed) and every row's norm.
/// The exact search then copies the rows it needs into its own tiles (normalised for cosine),
/// so its results are the same, bit for bit, as from the loaded matrix (`ExactSearch`).
///
/// Only little-endian float32 in row order can be mapped: a .npy of float16 or float64, in
/// big-endian or Fortran order, and .npz or .safetensors archives must be converted on the way
/// in, so they are loaded (`EmbeddingReader`) instead; `unmappableReason` says why.
public final class MappedEmbeddings: @unchecked Sendable {
    /// The path of the mapped file.
    public let path: String
    /// The format of the file: .npy, .fbin, .fvecs or raw float32.
    public let format: EmbeddingFormat
    /// The number of embeddings (n).
    public let rows: Int
    /// The dimension of each embedding (d).
    public let columns: Int
    /// Floats from the start of one row to the next: `columns`, or `columns + 1` in .fvecs
    /// (each row starts with its int32 dimension).
    public let rowStride: Int
    /// The byte offset of row 0's first value.
    public let dataOffset: Int
    /// SHA-256 of the shape and the float32 values, as `Matrix.contentHash()` (RetrievalEvalStore).
    public let contentHash: String
    /// Every row's Euclidean norm (`Matrix.rowNorms()` of the loaded matrix, bit for bit).
    public let norms: [Double]
    /// The size of the file, in bytes.
    public let fileBytes: Int

    let mapping: UnsafeMutableRawPointer
    /// Row 0's first value in the mapping.
    let first: UnsafePointer<Float>

    /// The header of the string hashed before the values (`Matrix.contentHash()`).
    static func hashHeader(rows: Int, columns: Int) -> String { "dmleval embeddings float32 \(rows)x\(columns)\n" }

    /// Maps and validates `path`.
    ///
    /// - Parameters:
    ///   - format: the format; by default the one the extension names.
    ///   - dimension: the number of columns, required for raw float32.
    /// - Throws: `InputError`: what `EmbeddingReader.read` would throw for the file, or
    ///   `.unsupportedLayout` (with `unmappableReason`'s text) when it cannot be mapped.
    public init(path: String, format: EmbeddingFormat? = nil, dimension: Int? = nil) throws {
        let (mappedFormat, file, rows, columns, stride, offset): (EmbeddingFormat, BinaryFile, Int, Int, Int, Int)
        switch try MappedEmbeddings.layout(path: path, format: format, dimension: dimension) {
        case .mappable(let f, let b, let r, let c, let s, let o): (mappedFormat, file, rows, columns, stride, offset) = (f, b, r, c, s, o)
        case .notMappable(let reason):
            throw InputError(
                .unsupportedLayout, file: path, expected: "little-endian float32 rows (.npy <f4 in C order, .fbin, .fvecs or raw) to read in place",
                found: reason, remedy: "convert it to float32 (numpy: x.astype('<f4'), C order), or let dmleval load it into memory")
        }
        self.path = path
        self.format = mappedFormat
        self.rows = rows
        self.columns = columns
        self.rowStride = stride
        self.dataOffset = offset
        self.fileBytes = file.size
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            throw InputError(.cannotOpen, file: path, expected: "a readable file", found: String(cString: strerror(errno)).lowercased(),
                             remedy: "check the path and its permissions")
        }
        defer { close(fd) }
        guard let m = mmap(nil, file.size, PROT_READ, MAP_SHARED, fd, 0), m != MAP_FAILED else {
            throw InputError(.cannotOpen, file: path, expected: "a file that can be memory-mapped",
                             found: String(cString: strerror(errno)).lowercased(),
                             remedy: "put it on a local or network file system that supports mmap, or let dmleval load it")
        }
        mapping = m
        first = UnsafeRawPointer(m + offset).assumingMemoryBound(to: Float.self)
        do {
            (contentHash, norms) = try MappedEmbeddings.scan(
                first, rows: rows, columns: columns, stride: stride, path: path, fvecs: mappedFormat == .fvecs, offset: offset)
        } catch {
            munmap(m, file.size)
            throw error
        }
    }

    deinit { munmap(mapping, fileBytes) }

    /// Why `path` cannot be mapped (and must be loaded), or nil when it can. Throws what
    /// reading the header throws.
    public static func unmappableReason(path: String, format: EmbeddingFormat? = nil, dimension: Int? = nil) throws -> String? {
        if case .notMappable(let reason) = try layout(path: path, format: format, dimension: dimension) { return reason }
        return nil
    }

    /// Row `r`'s first value, in place in the mapping.
    @inline(__always)
    func row(_ r: Int) -> UnsafePointer<Float> { first + r * rowStride }

    // MARK: - Layout

    /// The error for a file this mapper refuses after the loading reader accepted it. The
    /// mapper asks the reader for its own error on every file it refuses, and the reader
    /// refuses all of them, so this is only thrown if the two ever disagree: a refusal with one
    /// line rather than a crash.
    static func disagreement(_ path: String, _ what: String) -> InputError {
        InputError(.unsupportedLayout, file: path, expected: "a file whose layout can be read in place",
                   found: "one the loading reader accepts but the mapping does not (\(what))",
                   remedy: "let dmleval load it into memory (without --stream-references)")
    }

    enum Layout {
        case mappable(EmbeddingFormat, BinaryFile, rows: Int, columns: Int, stride: Int, offset: Int)
        case notMappable(String)
    }

    /// The header checks of `EmbeddingReader`, giving where the rows lie.
    static func layout(path: String, format: EmbeddingFormat?, dimension: Int?) throws -> Layout {
        guard let format = format ?? EmbeddingFormat.fromExtension(of: path) else {
            // The reader's error for a file of no known format.
            _ = try EmbeddingReader.read(path, format: nil, dimension: dimension)
            throw disagreement(path, "no known format")
        }
        #if _endian(big)
        return .notMappable("a big-endian machine (the file holds little-endian values)")
        #else
        switch format {
        case .npz: return .notMappable("a .npz archive (members are read out, not mapped)")
        case .safetensors: return .notMappable("a .safetensors file (tensors may be converted on the way in)")
        case .npy:
            let file = try BinaryFile(path: path)
            let header = try NpyHeader.read(from: file)
            guard header.shape.count == 2, let type = StoredFloat(numpyDescr: header.descr) else {
                _ = try EmbeddingReader.readNpy(file)  // the reader's own error
                throw disagreement(path, "its header")
            }
            let rows = header.shape[0], columns = header.shape[1]
            try EmbeddingReader.checkShape(rows: rows, columns: columns, file: path)
            guard checkedProduct(rows, columns, type.size) == file.size - header.dataOffset else {
                _ = try EmbeddingReader.readNpy(file)  // the reader's size error
                throw disagreement(path, "a size other than the header's")
            }
            if type != StoredFloat(kind: .float32) { return .notMappable("dtype \(header.descr) (not little-endian float32)") }
            if header.fortranOrder { return .notMappable("Fortran (column-major) order") }
            if header.dataOffset % 4 != 0 { return .notMappable("data at byte \(header.dataOffset), not a multiple of 4") }
            return .mappable(.npy, file, rows: rows, columns: columns, stride: columns, offset: header.dataOffset)
        case .fbin:
            let file = try BinaryFile(path: path)
            guard file.size >= 8 else { _ = try EmbeddingReader.readFbin(file); throw disagreement(path, "a file too short for its header") }
            let head = try file.bytes(count: 8, at: 0)
            let rows = Int(littleEndianUInt32(head, at: 0)), columns = Int(littleEndianUInt32(head, at: 4))
            let expected = checkedProduct(4, rows, columns).flatMap { $0 <= Int.max - 8 ? 8 + $0 : nil }
            guard rows > 0, columns > 0, file.size == expected else {
                _ = try EmbeddingReader.readFbin(file)  // the reader's own error
                throw disagreement(path, "its header")
            }
            return .mappable(.fbin, file, rows: rows, columns: columns, stride: columns, offset: 8)
        case .fvecs:
            let file = try BinaryFile(path: path)
            guard file.size >= 4 else { _ = try EmbeddingReader.readFvecs(file); throw disagreement(path, "a file too short for its header") }
            let dimension = Int(Int32(bitPattern: littleEndianUInt32(try file.bytes(count: 4, at: 0), at: 0)))
            let rowBytes = 4 * (dimension + 1)
            guard dimension > 0, dimension <= 1 << 20, file.size % rowBytes == 0 else {
                _ = try EmbeddingReader.readFvecs(file)  // the reader's own error, at its row
                throw disagreement(path, "its size or dimension")
            }
            // Every row's own dimension is checked in the scan.
            return .mappable(.fvecs, file, rows: file.size / rowBytes, columns: dimension, stride: dimension + 1, offset: 4)
        case .raw:
            let file = try BinaryFile(path: path)
            guard let dimension, dimension > 0, dimension <= Int.max / 4, file.size > 0, file.size % (4 * dimension) == 0 else {
                _ = try EmbeddingReader.readRaw(file, dimension: dimension)
                throw disagreement(path, "its size or dimension")
            }
            return .mappable(.raw, file, rows: file.size / (4 * dimension), columns: dimension, stride: dimension, offset: 0)
        }
        #endif
    }

    // MARK: - The one pass

    /// Validates the rows and computes the content hash and the norms, in one sequential pass.
    /// Errors are those the loading reader gives, in its order: a .fvecs row of another
    /// dimension before any non-finite value, then the first non-finite value.
    static func scan(
        _ first: UnsafePointer<Float>, rows: Int, columns: Int, stride: Int, path: String, fvecs: Bool, offset: Int
    ) throws -> (String, [Double]) {
        var hash = SHA256()
        hash.update(hashHeader(rows: rows, columns: columns))
        var norms = [Double](repeating: 0, count: rows)
        var firstNonFinite: (row: Int, column: Int, value: Float)?
        let base = UnsafeRawPointer(first)
        let chunkRows = max(1, (8 << 20) / (4 * stride))
        var r0 = 0
        while r0 < rows {
            let r1 = min(rows, r0 + chunkRows)
            if stride == columns {
                hash.update(UnsafeRawBufferPointer(start: base + 4 * r0 * stride, count: 4 * (r1 - r0) * columns))
            }
            for r in r0 ..< r1 {
                let row = first + r * stride
                if fvecs {
                    let d = Int(Int32(littleEndian: UnsafeRawPointer(row - 1).loadUnaligned(as: Int32.self)))
                    if d != columns {
                        throw InputError(
                            .badShape, file: path, at: .byte(r * 4 * stride),
                            expected: "row \(r) to have dimension \(columns) like row 0",
                            found: "dimension \(d)", remedy: "every row of an .fvecs file must have the same dimension")
                    }
                    hash.update(UnsafeRawBufferPointer(start: UnsafeRawPointer(row), count: 4 * columns))
                }
                if firstNonFinite == nil {
                    for j in 0 ..< columns where !row[j].isFinite {
                        firstNonFinite = (r, j, row[j])
                        break
                    }
                }
                norms[r] = Matrix.rowNorm(row, columns)
            }
            r0 = r1
        }
        if let bad = firstNonFinite {
            throw InputError(
                .nonFinite, file: path, at: .row(bad.row), expected: "finite values",
                found: "\(bad.value) in column \(bad.column)",
                remedy: "remove or repair that row (and its label), or fix the model that produced it")
        }
        return (hash.finalizeHex(), norms)
    }
}
