import ArgumentParser
import Foundation
import RetrievalEval

/// `--shard I/N --partial-out DIR`: score one query shard and write its part instead of
/// recording a run (`dmleval merge DIR` records it).
struct ShardOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "Score only shard I of N (0-based: I from 0 to N-1; contiguous, balanced ranges of the query rows) against all references, and write its part to --partial-out instead of recording a run; 'auto' takes I from SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN and N from SLURM_ARRAY_TASK_COUNT (or MAX - MIN + 1), or from JOB_COMPLETION_INDEX and DMLEVAL_SHARDS. Then: dmleval merge DIR.",
        valueName: "I/N|auto"))
    var shard: String?

    @Option(help: ArgumentHelp("With --shard: the folder the part is written to (DIR/part-I-of-N; made if missing). Touches no store.", valueName: "dir"))
    var partialOut: String?

    func validate() throws {
        switch (shard, partialOut) {
        case (nil, nil): return
        case (.some, nil): throw ValidationError("--shard writes a part file: add --partial-out DIR")
        case (nil, .some): throw ValidationError("--partial-out goes with --shard I/N (or --shard auto)")
        case (.some(let text), .some):
            // Malformed text is a usage error (64); a well-formed shard out of range is bad
            // input (exit 2, at run time, as for --shard auto outside an array).
            let parts = text.split(separator: "/", omittingEmptySubsequences: false)
            if text != "auto" && (parts.count != 2 || Int(parts[0]) == nil || Int(parts[1]) == nil) {
                throw ValidationError("--shard: expected I/N (two integers, e.g. 0/4) or auto, found '\(text)'")
            }
        }
    }

    /// The shard asked for.
    /// - Throws: `ShardError` for a shard out of range or `auto` outside a job array.
    func resolve() throws -> Shard? {
        guard let shard else { return nil }
        if shard == "auto" { return try Shard.fromEnvironment(ProcessInfo.processInfo.environment) }
        return try Shard.parse(shard)
    }
}
