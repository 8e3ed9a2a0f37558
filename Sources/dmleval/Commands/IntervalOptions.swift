import ArgumentParser
import DMLEvalJobs
import RetrievalEval
import RetrievalEvalStore

/// --ci, --bootstrap and --bootstrap-seed: percentile bootstrap intervals over queries.
struct IntervalOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Add a percentile bootstrap confidence interval at this level (e.g. 95) to every mean: queries are resampled, the references are fixed.", valueName: "level"))
    var ci: Double?

    @Option(help: ArgumentHelp("Bootstrap resamples for --ci.", valueName: "n"))
    var bootstrap: Int = 1000

    @Option(help: ArgumentHelp("Seed of the bootstrap resamples.", valueName: "seed"))
    var bootstrapSeed: UInt64 = 0

    func validate() throws {
        if let ci, !(ci >= 50 && ci < 100) { throw ValidationError("--ci: expected a level from 50 to below 100 (percent), found \(ci)") }
        if !(10 ... 1_000_000).contains(bootstrap) { throw ValidationError("--bootstrap: expected 10 to 1,000,000 resamples, found \(bootstrap)") }
    }

    /// "95" for 0.95, "99.5" for 0.995.
    static func levelText(_ settings: Bootstrap.Settings) -> String {
        let percent = settings.level * 100
        return percent == percent.rounded() ? String(Int(percent)) : formatFixed(percent, decimals: 1)
    }

    /// The interval settings, when --ci was given.
    var settings: Bootstrap.Settings? {
        ci.map { Bootstrap.Settings(level: $0 / 100, resamples: bootstrap, seed: bootstrapSeed) }
    }
}
