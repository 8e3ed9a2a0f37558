import ArgumentParser
import DMLEvalJobs
import RetrievalEval
import RetrievalEvalStore

/// `dmleval merge DIR`: join the parts of a sharded run and record it as one ordinary run.
struct MergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Join the parts of a sharded evaluation (--shard I/N --partial-out DIR) into one run.",
        discussion: """
            Checks that all N parts (DIR/part-0-of-N ... part-(N-1)-of-N) are there, once each, \
            from the same data, settings and dmleval version, then records one run whose \
            per-query values and means are those of the unsharded run, bit for bit. The run's \
            parameters say it was sharded (sharded = true, shards = N); 'runs show', 'runs \
            compare', 'check' and baselines treat it like any run. Its search and metrics \
            timings are the sums over the shards.

            To store the dataset, the merge reads the input files again from the absolute \
            paths the shards recorded (so they must be visible here, on the shared file \
            system) and checks that they still hold what the shards scored. With --no-store \
            nothing is read but the parts (and the labels, with --per-class).

            Examples:
              sbatch --array=0-3 scripts/slurm/evaluate.sbatch emb.npy labels.txt parts/
              dmleval merge parts/ --name cub-test

            Exit codes: 0 success; 2 a part is missing, duplicated, damaged or from other \
            data, settings or version (one 'error:' line names it; no run is stored); 64 bad usage.
            """
    )

    @Argument(help: ArgumentHelp("The folder the shards wrote their parts to (--partial-out).", valueName: "dir"))
    var directory: String

    @Option(help: ArgumentHelp("A name for this run in the store.", valueName: "name"))
    var name: String?

    @Option(help: "Output format: table, json, csv or markdown.")
    var format: OutputFormat = .table

    @OptionGroup var storeOptions: StoreOptions

    func validate() throws {
        if storeOptions.noStore && storeOptions.path.store != nil {
            throw ValidationError("--store and --no-store contradict each other; give one")
        }
    }

    func run() throws {
        try storeOptions.checkWritable()
        let job = ShardMergeJob(directory: directory, storePath: storeOptions.noStore ? nil : storeOptions.resolvedPath,
                                name: name, toolVersion: DMLEval.version)
        let outcome = try job.run()
        let merge = outcome.merge
        let inputs = Dictionary(merge.inputs, uniquingKeysWith: { a, _ in a })
        let embeddings = inputs[ShardMergeJob.InputKey.embeddings], labels = inputs[ShardMergeJob.InputKey.labels]
        let summary = EvaluationSummary(
            run: outcome.runID, source: "\(merge.shards) shards in \(directory): \(embeddings ?? "?") + \(labels ?? "labels")",
            dataset: merge.dataset, datasetNames: outcome.datasetNames, embeddingsPath: embeddings, labelsPath: labels,
            classNames: outcome.classNames, queryCount: merge.queryDataset?.rows,
            distance: ShardMergeJob.distance(merge), depth: merge.depth, report: merge.report, timings: outcome.timings,
            search: .exact, approximation: nil)
        print(summary.render(format))
        if let runID = outcome.runID {
            printError("run \(runID) stored in \(storeOptions.resolvedPath) (merged from \(merge.shards) shards)")
        }
    }
}
