import Foundation

/// A saved run that later runs are checked against: self-contained, versioned JSON
/// (`docs/formats.md`, "Baseline files").
///
/// The labels' hash identifies the test set (the same items, labelled the same, in the
/// same order), the embeddings' hash the model output. Per-query values make paired
/// significance tests possible without the store that produced them.
public struct Baseline: Sendable {
    /// The version of the file format this code writes.
    public static let formatVersion = 1

    /// A dataset as the baseline identifies it.
    public struct DatasetIdentity: Sendable, Equatable {
        public var hash: String
        public var embeddingsHash: String
        public var labelsHash: String
        public var rows: Int
        public var dimensions: Int
        public var classes: Int

        public init(_ record: DatasetRecord) {
            hash = record.hash
            embeddingsHash = record.embeddingsHash
            labelsHash = record.labelsHash
            rows = record.rows
            dimensions = record.dimensions
            classes = record.classCount
        }

        /// The identity as JSON: the hashes, then the shape and the class count.
        public var json: [(String, JSONValue)] {
            [("hash", .string(hash)), ("embeddings_hash", .string(embeddingsHash)), ("labels_hash", .string(labelsHash)),
             ("rows", .int(rows)), ("dimensions", .int(dimensions)), ("classes", .int(classes))]
        }

        public init(hash: String, embeddingsHash: String, labelsHash: String, rows: Int, dimensions: Int, classes: Int) {
            self.hash = hash
            self.embeddingsHash = embeddingsHash
            self.labelsHash = labelsHash
            self.rows = rows
            self.dimensions = dimensions
            self.classes = classes
        }
    }

    public var toolVersion: String
    public var createdAt: String
    /// The run it was exported from, if any.
    public var sourceRun: Int64?
    public var name: String?
    public var dataset: DatasetIdentity
    public var queryDataset: DatasetIdentity?
    public var search: String
    public var distance: Distance
    public var depth: Int
    /// Every parameter and convention of the run, in order.
    public var parameters: [(String, String)]
    public var scoredQueries: Int
    public var excludedQueries: Int
    /// The metrics, in order, with their means.
    public var metrics: [Metric]
    public var means: [Double]
    /// `perQuery[m][q]`, NaN for excluded queries.
    public var perQuery: [[Float]]

    /// A baseline from a stored run and its per-query values.
    public init(run: RunRecord, perQuery: [(metric: String, values: [Float])]) throws {
        var metrics: [Metric] = []
        for m in run.metrics {
            guard let metric = Metric(name: m.metric) else {
                throw StoreError("run \(run.id) holds the metric '\(m.metric)', which this dmleval does not know")
            }
            metrics.append(metric)
        }
        guard let distance = Distance(rawValue: run.distance) else {
            throw StoreError("run \(run.id) used the distance '\(run.distance)', which this dmleval does not know")
        }
        toolVersion = run.toolVersion
        createdAt = run.createdAt
        sourceRun = run.id
        name = run.name
        dataset = DatasetIdentity(run.dataset)
        queryDataset = run.queryDataset.map(DatasetIdentity.init)
        search = run.search
        self.distance = distance
        depth = run.depth
        parameters = run.parameters
        scoredQueries = run.scoredQueries
        excludedQueries = run.excludedQueries
        self.metrics = metrics
        means = run.metrics.map(\.mean)
        let byName = Dictionary(perQuery.map { ($0.metric, $0.values) }, uniquingKeysWith: { a, _ in a })
        self.perQuery = metrics.map { byName[$0.name] ?? [] }
    }

    /// The baseline as JSON text.
    public func encoded() -> String {
        func identity(_ d: DatasetIdentity) -> JSONValue { .object(d.json) }
        let value = JSONValue.object([
            ("format", .string("dmleval-baseline")),
            ("version", .int(Baseline.formatVersion)),
            ("tool_version", .string(toolVersion)),
            ("created_at", .string(createdAt)),
            ("source_run", sourceRun.map { .int(Int($0)) } ?? .null),
            ("name", name.map { .string($0) } ?? .null),
            ("dataset", identity(dataset)),
            ("query_dataset", queryDataset.map(identity) ?? .null),
            ("search", .object([("index", .string(search)), ("distance", .string(distance.rawValue)), ("depth", .int(depth))])),
            ("parameters", .object(parameters.map { ($0.0, .string($0.1)) })),
            ("queries", .int(scoredQueries + excludedQueries)),
            ("excluded_queries", .int(excludedQueries)),
            ("metrics", .array(zip(metrics, means).map { .object([("name", .string($0.name)), ("mean", .number($1))]) })),
            ("per_query", .object(zip(metrics, perQuery).map { metric, values in
                (metric.name, .array(values.map { $0.isFinite ? .number(Double("\($0)") ?? Double($0)) : .null }))
            })),
        ])
        return value.rendered() + "\n"
    }

    /// Writes the baseline to `path` (atomically).
    public func write(to path: String) throws {
        try ArrayWriter.writeText(encoded(), to: path)
    }

    /// Reads a baseline file.
    /// - Throws: `InputError` naming the file and the field that is missing or wrong.
    public static func read(_ path: String) throws -> Baseline {
        let bytes = try BinaryFile(path: path).readAll()
        func bad(_ expected: String, _ found: String) -> InputError {
            InputError(.badHeader, file: path, expected: expected, found: found,
                       remedy: "write it with 'dmleval runs export ID -o FILE' or '--save-baseline FILE'")
        }
        guard let root = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else {
            throw bad("a JSON object", "text that does not parse as one")
        }
        guard root["format"] as? String == "dmleval-baseline" else {
            throw bad("\"format\": \"dmleval-baseline\"", root["format"].map { "\"format\": \($0)" } ?? "no \"format\" field")
        }
        guard let version = root["version"] as? Int else { throw bad("a \"version\" number", "none") }
        guard version <= formatVersion else {
            throw InputError(.unsupportedType, file: path, expected: "baseline format version \(formatVersion) or older",
                             found: "version \(version)", remedy: "upgrade dmleval to read it")
        }
        func identity(_ any: Any?, _ field: String) throws -> DatasetIdentity {
            guard let o = any as? [String: Any], let hash = o["hash"] as? String, let e = o["embeddings_hash"] as? String,
                  let l = o["labels_hash"] as? String, let rows = o["rows"] as? Int, let dims = o["dimensions"] as? Int,
                  let classes = o["classes"] as? Int
            else { throw bad("\"\(field)\" with hash, embeddings_hash, labels_hash, rows, dimensions, classes", "something else") }
            return DatasetIdentity(hash: hash, embeddingsHash: e, labelsHash: l, rows: rows, dimensions: dims, classes: classes)
        }
        let dataset = try identity(root["dataset"], "dataset")
        let queryDataset = root["query_dataset"] is NSNull || root["query_dataset"] == nil ? nil : try identity(root["query_dataset"], "query_dataset")
        guard let search = root["search"] as? [String: Any], let index = search["index"] as? String,
              let distanceName = search["distance"] as? String, let distance = Distance(rawValue: distanceName),
              let depth = search["depth"] as? Int
        else { throw bad("\"search\" with index, distance (cosine, ip or l2) and depth", "something else") }
        guard let metricList = root["metrics"] as? [[String: Any]] else { throw bad("a \"metrics\" array", "none") }
        var metrics: [Metric] = []
        var means: [Double] = []
        for entry in metricList {
            guard let name = entry["name"] as? String, let metric = Metric(name: name) else {
                throw bad("known metric names in \"metrics\"", "\(entry["name"] ?? "no name")")
            }
            metrics.append(metric)
            means.append((entry["mean"] as? Double) ?? .nan)
        }
        guard let queries = root["queries"] as? Int, let excluded = root["excluded_queries"] as? Int else {
            throw bad("\"queries\" and \"excluded_queries\" counts", "none")
        }
        let perQueryObject = root["per_query"] as? [String: Any] ?? [:]
        var perQuery: [[Float]] = []
        for metric in metrics {
            guard let values = perQueryObject[metric.name] as? [Any], values.count == queries else {
                throw bad("\(queries) per-query values for \(metric.name) in \"per_query\"",
                          "\((perQueryObject[metric.name] as? [Any])?.count ?? 0)")
            }
            perQuery.append(values.map { ($0 as? Double).map(Float.init) ?? .nan })
        }
        let parameterObject = root["parameters"] as? [String: Any] ?? [:]
        let parameters = parameterObject.keys.sorted().map { ($0, "\(parameterObject[$0] ?? "")") }
        return Baseline(
            toolVersion: root["tool_version"] as? String ?? "?", createdAt: root["created_at"] as? String ?? "?",
            sourceRun: (root["source_run"] as? Int).map(Int64.init), name: root["name"] as? String,
            dataset: dataset, queryDataset: queryDataset, search: index, distance: distance, depth: depth,
            parameters: parameters, scoredQueries: queries - excluded, excludedQueries: excluded,
            metrics: metrics, means: means, perQuery: perQuery)
    }

    /// A baseline from its parts (for a run that was not stored).
    public init(toolVersion: String, createdAt: String, sourceRun: Int64?, name: String?, dataset: DatasetIdentity,
         queryDataset: DatasetIdentity?, search: String, distance: Distance, depth: Int, parameters: [(String, String)],
         scoredQueries: Int, excludedQueries: Int, metrics: [Metric], means: [Double], perQuery: [[Float]]) {
        self.toolVersion = toolVersion
        self.createdAt = createdAt
        self.sourceRun = sourceRun
        self.name = name
        self.dataset = dataset
        self.queryDataset = queryDataset
        self.search = search
        self.distance = distance
        self.depth = depth
        self.parameters = parameters
        self.scoredQueries = scoredQueries
        self.excludedQueries = excludedQueries
        self.metrics = metrics
        self.means = means
        self.perQuery = perQuery
    }
}
