import RetrievalEval

/// A job's refusal: the problem, the values involved, and the setting to change.
///
/// Front ends word these for their own users (the CLI names its flags); the description names
/// the library's settings.
public enum JobError: Error, Sendable, CustomStringConvertible {
    /// No store exists at the path a reading job was given.
    case noStore(path: String)
    /// The store cannot be created: its folder is missing or not writable.
    case storeNotCreatable(path: String, folder: String)
    /// A stored dataset was asked for without a store.
    case datasetNeedsStore(dataset: String)
    /// An index file is of another kind, or for another distance, than the search asks for.
    case indexMismatch(file: String, expected: (kind: IndexKind, distance: Distance), found: (kind: IndexKind, distance: Distance))
    /// Bootstrap intervals need at least 2 scored queries.
    case tooFewScoredQueriesForIntervals(found: Int)
    /// Clustering needs at least 2 classes.
    case tooFewClassesToCluster(found: Int)
    /// A metric to check that the baseline does not hold.
    case unknownBaselineMetric(baseline: String, available: [String], name: String)
    /// The baseline used the other protocol (self-retrieval against a query set).
    case protocolMismatch(baseline: String, baselineHasQueries: Bool)
    /// The baseline names this test set's labels hash with other counts: it was edited.
    case editedBaseline(baseline: String, rows: Int, classes: Int, claimedRows: Int, claimedClasses: Int)
    /// The labels are not the baseline's test set.
    case testSetMismatch(baseline: String, expectedLabelsHash: String, expectedRows: Int, foundLabelsHash: String, foundRows: Int,
                         foundQueryLabelsHash: String?)
    /// A baseline made from a TREC run needs a run file and qrels file, not a dataset or queries.
    case trecBaselineNeedsFiles(baseline: String, foundDataset: Bool)
    /// The qrels are not the baseline's.
    case qrelsMismatch(baseline: String, expectedHash: String, expectedQueries: Int, file: String, foundHash: String, foundQueries: Int)
    /// An nprobe above the index's number of lists.
    case probesExceedLists(lists: Int, found: Int)
    /// A training grid compares test metrics, so it needs a test set.
    case gridNeedsTestSet
    /// A training run needs more memory than the process can have.
    case trainingExceedsMemory(loss: String, dimension: Int, proxiesPerClass: Int, bytes: Int?, limit: Int)
    /// Runs to compare that share no metric.
    case noSharedMetric(runs: [Int64])
    /// Streaming the embeddings asked for with a setting that needs them loaded or stored.
    case streamingUnsupported(setting: String)

    public var description: String {
        switch self {
        case .noStore(let path):
            return "\(path): no store here yet; record a run first, or give the store's path"
        case .storeNotCreatable(let path, let folder):
            return "\(path): cannot create the store: the folder '\(folder)' does not exist or is not writable; create it, or choose another store path (or none)"
        case .datasetNeedsStore(let dataset):
            return "dataset '\(dataset)': a stored dataset needs a store"
        case .indexMismatch(let file, let expected, let found):
            return "\(file): expected an \(expected.kind.rawValue) index for distance \(expected.distance.rawValue), found an \(found.kind.rawValue) index for \(found.distance.rawValue); set kind and distance to the file's, or build the index again"
        case .tooFewScoredQueriesForIntervals(let found):
            return "confidence: a bootstrap interval needs at least 2 scored queries to resample, found \(found) (queries with R = 0 are not scored); leave confidence unset"
        case .tooFewClassesToCluster(let found):
            return "clustering needs at least 2 classes to cluster into, found \(found)"
        case .unknownBaselineMetric(let baseline, let available, let name):
            return "\(baseline): expected one of the baseline's metrics (\(available.joined(separator: ", "))), found metricNames \(name); check a metric the baseline recorded"
        case .protocolMismatch(let baseline, let hasQueries):
            return "\(baseline): expected \(hasQueries ? "a query set" : "self-retrieval"), as the baseline, found \(hasQueries ? "self-retrieval" : "a query set"); evaluate the same protocol, or set allowDatasetChange"
        case .editedBaseline(let baseline, let rows, let classes, let claimedRows, let claimedClasses):
            return "\(baseline): expected \(rows) rows in \(classes) classes, as the labels whose hash it names, found \(claimedRows) rows in \(claimedClasses) classes; the baseline was edited: write it again"
        case .testSetMismatch(let baseline, let expectedHash, let expectedRows, let foundHash, let foundRows, let queryHash):
            return "\(baseline): expected the baseline's test set (labels hash \(expectedHash.prefix(12)), \(expectedRows) items), found labels hash \(foundHash.prefix(12)), \(foundRows) items" + (queryHash.map { ", query labels hash \($0.prefix(12))" } ?? "") + "; check against a baseline of this test set, or set allowDatasetChange"
        case .trecBaselineNeedsFiles(let baseline, let foundDataset):
            return "\(baseline): expected a new TREC run and the qrels as the two files, as the baseline was made from a TREC run, found \(foundDataset ? "a stored dataset" : "a query set")"
        case .qrelsMismatch(let baseline, let expectedHash, let expectedQueries, let file, let foundHash, let foundQueries):
            return "\(baseline): expected the baseline's qrels (hash \(expectedHash.prefix(12)), \(expectedQueries) judged queries), found \(file) (hash \(foundHash.prefix(12)), \(foundQueries) judged queries); check against a baseline of these qrels, or set allowDatasetChange"
        case .probesExceedLists(let lists, let found):
            return "nprobe: every value must be at most nlist (\(lists)), found \(found)"
        case .gridNeedsTestSet:
            return "a training grid compares test metrics: give a test set"
        case .trainingExceedsMemory(let loss, let dimension, let k, let bytes, let limit):
            return "training \(loss) with outputDimension \(dimension) and K = \(k) needs \(bytes.map(MemoryBudget.describe) ?? "more than 2^63 bytes"), more than the \(MemoryBudget.describe(limit)) this process can have; choose a smaller setting"
        case .noSharedMetric(let runs):
            return "runs \(runs.map(String.init).joined(separator: ", ")) share no metric; compare runs of the same metrics"
        case .streamingUnsupported(let setting):
            return "streaming reads the embeddings in tiles and cannot go with \(setting); load them instead"
        }
    }
}
