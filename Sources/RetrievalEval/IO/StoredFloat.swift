/// A floating-point element type as a file stores it, and its exact widening to float32.
///
/// float16 (IEEE 754 binary16) and bfloat16 (the top half of a float32) both widen to float32
/// exactly: every value they can hold is a float32 value. float64 is rounded to the nearest
/// float32, as numpy's `astype(numpy.float32)` does.
struct StoredFloat: Equatable, CustomStringConvertible {
    enum Kind: Equatable { case float16, bfloat16, float32, float64 }
    var kind: Kind
    var bigEndian = false

    var size: Int {
        switch kind {
        case .float16, .bfloat16: 2
        case .float32: 4
        case .float64: 8
        }
    }

    var description: String {
        switch kind {
        case .float16: "float16"
        case .bfloat16: "bfloat16"
        case .float32: "float32"
        case .float64: "float64"
        }
    }

    /// The numpy dtype string (`<f2`, `>f8`, ...): nil for what numpy cannot name (bfloat16),
    /// and for anything that is not a float numpy writes.
    init?(numpyDescr descr: String) {
        let chars = Array(descr)
        guard chars.count == 3, chars[1] == "f" else { return nil }
        switch chars[0] {
        case "<", "=": bigEndian = false  // '=' is native order; numpy writes '<' on little-endian hosts
        case ">": bigEndian = true
        default: return nil
        }
        switch chars[2] {
        case "2": kind = .float16
        case "4": kind = .float32
        case "8": kind = .float64
        default: return nil
        }
    }

    init(kind: Kind, bigEndian: Bool = false) {
        self.kind = kind
        self.bigEndian = bigEndian
    }

    /// The float32 value of the IEEE binary16 bits `h`, exactly.
    @inline(__always)
    static func widen(half h: UInt16) -> Float {
        let sign: UInt32 = UInt32(h & 0x8000) << 16
        let exponent = Int(h >> 10) & 0x1F
        let mantissa = UInt32(h & 0x3FF)
        if exponent == 0x1F {
            return Float(bitPattern: sign | 0x7F80_0000 | mantissa << 13)  // infinity or NaN
        }
        if exponent == 0 {
            // Zero or subnormal: mantissa * 2^-24, exact in float32.
            let magnitude = Float(mantissa) * 0x1p-24
            return sign != 0 ? -magnitude : magnitude
        }
        return Float(bitPattern: sign | UInt32(exponent - 15 + 127) << 23 | mantissa << 13)
    }

    /// The float32 value of the bfloat16 bits `b`, exactly.
    @inline(__always)
    static func widen(bfloat b: UInt16) -> Float { Float(bitPattern: UInt32(b) << 16) }

    /// How the elements are laid out, to name a bad element's row and column.
    enum Layout { case rowMajor, columnMajor }

    /// Reads `rows * columns` elements of this type at `offset` of `source`, in chunks,
    /// widening each to float32 in storage order (the caller transposes column-major data).
    ///
    /// float16 and bfloat16 values that are infinite or NaN are refused here, naming the
    /// element's byte offset, row and column: a mixed-precision overflow is a problem in the
    /// file, and the byte says where it is. float32 and float64 are checked for finite values
    /// by the caller (naming the row), as before.
    func decode(_ source: some ByteSource, rows: Int, columns: Int, at offset: Int, layout: Layout) throws -> [Float] {
        let count = rows * columns
        let itemSize = size
        let perChunk = max(1, EmbeddingReader.chunkBytes / itemSize)
        var values = [Float](repeating: 0, count: count)
        var chunk = [UInt8](repeating: 0, count: min(count, perChunk) * itemSize)
        var done = 0
        let checkHalf = kind == .float16 || kind == .bfloat16
        try values.withUnsafeMutableBufferPointer { out in
            try chunk.withUnsafeMutableBytes { buffer in
                while done < count {
                    let n = min(perChunk, count - done)
                    try source.read(into: buffer, count: n * itemSize, at: offset + done * itemSize)
                    for i in 0 ..< n {
                        let v: Float
                        switch kind {
                        case .float16, .bfloat16:
                            var bits = buffer.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)
                            bits = bigEndian ? UInt16(bigEndian: bits) : UInt16(littleEndian: bits)
                            v = kind == .float16 ? Self.widen(half: bits) : Self.widen(bfloat: bits)
                        case .float32:
                            var bits = buffer.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)
                            bits = bigEndian ? UInt32(bigEndian: bits) : UInt32(littleEndian: bits)
                            v = Float(bitPattern: bits)
                        case .float64:
                            var bits = buffer.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)
                            bits = bigEndian ? UInt64(bigEndian: bits) : UInt64(littleEndian: bits)
                            v = Float(Double(bitPattern: bits))
                        }
                        if checkHalf && !v.isFinite {
                            let element = done + i
                            let (row, column) = layout == .rowMajor
                                ? (element / columns, element % columns) : (element % rows, element / rows)
                            throw InputError(
                                .nonFinite, file: source.path, at: .byte(offset + element * itemSize),
                                expected: "finite \(self) values", found: "\(v) at row \(row), column \(column)",
                                remedy: "the values overflowed \(self): save them as float32 (x.float() in PyTorch, x.astype(numpy.float32) in numpy) or fix the model that produced them")
                        }
                        out[done + i] = v
                    }
                    done += n
                }
            }
        }
        return values
    }

    /// `values` (column-major, `rows` x `columns`) in row-major order.
    static func transpose(_ values: [Float], rows: Int, columns: Int) -> [Float] {
        var out = [Float](repeating: 0, count: values.count)
        values.withUnsafeBufferPointer { source in
            out.withUnsafeMutableBufferPointer { target in
                // Blocks of 64 x 64 keep both sides in cache.
                let block = 64
                var j0 = 0
                while j0 < columns {
                    let j1 = min(columns, j0 + block)
                    var i0 = 0
                    while i0 < rows {
                        let i1 = min(rows, i0 + block)
                        for j in j0 ..< j1 {
                            for i in i0 ..< i1 { target[i * columns + j] = source[j * rows + i] }
                        }
                        i0 = i1
                    }
                    j0 = j1
                }
            }
        }
        return out
    }
}
