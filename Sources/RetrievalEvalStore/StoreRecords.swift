import Foundation
import GRDB

// The store's rows as GRDB Codable records, one per table that holds more than a blob: the
// columns are the properties, and the JSON columns (settings, timings, metric names, test
// values) are Codable values that GRDB writes and reads as JSON text. The schema is the
// migrations' (Store.migrator); these types only name its columns.

/// Ordered (name, value) pairs, stored as a JSON array of `[name, value]` pairs so that the
/// order of settings and stages is kept (a JSON object would not promise it).
struct NamedValues<Value: Codable>: Codable {
    var pairs: [(String, Value)]

    init(_ pairs: [(String, Value)]) { self.pairs = pairs }

    init(from decoder: any Decoder) throws {
        var container = try decoder.unkeyedContainer()
        var pairs: [(String, Value)] = []
        while !container.isAtEnd {
            // An entry that is not a [name, value] pair is skipped, as the first stores' reader did.
            if let pair = try container.decode(Pair.self).pair { pairs.append(pair) }
        }
        self.pairs = pairs
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.unkeyedContainer()
        for (name, value) in pairs {
            var pair = container.nestedUnkeyedContainer()
            try pair.encode(name)
            // JSON has no NaN or infinity: such a value is stored as null (read back as absent).
            if let number = value as? Double, !number.isFinite { try pair.encodeNil() } else { try pair.encode(value) }
        }
    }

    /// One entry, nil when it is not a [name, value] pair of the expected types.
    private struct Pair: Decodable {
        let pair: (String, Value)?

        init(from decoder: any Decoder) throws {
            guard var container = try? decoder.unkeyedContainer(), container.count == 2,
                  let name = try? container.decode(String.self), let value = try? container.decode(Value.self)
            else { pair = nil; return }
            pair = (name, value)
        }
    }
}

/// A row of `dataset`.
struct DatasetRow: Codable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "dataset"
    var id: Int64?
    var hash: String
    var embeddingsHash: String
    var labelsHash: String
    var rows: Int
    var dimensions: Int
    var classCount: Int
    var labelKind: String
    var embeddingsPath: String?
    var labelsPath: String?
    var createdAt: String
}

/// A row of `run`.
struct RunRow: Codable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "run"
    var id: Int64?
    var datasetId: Int64
    var queryDatasetId: Int64?
    var name: String?
    var createdAt: String
    var toolVersion: String
    var search: String
    var distance: String
    var depth: Int
    var parameters: NamedValues<String>
    var scoredQueries: Int
    var excludedQueries: Int
    var timings: NamedValues<Double>
}

/// A row of `runMetric`: a metric's means and its per-query values (float32, little-endian;
/// nil when a query leaves them out).
struct RunMetricRow: Codable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "runMetric"
    var runId: Int64
    var position: Int
    var metric: String
    var mean: Double?
    var macroMean: Double?
    var perQuery: Data?
}

/// A row of `runCurve`: Recall@k and Precision@k at one k.
struct RunCurveRow: Codable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "runCurve"
    var runId: Int64
    var k: Int
    var recall: Double?
    var precision: Double?
}

/// A row of `trainingRun`.
struct TrainingRunRow: Codable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "trainingRun"
    var id: Int64?
    var createdAt: String
    var toolVersion: String
    var loss: String
    var parameters: NamedValues<String>
    var trainingDatasetId: Int64
    var testDatasetId: Int64?
    var evaluationRunId: Int64?
    var metricNames: [String]
}

/// A row of `trainingEpoch`: the test values in `metricNames` order, null for a value that was
/// not finite.
struct TrainingEpochRow: Codable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "trainingEpoch"
    var trainingRunId: Int64
    var epoch: Int
    var loss: Double?
    var test: [Double?]
    var seconds: Double
}

/// A row of `annIndex`; `data` (the serialised index) is nil when a query leaves it out.
struct IndexRow: Codable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "annIndex"
    var id: Int64?
    var kind: String
    var distance: String
    var embeddingsHash: String
    var rows: Int
    var dimensions: Int
    /// The settings as "name=value;..." for lookups.
    var settingsKey: String
    var settings: NamedValues<String>
    var memoryBytes: Int
    var buildSeconds: Double
    var buildThreads: Int
    var createdAt: String
    var toolVersion: String
    var data: Data?
}
