import ArgumentParser
import DMLEvalJobs
import Foundation
import RetrievalEval

/// The main job's shard path: `--shard I/N --partial-out DIR`.
extension EvaluateCommand {
    /// Refuses what a shard cannot do: it reads files, searches exactly, writes only its part.
    func validateShard() throws {
        guard shardOptions.shard != nil else { return }
        var refused: [String] = []
        if source.dataset != nil { refused.append("--dataset (shards read files; give EMBEDDINGS and LABELS)") }
        if indexOptions.index != .exact { refused.append("--index \(indexOptions.index.rawValue) (shards search exactly)") }
        if saveNeighbors != nil { refused.append("--save-neighbors") }
        if saveRun != nil || saveQrels != nil { refused.append("--save-run/--save-qrels") }
        if saveBaseline != nil { refused.append("--save-baseline (use 'dmleval runs export' on the merged run)") }
        if perQuery != nil { refused.append("--per-query") }
        if interval.settings != nil { refused.append("--ci") }
        if nmi || ami { refused.append("--nmi/--ami") }
        if name != nil { refused.append("--name (give it to 'dmleval merge')") }
        if storeOptions.path.store != nil || storeOptions.noStore { refused.append("--store/--no-store (shards touch no store; give them to 'dmleval merge')") }
        if let first = refused.first {
            throw ValidationError("--shard cannot go with \(first)")
        }
    }

    /// Scores one shard and writes its part; records nothing.
    func runShard() throws {
        guard let shard = try shardOptions.resolve(), let directory = shardOptions.partialOut else { return }
        let bar = ProgressBar("searching shard \(shard)")
        let result: (part: PartialResult, path: String, references: Int)
        do {
            result = try ShardJob(evaluation: job, shard: shard, directory: directory, inputs: shardInputs)
                .run(progress: { bar.update($0) }, note: { printError($0) })
        } catch {
            bar.finish()
            throw error
        }
        bar.finish()
        let rows = result.part.rows
        print("shard \(shard): queries \(rows.lowerBound) to \(rows.upperBound) of \(result.part.totalQueries) (\(rows.count) scored against \(result.references) references), search \(DisplayText.fixed(result.part.seconds("search"), decimals: 2)) s; part written to \(result.path)")
    }

    /// How the merge reads the inputs again: absolute paths (the merge may run elsewhere in
    /// the shared file system) and the reader options.
    private var shardInputs: [(String, String)] {
        let cwd = FileManager.default.currentDirectoryPath
        func absolute(_ path: String) -> String { path.hasPrefix("/") ? path : cwd + "/" + path }
        typealias Key = ShardMergeJob.InputKey
        var inputs: [(String, String)] = []
        if let embeddings = source.embeddings { inputs.append((Key.embeddings, absolute(embeddings))) }
        if let labels = source.labels { inputs.append((Key.labels, absolute(labels))) }
        if let queries = source.queries { inputs.append((Key.queries, absolute(queries))) }
        if let queryLabels = source.queryLabels { inputs.append((Key.queryLabels, absolute(queryLabels))) }
        if let format = input.inputFormat { inputs.append((Key.format, format.rawValue)) }
        if let dim = input.dim { inputs.append((Key.dimension, String(dim))) }
        if let member = input.member { inputs.append((Key.array, member)) }
        if let labelsArray = input.labelsArray { inputs.append((Key.labelsArray, labelsArray)) }
        return inputs
    }
}
