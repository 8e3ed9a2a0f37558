import RetrievalEval
import RetrievalEvalStore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `dmleval merge` as one library call: read the parts of a sharded run from a folder, prove
/// they belong together, join them, and record one ordinary run (flagged as sharded, with N)
/// whose per-query values and means are the unsharded run's, bit for bit.
public struct ShardMergeJob: Sendable {
    /// The keys of a part's `inputs`: how the shards read their data.
    public enum InputKey {
        /// The keys of the data files: references' embeddings and labels, queries' embeddings and
        /// labels.
        public static let embeddings = "embeddings", labels = "labels", queries = "queries", queryLabels = "query_labels"
        /// The keys of the reader options: input format, dimension, and the archive's embeddings
        /// and labels arrays.
        public static let format = "input_format", dimension = "dim", array = "array", labelsArray = "labels_array"
    }

    /// The folder holding the parts (`part-I-of-N`).
    public var directory: String
    /// The store to record the run in; nil records nothing.
    public var storePath: String?
    /// The run's name in the store.
    public var name: String?
    /// The dmleval version doing the merge; every part must have been written by the same.
    public var toolVersion: String

    /// A merge of the parts in `directory`, recorded in the store at `storePath` if given.
    public init(directory: String, storePath: String?, name: String? = nil, toolVersion: String) {
        self.directory = directory
        self.storePath = storePath
        self.name = name
        self.toolVersion = toolVersion
    }

    /// What a finished merge produced.
    public struct Outcome: Sendable {
        /// The merged report and everything the parts agreed on.
        public let merge: ShardMerge
        /// The parameters recorded: the shards' own, then `sharded` and `shards`.
        public let parameters: [(String, String)]
        /// The stages: the shards' summed read, search and metrics seconds, then the merge's own.
        public let timings: [(String, Double)]
        /// The run's id in the store (nil when nothing was stored).
        public let runID: Int64?
        /// The references' class names (read again only when a store or per-class means need them).
        public let classNames: [String]
        /// The names of the references' dataset in the store (empty when nothing was stored).
        public let datasetNames: [String]
    }

    /// Merges the parts in `directory` and records the run.
    ///
    /// The store is opened only once the parts have merged and the inputs (read again from
    /// the paths the shards recorded, to store the dataset) have the hashes the shards saw; a
    /// failure at any step leaves the store as it was.
    /// - Throws: `ShardError` naming a missing, duplicated or mismatched part (or an input
    ///   whose content changed since the shards ran); `InputError` for a damaged part or an
    ///   unreadable input; `StoreError`.
    public func run() throws -> Outcome {
        let clock = ContinuousClock()
        let started = clock.now
        let folder = directory.hasSuffix("/") && directory.count > 1 ? String(directory.dropLast()) : directory
        let sources = try Self.readParts(folder)
        let perClass = sources.first?.part.parameters.contains { $0 == ("per_class", "true") } ?? false
        let merge = try ShardMerge.merge(sources, perClass: perClass, partPath: { "\(folder)/\($0.fileName)" })
        let parameters = merge.parameters + [("sharded", "true"), ("shards", String(merge.shards))]
        var timings: [(String, Double)] = ["read", "search", "metrics"].map { ($0, merge.totalSeconds($0)) }

        // The inputs again, only when a store or per-class names need them.
        var data: (references: LabeledEmbeddings, queries: LabeledEmbeddings?)?
        if storePath != nil || perClass { data = try readInputs(merge) }
        timings.append(("merge", (clock.now - started).seconds))

        var runID: Int64?
        var datasetNames: [String] = []
        if let storePath, let data {
            let storeStart = clock.now
            let store = try StoreLocation(path: storePath, toolVersion: toolVersion).open()
            var added: [Int64] = []
            do {
                let inputs = Dictionary(merge.inputs, uniquingKeysWith: { a, _ in a })
                let (record, created) = try store.ingest(data.references, embeddingsPath: inputs[InputKey.embeddings],
                                                         labelsPath: inputs[InputKey.labels])
                if created { added.append(record.id) }
                datasetNames = record.names
                var queryRecord: DatasetRecord?
                if let queries = data.queries {
                    let (q, created) = try store.ingest(queries, embeddingsPath: inputs[InputKey.queries], labelsPath: inputs[InputKey.queryLabels])
                    if created { added.append(q.id) }
                    queryRecord = q
                }
                timings.append(("store", (clock.now - storeStart).seconds))
                timings.append(("total", (clock.now - started).seconds))
                runID = try store.record(RunInput(
                    datasetID: record.id, queryDatasetID: queryRecord?.id, name: name, toolVersion: toolVersion,
                    search: IndexKind.exact.rawValue, distance: Self.distance(merge), depth: merge.depth,
                    parameters: parameters, report: merge.report, timings: timings
                ).with(curves: merge.curves))
            } catch {
                try? store.removeDatasets(added)
                throw error
            }
        } else {
            timings.append(("total", (clock.now - started).seconds))
        }
        return Outcome(merge: merge, parameters: parameters, timings: timings, runID: runID,
                       classNames: data?.references.labels.classNames ?? [], datasetNames: datasetNames)
    }

    /// The distance the shards searched with (their `distance` parameter).
    public static func distance(_ merge: ShardMerge) -> Distance {
        merge.parameters.first { $0.0 == "distance" }.flatMap { Distance(rawValue: $0.1) } ?? .cosine
    }

    /// Every `part-I-of-N` file of `folder`, read and validated; temporary files of killed
    /// tasks (`part-I-of-N.tmp-PID`) and anything else are ignored.
    static func readParts(_ folder: String) throws -> [ShardMerge.Source] {
        guard let dir = opendir(folder) else {
            throw InputError(.cannotOpen, file: folder, expected: "a folder of parts (part-I-of-N files)",
                             found: String(cString: strerror(errno)).lowercased(),
                             remedy: "give the folder the shards wrote with --partial-out")
        }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            if Shard.parseFileName(name) != nil { names.append(name) }
        }
        closedir(dir)
        guard !names.isEmpty else {
            throw ShardError(.noParts, "\(folder): expected the parts of a sharded run (part-I-of-N files), found none; run the shards first (dmleval EMB LABELS --shard I/N --partial-out \(folder))")
        }
        var sources: [ShardMerge.Source] = []
        for name in names.sorted(by: { Shard.parseFileName($0)!.index < Shard.parseFileName($1)!.index }) {
            let path = "\(folder)/\(name)"
            let part = try PartialResult.read(path)
            let (index, count) = Shard.parseFileName(name)!
            guard part.shard.index == index && part.shard.count == count else {
                throw ShardError(.duplicatePart, "\(path): expected shard \(index)/\(count) as its name says, found shard \(part.shard) (a copy or a renamed part); remove it and rerun shard \(index)/\(count)")
            }
            sources.append(.init(path: path, part: part))
        }
        return sources
    }

    /// Reads the inputs from the paths the shards recorded and checks they still hold what
    /// the shards scored.
    func readInputs(_ merge: ShardMerge) throws -> (LabeledEmbeddings, LabeledEmbeddings?) {
        let inputs = Dictionary(merge.inputs, uniquingKeysWith: { a, _ in a })
        let format = inputs[InputKey.format].flatMap(EmbeddingFormat.init(rawValue:))
        let dimension = inputs[InputKey.dimension].flatMap { Int($0) }
        func read(_ embeddings: String, _ labels: String?, expected: Baseline.DatasetIdentity) throws -> LabeledEmbeddings {
            let data = try LabeledEmbeddings.read(embeddings: embeddings, labels: labels, format: format, dimension: dimension,
                                                  array: inputs[InputKey.array], labelsArray: inputs[InputKey.labelsArray])
            let found = EvaluationJob.identity(data)
            guard found == expected else {
                throw ShardError(.mismatchedPart, "\(embeddings): expected the content the shards scored (hash \(expected.hash.prefix(12))), found hash \(found.hash.prefix(12)); the file changed since the shards ran: rerun them, or merge with --no-store")
            }
            return data
        }
        guard let embeddings = inputs[InputKey.embeddings] else {
            throw ShardError(.mismatchedPart, "\(directory): expected the parts to name their input files, found none; rerun the shards with this dmleval")
        }
        let references = try read(embeddings, inputs[InputKey.labels], expected: merge.dataset)
        var queries: LabeledEmbeddings?
        if let path = inputs[InputKey.queries], let identity = merge.queryDataset {
            queries = try read(path, inputs[InputKey.queryLabels], expected: identity)
        }
        return (references, queries)
    }
}
