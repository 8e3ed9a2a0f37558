/// Reads class labels from `.txt` (one per line) or `.npy` (an integer array).
public enum LabelReader {
    /// The label file formats.
    public enum Format: String, Sendable, CaseIterable {
        case txt, npy
        /// An integer array in a `.npz` archive (`member` names it).
        case npz
        /// An integer tensor in a `.safetensors` file (`member` names it).
        case safetensors

        /// The format a file name's extension names: `.npy`, `.npz`, `.safetensors`, else text.
        public static func fromExtension(of path: String) -> Format {
            let lower = path.lowercased()
            if lower.hasSuffix(".npy") { return .npy }
            if lower.hasSuffix(".npz") { return .npz }
            if lower.hasSuffix(".safetensors") { return .safetensors }
            return .txt
        }
    }

    /// Reads the labels in `path`; the format follows the extension (`.npy` or anything else
    /// as text) unless given.
    ///
    /// Text rules: one label per line, `\n` or `\r\n` line ends, the final newline optional,
    /// spaces and tabs around a label ignored, UTF-8 (a leading byte order mark is skipped). An empty line is an error naming it.
    /// - Throws: `InputError` naming the file and line or byte offset.
    ///
    /// In a `.npz` archive or a `.safetensors` file the labels are the array (tensor) that
    /// `member` names, or the only one other than `excluding` (the embeddings' array).
    public static func read(_ path: String, format: Format? = nil, member: String? = nil, excluding: String? = nil) throws -> Labels {
        let format = format ?? Format.fromExtension(of: path)
        switch format {
        case .txt: return try readText(try BinaryFile(path: path))
        case .npy: return try readNpy(try BinaryFile(path: path))
        case .npz:
            let archive = try NpzArchive(path: path)
            let source = try archive.extract(try archive.member(member, excluding: excluding, flag: "--labels-array"))
            try NpzArchive.checkIsArray(source)
            return try readNpy(source)
        case .safetensors:
            let file = try SafetensorsFile(path: path)
            return try file.labels(try file.tensor(member, excluding: excluding, flag: "--labels-array"))
        }
    }

    static func readText(_ file: BinaryFile) throws -> Labels {
        let bytes = try file.readAll()
        let path = file.path
        guard !bytes.isEmpty else {
            throw InputError(
                .badLabel, file: path, at: .line(1), expected: "one label per line",
                found: "an empty file", remedy: "write one label per embedding row")
        }
        var labels: [String] = []
        // A UTF-8 byte order mark (as some Windows editors write) is not part of the first label.
        var start = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0
        var line = 1
        let count = bytes.count
        try bytes.withUnsafeBufferPointer { b in
            while start < count {
                var end = start
                while end < count && b[end] != UInt8(ascii: "\n") { end += 1 }
                var lo = start, hi = end
                if hi > lo && b[hi - 1] == UInt8(ascii: "\r") { hi -= 1 }
                while lo < hi && (b[lo] == 0x20 || b[lo] == 0x09) { lo += 1 }
                while hi > lo && (b[hi - 1] == 0x20 || b[hi - 1] == 0x09) { hi -= 1 }
                guard hi > lo else {
                    throw InputError(
                        .badLabel, file: path, at: .line(line), expected: "a label",
                        found: "an empty line", remedy: "every line must hold the label of one embedding row; remove blank lines")
                }
                let text = UnsafeBufferPointer(rebasing: b[lo ..< hi])
                // SQLite's text ends at a NUL, so "a" and "a\0b" would become one class once stored.
                if let nul = text.firstIndex(of: 0) {
                    throw InputError(
                        .badLabel, file: path, at: .line(line), expected: "a label without NUL bytes",
                        found: "a NUL byte at byte \(lo + nul)", remedy: "remove the NUL bytes (tr -d '\\000')")
                }
                guard let label = String(validating: text, as: UTF8.self) else {
                    throw InputError(
                        .badLabel, file: path, at: .line(line), expected: "UTF-8 text",
                        found: "invalid UTF-8 at byte \(lo + validUTF8Prefix(text))",
                        remedy: "convert the file to UTF-8 (iconv -t UTF-8)")
                }
                labels.append(label)
                line += 1
                start = end + 1
            }
        }
        return Labels(strings: labels)
    }

    /// The length in bytes of the longest valid UTF-8 prefix of `bytes`: the offset of the
    /// first invalid byte, so that an error can point at it rather than at the line start.
    static func validUTF8Prefix(_ bytes: UnsafeBufferPointer<UInt8>) -> Int {
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        var length = 0
        while case .scalarValue(let scalar) = decoder.decode(&iterator) {
            length += UTF8.width(scalar)
        }
        return length
    }

    static func readNpy(_ file: some ByteSource) throws -> Labels {
        let header = try NpyHeader.read(from: file)
        let path = file.path
        let rows: Int
        switch header.shape.count {
        case 1: rows = header.shape[0]
        case 2 where header.shape[1] == 1: rows = header.shape[0]
        default:
            throw InputError(
                .badShape, file: path, at: .byte(8), expected: "a 1-D array of labels (or shape (n, 1))",
                found: "shape \(header.shapeDescription)", remedy: "save labels.ravel()")
        }
        if header.fortranOrder && header.shape.count > 1 && header.shape[1] != 1 {
            throw InputError(
                .unsupportedLayout, file: path, at: .byte(8), expected: "C order", found: "Fortran order",
                remedy: "save numpy.ascontiguousarray(labels)")
        }
        let descr = header.descr
        let byteOrder = descr.first
        let kind = descr.dropFirst().first
        guard let size = Int(descr.dropFirst(2)), [1, 2, 4, 8].contains(size),
              kind == "i" || kind == "u",
              byteOrder == "<" || byteOrder == "|" || (byteOrder == "=" && size == 1)
        else {
            let hint = descr.contains("f") ? "labels must be integers: save labels.astype(numpy.int64)"
                : "save labels.astype(numpy.int64), or write them one per line to a .txt file"
            throw InputError(
                .unsupportedType, file: path, at: .byte(8),
                expected: "a little-endian integer dtype (<i1..<i8, <u1..<u8)", found: "dtype \(descr)", remedy: hint)
        }
        guard rows > 0 else {
            throw InputError(
                .badShape, file: path, expected: "at least one label", found: "shape \(header.shapeDescription)",
                remedy: "the file holds no labels")
        }
        // nil when a corrupt shape claims more bytes than an Int counts.
        let dataBytes = checkedProduct(rows, size)
        let available = file.size - header.dataOffset
        guard let dataBytes, dataBytes == available else {
            throw InputError(
                .wrongSize, file: path, at: .byte(header.dataOffset),
                expected: "\(dataBytes.map(String.init) ?? "an impossibly large number of") data bytes for shape \(header.shapeDescription) \(descr)",
                found: "\(available)",
                remedy: available < (dataBytes ?? .max) ? "the file is truncated; save it again" : "the file has trailing bytes; save it again")
        }
        let data = try file.bytes(count: dataBytes, at: header.dataOffset)
        return try integers(data, count: rows, size: size, signed: kind == "i", file: path)
    }

    /// Little-endian integers of `size` bytes as labels; unsigned values of 2^63 or more are
    /// refused, naming the row.
    static func integers(_ data: [UInt8], count rows: Int, size: Int, signed: Bool, file path: String) throws -> Labels {
        var values = [Int64](repeating: 0, count: rows)
        for i in 0 ..< rows {
            var bits: UInt64 = 0
            for b in 0 ..< size { bits |= UInt64(data[i * size + b]) << (8 * UInt64(b)) }
            if signed {
                let shift = UInt64(64 - 8 * size)
                values[i] = Int64(bitPattern: bits << shift) >> Int64(shift)
            } else {
                guard bits <= UInt64(Int64.max) else {
                    throw InputError(
                        .badLabel, file: path, at: .row(i), expected: "a label below 2^63",
                        found: "\(bits)", remedy: "relabel the classes with smaller integers")
                }
                values[i] = Int64(bits)
            }
        }
        return Labels(integers: values)
    }
}
