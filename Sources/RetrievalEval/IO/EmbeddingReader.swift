/// Reads embedding files into a `Matrix`, validating everything before trusting it.
///
/// Readers check the file size against the header before reading any data, read the data
/// in chunks straight into the matrix (no copy of the file), and reject NaN or infinite
/// values naming the row.
public enum EmbeddingReader {
    /// Bytes read per chunk when data must be converted on the way in.
    static let chunkBytes = 1 << 22

    /// Reads the embeddings in `path`.
    ///
    /// - Parameters:
    ///   - path: the file.
    ///   - format: the format; by default the one the extension names.
    ///   - dimension: the number of columns, required for `.raw` and ignored otherwise.
    ///   - array: in a `.npz` archive or a `.safetensors` file, the array (tensor) to read;
    ///     when nil, the only one other than `excluding` (the labels' array).
    /// - Returns: one row per item.
    /// - Throws: `InputError` naming the file (and the archive member or tensor), the offset
    ///   and what is wrong.
    public static func read(
        _ path: String, format: EmbeddingFormat? = nil, dimension: Int? = nil, array: String? = nil, excluding: String? = nil
    ) throws -> Matrix {
        try read(path, format: format, dimension: dimension, array: array, excluding: excluding, hashed: false).matrix
    }

    /// `read`, and with `hashed` the embeddings' content hash (`Matrix.contentHash()`),
    /// computed in the pass that checks the values rather than in one of its own.
    static func read(
        _ path: String, format: EmbeddingFormat?, dimension: Int?, array: String?, excluding: String?, hashed: Bool
    ) throws -> (matrix: Matrix, contentHash: String?) {
        guard let format = format ?? EmbeddingFormat.fromExtension(of: path) else {
            throw InputError(
                .unknownFormat, file: path,
                expected: "an extension .npy, .npz, .safetensors, .fbin, .bin, .fvecs, .raw or .f32",
                found: extensionDescription(path),
                remedy: "pass --input-format npy|npz|safetensors|fbin|fvecs|raw")
        }
        let matrix: Matrix
        var shownPath = path
        switch format {
        case .npy: matrix = try readNpy(try BinaryFile(path: path))
        case .fbin: matrix = try readFbin(try BinaryFile(path: path))
        case .fvecs: matrix = try readFvecs(try BinaryFile(path: path))
        case .raw: matrix = try readRaw(try BinaryFile(path: path), dimension: dimension)
        case .npz:
            let archive = try NpzArchive(path: path)
            let source = try archive.extract(try archive.member(array, excluding: excluding, flag: "--array"))
            try NpzArchive.checkIsArray(source)
            shownPath = source.path
            matrix = try readNpy(source)
        case .safetensors:
            let file = try SafetensorsFile(path: path)
            let tensor = try file.tensor(array, excluding: excluding, flag: "--tensor")
            shownPath = "\(path): tensor '\(tensor.name)'"
            matrix = try file.matrix(tensor)
        }
        var hasher = hashed ? SHA256.embeddings(rows: matrix.rows, columns: matrix.columns) : nil
        try checkFinite(matrix, file: shownPath, hashing: &hasher)
        return (matrix, hasher?.finalizeHex())
    }

    static func extensionDescription(_ path: String) -> String {
        if let dot = path.lastIndex(of: "."), !path[dot...].contains("/") {
            return "'\(path[dot...])'"
        }
        return "no extension"
    }

    // MARK: - .npy

    static func readNpy(_ file: some ByteSource) throws -> Matrix {
        let header = try NpyHeader.read(from: file)
        let path = file.path
        guard header.shape.count == 2 else {
            throw InputError(
                .badShape, file: path, at: .byte(8),
                expected: "a 2-D array (rows x dimensions)", found: "shape \(header.shapeDescription)",
                remedy: header.shape.count == 1 ? "reshape it to (n, 1) or save the 2-D array" : "save a 2-D array")
        }
        guard let type = StoredFloat(numpyDescr: header.descr) else {
            throw InputError(
                .unsupportedType, file: path, at: .byte(8),
                expected: "a float dtype: <f4 (float32), <f2 (float16) or <f8 (float64), or big-endian >f4, >f2, >f8",
                found: "dtype \(header.descr)", remedy: "save x.astype(numpy.float32)")
        }
        let itemSize = type.size
        let rows = header.shape[0], columns = header.shape[1]
        try checkShape(rows: rows, columns: columns, file: path)
        // Compared with the bytes after the header (never negative: the header check ensures
        // it), so that no sum can overflow either; nil means more bytes than any file holds.
        let dataBytes = checkedProduct(rows, columns, itemSize)
        let available = file.size - header.dataOffset
        guard dataBytes == available else {
            let what = available < (dataBytes ?? .max) ? "the file is truncated" : "the file has trailing bytes"
            throw InputError(
                .wrongSize, file: path, at: .byte(header.dataOffset),
                expected: "\(dataBytes.map(String.init) ?? "an impossibly large number of") data bytes for shape \(header.shapeDescription) \(header.descr)",
                found: "\(available)", remedy: "\(what); save the array again")
        }
        if type == StoredFloat(kind: .float32) && !header.fortranOrder {
            return try readFloat32(file, rows: rows, columns: columns, at: header.dataOffset)
        }
        // Fortran order (column-major, as numpy writes x.T or np.asfortranarray(x)) is read
        // in file order and transposed into rows.
        let values = try type.decode(file, rows: rows, columns: columns, at: header.dataOffset,
                                     layout: header.fortranOrder ? .columnMajor : .rowMajor)
        return Matrix(rows: rows, columns: columns,
                      values: header.fortranOrder ? StoredFloat.transpose(values, rows: rows, columns: columns) : values)
    }

    // MARK: - .fbin

    static func readFbin(_ file: BinaryFile) throws -> Matrix {
        let path = file.path
        guard file.size >= 8 else {
            throw InputError(
                .wrongSize, file: path, at: .byte(0), expected: "an 8-byte header (uint32 n, uint32 d)",
                found: "a file of \(file.size) bytes", remedy: "the file is truncated or not .fbin")
        }
        let head = try file.bytes(count: 8, at: 0)
        let rows = Int(littleEndianUInt32(head, at: 0)), columns = Int(littleEndianUInt32(head, at: 4))
        try checkShape(rows: rows, columns: columns, file: path)
        // n and d are uint32, so 4*n*d can reach 2^66: it overflows Int for a corrupt header
        // (nil here), which is then reported as too large.
        let expectedSize = checkedProduct(4, rows, columns).flatMap { $0 <= Int.max - 8 ? 8 + $0 : nil }
        guard file.size == expectedSize else {
            let what = file.size < (expectedSize ?? .max) ? "the file is truncated" : "the file has trailing bytes or is not .fbin"
            throw InputError(
                .wrongSize, file: path, at: .byte(0),
                expected: "a file of 8 + 4*n*d = \(expectedSize.map(String.init) ?? "more than \(Int.max)") bytes for n = \(rows), d = \(columns)",
                found: "\(file.size) bytes", remedy: "\(what); write it again or pass --input-format")
        }
        return try readFloat32(file, rows: rows, columns: columns, at: 8)
    }

    // MARK: - .fvecs

    static func readFvecs(_ file: BinaryFile) throws -> Matrix {
        let path = file.path
        guard file.size >= 4 else {
            throw InputError(
                .wrongSize, file: path, at: .byte(0), expected: "a 4-byte int32 dimension",
                found: "a file of \(file.size) bytes", remedy: "the file is empty or truncated")
        }
        let first = try file.bytes(count: 4, at: 0)
        let dimension = Int(Int32(bitPattern: littleEndianUInt32(first, at: 0)))
        guard dimension > 0 && dimension <= 1 << 20 else {
            throw InputError(
                .badHeader, file: path, at: .byte(0), expected: "a row dimension between 1 and 1048576",
                found: "\(dimension)", remedy: "this is not an .fvecs file; pass --input-format")
        }
        let rowBytes = 4 * (dimension + 1)
        func otherDimension(_ d: Int, row: Int) -> InputError {
            InputError(
                .badShape, file: path, at: .byte(row * rowBytes),
                expected: "row \(row) to have dimension \(dimension) like row 0",
                found: "dimension \(d)", remedy: "every row of an .fvecs file must have the same dimension")
        }
        // The whole rows are read (and their dimensions checked) before the size: a row of
        // another dimension shifts every later row, and must be reported at its own offset
        // rather than as bytes left over at the end.
        let rows = file.size / rowBytes
        var values = [Float](repeating: 0, count: rows * dimension)
        let rowsPerChunk = max(1, chunkBytes / rowBytes)
        var chunk = [UInt8](repeating: 0, count: rowsPerChunk * rowBytes)
        var row = 0
        try values.withUnsafeMutableBufferPointer { out in
            try chunk.withUnsafeMutableBytes { buffer in
                while row < rows {
                    let count = min(rowsPerChunk, rows - row)
                    try file.read(into: buffer, count: count * rowBytes, at: row * rowBytes)
                    for r in 0 ..< count {
                        let base = r * rowBytes
                        let d = Int(Int32(littleEndian: buffer.loadUnaligned(fromByteOffset: base, as: Int32.self)))
                        guard d == dimension else { throw otherDimension(d, row: row + r) }
                        for j in 0 ..< dimension {
                            let bits = UInt32(littleEndian: buffer.loadUnaligned(fromByteOffset: base + 4 + 4 * j, as: UInt32.self))
                            out[(row + r) * dimension + j] = Float(bitPattern: bits)
                        }
                    }
                    row += count
                }
            }
        }
        let leftover = file.size - rows * rowBytes
        if leftover > 0 {
            // The next row starts here; if its dimension is readable and differs, say so.
            if leftover >= 4 {
                let d = Int(Int32(bitPattern: littleEndianUInt32(try file.bytes(count: 4, at: rows * rowBytes), at: 0)))
                if d != dimension { throw otherDimension(d, row: rows) }
            }
            throw InputError(
                .wrongSize, file: path, at: .byte(rows * rowBytes),
                expected: "a whole number of rows of \(rowBytes) bytes (int32 d = \(dimension), then \(dimension) float32)",
                found: "\(leftover) bytes left after \(rows) rows",
                remedy: "the file is truncated or its rows differ in dimension")
        }
        return Matrix(rows: rows, columns: dimension, values: values)
    }

    // MARK: - raw float32

    static func readRaw(_ file: BinaryFile, dimension: Int?) throws -> Matrix {
        let path = file.path
        guard let dimension, dimension > 0 else {
            throw InputError(
                .badShape, file: path, expected: "a dimension for raw float32 data",
                found: dimension.map { "--dim \($0)" } ?? "none", remedy: "pass --dim D with D > 0")
        }
        // 4*d must not overflow; no file can hold even one row of such a dimension.
        guard dimension <= Int.max / 4 else {
            throw InputError(
                .badShape, file: path, expected: "a dimension of at most \(Int.max / 4) for raw float32 data",
                found: "--dim \(dimension)", remedy: "check --dim")
        }
        let rowBytes = 4 * dimension
        guard file.size % rowBytes == 0, file.size > 0 else {
            throw InputError(
                .wrongSize, file: path, at: .byte(file.size - file.size % rowBytes),
                expected: "a non-empty multiple of 4*d = \(rowBytes) bytes",
                found: "\(file.size) bytes (\(file.size % rowBytes) left over)",
                remedy: "check --dim, or the file is truncated")
        }
        return try readFloat32(file, rows: file.size / rowBytes, columns: dimension, at: 0)
    }

    // MARK: - Shared pieces

    static func checkShape(rows: Int, columns: Int, file: String) throws {
        guard rows > 0, columns > 0 else {
            throw InputError(
                .badShape, file: file, expected: "at least one row and one dimension",
                found: "\(rows) rows x \(columns) dimensions", remedy: "the file holds no embeddings")
        }
    }

    /// Reads `rows * columns` little-endian float32 values at `offset` directly into the
    /// matrix storage.
    static func readFloat32(_ file: some ByteSource, rows: Int, columns: Int, at offset: Int) throws -> Matrix {
        let count = rows * columns
        let values = try [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            let raw = UnsafeMutableRawBufferPointer(buffer)
            var done = 0
            let total = count * 4
            while done < total {
                let n = min(chunkBytes, total - done)
                try file.read(into: UnsafeMutableRawBufferPointer(rebasing: raw[done ..< done + n]), count: n, at: offset + done)
                done += n
            }
            #if _endian(big)
            for i in 0 ..< count { buffer[i] = Float(bitPattern: UInt32(littleEndian: buffer[i].bitPattern)) }
            #endif
            initialized = count
        }
        return Matrix(rows: rows, columns: columns, values: values)
    }

    /// Rejects the first row that holds a NaN or an infinity (a float64 too large for
    /// float32 becomes infinite here, and is rejected the same way), feeding `hasher` the
    /// values as they are checked: block by block, each hashed while still in cache.
    static func checkFinite(_ matrix: Matrix, file: String, hashing hasher: inout SHA256?) throws {
        let columns = matrix.columns
        let block = 1 << 16  // values: 256 KiB
        try matrix.values.withUnsafeBufferPointer { v in
            var start = 0
            while start < v.count {
                let end = min(v.count, start + block)
                for i in start ..< end where !v[i].isFinite {
                    let row = i / columns, column = i % columns
                    throw InputError(
                        .nonFinite, file: file, at: .row(row), expected: "finite values",
                        found: "\(v[i]) in column \(column)",
                        remedy: "remove or repair that row (and its label), or fix the model that produced it")
                }
                hasher?.update(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: v[start ..< end])))
                start = end
            }
        }
    }
}
