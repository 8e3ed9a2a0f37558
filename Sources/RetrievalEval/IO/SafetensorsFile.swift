import Foundation

/// A `.safetensors` file (Hugging Face): an 8-byte little-endian header length N, a JSON
/// header of N bytes mapping each tensor's name to its `dtype`, `shape` and `data_offsets`
/// ([begin, end), counted from byte 8 + N), then the tensors' bytes, little-endian, C order.
///
/// Embeddings may be F32, F16 or BF16 (F64 too); labels any integer type. Every field of the
/// header is checked against the file before a byte of data is read.
struct SafetensorsFile {
    struct Tensor {
        let name: String
        let dtype: String
        let shape: [Int]
        /// Absolute byte offsets in the file.
        let begin: Int
        let end: Int
    }

    let path: String
    let file: BinaryFile
    /// In file order.
    let tensors: [Tensor]

    /// The largest header read (the format's own limit is 100 MB).
    static let maximumHeaderBytes = 100_000_000

    private struct Entry: Decodable {
        let dtype: String
        let shape: [Int]
        let data_offsets: [Int]
    }

    private struct Header: Decodable {
        var tensors: [(String, Entry)] = []
        struct Key: CodingKey {
            var stringValue: String
            var intValue: Int? { nil }
            init(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }
        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: Key.self)
            for key in container.allKeys where key.stringValue != "__metadata__" {
                tensors.append((key.stringValue, try container.decode(Entry.self, forKey: key)))
            }
        }
    }

    init(path: String) throws {
        self.path = path
        let file = try BinaryFile(path: path)
        self.file = file
        guard file.size >= 8 else {
            throw InputError(
                .badHeader, file: path, at: .byte(0), expected: "an 8-byte header length (uint64 little-endian)",
                found: "a file of \(file.size) bytes", remedy: "the file is truncated or not .safetensors; save it again")
        }
        let lengthBytes = try file.bytes(count: 8, at: 0)
        var length: UInt64 = 0
        for (i, b) in lengthBytes.enumerated() { length |= UInt64(b) << (8 * UInt64(i)) }
        guard length <= UInt64(Self.maximumHeaderBytes) else {
            throw InputError(
                .badHeader, file: path, at: .byte(0), expected: "a header length of at most 100 MB",
                found: "\(length) bytes", remedy: "this is not a .safetensors file, or its header is damaged")
        }
        let headerLength = Int(length)
        guard 8 + headerLength <= file.size else {
            throw InputError(
                .badHeader, file: path, at: .byte(8), expected: "a JSON header of \(headerLength) bytes (as bytes 0-7 say)",
                found: "\(file.size - 8) bytes to the end of the file", remedy: "the file is truncated; save it again")
        }
        let raw = try file.bytes(count: headerLength, at: 8)
        let header: Header
        do {
            header = try JSONDecoder().decode(Header.self, from: Data(raw))
        } catch let error as DecodingError {
            let found: String = switch error {
            case .keyNotFound(let key, let context): "no '\(key.stringValue)' in \(context.codingPath.first?.stringValue ?? "an entry")"
            case .typeMismatch(_, let context), .valueNotFound(_, let context):
                "a wrong value at \(context.codingPath.map(\.stringValue).joined(separator: "."))"
            case .dataCorrupted(let context): context.codingPath.isEmpty ? "text that is not JSON" : "a wrong value at \(context.codingPath.map(\.stringValue).joined(separator: "."))"
            @unknown default: "an unreadable header"
            }
            throw InputError(
                .badHeader, file: path, at: .byte(8),
                expected: "a JSON header mapping tensor names to {dtype, shape, data_offsets}", found: found,
                remedy: "the header is damaged or truncated; save the file again with safetensors")
        }
        let dataStart = 8 + headerLength
        var tensors: [Tensor] = []
        // In file order, so that a truncated file names the first tensor it cuts.
        for (name, entry) in header.tensors.sorted(by: { ($0.1.data_offsets.first ?? 0, $0.0) < ($1.1.data_offsets.first ?? 0, $1.0) }) {
            let label = "\(path): tensor '\(name)'"
            guard entry.data_offsets.count == 2, entry.data_offsets[0] >= 0, entry.data_offsets[0] <= entry.data_offsets[1] else {
                throw InputError(.badHeader, file: label, at: .byte(8), expected: "data_offsets [begin, end] with 0 <= begin <= end",
                                 found: "\(entry.data_offsets)", remedy: "the header is damaged; save the file again")
            }
            guard entry.shape.allSatisfy({ $0 >= 0 }) else {
                throw InputError(.badHeader, file: label, at: .byte(8), expected: "non-negative dimensions",
                                 found: "shape \(entry.shape)", remedy: "the header is damaged; save the file again")
            }
            let (end, overflow) = dataStart.addingReportingOverflow(entry.data_offsets[1])
            guard !overflow, end <= file.size else {
                throw InputError(
                    .wrongSize, file: label, at: .byte(overflow ? Int.max : end),
                    expected: "data inside the file (it ends at byte \(file.size))",
                    found: "data_offsets \(entry.data_offsets) ending at byte \(overflow ? "past any file" : String(end))",
                    remedy: "the file is truncated; save it again")
            }
            tensors.append(Tensor(name: name, dtype: entry.dtype, shape: entry.shape,
                                  begin: dataStart + entry.data_offsets[0], end: end))
        }
        guard !tensors.isEmpty else {
            throw InputError(.badShape, file: path, expected: "at least one tensor", found: "none",
                             remedy: "save the embeddings with safetensors' save_file({'emb': x}, path)")
        }
        self.tensors = tensors
    }

    /// The tensor `name` names, or the only one other than `excluding` when `name` is nil.
    func tensor(_ name: String?, excluding: String? = nil, flag: String) throws -> Tensor {
        let listed = tensors.map { "'\($0.name)'" }.joined(separator: ", ")
        if let name {
            if let t = tensors.first(where: { $0.name == name }) { return t }
            throw InputError(.badShape, file: path, expected: "a tensor named '\(name)' (\(flag))", found: "the tensors \(listed)",
                             remedy: "pass \(flag) with one of these names")
        }
        let candidates = tensors.filter { $0.name != excluding }
        guard candidates.count == 1 else {
            throw InputError(.badShape, file: path, expected: "one tensor, or \(flag) NAME to choose one",
                             found: "\(candidates.count) tensors (\(listed))", remedy: "pass \(flag) NAME")
        }
        return candidates[0]
    }

    private func checkBytes(_ t: Tensor, itemSize: Int, label: String) throws {
        let expected = t.shape.reduce(Optional(itemSize)) { p, d in p.flatMap { checkedProduct($0, d) } }
        guard expected == t.end - t.begin else {
            throw InputError(
                .wrongSize, file: label, at: .byte(t.begin),
                expected: "\(expected.map(String.init) ?? "an impossibly large number of") bytes for shape \(t.shape) \(t.dtype)",
                found: "data_offsets spanning \(t.end - t.begin) bytes", remedy: "the header is damaged; save the file again")
        }
    }

    /// The tensor as embeddings (2-D; F32, F16, BF16 or F64).
    func matrix(_ t: Tensor) throws -> Matrix {
        let label = "\(path): tensor '\(t.name)'"
        let type: StoredFloat
        switch t.dtype {
        case "F32": type = StoredFloat(kind: .float32)
        case "F16": type = StoredFloat(kind: .float16)
        case "BF16": type = StoredFloat(kind: .bfloat16)
        case "F64": type = StoredFloat(kind: .float64)
        default:
            throw InputError(.unsupportedType, file: label, at: .byte(8), expected: "dtype F32, F16 or BF16 (or F64)",
                             found: "dtype \(t.dtype)", remedy: "save x.float() (PyTorch) or x.astype(numpy.float32)")
        }
        guard t.shape.count == 2 else {
            throw InputError(.badShape, file: label, at: .byte(8), expected: "a 2-D tensor (rows x dimensions)",
                             found: "shape \(t.shape)", remedy: "save x.reshape(n, -1)")
        }
        try EmbeddingReader.checkShape(rows: t.shape[0], columns: t.shape[1], file: label)
        try checkBytes(t, itemSize: type.size, label: label)
        let values = try type.decode(Slice(file: file, label: label), rows: t.shape[0], columns: t.shape[1],
                                     at: t.begin, layout: .rowMajor)
        return Matrix(rows: t.shape[0], columns: t.shape[1], values: values)
    }

    /// The tensor as labels (1-D, or (n, 1); any integer dtype).
    func labels(_ t: Tensor) throws -> Labels {
        let label = "\(path): tensor '\(t.name)'"
        let sizes = ["I8": 1, "U8": 1, "I16": 2, "U16": 2, "I32": 4, "U32": 4, "I64": 8, "U64": 8]
        guard let size = sizes[t.dtype] else {
            throw InputError(.unsupportedType, file: label, at: .byte(8), expected: "an integer dtype (I8..I64, U8..U64)",
                             found: "dtype \(t.dtype)", remedy: "labels must be integers: save labels.long() (PyTorch) or labels.astype(numpy.int64)")
        }
        guard t.shape.count == 1 || (t.shape.count == 2 && t.shape[1] == 1), t.shape[0] > 0 else {
            throw InputError(.badShape, file: label, at: .byte(8), expected: "a 1-D tensor of labels with at least one entry",
                             found: "shape \(t.shape)", remedy: "save labels.reshape(-1)")
        }
        try checkBytes(t, itemSize: size, label: label)
        let data = try file.bytes(count: t.end - t.begin, at: t.begin)
        return try LabelReader.integers(data, count: t.shape[0], size: size, signed: t.dtype.hasPrefix("I"), file: label)
    }

    /// The file under the name errors give the tensor.
    private final class Slice: ByteSource {
        let file: BinaryFile
        let path: String
        var size: Int { file.size }
        init(file: BinaryFile, label: String) { self.file = file; self.path = label }
        func read(into buffer: UnsafeMutableRawBufferPointer, count: Int, at offset: Int) throws {
            try file.read(into: buffer, count: count, at: offset)
        }
    }
}
