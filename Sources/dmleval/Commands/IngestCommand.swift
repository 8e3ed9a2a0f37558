import ArgumentParser
import DMLEvalJobs
import RetrievalEval
import RetrievalEvalStore

/// `dmleval ingest`: store a dataset so it can be evaluated later without its files.
struct IngestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest",
        abstract: "Store embeddings and labels in the store (once per content).",
        discussion: """
            The dataset is identified by the SHA-256 of its content (shape, float32 values and \
            labels in order), so the same data is stored once whatever its file format or path. \
            Ingesting it again only adds the name. Afterwards: dmleval evaluate --dataset NAME.
            """
    )

    @Argument(help: ArgumentHelp("Embeddings: .npy, .npz, .safetensors, .fbin/.bin, .fvecs, or raw float32 with --dim.", valueName: "embeddings"))
    var embeddings: String

    @Argument(help: ArgumentHelp("Labels: .txt (one per line) or .npy (integers); left out when --labels-array names them in the embeddings' .npz/.safetensors file.", valueName: "labels"))
    var labels: String?

    @Option(help: ArgumentHelp("A name to find the dataset by.", valueName: "name"))
    var name: String?

    @Option(help: "Output format: table, json, csv or markdown.")
    var format: OutputFormat = .table

    @OptionGroup var input: InputOptions

    @OptionGroup var storePath: StorePath

    func validate() throws {
        if labels == nil && input.labelsArray == nil {
            throw ValidationError("missing LABELS: give the labels file after the embeddings file (or --labels-array NAME)")
        }
        if let name, name.isEmpty || name.allSatisfy(\.isWhitespace) {
            throw ValidationError("--name: expected a non-empty name")
        }
    }

    func run() throws {
        let (record, created, storePath) = try IngestJob(
            embeddings: embeddings, labels: labels, name: name, reading: input.settings, store: self.storePath.location
        ).run(afterChunk: stallHook())
        switch format {
        case .json:
            print(JSON.object([
                ("dataset", .string(record.hash)),
                ("created", .bool(created)),
                ("names", .array(record.names.map { .string($0) })),
                ("rows", .int(record.rows)), ("dimensions", .int(record.dimensions)), ("classes", .int(record.classCount)),
                ("store", .string(storePath)),
            ]).rendered())
        default:
            let what = created ? "stored" : "already stored"
            let named = record.names.isEmpty ? "" : " as " + record.names.map { "'\($0)'" }.joined(separator: ", ")
            print("dataset \(record.shortHash) (\(record.rows) x \(record.dimensions), \(record.classCount) classes) \(what) in \(storePath)\(named)")
        }
    }

    /// A test hook: with DMLEVAL_TEST_STALL_INGEST set, the ingest stops for a minute after
    /// its first chunk, inside its transaction, so a test can kill it there and check that
    /// the store is left as it was.
    private func stallHook() -> ((Int) -> Void)? {
        guard let value = getenv("DMLEVAL_TEST_STALL_INGEST"), String(cString: value) == "1" else { return nil }
        return { chunk in
            if chunk == 0 {
                printError("ingest: stalled for the test hook")
                sleep(60)
            }
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
