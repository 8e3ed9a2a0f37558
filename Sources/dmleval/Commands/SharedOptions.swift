import ArgumentParser
import DMLEvalJobs
import RetrievalEval
import RetrievalEvalStore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension EmbeddingFormat: ExpressibleByArgument {}
extension Distance: ExpressibleByArgument {}
extension RecallConvention: ExpressibleByArgument {}
extension MAPDenominator: ExpressibleByArgument {}

/// Where runs and datasets are kept: --store, else $DMLEVAL_STORE, else ./dmleval.sqlite.
struct StorePath: ParsableArguments {
    @Option(help: ArgumentHelp(
        "The SQLite store (default: $DMLEVAL_STORE, else ./dmleval.sqlite).", valueName: "path"))
    var store: String?

    /// The store's path, from --store, $DMLEVAL_STORE, or the default.
    var resolvedPath: String {
        if let store { return store }
        if let env = getenv("DMLEVAL_STORE"), let value = String(validatingCString: env), !value.isEmpty { return value }
        return "dmleval.sqlite"
    }

    /// The store as the jobs receive it.
    var location: StoreLocation { StoreLocation(path: resolvedPath, toolVersion: DMLEval.version) }

    func open() throws -> Store { try location.open() }

    /// Opens the store for a command that only reads it; a store that does not exist is an
    /// error rather than a new empty file.
    func openExisting() throws -> Store { try location.openExisting() }
}

/// The store of a command that records runs, which --no-store skips.
struct StoreOptions: ParsableArguments {
    @OptionGroup var path: StorePath

    @Flag(help: "Do not open or write the store.")
    var noStore = false

    var resolvedPath: String { path.resolvedPath }

    func open() throws -> Store { try path.open() }

    /// The store the jobs record in; nil with --no-store.
    var location: StoreLocation? { noStore ? nil : path.location }

    /// Fails early, before any work, when the store could not be created where asked.
    func checkWritable() throws { try location?.checkCreatable() }
}

/// What is evaluated: embedding and label files, or a stored dataset, and optionally a
/// separate query set.
struct DataSourceOptions: ParsableArguments {
    @Argument(help: ArgumentHelp("Embeddings: .npy, .npz, .safetensors, .fbin/.bin, .fvecs, or raw float32 with --dim.", valueName: "embeddings"))
    var embeddings: String?

    @Argument(help: ArgumentHelp("Labels: .txt (one per line), .npy (integers), or an array of a .npz/.safetensors file (--labels-array); one per embedding row. Left out when --labels-array names them in the embeddings' own .npz/.safetensors file.", valueName: "labels"))
    var labels: String?

    @Option(help: ArgumentHelp("Use a stored dataset (by name or hash prefix) instead of files.", valueName: "name|hash"))
    var dataset: String?

    @Option(help: ArgumentHelp("Query embeddings searched among EMBEDDINGS (query/gallery protocols).", valueName: "file"))
    var queries: String?

    @Option(help: ArgumentHelp("Labels of the --queries embeddings.", valueName: "file"))
    var queryLabels: String?

    /// The references as the evaluation job takes them.
    var evaluationSource: EvaluationSource {
        dataset.map(EvaluationSource.dataset) ?? .files(embeddings: embeddings!, labels: labels)
    }

    /// The query set as the evaluation job takes it.
    var queryFiles: QueryFiles? { queries.map { QueryFiles(embeddings: $0, labels: queryLabels) } }

    func validate() throws {
        switch (embeddings, labels, dataset) {
        case (nil, nil, nil):
            throw ValidationError("give EMBEDDINGS and LABELS files, or --dataset NAME")
        case (.some(let file), nil, _) where !InputOptions.isArchive(file):
            throw ValidationError("missing LABELS: give the labels file after the embeddings file (or, for a .npz or .safetensors file, --labels-array NAME)")
        case (.some, .some, .some):
            throw ValidationError("give either EMBEDDINGS and LABELS files or --dataset, not both")
        default:
            break
        }
        if queries == nil && queryLabels != nil || queries.map({ !InputOptions.isArchive($0) }) == true && queryLabels == nil {
            throw ValidationError("--queries and --query-labels go together (a .npz or .safetensors query file may hold its labels: --labels-array)")
        }
    }

    /// Refuses labels left out (an archive's own labels) unless --labels-array names them.
    func validate(with input: InputOptions) throws {
        try validate()
        if input.labelsArray == nil && (embeddings != nil && labels == nil || queries != nil && queryLabels == nil) {
            throw ValidationError("give the labels: a LABELS file, or --labels-array NAME for the labels stored in the .npz or .safetensors file")
        }
    }
}

/// How embedding files are read.
struct InputOptions: ParsableArguments {
    @Option(name: .customLong("input-format"),
            help: "Embedding file format: npy, npz, safetensors, fbin, fvecs or raw (default: from the extension).")
    var inputFormat: EmbeddingFormat?

    @Option(help: ArgumentHelp("The dimension of raw float32 files.", valueName: "d"))
    var dim: Int?

    @Option(help: ArgumentHelp("The embeddings' array in a .npz file (default: the only one, besides --labels-array).", valueName: "name"))
    var array: String?

    @Option(help: ArgumentHelp("The embeddings' tensor in a .safetensors file (default: the only one, besides --labels-array).", valueName: "name"))
    var tensor: String?

    @Option(help: ArgumentHelp("The labels' array (or tensor) in a .npz or .safetensors file: the embeddings' own file when LABELS is left out.", valueName: "name"))
    var labelsArray: String?

    /// --array or --tensor: one name for either kind of file.
    var member: String? { array ?? tensor }

    func validate() throws {
        if array != nil && tensor != nil { throw ValidationError("--array (.npz) and --tensor (.safetensors) name the same thing; give one") }
    }

    /// Whether the file is a .npz or .safetensors file, which can hold its own labels.
    static func isArchive(_ path: String) -> Bool {
        let format = EmbeddingFormat.fromExtension(of: path)
        return format == .npz || format == .safetensors
    }

    /// How the jobs read files.
    var settings: ReadSettings {
        ReadSettings(format: inputFormat, dimension: dim, member: member, labelsArray: labelsArray)
    }

    func read(embeddings: String, labels: String?) throws -> LabeledEmbeddings {
        try settings.read(embeddings: embeddings, labels: labels)
    }

    /// Reads embeddings alone (no labels).
    func readEmbeddings(_ path: String) throws -> Matrix { try settings.readEmbeddings(path) }
}

/// Parses "1,2,4,8" into positive integers, for a ValidationError naming the flag.
func parseCutoffs(_ text: String, flag: String) throws -> [Int] {
    var out: [Int] = []
    for part in text.split(separator: ",", omittingEmptySubsequences: false) {
        guard let v = Int(part.trimmingSpaces()), v >= 1 else {
            throw ValidationError("\(flag): expected positive integers separated by commas, found '\(part)'")
        }
        if !out.contains(v) { out.append(v) }
    }
    return out
}

/// The caps every command puts on its thread and sign-flip counts.
func checkThreads(_ threads: Int?) throws {
    if let threads, !(1...1024).contains(threads) { throw ValidationError("--threads: expected 1 to 1024, found \(threads)") }
}

func checkPermutations(_ permutations: Int) throws {
    if !(100...1_000_000).contains(permutations) {
        throw ValidationError("--permutations: expected 100 to 1,000,000 sign flips, found \(permutations)")
    }
}

/// Whether stderr is a terminal (progress bars are drawn only then).
var stderrIsTerminal: Bool { isatty(2) == 1 }

/// A monotonic clock in seconds.
func now() -> Double { JobClock.now() }

/// The current time as ISO 8601 UTC, e.g. 2026-11-29T21:50:19Z.
func isoNow() -> String { JobClock.isoNow() }

/// Creates `path` and its missing parents, as `mkdir -p` does.
func createFolder(_ path: String) throws { try OutputFolders.create(path) }

/// Creates the missing folders above the file `path`; returns them for `removeFolders`.
@discardableResult
func createFolder(forFile path: String) throws -> [String] { try OutputFolders.create(forFile: path) }

/// Removes folders `createFolder(forFile:)` made, innermost first, if they are still empty.
func removeFolders(_ folders: [String]) { OutputFolders.remove(folders) }
