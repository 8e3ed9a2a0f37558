import ArgumentParser
import DMLEvalJobs
import RetrievalEval
import RetrievalEvalStore

extension IndexKind: ExpressibleByArgument {}
extension KMeans.Initialization: ExpressibleByArgument {}

/// How an approximate index is built: its kind and build settings.
struct IndexBuildOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Search: exact (every pair scored), hnsw (graph) or ivf (k-means lists, scanned exactly).", valueName: "exact|hnsw|ivf"))
    var index: IndexKind = .exact

    @Option(name: .customLong("m"), help: ArgumentHelp("HNSW: links per node on the upper levels, 2M on level 0 (default 16).", valueName: "M"))
    var m: Int?

    @Option(help: ArgumentHelp("HNSW: candidates kept while inserting (default 200).", valueName: "n"))
    var efConstruction: Int?

    @Option(help: ArgumentHelp("IVF: number of k-means lists (default 4 sqrt(N)).", valueName: "n"))
    var nlist: Int?

    @Option(help: ArgumentHelp("IVF: k-means initialisation, random or kmeans++ (default random).", valueName: "random|kmeans++"))
    var kmeansInit: KMeans.Initialization?

    @Option(help: ArgumentHelp("Seed of the index build (HNSW levels, k-means) and of the --ann-check sample.", valueName: "n"))
    var seed: UInt64 = 1

    @Option(help: ArgumentHelp("Threads building the index (default: every core). 1 builds a bit-identical HNSW graph for a given seed.", valueName: "n"))
    var buildThreads: Int?

    func validate() throws {
        if index != .hnsw, let flag = [("--m", m), ("--ef-construction", efConstruction)].first(where: { $0.1 != nil }) {
            throw ValidationError("\(flag.0) is an HNSW setting: add --index hnsw")
        }
        if index != .ivf, let flag = nlist != nil ? "--nlist" : kmeansInit != nil ? "--kmeans-init" : nil {
            throw ValidationError("\(flag) is an IVF setting: add --index ivf")
        }
        if index == .exact && buildThreads != nil { throw ValidationError("--build-threads needs --index hnsw or ivf") }
        if let m, m < 2 { throw ValidationError("--m: expected at least 2, found \(m)") }
        for (flag, value) in [("--ef-construction", efConstruction), ("--nlist", nlist), ("--build-threads", buildThreads)] {
            if let value, value < 1 { throw ValidationError("\(flag): expected at least 1, found \(value)") }
        }
    }

    /// The build settings as the jobs take them.
    var settings: IndexBuildSettings {
        IndexBuildSettings(kind: index, m: m, efConstruction: efConstruction, nlist: nlist, kmeansInit: kmeansInit,
                           seed: seed, buildThreads: buildThreads)
    }
}

/// The search a command runs: exact, or an approximate index with its settings.
struct IndexOptions: ParsableArguments {
    @OptionGroup var build: IndexBuildOptions

    @Option(help: ArgumentHelp("HNSW: candidates kept while searching, at least k (default max(64, k)).", valueName: "n"))
    var efSearch: Int?

    @Option(help: ArgumentHelp("IVF: lists scanned per query (default nlist / 8, rounded up).", valueName: "n"))
    var nprobe: Int?

    @Option(help: ArgumentHelp("Load the index from this file (written by 'dmleval index build -o') instead of the store or a new build.", valueName: "file"))
    var indexFile: String?

    @Flag(help: "Build the index again even if the store holds one for these embeddings and settings.")
    var rebuildIndex = false

    var index: IndexKind { build.index }
    var seed: UInt64 { build.seed }

    func validate() throws {
        if index != .hnsw && efSearch != nil { throw ValidationError("--ef-search is an HNSW setting: add --index hnsw") }
        if index != .ivf && nprobe != nil { throw ValidationError("--nprobe is an IVF setting: add --index ivf") }
        if index == .exact && (indexFile != nil || rebuildIndex) {
            throw ValidationError("--index-file and --rebuild-index need --index hnsw or ivf")
        }
        for (flag, value) in [("--ef-search", efSearch), ("--nprobe", nprobe)] {
            if let value, value < 1 { throw ValidationError("\(flag): expected at least 1, found \(value)") }
        }
    }

    /// The search settings as the jobs take them; nil for exact search.
    var settings: IndexSearchSettings? {
        index == .exact ? nil
            : IndexSearchSettings(build: build.settings, efSearch: efSearch, nprobe: nprobe, indexFile: indexFile, rebuild: rebuildIndex)
    }
}

/// Seconds as printed: "1.23 s", "12.3 s".
func secondsText(_ s: Double) -> String { formatFixed(s, decimals: s < 10 ? 2 : 1) + " s" }

extension IndexOrigin {
    /// "built in 1.23 s on 4 threads", "stored index 4 (built in 1.23 s)", "file x.idx".
    var text: String {
        switch self {
        case .file(let file): "file \(file)"
        case .stored(let id, let seconds): "stored index \(id) (built in \(secondsText(seconds)))"
        case .built(let seconds, let threads): "built in \(secondsText(seconds)) on \(threads) thread\(threads == 1 ? "" : "s")"
        }
    }
}

extension SearchDescription {
    /// "exact", or "hnsw (m 16, ef_construction 200, seed 1, ef_search 64; built in 1.20 s)".
    var text: String {
        guard kind != .exact else { return "exact" }
        let list = settingsText(settings)
        return "\(kind.rawValue) (\(list)" + (origin.map { "; \($0.text)" } ?? "") + ")"
    }
}
