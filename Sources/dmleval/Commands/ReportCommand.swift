import ArgumentParser
import DMLEvalJobs
import RetrievalEval
import RetrievalEvalStore

/// `dmleval report RUN [RUN...] -o report.html`: one self-contained HTML file (or its data as JSON).
struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write an HTML report of stored runs: settings, metrics with intervals, curves, R, per-class bars, training.",
        discussion: """
            One self-contained HTML file (inline SVG, no script, no network; it prints), with
            for each run: the dataset and settings; every metric with a bootstrap interval over
            queries; Recall@k and Precision@k for k = 1 to the depth searched; the distribution
            of R; per-class bars sorted by value, the worst classes in red; the check against
            exact search for an approximate run; the loss and test metrics per epoch for a run
            that evaluated a training ('dmleval train'). With several runs, a comparison
            against the first: paired differences with intervals, p-values and
            wins/ties/losses, and the Recall@k curves overlaid.

            Runs recorded before dmleval stored curves show their stored Recall@k and
            Precision@k metrics as points instead.

            --format json writes the same data as JSON, for other plotting tools.

            Examples:
              dmleval report 3 -o report.html
              dmleval report 3 4 5 -o out/compare.html --ci 99
              dmleval report 3 --format json > report.json
            """)

    @Argument(help: ArgumentHelp("The runs (see 'dmleval runs list'); the first is the reference of the comparison.", valueName: "run"))
    var ids: [Int64]

    @Option(name: .shortAndLong, help: ArgumentHelp("The file to write (required for html; json goes to stdout without it).", valueName: "file"))
    var output: String?

    @Option(help: "html or json.")
    var format: ReportFormat = .html

    @Option(help: ArgumentHelp("The level of the bootstrap intervals, in percent.", valueName: "level"))
    var ci: Double = 95

    @Option(help: ArgumentHelp("Bootstrap resamples.", valueName: "n"))
    var bootstrap: Int = 1000

    @Option(help: ArgumentHelp("Seed of the bootstrap resamples.", valueName: "seed"))
    var bootstrapSeed: UInt64 = 0

    @Option(help: ArgumentHelp("Random sign flips for the randomization test of the comparison (100 to 1,000,000).", valueName: "n"))
    var permutations: Int = 10_000

    @OptionGroup var storePath: StorePath

    enum ReportFormat: String, ExpressibleByArgument, CaseIterable { case html, json }

    func validate() throws {
        if ids.isEmpty { throw ValidationError("give at least one run id") }
        if format == .html && output == nil { throw ValidationError("give -o FILE.html: the report is one file") }
        if !(ci >= 50 && ci < 100) { throw ValidationError("--ci: expected a level from 50 to below 100 (percent), found \(ci)") }
        if !(10 ... 1_000_000).contains(bootstrap) { throw ValidationError("--bootstrap: expected 10 to 1,000,000 resamples, found \(bootstrap)") }
        try checkPermutations(permutations)
    }

    func run() throws {
        let store = try storePath.openExisting()
        let report = try RunReport.build(
            store: store, runIDs: ids, settings: Bootstrap.Settings(level: ci / 100, resamples: bootstrap, seed: bootstrapSeed),
            permutations: permutations)
        let text: String
        switch format {
        case .html: text = ReportHTML.render(report, generated: "Made by dmleval \(DMLEval.version) on \(isoNow()) from \(store.path).")
        case .json: text = report.json().rendered() + "\n"
        }
        guard let output else {
            print(text, terminator: "")
            return
        }
        let folders = try createFolder(forFile: output)
        do { try ArrayWriter.writeText(text, to: output) } catch { removeFolders(folders); throw error }
        printError("report of run\(ids.count > 1 ? "s" : "") \(ids.map(String.init).joined(separator: ", ")) written to \(output)")
    }
}
