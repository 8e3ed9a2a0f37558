import ArgumentParser
import DMLEvalJobs
import RetrievalEval
import RetrievalEvalStore

/// `dmleval index`: approximate indexes, built, listed and measured.
struct IndexCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "index",
        abstract: "Build, list and measure approximate indexes (HNSW, IVF-Flat).",
        discussion: """
            An index is kept in the store under the SHA-256 of the embeddings it indexes and its \
            settings; 'dmleval EMBEDDINGS LABELS --index hnsw|ivf' with the same embeddings, \
            distance and settings reuses it instead of building again.

            Examples:
              dmleval index build embeddings.npy --index hnsw --m 16 --ef-construction 200
              dmleval index build embeddings.npy --index ivf --nlist 1024 -o embeddings.ivf
              dmleval index info
              dmleval index sweep base.npy --queries q.npy --index hnsw --ef-search 16,32,64,128
            """,
        subcommands: [Build.self, Info.self, Sweep.self]
    )

    struct Build: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Build an index of a set of embeddings, into the store and/or a file.")

        @Argument(help: ArgumentHelp("Embeddings: .npy, .fbin/.bin, .fvecs, or raw float32 with --dim.", valueName: "embeddings"))
        var embeddings: String

        @OptionGroup(title: "Index")
        var build: IndexBuildOptions

        @Option(help: "Similarity: cosine or l2 (HNSW); cosine, ip or l2 (IVF).")
        var distance: Distance = .cosine

        @Option(name: .shortAndLong, help: ArgumentHelp("Also write the index to this file (load it with --index-file).", valueName: "file"))
        var output: String?

        @Option(help: "Output format: table or json.")
        var format: OutputFormat = .table

        @OptionGroup var input: InputOptions
        @OptionGroup var storeOptions: StoreOptions

        func validate() throws {
            guard build.index != .exact else { throw ValidationError("give --index hnsw or --index ivf: exact search needs no index") }
            if storeOptions.noStore && output == nil { throw ValidationError("with --no-store, give -o FILE: the index must go somewhere") }
        }

        func run() throws {
            let outcome = try IndexBuildJob(embeddings: embeddings, reading: input.settings, build: build.settings, distance: distance,
                                            outputPath: output, store: storeOptions.location).run(progress: ProgressPrinter().handler)
            let (provided, index, hash, storedID) = (outcome.index, outcome.index.index, outcome.embeddingsHash, outcome.storedID)
            let fields: [(String, JSON)] = [
                ("id", storedID.map { .int(Int($0)) } ?? .null),
                ("type", .string(index.kind.rawValue)), ("distance", .string(distance.rawValue)),
                ("embeddings", .string(embeddings)), ("embeddings_hash", hash.map(JSON.string) ?? .null),
                ("rows", .int(index.count)), ("dimensions", .int(index.dimension)),
                ("settings", settingsJSON(index.settings)),
                ("build_seconds", .number(provided.buildSeconds)), ("build_threads", .int(provided.buildThreads)),
                ("memory_bytes", .int(index.memoryBytes)), ("file", output.map(JSON.string) ?? .null),
            ]
            if format == .json {
                print(JSON.object(fields).rendered())
            } else {
                print("""
                    \(index.kind.rawValue) index of \(embeddings) (\(index.count) x \(index.dimension), \(distance.rawValue))
                    settings  \(settingsText(index.settings))
                    built     in \(secondsText(provided.buildSeconds)) on \(provided.buildThreads) thread\(provided.buildThreads == 1 ? "" : "s"), \(megabytes(index.memoryBytes)) in memory
                    """)
                if let storedID { printError("index \(storedID) stored in \(storeOptions.resolvedPath)") }
                if let output { printError("index written to \(output)") }
            }
        }
    }

    struct Info: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the stored indexes, or describe one (by id) or an index file.")

        @Argument(help: ArgumentHelp("A stored index's id (see the list).", valueName: "id"))
        var id: Int64?

        @Option(help: ArgumentHelp("Describe this index file instead (its header).", valueName: "file"))
        var file: String?

        @Option(help: "Output format: table, json, csv or markdown.")
        var format: OutputFormat = .table

        @OptionGroup var storePath: StorePath

        func validate() throws {
            if id != nil && file != nil { throw ValidationError("give a stored index's id or --file, not both") }
        }

        func run() throws {
            if let file {
                let h = try IndexFile.header(file)
                let fields: [(String, JSON)] = [
                    ("file", .string(file)), ("type", .string(h.kind.rawValue)), ("distance", .string(h.distance.rawValue)),
                    ("rows", .int(h.count)), ("dimensions", .int(h.dimension)),
                    ("settings", settingsJSON(h.settings)),
                    ("bytes", .int(h.bytes)),
                ]
                if format == .json { print(JSON.object(fields).rendered()); return }
                print("""
                    \(file): \(h.kind.rawValue) index of \(h.count) x \(h.dimension) embeddings, \(h.distance.rawValue)
                    settings  \(settingsText(h.settings))
                    size      \(megabytes(h.bytes)) on disk (the vectors are not in the file: load it onto the same embeddings)
                    """)
                return
            }
            let store = try storePath.openExisting()
            let infos = try id.map { [try store.index(id: $0).info] } ?? store.indexes()
            if format == .json {
                print(JSON.array(infos.map(Self.json)).rendered())
                return
            }
            if infos.isEmpty {
                print("no indexes in \(store.path) yet; 'dmleval index build EMBEDDINGS --index hnsw' builds one")
                return
            }
            let table = TextTable(
                header: ["id", "type", "distance", "rows", "dim", "settings", "build", "memory", "created", "embeddings"],
                rows: infos.map { i in
                    [String(i.id), i.kind.rawValue, i.distance.rawValue, String(i.rows), String(i.dimensions),
                     settingsText(i.settings),
                     secondsText(i.buildSeconds) + " x\(i.buildThreads)", megabytes(i.memoryBytes), i.createdAt,
                     String(i.embeddingsHash.prefix(12))]
                }, rightAligned: [0, 3, 4])
            print(table.render(format))
        }

        static func json(_ i: StoredIndexInfo) -> JSON {
            .object([
                ("id", .int(Int(i.id))), ("type", .string(i.kind.rawValue)), ("distance", .string(i.distance.rawValue)),
                ("rows", .int(i.rows)), ("dimensions", .int(i.dimensions)), ("embeddings_hash", .string(i.embeddingsHash)),
                ("settings", settingsJSON(i.settings)),
                ("build_seconds", .number(i.buildSeconds)), ("build_threads", .int(i.buildThreads)),
                ("memory_bytes", .int(i.memoryBytes)), ("stored_bytes", .int(i.bytes)), ("created_at", .string(i.createdAt)),
                ("tool_version", .string(i.toolVersion)),
            ])
        }
    }

    struct Sweep: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Measure recall@k against queries per second over a range of efSearch or nprobe.",
            discussion: """
                Builds the index once (timed), computes the exact top k of every query, then searches \
                with each setting, --repeats times, and reports recall@k and the median queries per \
                second. Without --queries every embedding is a query against the others. Nothing is \
                stored. scripts/ann-benchmark.py runs this next to hnswlib and faiss.
                """)

        @Argument(help: ArgumentHelp("The references: .npy, .fbin/.bin, .fvecs, or raw float32 with --dim.", valueName: "embeddings"))
        var embeddings: String

        @Option(help: ArgumentHelp("Query embeddings (default: every reference, itself excluded).", valueName: "file"))
        var queries: String?

        @OptionGroup(title: "Index")
        var build: IndexBuildOptions

        @Option(help: ArgumentHelp("HNSW: the efSearch values to measure.", valueName: "n,..."))
        var efSearch: String?

        @Option(help: ArgumentHelp("IVF: the nprobe values to measure.", valueName: "n,..."))
        var nprobe: String?

        @Option(help: "Similarity: cosine or l2 (HNSW); cosine, ip or l2 (IVF).")
        var distance: Distance = .cosine

        @Option(help: "Neighbours per query.")
        var k: Int = 10

        @Option(help: ArgumentHelp("Threads searching (default: every core).", valueName: "n"))
        var threads: Int?

        @Option(help: "Timed searches per setting; the median is reported.")
        var repeats: Int = 3

        @Option(help: "Output format: table or json.")
        var format: OutputFormat = .table

        @OptionGroup var input: InputOptions

        /// The values given (nil: the sweep's defaults).
        var efforts: [Int]?

        enum CodingKeys: String, CodingKey {
            case embeddings, queries, build, efSearch, nprobe, distance, k, threads, repeats, format, input
        }

        mutating func validate() throws {
            switch build.index {
            case .exact: throw ValidationError("give --index hnsw or --index ivf")
            case .hnsw:
                if nprobe != nil { throw ValidationError("--nprobe is an IVF setting: add --index ivf") }
                if let efSearch {
                    efforts = try parseCutoffs(efSearch, flag: "--ef-search")
                    if let low = efforts?.first(where: { $0 < k }) {
                        throw ValidationError("--ef-search: every value must be at least --k (\(k)), found \(low)")
                    }
                }
            case .ivf:
                if efSearch != nil { throw ValidationError("--ef-search is an HNSW setting: add --index hnsw") }
                efforts = try nprobe.map { try parseCutoffs($0, flag: "--nprobe") }
            }
            if k < 1 { throw ValidationError("--k: expected at least 1, found \(k)") }
            if repeats < 1 { throw ValidationError("--repeats: expected at least 1, found \(repeats)") }
            try checkThreads(threads)
        }

        func run() throws {
            let sweep = IndexSweep(references: embeddings, queries: queries, reading: input.settings, build: build.settings,
                                   efforts: efforts, distance: distance, k: k, threads: threads ?? ExactSearch.defaultThreads,
                                   repeats: repeats)
            let outcome = try sweep.run(progress: ProgressPrinter().handler)
            show(outcome)
        }

        /// Prints the measured points in the chosen format.
        private func show(_ outcome: IndexSweep.Outcome) {
            let (provided, index, points) = (outcome.index, outcome.index.index, outcome.points)
            let (queryCount, depth, searchThreads) = (outcome.queryCount, outcome.depth, outcome.searchThreads)
            let effortName = build.index == .hnsw ? "efSearch" : "nprobe"
            if format == .json {
                var indexFields: [(String, JSON)] = [("type", .string(index.kind.rawValue))]
                if build.index == .hnsw {
                    indexFields += [("m", .int(build.settings.hnswParameters.m)), ("efConstruction", .int(build.settings.hnswParameters.efConstruction))]
                } else {
                    indexFields.append(("nlist", .int((index as? IVFIndex)?.lists ?? 0)))
                }
                indexFields.append(("seed", .int(Int(build.seed))))
                let json = JSON.object([
                    ("index", .object(indexFields)),
                    ("references", .int(outcome.referenceRows)), ("queries", .int(queryCount)), ("dimension", .int(outcome.dimension)),
                    ("k", .int(depth)), ("distance", .string(distance.rawValue)),
                    ("build", .object([("seconds", .number(provided.buildSeconds)), ("threads", .int(provided.buildThreads)),
                                       ("bytes", .int(index.memoryBytes))])),
                    ("searchThreads", .int(searchThreads)), ("kernel", .string(IndexFile.kernelInstructionSet)),
                    ("points", .array(points.map { p in
                        .object([(effortName, .int(p.effort)), ("recall", .number(p.recall)), ("seconds", .number(p.seconds)),
                                 ("queriesPerSecond", .number(Double(queryCount) / p.seconds))])
                    })),
                ])
                print(json.rendered())
                return
            }
            print("""
                \(index.kind.rawValue) (\(settingsText(index.settings))) of \(outcome.referenceRows) x \(outcome.dimension), \(distance.rawValue)
                built in \(secondsText(provided.buildSeconds)) on \(provided.buildThreads) thread\(provided.buildThreads == 1 ? "" : "s"), \(megabytes(index.memoryBytes)); \(queryCount) queries, k = \(depth), \(searchThreads) search thread\(searchThreads == 1 ? "" : "s"), median of \(repeats)

                """)
            let table = TextTable(
                header: [effortName, "recall@\(depth)", "seconds", "queries/s"],
                rows: points.map { [String($0.effort), formatFixed($0.recall, decimals: 4), formatFixed($0.seconds, decimals: 4),
                                    formatFixed(Double(queryCount) / $0.seconds, decimals: 0)] },
                rightAligned: [0, 1, 2, 3])
            print(table.render(format == .json ? .table : format))
        }
    }
}

/// An index's settings as printed: "m 16, ef_construction 200, seed 1".
func settingsText(_ settings: [(String, String)]) -> String {
    settings.map { "\($0.0) \($0.1)" }.joined(separator: ", ")
}

/// An index's settings as a JSON object, integers as numbers.
func settingsJSON(_ settings: [(String, String)]) -> JSON {
    .object(settings.map { ($0.0, Int($0.1).map(JSON.int) ?? .string($0.1)) })
}

/// Bytes as people read them: "12.3 MiB".
func megabytes(_ bytes: Int) -> String {
    formatFixed(Double(bytes) / 1_048_576, decimals: 1) + " MiB"
}
