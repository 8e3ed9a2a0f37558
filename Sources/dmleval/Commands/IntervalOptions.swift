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

    /// Refuses --ci when fewer than 2 queries can be scored (R > 0): nothing to resample.
    /// - Returns: each query's class in the references' class space (for macro intervals).
    @discardableResult
    static func checkScored(references: LabeledEmbeddings, queries: LabeledEmbeddings?) throws -> [Int32] {
        let judgments = queries.map { RelevanceJudgments(queries: $0.labels, references: references.labels) }
            ?? RelevanceJudgments(selfRetrieval: references.labels)
        let scored = judgments.relevantCounts.filter { $0 > 0 }.count
        if scored < 2 {
            throw MetricError(.invalidInput, "--ci: a bootstrap interval needs at least 2 scored queries to resample, found \(scored) (queries with R = 0 are not scored); drop --ci")
        }
        return judgments.queryClasses.map { max($0, 0) }
    }
}
