import RetrievalEval
import RetrievalEvalStore

/// The main job with the embeddings read from disk in tiles (`MappedEmbeddings`) rather than
/// loaded: for sets larger than the memory the process has. The values are the same as the
/// loaded job's, bit for bit, so nothing about it is recorded among the run's parameters.
extension EvaluationJob {
    /// The embeddings mapped, when this job streams them: asked (`--stream-references`), or
    /// automatic when loading would not fit in memory (the rows, and for cosine their
    /// normalised copy, past 80% of what the process may have) and the file can be mapped.
    func streamedReferences() throws -> MappedEmbeddings? {
        guard let path = source.embeddings, source.dataset == nil else { return nil }
        if streamReferences {
            return try MappedEmbeddings(path: path, format: input.inputFormat, dimension: input.dim)
        }
        guard automaticStreaming,
              let format = input.inputFormat ?? EmbeddingFormat.fromExtension(of: path), format != .npz, format != .safetensors,
              let size = try? fileSize(path) else { return nil }
        let limit = MemoryBudget.limitBytes
        let loaded = distance == .cosine ? 2 * size : size
        guard Double(loaded) > 0.8 * Double(limit), try MappedEmbeddings.unmappableReason(path: path, format: format, dimension: input.dim) == nil
        else { return nil }
        printError("reading \(path) from disk in tiles: loaded it would take \(MemoryBudget.describe(loaded)) of the \(MemoryBudget.describe(limit)) this process can have")
        return try MappedEmbeddings(path: path, format: format, dimension: input.dim)
    }

    /// Runs the job on mapped embeddings (no store; see `EvaluateCommand.validate`).
    func runStreamed(_ mapped: MappedEmbeddings, parameters: (Int) -> [(String, String)]) throws -> Outcome {
        let started = now()
        var timings: [(String, Double)] = []
        var t = now()
        let labelsPath = source.labels ?? mapped.path
        let labels = try LabelReader.read(labelsPath)
        guard labels.count == mapped.rows else {
            throw InputError(
                .countMismatch, file: labelsPath, expected: "one label per row of \(mapped.path) (\(mapped.rows) labels)",
                found: "\(labels.count) labels", remedy: "the two files must describe the same items in the same order")
        }
        let queryData = try source.queries.map { try input.read(embeddings: $0, labels: source.queryLabels) }
        timings.append(("read", now() - t))

        let bar = ProgressBar("searching")
        let evaluation: RetrievalEvaluation
        do {
            evaluation = try RetrievalEvaluation.run(
                references: .mapped(mapped), labels: labels, queries: queryData, metrics: metrics, distance: distance,
                perClass: perClass, threads: threads, tileSize: tileSize, saveNeighbors: saveNeighbors, path: searchPath,
                progress: { bar.update($0) })
        } catch {
            bar.finish()
            throw error
        }
        bar.finish()
        timings.append(("search", evaluation.searchSeconds))
        timings.append(("metrics", evaluation.metricSeconds))

        var folders: [String] = []
        defer { removeFolders(folders) }
        for path in [saveNeighbors, perQuery, saveBaseline].compactMap({ $0 }) { folders += try createFolder(forFile: path) }
        var pending: [ArrayWriter.PendingFile] = []
        defer { pending.forEach { $0.discard() } }
        if let file = evaluation.neighborsFile {
            pending.append(file)
            timings.append(("save-neighbors", evaluation.saveSeconds))
        }
        if let perQuery, let format = PerQueryExport.Format.fromExtension(of: perQuery) {
            let report = evaluation.report
            pending.append(try ArrayWriter.prepareText(PerQueryExport.render(
                format, metrics: report.metrics.map(\.name), labels: queryData?.labels ?? labels,
                relevantCounts: evaluation.relevantCounts, perQuery: report.perQuery.map { $0.map(Float.init) }), to: perQuery))
        }
        // The embeddings' hash comes from the pass that validated them: the same as a loaded
        // matrix's, so baselines and runs compare across both ways of reading.
        let labelsHash = LabeledEmbeddings.labelsHash(labels)
        let referenceIdentity = Baseline.DatasetIdentity(
            hash: SHA256.hex(Array((mapped.contentHash + labelsHash).utf8)), embeddingsHash: mapped.contentHash,
            labelsHash: labelsHash, rows: mapped.rows, dimensions: mapped.columns, classes: labels.classCount)
        let queryIdentity = queryData.map(Self.identity)
        timings.append(("total", now() - started))
        if let saveBaseline {
            let report = evaluation.report
            let baseline = Baseline(
                toolVersion: DMLEval.version, createdAt: isoNow(), sourceRun: nil, name: name,
                dataset: referenceIdentity, queryDataset: queryIdentity, search: IndexKind.exact.rawValue, distance: distance,
                depth: evaluation.depth, parameters: parameters(evaluation.depth),
                scoredQueries: report.scoredQueries, excludedQueries: report.excludedQueries,
                metrics: report.metrics, means: report.means, perQuery: report.perQuery.map { $0.map(Float.init) })
            pending.append(try ArrayWriter.prepareText(baseline.encoded(), to: saveBaseline))
        }
        for file in pending { try file.commit() }

        let search = SearchDescription(kind: .exact, settings: [], origin: nil, memoryBytes: nil)
        let summary = EvaluationSummary(
            run: nil, source: "\(mapped.path) (read in tiles) + \(labelsPath)", dataset: referenceIdentity, datasetNames: [],
            embeddingsPath: mapped.path, labelsPath: labelsPath, classNames: labels.classNames,
            queryCount: queryData?.embeddings.rows, distance: distance, depth: evaluation.depth, report: evaluation.report,
            timings: timings, search: search, approximation: nil)
        return Outcome(evaluation: evaluation, summary: summary, runID: nil, storePath: nil,
                       references: referenceIdentity, queries: queryIdentity, timings: timings,
                       search: search, approximation: nil)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The size of a file in bytes.
private func fileSize(_ path: String) throws -> Int {
    var st = stat()
    guard stat(path, &st) == 0 else { throw InputError(.cannotOpen, file: path, expected: "a readable file", found: "none", remedy: "check the path") }
    return Int(st.st_size)
}
