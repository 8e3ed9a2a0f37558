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
        let started = now()
        // 1. The baseline, and which of its metrics to check.
        let base: Baseline
        let baseName: String
        if let file = baseline {
            base = try Baseline.read(file)
            baseName = file
        } else {
            let store = try storeOptions.path.openExisting()
            let record = try store.run(id: baselineRun!)
            base = try Baseline(run: record, perQuery: try store.perQueryValues(runID: record.id))
            baseName = "run \(record.id) in \(store.path)"
            let clustering = record.metrics.filter { ClusteringMetric(rawValue: $0.metric) != nil }.map(\.metric)
            if !clustering.isEmpty {
                printError("note: the run's \(clustering.joined(separator: " and ")) are not checked: check gates metrics with per-query values only")
            }
            // A stored run is as untrusted as a file: the store may have been edited or damaged.
            do { try base.validate() } catch let error as BaselineFieldError {
                throw StoreError("\(baseName): cannot serve as a baseline: expected \(error.expected), found \(error.found); check against another run or a baseline file")
            }
        }
        var selected = base.metrics.indices.map { $0 }
        if !metricNames.isEmpty {
            selected = []
            for name in metricNames {
                guard let metric = Metric(name: name), let i = base.metrics.firstIndex(of: metric) else {
                    throw InputError(.baselineMismatch, file: baseName, expected: "one of the baseline's metrics (\(base.metrics.map(\.name).joined(separator: ", ")))",
                                     found: "--metric \(name)", remedy: "check a metric the baseline recorded")
                }
                selected.append(i)
            }
        }
        let metrics = selected.map { base.metrics[$0] }

        // 2. The same evaluation, under the baseline's conventions.
        let rerun = base.isTrec ? try rescoreTrecRun(base, baseName: baseName, metrics: metrics)
            : try reevaluate(base, baseName: baseName, metrics: metrics)
        let report = rerun.report
        let sameLabels = rerun.sameTestSet
        // A current mean that is not a number cannot show that nothing dropped: fail closed.
        if let m = metrics.indices.first(where: { !report.means[$0].isFinite }) {
            throw MetricError(.invalidInput, "\(metrics[m].name): no query could be scored on the new \(base.isTrec ? "run" : "embeddings") (the mean is \(report.means[m])), so the check cannot pass; check the \(base.isTrec ? "qrels" : "labels")")
        }
        let paired = sameLabels && report.perQuery.first?.count == base.perQuery.first?.count
        if !paired && significance != nil {
            printError("note: the queries differ from the baseline's, so no paired test is possible; only the tolerance applies")
        }

        // 3. The verdicts.
        let results = RegressionGate.check(
            metrics: metrics, baselineMeans: selected.map { base.means[$0] }, baselinePerQuery: selected.map { base.perQuery[$0] },
            currentMeans: report.means, currentPerQuery: report.perQuery, paired: paired,
            tolerancePoints: tolerance, significance: significance, permutations: permutations, seed: seed,
            interval: interval.settings)
        let failed = results.filter(\.regressed)
        let sameEmbeddings = rerun.systemHash == base.dataset.embeddingsHash
        let header = "check against \(DisplayText.escape(baseName)) (dmleval \(base.toolVersion)\(base.sourceRun.map { ", run \($0)" } ?? "")): "
            + "tolerance \(formatFixed(tolerance, decimals: 2)) points"
            + (significance.map { ", significance \($0) (one-sided paired randomization, \(permutations) sign flips, Holm)" } ?? "")
            + (sameEmbeddings ? (base.isTrec ? "; the run file is the baseline's own" : "; the embeddings are the baseline's own") : "")
        let verdict = failed.isEmpty
            ? "PASS: no metric dropped by more than \(formatFixed(tolerance, decimals: 2)) points" + (significance != nil ? " significantly" : "")
            : "FAIL: " + failed.map { "\($0.metric.name) dropped \(formatFixed(-$0.deltaPoints, decimals: 2)) points" + ($0.adjustedPValue.map { " (p = \(pText($0)))" } ?? "") }.joined(separator: "; ")

        switch format {
        case .json:
            print(JSON.object([
                ("baseline", .string(baseName)),
                ("run", rerun.runID.map { .int(Int($0)) } ?? .null),
                ("tolerance_points", .number(tolerance)),
                ("significance", significance.map { .number($0) } ?? .null),
                ("paired", .bool(paired)),
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
            ]).rendered())
        case .table, .markdown:
            print(header + "\n")
            print(table(results).render(format == .markdown ? .markdown : .table))
            print("\n" + verdict)
        case .junit:
            print(junit(results, header: header, verdict: verdict, seconds: now() - started))
        case .github:
            for r in results {
                let line = "\(r.metric.name): \(percent(r.baseline, decimals: 2)) -> \(percent(r.current, decimals: 2)) (\(signed(r.deltaPoints)) points"
                    + (r.adjustedPValue.map { ", p = \(pText($0))" } ?? "") + ")"
                print((r.regressed ? "::error title=dmleval check::" : "::notice title=dmleval check::") + workflowCommandData(line))
            }
            print(workflowCommandData(verdict))
            if let path = getenv("GITHUB_STEP_SUMMARY").map({ String(cString: $0) }), !path.isEmpty {
                let summary = "### dmleval check\n\n" + header + "\n\n" + table(results).markdown() + "\n\n**" + verdict + "**\n"
                appendText(summary, to: path)
            }
        }
        if let runID = rerun.runID, let path = rerun.storePath { printError("run \(runID) stored in \(path)") }
        if !failed.isEmpty { throw CheckFailed() }
    }

    /// What re-running a baseline's evaluation produced.
    private struct Rerun {
        let report: MetricReport
        /// Whether the test set is the baseline's (labels, or qrels, hash equal).
        let sameTestSet: Bool
        /// The embeddings' (or the run file's) hash.
        let systemHash: String
        let runID: Int64?
        let storePath: String?
    }

    /// The main job on EMBEDDINGS and LABELS (or --dataset), with the baseline's metrics and distance.
    private func reevaluate(_ base: Baseline, baseName: String, metrics: [Metric]) throws -> Rerun {
        if base.search != "exact" {
            printError("note: the baseline used the \(base.search) index; the check uses exact search")
        }
        if (base.queryDataset == nil) != (source.queries == nil) && !allowDatasetChange {
            throw InputError(.baselineMismatch, file: baseName,
                             expected: base.queryDataset == nil ? "self-retrieval, as the baseline" : "--queries and --query-labels, as the baseline used a query set",
                             found: source.queries == nil ? "self-retrieval" : "a query set",
                             remedy: "evaluate the same protocol, or pass --allow-dataset-change")
        }
        let distance = base.distance ?? .cosine
        let job = EvaluationJob(
            source: source, input: input, storeOptions: storeOptions, metrics: metrics, distance: distance, perClass: false,
            threads: threads ?? ExactSearch.defaultThreads, tileSize: 1024, name: "check against \(baseName)",
            saveNeighbors: nil)
        let parameters: [(String, String)] = [("metrics", metrics.map(\.name).joined(separator: ",")),
                                               ("distance", distance.rawValue), ("search", "exact"),
                                               ("baseline", baseName)]
        // The test set must be the baseline's (the labels and their order), checked on the
        // data as read, before the search.
        var sameLabels = false
        let outcome = try job.run(parameters: { _ in parameters }, beforeSearch: { references, queries in
            let hash = LabeledEmbeddings.labelsHash(references.labels)
            let queryHash = queries.map { LabeledEmbeddings.labelsHash($0.labels) }
            sameLabels = hash == base.dataset.labelsHash && queryHash == base.queryDataset?.labelsHash
            // The labels hash covers the rows and their classes: a baseline that claims this test
            // set with other counts was edited.
            if sameLabels && (base.dataset.rows != references.labels.count || base.dataset.classes != references.labels.classCount
                              || (queries.map { $0.labels.count != base.queryDataset?.rows } ?? false)) {
                throw InputError(
                    .baselineMismatch, file: baseName,
                    expected: "\(references.labels.count) rows in \(references.labels.classCount) classes, as the labels whose hash it names",
                    found: "\(base.dataset.rows) rows in \(base.dataset.classes) classes",
                    remedy: "the baseline was edited: write it again with 'dmleval runs export' or '--save-baseline'")
            }
            if !sameLabels && !allowDatasetChange {
                throw InputError(
                    .baselineMismatch, file: baseName,
                    expected: "the baseline's test set (labels hash \(base.dataset.labelsHash.prefix(12)), \(base.dataset.rows) items)",
                    found: "labels hash \(hash.prefix(12)), \(references.labels.count) items"
                        + (queryHash.map { ", query labels hash \($0.prefix(12))" } ?? ""),
                    remedy: "check against a baseline of this test set, or pass --allow-dataset-change")
            }
        })
        return Rerun(report: outcome.evaluation.report, sameTestSet: sameLabels, systemHash: outcome.references.embeddingsHash,
                     runID: outcome.runID, storePath: outcome.storePath)
    }

    /// `score-run` on the two files, read as RUN and QRELS, with the baseline's metrics,
    /// relevance level and query set: a baseline made by `score-run` gates a new run file.
    private func rescoreTrecRun(_ base: Baseline, baseName: String, metrics: [Metric]) throws -> Rerun {
        guard let runFile = source.embeddings, let qrelsFile = source.labels, source.queries == nil else {
            throw InputError(.baselineMismatch, file: baseName, expected: "a new TREC run and the qrels as the two files (dmleval check RUN QRELS --baseline ...), as the baseline was made by score-run",
                             found: source.dataset != nil ? "--dataset" : "--queries", remedy: "give the run file and the qrels file")
        }
        let stored = Dictionary(base.parameters, uniquingKeysWith: { a, _ in a })
        guard let level = stored["relevance_level"].flatMap({ Int($0) }), (1...TrecQrels.maximumGrade).contains(level),
              let querySet = stored["query_set"].flatMap(TrecQuerySet.init(rawValue:)) else {
            throw InputError(.baselineMismatch, file: baseName, expected: "\"parameters\" with relevance_level and query_set, as score-run records them",
                             found: "relevance_level \(stored["relevance_level"] ?? "none"), query_set \(stored["query_set"] ?? "none")",
                             remedy: Baseline.remedy)
        }
        var sameQrels = false
        let job = TrecRunJob(runPath: runFile, qrelsPath: qrelsFile, metrics: metrics, relevanceLevel: level, querySet: querySet,
                             name: "check against \(baseName)", toolVersion: DMLEval.version, extraParameters: [("baseline", baseName)])
        try storeOptions.checkWritable()
        let outcome = try job.run(openStore: storeOptions.noStore ? nil : { try storeOptions.open() }, beforeScoring: { _, qrels in
            sameQrels = qrels.contentHash == base.dataset.labelsHash
            if !sameQrels && !allowDatasetChange {
                throw InputError(
                    .baselineMismatch, file: baseName,
                    expected: "the baseline's qrels (hash \(base.dataset.labelsHash.prefix(12)), \(base.dataset.rows) judged queries)",
                    found: "\(qrelsFile) (hash \(qrels.contentHash.prefix(12)), \(qrels.judgments.count) judged queries)",
                    remedy: "check against a baseline of these qrels, or pass --allow-dataset-change")
            }
        })
        return Rerun(report: outcome.evaluation.report, sameTestSet: sameQrels, systemHash: outcome.dataset.embeddingsHash,
                     runID: outcome.runID, storePath: outcome.storePath)
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
