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
        /// SHA-256 (hex) of the embeddings' hash followed by the labels' hash: the pair's identity.
        public var hash: String
        /// SHA-256 (hex) of the embedding values: the model output.
        public var embeddingsHash: String
        /// SHA-256 (hex) of the labels in order: the test set.
        public var labelsHash: String
        /// The number of items (rows of the embedding matrix).
        public var rows: Int
        /// The length of each embedding.
        public var dimensions: Int
        /// The number of distinct labels.
        public var classes: Int

        /// The identity as JSON: the hashes, then the shape and the class count.
        public var json: [(String, JSONValue)] {
            [("hash", .string(hash)), ("embeddings_hash", .string(embeddingsHash)), ("labels_hash", .string(labelsHash)),
             ("rows", .int(rows)), ("dimensions", .int(dimensions)), ("classes", .int(classes))]
        }

        /// An identity from its hashes, shape and class count.
        public init(hash: String, embeddingsHash: String, labelsHash: String, rows: Int, dimensions: Int, classes: Int) {
            self.hash = hash
            self.embeddingsHash = embeddingsHash
            self.labelsHash = labelsHash
            self.rows = rows
            self.dimensions = dimensions
            self.classes = classes
        }
    }

    /// The dmleval version that wrote the baseline (a plain version number).
    public var toolVersion: String
    /// When the baseline was written: ISO 8601, UTC.
    public var createdAt: String
    /// The run it was exported from, if any.
    public var sourceRun: Int64?
    /// The name given with `--name`, if any.
    public var name: String?
    /// The references (the dataset searched).
    public var dataset: DatasetIdentity
    /// The separate query set, or nil for self-retrieval.
    public var queryDataset: DatasetIdentity?
    /// "exact", "hnsw", "ivf", or `Baseline.trecSearch` for a TREC run scored by `score-run`.
    public var search: String
    /// The similarity searched with; nil for a TREC run (stored as "none").
    public var distance: Distance?
    /// The depth of the saved lists: the largest any metric needs.
    public var depth: Int
    /// Every parameter and convention of the run, in order.
    public var parameters: [(String, String)]
    /// The number of queries scored.
    public var scoredQueries: Int
    /// The number of queries left out (no relevant item); their per-query values are NaN.
    public var excludedQueries: Int
    /// The metrics, in order, with their means.
    public var metrics: [Metric]
    /// The mean of each metric over the scored queries, in the order of `metrics`.
    public var means: [Double]
    /// `perQuery[m][q]`, NaN for excluded queries.
    public var perQuery: [[Float]]

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
            ("search", .object([("index", .string(search)), ("distance", .string(distance?.rawValue ?? "none")), ("depth", .int(depth))])),
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

    /// The largest baseline file read: 10 metrics of a million queries take about 120 MB, so
    /// this leaves room while keeping a hostile file from taking the machine's memory.
    public static let maximumFileBytes = 512 << 20

    /// Reads a baseline file, decoding every field into a typed value and validating it
    /// (`validate()`): a baseline is untrusted input, and a damaged one must never pass a gate.
    /// - Throws: `InputError` naming the file and the field that is missing or wrong.
    public static func read(_ path: String) throws -> Baseline {
        let file = try BinaryFile(path: path)
        guard file.size <= maximumFileBytes else {
            throw InputError(.wrongSize, file: path, expected: "a baseline of at most \(maximumFileBytes >> 20) MiB",
                             found: "\(file.size) bytes", remedy: "check the path: this is not a baseline dmleval wrote")
        }
        // Mapped rather than copied: the file's pages are shared with the page cache, and the
        // decoder keeps per-query values as float32, so memory stays near the file's size.
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        } catch {
            data = Data(try file.readAll())
        }
        var decoded: BaselineFile
        do {
            // The per-query arrays are read on their own, straight into float32; the rest goes
            // through the decoder.
            let parts = try data.withUnsafeBytes { raw -> (Data, [String: [Float]])? in
                // A file the scanner cannot split is left to the decoder, which names what is wrong.
                guard let (rest, range) = (try? PerQueryScanner.split(raw)) ?? nil else { return nil }
                return (rest, try PerQueryScanner.parseColumns(UnsafeRawBufferPointer(rebasing: raw[range])))
            }
            if let (rest, columns) = parts {
                decoded = try JSONDecoder().decode(BaselineFile.self, from: rest)
                decoded.per_query = columns.mapValues(BaselineFile.Column.init(values:))
            } else {
                decoded = try JSONDecoder().decode(BaselineFile.self, from: data)
            }
        } catch let error as PerQueryScanner.Failure {
            throw InputError(.badHeader, file: path, expected: error.expected, found: error.found, remedy: remedy)
        } catch let error as BaselineFieldError {
            throw InputError(.badHeader, file: path, expected: error.expected, found: error.found, remedy: remedy)
        } catch let error as DecodingError {
            let (expected, found) = describe(error)
            throw InputError(.badHeader, file: path, expected: expected, found: found, remedy: remedy)
        } catch {
            throw InputError(.badHeader, file: path, expected: "a JSON object", found: "text that does not parse as one", remedy: remedy)
        }
        let baseline = try decoded.baseline(path: path)
        do {
            try baseline.validate()
        } catch let error as BaselineFieldError {
            throw InputError(.badHeader, file: path, expected: error.expected, found: error.found, remedy: remedy)
        }
        return baseline
    }

    /// What to tell the user to do when a baseline file is refused.
    public static let remedy = "write it again with 'dmleval runs export ID -o FILE' or '--save-baseline FILE'; a baseline that was edited by hand is refused"

    /// Checks everything a gate relies on: known version and metrics, finite means in [0, 1]
    /// equal to the mean of the per-query values, per-query arrays of one value per query
    /// (null exactly for the excluded ones), consistent counts and identities.
    /// - Throws: `BaselineFieldError` naming the field.
    public func validate() throws {
        func fail(_ field: String, _ expected: String, _ found: String) -> BaselineFieldError {
            BaselineFieldError(expected: "\"\(field)\": \(expected)", found: found)
        }
        guard Baseline.isPlainVersion(toolVersion) else {
            throw fail("tool_version", "a version such as 0.1.0", "\(JSONValue.quote(String(toolVersion.prefix(40))))")
        }
        for (field, identity) in [("dataset", Optional(dataset)), ("query_dataset", queryDataset)] {
            guard let identity else { continue }
            for (name, hash) in [("hash", identity.hash), ("embeddings_hash", identity.embeddingsHash), ("labels_hash", identity.labelsHash)] {
                guard hash.utf8.count == 64, hash.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) else {
                    throw fail("\(field).\(name)", "64 lowercase hex digits (SHA-256)", JSONValue.quote(String(hash.prefix(70))))
                }
            }
            // A TREC run's dataset has queries for rows and neither dimensions nor classes.
            guard identity.rows >= 1, isTrec ? identity.dimensions == 0 && identity.classes == 0
                    : identity.dimensions >= 1 && identity.classes >= 1 && identity.classes <= identity.rows else {
                throw fail(field, "rows, dimensions and classes of at least 1, classes at most rows",
                           "rows \(identity.rows), dimensions \(identity.dimensions), classes \(identity.classes)")
            }
        }
        guard IndexKind(rawValue: search) != nil || isTrec else {
            throw fail("search.index", "exact, hnsw, ivf or \(Baseline.trecSearch)", JSONValue.quote(search))
        }
        guard (distance == nil) == isTrec else {
            throw fail("search.distance", isTrec ? "none, for a TREC run" : "cosine, ip or l2", distance?.rawValue ?? "none")
        }
        let queries = scoredQueries + excludedQueries
        let expectedQueries = (queryDataset ?? dataset).rows
        guard excludedQueries >= 0, scoredQueries >= 1, queries == expectedQueries else {
            throw fail("queries", "\(expectedQueries) queries (the rows of the \(queryDataset == nil ? "dataset" : "query set")), at least one of them scored",
                       "\(queries) queries, \(excludedQueries) excluded")
        }
        guard isTrec ? depth >= 0 : depth >= 1 && depth <= dataset.rows else {
            throw fail("search.depth", "a depth between 1 and the dataset's \(dataset.rows) rows", "\(depth)")
        }
        guard !metrics.isEmpty else { throw fail("metrics", "at least one metric", "an empty list") }
        guard Set(metrics).count == metrics.count else { throw fail("metrics", "each metric once", "a metric listed twice") }
        guard means.count == metrics.count, perQuery.count == metrics.count else {
            throw fail("per_query", "values for every metric", "\(perQuery.count) arrays for \(metrics.count) metrics")
        }
        var excludedPattern: [Bool]?
        for (m, metric) in metrics.enumerated() {
            let mean = means[m]
            guard mean.isFinite, mean >= 0, mean <= 1 else {
                throw fail("metrics[\(m)].mean", "a finite fraction in [0, 1] for \(metric.name)", "\(mean)")
            }
            let values = perQuery[m]
            guard values.count == queries else {
                throw fail("per_query.\(metric.name)", "\(queries) values, one per query", "\(values.count)")
            }
            var sum = 0.0, scored = 0
            for (q, v) in values.enumerated() where !v.isNaN {
                guard v.isFinite, v >= 0, v <= 1 else {
                    throw fail("per_query.\(metric.name)[\(q)]", "a fraction in [0, 1] or null", "\(v)")
                }
                sum += Double(v)
                scored += 1
            }
            guard scored == scoredQueries else {
                throw fail("per_query.\(metric.name)", "\(scoredQueries) values and \(excludedQueries) nulls (the excluded queries)",
                           "\(scored) values and \(queries - scored) nulls")
            }
            let pattern = values.map(\.isNaN)
            if let excludedPattern, excludedPattern != pattern {
                throw fail("per_query.\(metric.name)", "nulls at the same queries as \(metrics[0].name)", "nulls elsewhere")
            }
            excludedPattern = pattern
            // The stored values are float32, so their mean can differ from the stored mean by
            // rounding only.
            let recomputed = sum / Double(scored)
            guard abs(recomputed - mean) <= 1e-5 else {
                throw fail("metrics[\(m)].mean", "the mean of its per-query values, \(recomputed)", "\(mean)")
            }
        }
    }

    /// The `search` of a TREC run scored by `score-run`: the ranking came from a file.
    public static let trecSearch = "trec-run"

    /// Whether this baseline is a TREC run scored by `score-run` (checked with RUN and QRELS).
    public var isTrec: Bool { search == Baseline.trecSearch }

    /// Whether `text` is a plain version string (digits, letters, dots, dashes, plus; at most
    /// 32 characters), so that nothing a baseline carries can inject into what is printed.
    static func isPlainVersion(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.count <= 32
            && text.utf8.allSatisfy { (48...57).contains($0) || (65...90).contains($0) || (97...122).contains($0) || $0 == 46 || $0 == 45 || $0 == 43 }
    }

    private static func describe(_ error: DecodingError) -> (expected: String, found: String) {
        func path(_ keys: [any CodingKey]) -> String {
            var out = ""
            for key in keys {
                if let index = key.intValue { out += "[\(index)]" } else { out += (out.isEmpty ? "" : ".") + key.stringValue }
            }
            return out.isEmpty ? "the file" : "\"\(out)\""
        }
        switch error {
        case .typeMismatch(let type, let context):
            return ("\(path(context.codingPath)) to be \(typeName(type))", "another type of value")
        case .valueNotFound(let type, let context):
            return ("\(path(context.codingPath)) to be \(typeName(type))", "null")
        case .keyNotFound(let key, let context):
            return ("a field \(path(context.codingPath + [key]))", "none")
        case .dataCorrupted(let context):
            return context.codingPath.isEmpty ? ("a JSON object", "text that does not parse as one")
                : ("a valid value at \(path(context.codingPath))", context.debugDescription)
        @unknown default:
            return ("a baseline", "\(error)")
        }
    }

    private static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Int.Type, is Int64.Type: "an integer"
        case is Double.Type, is Float.Type: "a number"
        case is [Any].Type: "an array"
        default: "an object"
        }
    }

    /// A baseline from its parts (for a run that was not stored).
    public init(toolVersion: String, createdAt: String, sourceRun: Int64?, name: String?, dataset: DatasetIdentity,
         queryDataset: DatasetIdentity?, search: String, distance: Distance?, depth: Int, parameters: [(String, String)],
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
