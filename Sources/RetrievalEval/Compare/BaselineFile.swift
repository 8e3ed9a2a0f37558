import Foundation

/// A problem with one field of a baseline, before the file's name is known.
public struct BaselineFieldError: Error, Sendable {
    public var expected: String
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
                found: "\(version)" + (version > Baseline.formatVersion ? " (a newer dmleval wrote it: upgrade dmleval)" : ""))
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
