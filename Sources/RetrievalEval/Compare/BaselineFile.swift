import Foundation

/// A problem with one field of a baseline, before the file's name is known.
public struct BaselineFieldError: Error, Sendable {
    /// What the field should hold, e.g. `"format": "dmleval-baseline"`.
    public var expected: String
    /// What the file holds there, quoted and cut short.
    public var found: String
}

/// The JSON layout of a baseline file (`docs/formats.md`, "Baseline files"), decoded into
/// typed values: a string where a number belongs, a null mean or a missing field is a decoding
/// error that names the field, never a NaN that a gate would read as "no drop".
struct BaselineFile: Decodable {
    struct Identity: Decodable {
        var hash: String
        var embeddings_hash: String
        var labels_hash: String
        var rows: Int
        var dimensions: Int
        var classes: Int

        var identity: Baseline.DatasetIdentity {
            .init(hash: hash, embeddingsHash: embeddings_hash, labelsHash: labels_hash, rows: rows, dimensions: dimensions, classes: classes)
        }
    }

    struct Search: Decodable {
        var index: String
        var distance: String
        var depth: Int
    }

    struct MetricEntry: Decodable {
        var name: String
        var mean: Double
    }

    /// One metric's per-query values, decoded straight into float32 (NaN for null), so a large
    /// baseline costs four bytes per value in memory.
    struct Column: Decodable {
        var values: [Float]

        init(values: [Float]) { self.values = values }

        init(from decoder: any Decoder) throws {
            var container = try decoder.unkeyedContainer()
            values = []
            values.reserveCapacity(container.count ?? 0)
            while !container.isAtEnd {
                if try container.decodeNil() {
                    values.append(.nan)
                } else {
                    values.append(Float(try container.decode(Double.self)))
                }
            }
        }
    }

    var format: String
    var version: Int
    var tool_version: String
    var created_at: String
    var source_run: Int64?
    var name: String?
    var dataset: Identity
    var query_dataset: Identity?
    var search: Search
    var parameters: [String: String]
    var queries: Int
    var excluded_queries: Int
    var metrics: [MetricEntry]
    var per_query: [String: Column]

    enum CodingKeys: String, CodingKey {
        case format, version, tool_version, created_at, source_run, name, dataset, query_dataset, search, parameters,
             queries, excluded_queries, metrics, per_query
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        // The format and version first: another kind of file is named as such, not by the
        // first field it lacks.
        format = try c.decode(String.self, forKey: .format)
        guard format == "dmleval-baseline" else {
            throw BaselineFieldError(expected: "\"format\": \"dmleval-baseline\"", found: JSONValue.quote(String(format.prefix(40))))
        }
        version = try c.decode(Int.self, forKey: .version)
        guard version >= 1 && version <= Baseline.formatVersion else {
            throw BaselineFieldError(
                expected: "\"version\": a baseline format version from 1 to \(Baseline.formatVersion)",
                found: "version \(version)" + (version > Baseline.formatVersion ? ", written by a newer dmleval: upgrade dmleval to read it" : ""))
        }
        tool_version = try c.decode(String.self, forKey: .tool_version)
        created_at = try c.decode(String.self, forKey: .created_at)
        source_run = try c.decodeIfPresent(Int64.self, forKey: .source_run)
        name = try c.decodeIfPresent(String.self, forKey: .name)
        dataset = try c.decode(Identity.self, forKey: .dataset)
        query_dataset = try c.decodeIfPresent(Identity.self, forKey: .query_dataset)
        search = try c.decode(Search.self, forKey: .search)
        parameters = try c.decode([String: String].self, forKey: .parameters)
        queries = try c.decode(Int.self, forKey: .queries)
        excluded_queries = try c.decode(Int.self, forKey: .excluded_queries)
        metrics = try c.decode([MetricEntry].self, forKey: .metrics)
        per_query = try c.decode([String: Column].self, forKey: .per_query)
    }

    /// The baseline these fields describe; names and distances must be known to this dmleval.
    func baseline(path: String) throws -> Baseline {
        func bad(_ expected: String, _ found: String) -> InputError {
            InputError(.badHeader, file: path, expected: expected, found: found, remedy: Baseline.remedy)
        }
        let distance = Distance(rawValue: search.distance)
        guard distance != nil || (search.index == Baseline.trecSearch && search.distance == "none") else {
            throw bad("\"search.distance\": cosine, ip or l2 (none for a TREC run)", JSONValue.quote(String(search.distance.prefix(40))))
        }
        var known: [Metric] = []
        for (i, entry) in metrics.enumerated() {
            guard let metric = Metric(name: entry.name) else {
                throw bad("\"metrics[\(i)].name\": a metric this dmleval knows", JSONValue.quote(String(entry.name.prefix(60))))
            }
            known.append(metric)
        }
        var perQuery: [[Float]] = []
        for metric in known {
            guard let column = per_query[metric.name] else {
                throw bad("\"per_query\" values for \(metric.name)", "none")
            }
            perQuery.append(column.values)
        }
        guard queries >= 0, excluded_queries >= 0, excluded_queries <= queries else {
            throw bad("\"queries\" >= \"excluded_queries\" >= 0", "\(queries) and \(excluded_queries)")
        }
        return Baseline(
            toolVersion: tool_version, createdAt: created_at, sourceRun: source_run, name: name,
            dataset: dataset.identity, queryDataset: query_dataset?.identity, search: search.index, distance: distance,
            depth: search.depth, parameters: parameters.keys.sorted().map { ($0, parameters[$0]!) },
            scoredQueries: queries - excluded_queries, excludedQueries: excluded_queries,
            metrics: known, means: metrics.map(\.mean), perQuery: perQuery)
    }
}

/// The per-query values of a baseline, read straight from the file's bytes into float32.
///
/// They are almost all of a baseline's size (ten metrics of a million queries are about 120 MB
/// of text), so they are not given to `JSONDecoder`, which would hold several times that in
/// memory: `split` cuts the `per_query` member out of the top-level object, the rest is decoded
/// as usual, and `parseColumns` reads the arrays value by value.
enum PerQueryScanner {
    @inline(__always)
    static func isSpace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 }

    struct Failure: Error {
        var expected: String
        var found: String
    }

    /// The file without its `per_query` value (replaced by `{}`), and the byte range of that
    /// value; nil when the top-level object has no such member.
    static func split(_ bytes: UnsafeRawBufferPointer) throws -> (rest: Data, perQuery: Range<Int>)? {
        var i = 0
        let n = bytes.count
        func skipSpace() { while i < n, isSpace(bytes[i]) { i += 1 } }
        /// Skips a string starting at `i` (on its quote) and returns its raw bytes' range.
        func skipString() throws -> Range<Int> {
            let start = i + 1
            i += 1
            while i < n {
                if bytes[i] == 0x5C { i += 2; continue }
                if bytes[i] == 0x22 { i += 1; return start ..< i - 1 }
                i += 1
            }
            throw Failure(expected: "a closed string", found: "the end of the file")
        }
        /// Skips any value starting at `i`.
        func skipValue() throws {
            skipSpace()
            guard i < n else { throw Failure(expected: "a value", found: "the end of the file") }
            if bytes[i] == 0x22 { _ = try skipString(); return }
            guard bytes[i] == 0x7B || bytes[i] == 0x5B else {
                while i < n, !isSpace(bytes[i]) && bytes[i] != 0x2C && bytes[i] != 0x7D && bytes[i] != 0x5D { i += 1 }
                return
            }
            var depth = 0
            while i < n {
                switch bytes[i] {
                case 0x22: _ = try skipString(); continue
                case 0x7B, 0x5B: depth += 1
                case 0x7D, 0x5D:
                    depth -= 1
                    if depth == 0 { i += 1; return }
                default: break
                }
                i += 1
            }
            throw Failure(expected: "a closed object or array", found: "the end of the file")
        }
        skipSpace()
        guard i < n, bytes[i] == 0x7B else { return nil }
        i += 1
        while true {
            skipSpace()
            guard i < n, bytes[i] == 0x22 else { return nil }
            let key = try skipString()
            skipSpace()
            guard i < n, bytes[i] == 0x3A else { return nil }
            i += 1
            skipSpace()
            let valueStart = i
            try skipValue()
            if key.count == 9 && memcmp(bytes.baseAddress! + key.lowerBound, "per_query", 9) == 0 {
                var rest = Data(bytes[0 ..< valueStart])
                rest.append(contentsOf: Array("{}".utf8))
                rest.append(contentsOf: bytes[i ..< n])
                return (rest, valueStart ..< i)
            }
            skipSpace()
            guard i < n, bytes[i] == 0x2C else { return nil }
            i += 1
        }
    }

    /// Reads `{"name": [number or null, ...], ...}` into float32 columns (NaN for null).
    static func parseColumns(_ bytes: UnsafeRawBufferPointer) throws -> [String: [Float]] {
        var i = 0
        let n = bytes.count
        var out: [String: [Float]] = [:]
        func skipSpace() { while i < n, isSpace(bytes[i]) { i += 1 } }
        func expect(_ byte: UInt8, _ what: String, _ field: String) throws {
            skipSpace()
            guard i < n, bytes[i] == byte else {
                throw Failure(expected: "\"per_query\"\(field) to hold \(what)", found: i < n ? "byte '\(Character(Unicode.Scalar(bytes[i])))'" : "the end")
            }
            i += 1
        }
        try expect(0x7B, "an object of arrays", "")
        skipSpace()
        if i < n && bytes[i] == 0x7D { return out }
        var number = [CChar](repeating: 0, count: 40)
        while true {
            skipSpace()
            guard i < n, bytes[i] == 0x22 else { throw Failure(expected: "\"per_query\" keys that are metric names", found: "something else") }
            let start = i
            i += 1
            while i < n && bytes[i] != 0x22 { i += bytes[i] == 0x5C ? 2 : 1 }
            i += 1
            guard i <= n, let name = try? JSONDecoder().decode([String].self, from: Data("[".utf8) + Data(bytes[start ..< i]) + Data("]".utf8)).first
            else { throw Failure(expected: "\"per_query\" keys that are strings", found: "a broken key") }
            try expect(0x3A, "a colon after \"\(name)\"", "")
            try expect(0x5B, "an array", ".\(name)")
            var values: [Float] = []
            skipSpace()
            if i < n && bytes[i] == 0x5D {
                i += 1
            } else {
                while true {
                    skipSpace()
                    let begin = i
                    while i < n, !isSpace(bytes[i]) && bytes[i] != 0x2C && bytes[i] != 0x5D { i += 1 }
                    let length = i - begin
                    func field() -> String { ".\(name)[\(values.count)]" }
                    if length == 4 && memcmp(bytes.baseAddress! + begin, "null", 4) == 0 {
                        values.append(.nan)
                    } else {
                        // A JSON number: digits, sign, point, exponent; nothing else (no NaN,
                        // no strings), and short enough for any double.
                        var plain = length > 0 && length < number.count
                        var k = begin
                        while plain && k < i {
                            let c = bytes[k]
                            plain = (c >= 0x30 && c <= 0x39) || c == 0x2D || c == 0x2B || c == 0x2E || c == 0x65 || c == 0x45
                            k += 1
                        }
                        guard plain else {
                            throw Failure(expected: "\"per_query\"\(field()) to be a number or null",
                                          found: length == 0 ? "nothing" : "'\(String(decoding: bytes[begin ..< min(i, begin + 20)], as: UTF8.self))'")
                        }
                        for k in 0 ..< length { number[k] = CChar(bitPattern: bytes[begin + k]) }
                        number[length] = 0
                        var end: UnsafeMutablePointer<CChar>?
                        let value = number.withUnsafeMutableBufferPointer { b in strtod(b.baseAddress!, &end).self }
                        let consumed = number.withUnsafeMutableBufferPointer { b in end.map { $0 - b.baseAddress! } ?? 0 }
                        guard consumed == length else {
                            throw Failure(expected: "\"per_query\"\(field()) to be a number or null",
                                          found: "'\(String(decoding: bytes[begin ..< i], as: UTF8.self))'")
                        }
                        values.append(Float(value))
                    }
                    skipSpace()
                    guard i < n else { throw Failure(expected: "\"per_query\".\(name) to end with ']'", found: "the end of the file") }
                    if bytes[i] == 0x5D { i += 1; break }
                    try expect(0x2C, "values separated by commas", ".\(name)")
                }
            }
            guard out[name] == nil else { throw Failure(expected: "each \"per_query\" key once", found: "\"\(name)\" twice") }
            out[name] = values
            skipSpace()
            guard i < n else { throw Failure(expected: "\"per_query\" to end with '}'", found: "the end of the file") }
            if bytes[i] == 0x7D { return out }
            try expect(0x2C, "members separated by commas", "")
        }
    }
}
