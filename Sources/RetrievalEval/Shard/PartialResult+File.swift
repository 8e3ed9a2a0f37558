import Foundation

/// The partial-result file: an 8-byte magic, a format version, a JSON header, then the
/// shard's arrays in little-endian binary (docs/formats.md, "Partial results").
///
/// ```
/// byte 0   "dmlpart\n"                      magic
/// byte 8   uint32 version                   1
/// byte 12  uint64 H                         header length in bytes
/// byte 20  H bytes of UTF-8 JSON            the header (fields below)
/// then     int64   R            x rows
///          int32   class        x rows      -1: no reference has the query's label
///          float64 value        x rows x metrics (query-major; NaN when R = 0)
///          int64   first hits   x (curve_depth + 1)   (nothing when curve_depth = 0)
///          int64   hits at rank x curve_depth
/// ```
extension PartialResult {
    static let magic: [UInt8] = Array("dmlpart\n".utf8)
    static let fixedHeader = 20
    static let remedy = "this is not a part written by 'dmleval --shard', or it was damaged: run that shard again"

    // MARK: - Writing

    /// Writes the part to `directory/part-I-of-N`, under a temporary name first and renamed
    /// into place at the end, so a task killed mid-way leaves no part (only a temporary file,
    /// removed by the next write there and ignored by the merge).
    /// - Returns: the part's path.
    @discardableResult
    public func write(to directory: String) throws -> String {
        let path = (directory.hasSuffix("/") ? directory : directory + "/") + shard.fileName
        let bytes = try encoded()
        try ArrayWriter.write(path: path) { out in
            // In blocks of 1 MiB: each is one write (and one chance for the fault hook).
            var start = 0
            while start < bytes.count {
                let end = min(bytes.count, start + (1 << 20))
                try bytes[start ..< end].withUnsafeBytes { try out.append($0) }
                start = end
            }
        }
        return path
    }

    /// The file's bytes.
    public func encoded() throws -> [UInt8] {
        let header = Header(
            format: "dmleval-partial", version: PartialResult.formatVersion, tool_version: toolVersion,
            shard: .init(index: shard.index, count: shard.count),
            queries: .init(total: totalQueries, first: rows.lowerBound, end: rows.upperBound),
            metrics: metrics.map(\.name), depth: depth, curve_depth: curveDepth, class_count: classCount,
            parameters: parameters.map { [$0.0, $0.1] }, inputs: inputs.map { [$0.0, $0.1] },
            dataset: .init(dataset), query_dataset: queryDataset.map(Header.Identity.init),
            timings: timings.map { .init(stage: $0.0, seconds: $0.1) })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = Array(try encoder.encode(header))
        var out = PartialResult.magic
        out.reserveCapacity(PartialResult.fixedHeader + json.count + relevantCounts.count * 12 + values.count * 8)
        func append<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { out += $0 } }
        append(UInt32(PartialResult.formatVersion))
        append(UInt64(json.count))
        out += json
        for r in relevantCounts { append(Int64(r)) }
        for c in classes { append(c) }
        for v in values { append(v.bitPattern) }
        for k in firstHits { append(Int64(k)) }
        for k in hitsAt { append(Int64(k)) }
        return out
    }

    // MARK: - Reading

    /// Reads and validates a part. Parts come from other machines and shared folders, so
    /// they are untrusted: every field is checked.
    /// - Throws: `InputError` naming the file, the byte or header field, what was expected
    ///   and what was found.
    public static func read(_ path: String) throws -> PartialResult {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw InputError(.cannotOpen, file: path, expected: "a readable part file", found: "it cannot be read",
                             remedy: "check the path and its permissions")
        }
        return try decode(Array(data), path: path)
    }

    /// Decodes and validates a part's bytes (`path` only names it in errors).
    public static func decode(_ bytes: [UInt8], path: String) throws -> PartialResult {
        func bad(_ code: InputError.Code = .badHeader, at byte: Int?, _ expected: String, _ found: String) -> InputError {
            InputError(code, file: path, at: byte.map { .byte($0) }, expected: expected, found: found, remedy: remedy)
        }
        func uint<T: FixedWidthInteger>(_ type: T.Type, at offset: Int) -> T {
            var v: T = 0
            withUnsafeMutableBytes(of: &v) { dst in
                for i in 0 ..< MemoryLayout<T>.size { dst[i] = bytes[offset + i] }
            }
            return T(littleEndian: v)
        }
        guard bytes.count >= fixedHeader else {
            throw bad(.wrongSize, at: 0, "a partial result of at least \(fixedHeader) bytes", "\(bytes.count) bytes")
        }
        guard Array(bytes[0 ..< 8]) == magic else {
            throw bad(at: 0, "the magic bytes \"dmlpart\\n\" of a dmleval partial result", "bytes " + bytes[0 ..< 8].map { hexByte($0) }.joined(separator: " "))
        }
        let version = uint(UInt32.self, at: 8)
        guard version >= 1 && version <= UInt32(formatVersion) else {
            throw InputError(.badHeader, file: path, at: .byte(8), expected: "a partial-result format version from 1 to \(formatVersion)",
                             found: "version \(version)" + (version > UInt32(formatVersion) ? ", written by a newer dmleval" : ""),
                             remedy: version > UInt32(formatVersion) ? "merge with the dmleval that wrote the parts, or run every shard with this one" : remedy)
        }
        let headerLength = uint(UInt64.self, at: 12)
        guard headerLength <= UInt64(bytes.count - fixedHeader) else {
            throw bad(.wrongSize, at: 12, "a header length of at most \(bytes.count - fixedHeader) bytes (the rest of the file)", "\(headerLength) bytes")
        }
        let bodyStart = fixedHeader + Int(headerLength)
        let header: Header
        do {
            header = try JSONDecoder().decode(Header.self, from: Data(bytes[fixedHeader ..< bodyStart]))
        } catch let error as HeaderFieldError {
            throw bad(at: fixedHeader, error.expected, error.found)
        } catch let error as DecodingError {
            let (expected, found) = describe(error)
            throw bad(at: fixedHeader, expected, found)
        } catch {
            throw bad(at: fixedHeader, "a JSON header object", "text that does not parse as one")
        }
        func field(_ name: String, _ expected: String, _ found: String) -> InputError {
            bad(at: fixedHeader, "header \"\(name)\": \(expected)", found)
        }

        // The header's fields, each within its range.
        let shard: Shard
        do {
            shard = try Shard(index: header.shard.index, count: header.shard.count)
        } catch {
            throw field("shard", "0 <= index < count <= \(Shard.maximumCount)", "index \(header.shard.index), count \(header.shard.count)")
        }
        guard header.queries.total >= 0 && header.queries.total <= Int(Int32.max) else {
            throw field("queries.total", "0 to \(Int32.max) queries", "\(header.queries.total)")
        }
        let rows = shard.rows(of: header.queries.total)
        guard header.queries.first == rows.lowerBound && header.queries.end == rows.upperBound else {
            throw field("queries", "rows \(rows.lowerBound) ..< \(rows.upperBound) (shard \(shard) of \(header.queries.total) queries)",
                        "\(header.queries.first) ..< \(header.queries.end)")
        }
        var metrics: [Metric] = []
        for (i, name) in header.metrics.enumerated() {
            guard let metric = Metric(name: name) else {
                throw field("metrics[\(i)]", "a metric this dmleval knows", JSONValue.quote(String(name.prefix(60))))
            }
            metrics.append(metric)
        }
        guard !metrics.isEmpty && metrics.count <= 10_000 else { throw field("metrics", "1 to 10,000 metrics", "\(metrics.count)") }
        let referenceRows = header.dataset.rows
        guard referenceRows >= 1 && referenceRows <= Int(Int32.max) else {
            throw field("dataset.rows", "1 to \(Int32.max) rows", "\(referenceRows)")
        }
        guard header.depth >= 0 && header.depth <= referenceRows else {
            throw field("depth", "0 to \(referenceRows) (the references)", "\(header.depth)")
        }
        guard header.curve_depth >= 0 && header.curve_depth <= header.depth else {
            throw field("curve_depth", "0 to the depth \(header.depth)", "\(header.curve_depth)")
        }
        guard header.class_count >= 0 && header.class_count <= referenceRows else {
            throw field("class_count", "0 to \(referenceRows) (the references)", "\(header.class_count)")
        }
        for (name, list) in [("parameters", header.parameters), ("inputs", header.inputs)] {
            if let i = list.firstIndex(where: { $0.count != 2 }) {
                throw field("\(name)[\(i)]", "a [name, value] pair", "\(list[i].count) strings")
            }
        }
        for (i, timing) in header.timings.enumerated() where !(timing.seconds.isFinite && timing.seconds >= 0) {
            throw field("timings[\(i)].seconds", "a finite number of seconds >= 0", "\(timing.seconds)")
        }

        // The arrays: exactly the size the header implies.
        let n = rows.count, m = metrics.count, cd = header.curve_depth
        let curveEntries = cd > 0 ? 2 * cd + 1 : 0
        let expectedSize = bodyStart + n * (8 + 4 + 8 * m) + 8 * curveEntries
        guard bytes.count == expectedSize else {
            throw bad(.wrongSize, at: bytes.count < expectedSize ? bytes.count : expectedSize,
                      "\(expectedSize) bytes (\(n) queries x \(m) metrics, curves \(cd) deep, after a \(headerLength)-byte header)",
                      "\(bytes.count) bytes" + (bytes.count < expectedSize ? ": the file is truncated" : ": bytes after the last array"))
        }
        var offset = bodyStart
        var relevantCounts = [Int](repeating: 0, count: n)
        let maximumR = referenceRows
        for i in 0 ..< n {
            let r = Int64(bitPattern: uint(UInt64.self, at: offset))
            guard r >= 0 && r <= Int64(maximumR) else {
                throw bad(at: offset, "R of query \(rows.lowerBound + i) from 0 to \(maximumR) (the references)", "\(r)")
            }
            relevantCounts[i] = Int(r)
            offset += 8
        }
        var classes = [Int32](repeating: 0, count: n)
        for i in 0 ..< n {
            let c = Int32(bitPattern: uint(UInt32.self, at: offset))
            guard c >= -1 && Int(c) < header.class_count && (c >= 0 || relevantCounts[i] == 0) else {
                throw bad(at: offset, "the class of query \(rows.lowerBound + i) from -1 to \(header.class_count - 1)", "\(c)")
            }
            classes[i] = c
            offset += 4
        }
        var values = [Double](repeating: .nan, count: n * m)
        var scored = 0
        for i in 0 ..< n {
            let isScored = relevantCounts[i] > 0
            if isScored { scored += 1 }
            for k in 0 ..< m {
                let v = Double(bitPattern: uint(UInt64.self, at: offset))
                guard isScored ? (v >= 0 && v <= 1) : v.isNaN else {
                    throw bad(at: offset, "\(metrics[k].name) of query \(rows.lowerBound + i): " + (isScored ? "a value in [0, 1]" : "NaN (R = 0: not scored)"), "\(v)")
                }
                values[i * m + k] = v
                offset += 8
            }
        }
        var counts = [Int](repeating: 0, count: curveEntries)
        for i in 0 ..< curveEntries {
            let v = Int64(bitPattern: uint(UInt64.self, at: offset))
            guard v >= 0 && v <= Int64(n) * Int64(max(1, cd)) else {
                throw bad(at: offset, "a curve count from 0 to \(n * max(1, cd))", "\(v)")
            }
            counts[i] = Int(v)
            offset += 8
        }
        if cd > 0 && counts[0 ... cd].reduce(0, +) != scored {
            throw bad(at: bodyStart + n * (12 + 8 * m), "first-hit counts summing to the \(scored) scored queries", "a sum of \(counts[0 ... cd].reduce(0, +))")
        }
        return PartialResult(
            toolVersion: header.tool_version, shard: shard, totalQueries: header.queries.total, metrics: metrics,
            depth: header.depth, curveDepth: cd, classCount: header.class_count,
            parameters: header.parameters.map { ($0[0], $0[1]) }, inputs: header.inputs.map { ($0[0], $0[1]) },
            dataset: header.dataset.identity, queryDataset: header.query_dataset?.identity,
            timings: header.timings.map { ($0.stage, $0.seconds) },
            relevantCounts: relevantCounts, classes: classes, values: values,
            firstHits: cd > 0 ? Array(counts[0 ... cd]) : [], hitsAt: cd > 0 ? Array(counts[(cd + 1)...]) : [])
    }

    private static func describe(_ error: DecodingError) -> (expected: String, found: String) {
        func name(_ keys: [any CodingKey]) -> String {
            var out = ""
            for key in keys {
                if let index = key.intValue { out += "[\(index)]" } else { out += (out.isEmpty ? "" : ".") + key.stringValue }
            }
            return out.isEmpty ? "the header" : "header \"\(out)\""
        }
        switch error {
        case .keyNotFound(let key, let context):
            return ("\(name(context.codingPath + [key])) present", "no such field")
        case .typeMismatch(let type, let context), .valueNotFound(let type, let context):
            return ("\(name(context.codingPath)) of type \(type)", "another type or null")
        case .dataCorrupted(let context):
            return ("\(name(context.codingPath)) holding valid JSON", "malformed JSON")
        @unknown default:
            return ("a valid header", "one that does not decode")
        }
    }
}

/// "0a" for 10: two lower-case hex digits.
private func hexByte(_ b: UInt8) -> String {
    let digits = Array("0123456789abcdef")
    return String([digits[Int(b >> 4)], digits[Int(b & 15)]])
}

/// A header field refused while decoding, before the file's name is known.
struct HeaderFieldError: Error {
    var expected: String
    var found: String
}

/// The JSON header of a part, field for field.
struct Header: Codable {
    struct ShardField: Codable { var index: Int; var count: Int }
    struct Queries: Codable { var total: Int; var first: Int; var end: Int }
    struct Timing: Codable { var stage: String; var seconds: Double }
    struct Identity: Codable {
        var hash: String
        var embeddings_hash: String
        var labels_hash: String
        var rows: Int
        var dimensions: Int
        var classes: Int

        init(_ identity: Baseline.DatasetIdentity) {
            hash = identity.hash
            embeddings_hash = identity.embeddingsHash
            labels_hash = identity.labelsHash
            rows = identity.rows
            dimensions = identity.dimensions
            classes = identity.classes
        }

        var identity: Baseline.DatasetIdentity {
            .init(hash: hash, embeddingsHash: embeddings_hash, labelsHash: labels_hash, rows: rows, dimensions: dimensions, classes: classes)
        }
    }

    var format: String
    var version: Int
    var tool_version: String
    var shard: ShardField
    var queries: Queries
    var metrics: [String]
    var depth: Int
    var curve_depth: Int
    var class_count: Int
    var parameters: [[String]]
    var inputs: [[String]]
    var dataset: Identity
    var query_dataset: Identity?
    var timings: [Timing]

    init(format: String, version: Int, tool_version: String, shard: ShardField, queries: Queries, metrics: [String],
         depth: Int, curve_depth: Int, class_count: Int, parameters: [[String]], inputs: [[String]],
         dataset: Identity, query_dataset: Identity?, timings: [Timing]) {
        self.format = format
        self.version = version
        self.tool_version = tool_version
        self.shard = shard
        self.queries = queries
        self.metrics = metrics
        self.depth = depth
        self.curve_depth = curve_depth
        self.class_count = class_count
        self.parameters = parameters
        self.inputs = inputs
        self.dataset = dataset
        self.query_dataset = query_dataset
        self.timings = timings
    }

    enum CodingKeys: String, CodingKey {
        case format, version, tool_version, shard, queries, metrics, depth, curve_depth, class_count, parameters, inputs,
             dataset, query_dataset, timings
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        // The format and version first: another kind of JSON is named as such.
        format = try c.decode(String.self, forKey: .format)
        guard format == "dmleval-partial" else {
            throw HeaderFieldError(expected: "header \"format\": \"dmleval-partial\"", found: JSONValue.quote(String(format.prefix(40))))
        }
        version = try c.decode(Int.self, forKey: .version)
        guard version == PartialResult.formatVersion else {
            throw HeaderFieldError(expected: "header \"version\": \(PartialResult.formatVersion), as in the file's fixed header", found: "\(version)")
        }
        tool_version = try c.decode(String.self, forKey: .tool_version)
        shard = try c.decode(ShardField.self, forKey: .shard)
        queries = try c.decode(Queries.self, forKey: .queries)
        metrics = try c.decode([String].self, forKey: .metrics)
        depth = try c.decode(Int.self, forKey: .depth)
        curve_depth = try c.decode(Int.self, forKey: .curve_depth)
        class_count = try c.decode(Int.self, forKey: .class_count)
        parameters = try c.decode([[String]].self, forKey: .parameters)
        inputs = try c.decode([[String]].self, forKey: .inputs)
        dataset = try c.decode(Identity.self, forKey: .dataset)
        query_dataset = try c.decodeIfPresent(Identity.self, forKey: .query_dataset)
        timings = try c.decode([Timing].self, forKey: .timings)
    }
}
