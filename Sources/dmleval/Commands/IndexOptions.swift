import ArgumentParser
import DMLEvalJobs
import RetrievalEval
import RetrievalEvalStore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

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

    var hnswParameters: HNSWParameters {
        HNSWParameters(m: m ?? 16, efConstruction: efConstruction ?? 200, seed: seed)
    }

    var ivfParameters: IVFParameters {
        IVFParameters(nlist: nlist, initialization: kmeansInit ?? .random, seed: seed)
    }

    /// The settings an index built with these options on `rows` vectors records.
    func settings(rows: Int) -> [(String, String)] {
        index == .hnsw ? hnswParameters.description : ivfParameters.description(references: rows)
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

    /// efSearch or nprobe, as given.
    var effort: Int? { index == .hnsw ? efSearch : index == .ivf ? nprobe : nil }

    /// The search-time setting as stored with a run.
    func effortDescription(depth: Int, index built: any VectorIndex) -> (String, String) {
        if let ivf = built as? IVFIndex { return ("nprobe", String(nprobe ?? IVFParameters.defaultProbes(lists: ivf.lists))) }
        return ("ef_search", String(efSearch ?? HNSWParameters.defaultEfSearch(k: depth)))
    }
}

/// An index ready to search, and where it came from.
struct ProvidedIndex {
    let index: any VectorIndex
    /// "built in 1.23 s", "stored index 4", "file x.idx".
    let origin: String
    let buildSeconds: Double
    let buildThreads: Int
    /// Built here, so worth storing.
    let isNew: Bool
    let storedID: Int64?
    let embeddingsHash: String?
}

enum IndexProvider {
    /// The index for `vectors`: from --index-file, else the store's for the same embeddings
    /// and settings (unless --rebuild-index), else a new build. The store is only read here,
    /// and only if it exists; a new index is stored by the caller once its run has succeeded.
    static func provide(
        _ options: IndexBuildOptions, indexFile: String? = nil, rebuild: Bool = false, vectors: Matrix, distance: Distance,
        storeOptions: StoreOptions?, threads: Int
    ) throws -> ProvidedIndex {
        if let file = indexFile {
            let index = try IndexFile.read(file, vectors: vectors)
            try check(index, options: options, distance: distance, source: file)
            return ProvidedIndex(index: index, origin: "file \(file)", buildSeconds: 0, buildThreads: 0, isNew: false,
                                 storedID: nil, embeddingsHash: nil)
        }
        var hash: String?
        if let storeOptions, !storeOptions.noStore {
            hash = vectors.contentHash()
            let path = storeOptions.resolvedPath
            if !rebuild, access(path, F_OK) == 0 {
                let store = try storeOptions.open()
                if let (info, data) = try store.findIndex(
                    embeddingsHash: hash!, kind: options.index, distance: distance, settings: options.settings(rows: vectors.rows)) {
                    let index = try IndexFile.load(data, vectors: vectors, name: "\(path): stored index \(info.id)")
                    return ProvidedIndex(index: index, origin: "stored index \(info.id) (built in \(seconds(info.buildSeconds)))",
                                         buildSeconds: info.buildSeconds, buildThreads: info.buildThreads, isNew: false,
                                         storedID: info.id, embeddingsHash: hash)
                }
            }
        }
        let buildThreads = options.buildThreads ?? threads
        let bar = ProgressBar("building \(options.index.rawValue) index")
        let clock = ContinuousClock()
        let start = clock.now
        let index: any VectorIndex
        do {
            switch options.index {
            case .hnsw:
                index = try HNSWIndex.build(vectors, distance: distance, parameters: options.hnswParameters, threads: buildThreads,
                                            progress: { bar.update($0) })
            case .ivf:
                index = try IVFIndex.build(vectors, distance: distance, parameters: options.ivfParameters, threads: buildThreads,
                                           progress: { bar.update($0) })
            case .exact:
                preconditionFailure("no index to build for exact search")
            }
        } catch {
            bar.finish()
            throw error
        }
        bar.finish()
        let elapsed = (clock.now - start).seconds
        return ProvidedIndex(index: index, origin: "built in \(seconds(elapsed)) on \(buildThreads) thread\(buildThreads == 1 ? "" : "s")",
                             buildSeconds: elapsed, buildThreads: buildThreads, isNew: true, storedID: nil, embeddingsHash: hash)
    }

    /// A loaded index must be what the options ask for.
    private static func check(_ index: any VectorIndex, options: IndexBuildOptions, distance: Distance, source: String) throws {
        guard index.kind == options.index else {
            throw InputError(.baselineMismatch, file: source, expected: "an \(options.index.rawValue) index (--index)",
                             found: "an \(index.kind.rawValue) index", remedy: "pass --index \(index.kind.rawValue), or another file")
        }
        guard index.distance == distance else {
            throw InputError(.baselineMismatch, file: source, expected: "an index built for --distance \(distance.rawValue)",
                             found: "one built for \(index.distance.rawValue)", remedy: "pass --distance \(index.distance.rawValue), or build the index again")
        }
    }

    static func seconds(_ s: Double) -> String { formatFixed(s, decimals: s < 10 ? 2 : 1) + " s" }
}
