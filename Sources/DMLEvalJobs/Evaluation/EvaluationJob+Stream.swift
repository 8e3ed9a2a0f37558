import RetrievalEval
import RetrievalEvalStore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The main job with the embeddings read from disk in tiles (`MappedEmbeddings`) rather than
/// loaded: for sets larger than the memory the process has. The values are the same as the
/// loaded job's, bit for bit, so nothing about it is recorded among the run's parameters.
extension EvaluationJob {
    /// What streaming cannot go with, the first found: the store copies the rows, and an
    /// index, clustering, TREC files and intervals need them loaded.
    var streamingConflict: String? {
        let conflicts: [(Bool, String)] = [
            (store != nil, "a store (a dataset larger than memory is not copied into the store)"),
            (source.datasetName != nil, "a stored dataset"), ((search?.kind ?? .exact) != .exact, "an approximate index"),
            (clustering != nil, "clustering (NMI, AMI)"), (trecOutput != nil, "TREC outputs"),
            (confidence != nil, "confidence intervals"),
        ]
        return conflicts.first(where: \.0)?.1
    }

    /// The embeddings mapped, when this job streams them: always (`Streaming.always`), or when
    /// loading would not fit in memory (the rows, and for cosine their normalised copy, past
    /// 80% of what the process may have), nothing else needs them loaded and the file can be
    /// mapped.
    func streamedReferences(progress: ProgressHandler?) throws -> MappedEmbeddings? {
        guard case .files(let path, _) = source, streaming != .never else { return nil }
        if streaming == .always {
            if let streamingConflict { throw JobError.streamingUnsupported(setting: streamingConflict) }
            return try MappedEmbeddings(path: path, format: reading.format, dimension: reading.dimension)
        }
        guard streamingConflict == nil,
              let format = reading.format ?? EmbeddingFormat.fromExtension(of: path), format != .npz, format != .safetensors,
              let size = fileSize(path) else { return nil }
        let limit = MemoryBudget.limitBytes
        let loaded = distance == .cosine ? 2 * size : size
        guard Double(loaded) > 0.8 * Double(limit),
              try MappedEmbeddings.unmappableReason(path: path, format: format, dimension: reading.dimension) == nil
        else { return nil }
        progress?(.note("reading \(path) from disk in tiles: loaded it would take \(MemoryBudget.describe(loaded)) of the \(MemoryBudget.describe(limit)) this process can have"))
        return try MappedEmbeddings(path: path, format: format, dimension: reading.dimension)
    }

    /// The labels of mapped embeddings, one per row.
    /// - Throws: the label reader's errors; `InputError.countMismatch` naming both files.
    func streamedLabels(_ mapped: MappedEmbeddings) throws -> Labels {
        let labelsPath = source.labelsPath ?? mapped.path
        let labels = try LabelReader.read(labelsPath)
        guard labels.count == mapped.rows else {
            throw InputError(
                .countMismatch, file: labelsPath, expected: "one label per row of \(mapped.path) (\(mapped.rows) labels)",
                found: "\(labels.count) labels", remedy: "the two files must describe the same items in the same order")
        }
        return labels
    }

    /// The identity of mapped embeddings and their labels: the hash comes from the pass that
    /// validated the file, the same as a loaded matrix's, so runs and baselines compare across
    /// both ways of reading.
    static func identity(_ mapped: MappedEmbeddings, labels: Labels) -> Baseline.DatasetIdentity {
        let labelsHash = LabeledEmbeddings.labelsHash(labels)
        return Baseline.DatasetIdentity(
            hash: SHA256.hex(Array((mapped.contentHash + labelsHash).utf8)), embeddingsHash: mapped.contentHash,
            labelsHash: labelsHash, rows: mapped.rows, dimensions: mapped.columns, classes: labels.classCount)
    }

    /// Runs the job on mapped embeddings (no store: see `streamingConflict`).
    func runStreamed(_ mapped: MappedEmbeddings, progress: ProgressHandler?) throws -> Outcome {
        let started = JobClock.now()
        var timings: [(String, Double)] = []
        let t = JobClock.now()
        let labels = try streamedLabels(mapped)
        let queryData = try queries.map { try reading.read(embeddings: $0.embeddings, labels: $0.labels) }
        timings.append(("read", JobClock.now() - t))

        let searching = StageProgress("searching", progress)
        let evaluation = try searching.run {
            try RetrievalEvaluation.run(
                references: .mapped(mapped), labels: labels, queries: queryData, metrics: metrics, distance: distance,
                perClass: perClass, threads: threads, tileSize: tileSize, saveNeighbors: saveNeighbors, path: searchPath,
                productKernel: searchProducts, timeProducts: timeProducts, progress: searching.search)
        }
        timings += evaluation.stageTimings
        let parameters = parameters(depth: evaluation.depth)

        let outputs = try OutputFiles(for: [saveNeighbors, perQuery, saveBaseline])
        defer { outputs.close() }
        if let file = evaluation.neighborsFile {
            outputs.add(file)
            timings.append(("save-neighbors", evaluation.saveSeconds))
        }
        outputs.add(try perQueryFile(evaluation, labels: queryData?.labels ?? labels))
        // The embeddings' hash comes from the pass that validated them: the same as a loaded
        // matrix's, so baselines and runs compare across both ways of reading.
        let referenceIdentity = Self.identity(mapped, labels: labels)
        let queryIdentity = queryData.map(Self.identity)
        timings.append(("total", JobClock.now() - started))
        outputs.add(try baselineFile(evaluation, references: referenceIdentity, queries: queryIdentity,
                                     search: .exact, parameters: parameters, runID: nil))
        try outputs.commit()
        return Outcome(
            evaluation: evaluation, runID: nil, storePath: nil, datasetRecord: nil,
            references: referenceIdentity, queries: queryIdentity, classNames: labels.classNames,
            queryCount: queryData?.embeddings.rows, timings: timings, search: .exact, approximation: nil,
            clustering: nil, confidence: nil, parameters: parameters)
    }
}

/// The size of a file in bytes, nil when it cannot be seen.
private func fileSize(_ path: String) -> Int? {
    var st = stat()
    guard stat(path, &st) == 0 else { return nil }
    return Int(st.st_size)
}
