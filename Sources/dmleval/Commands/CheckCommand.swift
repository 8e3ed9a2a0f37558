import Foundation
import ArgumentParser
import DMLEvalJobs
import RetrievalEval
import RetrievalEvalStore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `dmleval check`: the CI gate against a saved baseline.
struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Re-run a baseline's metrics on new embeddings and fail if quality dropped.",
        discussion: """
            Runs exactly the baseline's metrics, conventions and distance on EMBEDDINGS and
            LABELS (or --dataset), then compares each metric with the baseline. A metric
            fails when it dropped by more than --tolerance points (x100 scale) and, with
            --significance, only when the drop is also significant: a one-sided paired
            randomization test over per-query values (p = (count + 1) / (N + 1), seeded),
            with Holm's correction across the metrics checked.

            New embeddings of the same labelled items are the normal case. A baseline made
            on other labels (another test set, or the same labels in another order) is
            refused unless --allow-dataset-change; then p-values need the same queries and
            are left out.

            A baseline made by 'score-run' (a TREC run) is checked on a new run file against \
            the same qrels: 'dmleval check NEW-RUN QRELS --baseline FILE' re-scores them under \
            the baseline's relevance level and query set. NMI and AMI (no per-query values) are \
            not part of baselines.

            Exit codes: 0 pass; 1 a metric regressed; 2 unusable input or baseline; 64 bad
            usage.
            """
    )

    @OptionGroup var source: DataSourceOptions

    @Option(help: ArgumentHelp("The baseline file (from 'dmleval runs export' or --save-baseline).", valueName: "file.json"))
    var baseline: String?

    @Option(name: .customLong("run"), help: ArgumentHelp("Use a stored run as the baseline instead of a file (with --no-store the store is only read).", valueName: "id"))
    var baselineRun: Int64?

    @Option(help: ArgumentHelp("The largest drop that passes, in points on the x100 scale.", valueName: "points"))
    var tolerance: Double = 0.5

    @Option(help: ArgumentHelp("Fail only drops that are also significant at this level (Holm-corrected).", valueName: "alpha"))
    var significance: Double?

    @Option(name: .customLong("metric"), help: ArgumentHelp("Check only this metric of the baseline (repeatable).", valueName: "name"))
    var metricNames: [String] = []

    @Option(help: ArgumentHelp("Random sign flips for the randomization test (100 to 1,000,000).", valueName: "n"))
    var permutations: Int = 10_000

    @Option(help: "Seed of the randomization test.")
    var seed: UInt64 = 0

    @Flag(help: "Compare even when the baseline was made on other labels or another query set.")
    var allowDatasetChange = false

    @Option(help: "Output: table, json, markdown, github (workflow annotations and a step summary), or junit (JUnit XML, one test case per metric, for GitLab, Jenkins, Azure and other CI systems).")
    var format: CheckFormat = .table

    @OptionGroup(title: "Confidence intervals")
    var interval: IntervalOptions

    @Option(help: ArgumentHelp("Threads for the search (default: every core).", valueName: "n"))
    var threads: Int?

    @OptionGroup var input: InputOptions
    @OptionGroup var storeOptions: StoreOptions

    enum CheckFormat: String, ExpressibleByArgument, CaseIterable {
        case table, json, markdown, github, junit
    }

    func validate() throws {
        try source.validate(with: input)
        if (baseline == nil) == (baselineRun == nil) { throw ValidationError("give the baseline as --baseline FILE or --run ID (one of them)") }
        if !(tolerance >= 0 && tolerance <= 100) { throw ValidationError("--tolerance: expected points from 0 to 100, found \(tolerance)") }
        if let significance, !(significance > 0 && significance < 1) {
            throw ValidationError("--significance: expected a level between 0 and 1, found \(significance)")
        }
        try checkPermutations(permutations)
        try checkThreads(threads)
    }

    func run() throws {
        var gate = BaselineGate(
            baseline: baseline.map(BaselineGate.BaselineSource.file) ?? .storedRun(baselineRun!), source: source.evaluationSource,
            queries: source.queryFiles, reading: input.settings, store: storeOptions.path.location, recordRun: !storeOptions.noStore,
            toolVersion: DMLEval.version)
        gate.metricNames = metricNames
        gate.tolerancePoints = tolerance
        gate.significance = significance
        gate.permutations = permutations
        gate.seed = seed
        gate.interval = interval.settings
        gate.allowDatasetChange = allowDatasetChange
        gate.threads = threads ?? ExactSearch.defaultThreads
        let outcome = try gate.run(progress: ProgressPrinter().handler, notify: { printError(Self.wording($0)) })
        print(render(outcome))
        if let runID = outcome.runID, let path = outcome.storePath { printError("run \(runID) stored in \(path)") }
        if !outcome.passed { throw CheckFailed() }
    }

    /// A notice of the gate, as printed on stderr.
    static func wording(_ notice: BaselineGate.Notice) -> String {
        switch notice {
        case .clusteringNotChecked(let names):
            "note: the run's \(names.joined(separator: " and ")) are not checked: check gates metrics with per-query values only"
        case .approximateBaseline(let search): "note: the baseline used the \(search) index; the check uses exact search"
        case .unpaired: "note: the queries differ from the baseline's, so no paired test is possible; only the tolerance applies"
        }
    }

    /// The verdicts in the chosen format (the GitHub format also appends the step summary).
    private func render(_ outcome: BaselineGate.Outcome) -> String {
        let (base, baseName, results) = (outcome.baseline, outcome.baselineName, outcome.results)
        let failed = results.filter(\.regressed)
        let header = "check against \(DisplayText.escape(baseName)) (dmleval \(base.toolVersion)\(base.sourceRun.map { ", run \($0)" } ?? "")): "
            + "tolerance \(formatFixed(tolerance, decimals: 2)) points"
            + (significance.map { ", significance \($0) (one-sided paired randomization, \(permutations) sign flips, Holm)" } ?? "")
            + (outcome.sameEmbeddings ? (base.isTrec ? "; the run file is the baseline's own" : "; the embeddings are the baseline's own") : "")
        let verdict = failed.isEmpty
            ? "PASS: no metric dropped by more than \(formatFixed(tolerance, decimals: 2)) points" + (significance != nil ? " significantly" : "")
            : "FAIL: " + failed.map { "\($0.metric.name) dropped \(formatFixed(-$0.deltaPoints, decimals: 2)) points" + ($0.adjustedPValue.map { " (p = \(pText($0)))" } ?? "") }.joined(separator: "; ")

        switch format {
        case .json:
            return JSON.object([
                ("baseline", .string(baseName)),
                ("run", outcome.runID.map { .int(Int($0)) } ?? .null),
                ("tolerance_points", .number(tolerance)),
                ("significance", significance.map { .number($0) } ?? .null),
                ("paired", .bool(outcome.paired)),
                ("passed", .bool(failed.isEmpty)),
                ("metrics", .array(results.map { r in
                    .object([
                        ("metric", .string(r.metric.name)), ("baseline", .number(r.baseline)), ("current", .number(r.current)),
                        ("delta_points", .number(r.deltaPoints)), ("p", r.pValue.map { .number($0) } ?? .null),
                        ("p_holm", r.adjustedPValue.map { .number($0) } ?? .null), ("regressed", .bool(r.regressed)),
                    ] + (interval.settings == nil ? [] : [
                        ("delta_ci_points", r.deltaInterval.map { .array([.number($0.lower), .number($0.upper)]) } ?? .null),
                    ]))
                })),
            ]).rendered()
        case .table, .markdown:
            return header + "\n\n" + table(results).render(format == .markdown ? .markdown : .table) + "\n\n" + verdict
        case .junit:
            return junit(results, header: header, verdict: verdict, seconds: outcome.seconds)
        case .github:
            var lines = results.map { r in
                let line = "\(r.metric.name): \(percent(r.baseline, decimals: 2)) -> \(percent(r.current, decimals: 2)) (\(signed(r.deltaPoints)) points"
                    + (r.adjustedPValue.map { ", p = \(pText($0))" } ?? "") + ")"
                return (r.regressed ? "::error title=dmleval check::" : "::notice title=dmleval check::") + workflowCommandData(line)
            }
            lines.append(workflowCommandData(verdict))
            if let path = getenv("GITHUB_STEP_SUMMARY").map({ String(cString: $0) }), !path.isEmpty {
                let summary = "### dmleval check\n\n" + header + "\n\n" + table(results).markdown() + "\n\n**" + verdict + "**\n"
                appendText(summary, to: path)
            }
            return lines.joined(separator: "\n")
        }
    }

    private func table(_ results: [RegressionGate.Result]) -> TextTable {
        let ci = interval.settings.map { "delta \(IntervalOptions.levelText($0))% CI" }
        return TextTable(
            header: ["metric", "baseline", "current", "delta"] + (ci.map { [$0] } ?? []) + ["p (Holm)", "verdict"],
            rows: results.map { r in
                [r.metric.name, percent(r.baseline, decimals: 2), percent(r.current, decimals: 2), signed(r.deltaPoints)]
                    + (ci == nil ? [] : [r.deltaInterval.map { "[\(signed($0.lower)), \(signed($0.upper))]" } ?? "n/a"])
                    + [r.adjustedPValue.map(pText) ?? "n/a", r.regressed ? "REGRESSED" : "ok"]
            }, rightAligned: Set(1 ... (ci == nil ? 4 : 5)))
    }

    /// JUnit XML: one test suite, one test case per metric; a regression is a failure.
    private func junit(_ results: [RegressionGate.Result], header: String, verdict: String, seconds: Double) -> String {
        let failures = results.filter(\.regressed).count
        var lines = [
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>",
            "<testsuites name=\"dmleval check\" tests=\"\(results.count)\" failures=\"\(failures)\" errors=\"0\" time=\"\(formatFixed(seconds, decimals: 3))\">",
            "  <testsuite name=\"dmleval check\" tests=\"\(results.count)\" failures=\"\(failures)\" errors=\"0\" skipped=\"0\" time=\"\(formatFixed(seconds, decimals: 3))\">",
            "    <properties>",
            "      <property name=\"summary\" value=\"\(xmlEscape(header))\"/>",
            "      <property name=\"verdict\" value=\"\(xmlEscape(verdict))\"/>",
            "    </properties>",
        ]
        for r in results {
            let detail = "baseline \(percent(r.baseline, decimals: 2)), current \(percent(r.current, decimals: 2)), delta \(signed(r.deltaPoints)) points"
                + (r.deltaInterval.map { " [\(signed($0.lower)), \(signed($0.upper))]" } ?? "")
                + (r.adjustedPValue.map { ", p (Holm) \(pText($0))" } ?? "")
            lines.append("    <testcase classname=\"dmleval.check\" name=\"\(xmlEscape(r.metric.name))\" time=\"0\">")
            if r.regressed {
                lines.append("      <failure type=\"regression\" message=\"\(xmlEscape("\(r.metric.name) dropped \(formatFixed(-r.deltaPoints, decimals: 2)) points"))\">\(xmlEscape(detail))</failure>")
            } else {
                lines.append("      <system-out>\(xmlEscape(detail))</system-out>")
            }
            lines.append("    </testcase>")
        }
        lines += ["  </testsuite>", "</testsuites>"]
        return lines.joined(separator: "\n")
    }
}

/// Text as the data of a GitHub workflow command: control characters escaped, and `%`, CR
/// and LF percent-encoded as GitHub requires, so that nothing in it can start a command of its own.
func workflowCommandData(_ text: String) -> String {
    DisplayText.escape(text).replacingOccurrences(of: "%", with: "%25")
}

/// A p-value as printed: four decimals, or "<0.0001".
func pText(_ p: Double) -> String { p < 0.0001 ? "<0.0001" : formatFixed(p, decimals: 4) }

/// Points with a sign: "+0.25", "-1.30".
func signed(_ points: Double) -> String {
    let text = formatFixed(points, decimals: 2)
    return text.hasPrefix("-") ? text : "+" + text
}

/// Appends `text` to the file at `path` (creating it), for $GITHUB_STEP_SUMMARY.
func appendText(_ text: String, to path: String) {
    let fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0o644)
    guard fd >= 0 else {
        printError("warning: cannot write the step summary to \(path)")
        return
    }
    text.utf8CString.withUnsafeBufferPointer { _ = write(fd, $0.baseAddress!, $0.count - 1) }
    close(fd)
}

/// Text as XML character data or an attribute value (for JUnit output).
func xmlEscape(_ text: String) -> String { DisplayText.xml(text) }
