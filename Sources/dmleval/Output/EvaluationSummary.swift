import DMLEvalJobs
import RetrievalEval
import RetrievalEvalStore

/// Everything the evaluate command prints, in every output format.
struct EvaluationSummary {
    let run: Int64?
    let source: String
    let dataset: Baseline.DatasetIdentity
    let datasetNames: [String]
    let embeddingsPath: String?
    let labelsPath: String?
    let classNames: [String]
    let queryCount: Int?
    let distance: Distance
    let depth: Int
    let report: MetricReport
    let timings: [(String, Double)]
    let search: SearchDescription
    let approximation: ApproximationCheck?
    /// Bootstrap intervals of the means (--ci), when asked for.
    var confidence: Confidence? = nil

    /// Percentile bootstrap intervals of every mean, and of the macro means with --per-class.
    struct Confidence {
        let settings: Bootstrap.Settings
        let means: [Bootstrap.Interval?]
        let macro: [Bootstrap.Interval?]?

        /// "95" for 0.95, "99.5" for 0.995.
        var levelText: String {
            let percent = settings.level * 100
            return percent == percent.rounded() ? String(Int(percent)) : formatFixed(percent, decimals: 1)
        }

        var description: String {
            "\(levelText)% percentile bootstrap intervals over queries (\(settings.resamples) resamples, seed \(settings.seed); the references are fixed)"
        }

        func json() -> JSON {
            .object([
                ("level", .number(settings.level)), ("resamples", .int(settings.resamples)), ("seed", .int(Int(settings.seed))),
                ("method", .string("percentile bootstrap over queries")),
            ])
        }
    }
    var clustering: ClusteringQuality? = nil
    var clusteringOptions: ClusteringSettings? = nil

    func render(_ format: OutputFormat) -> String {
        switch format {
        case .json: return json().rendered()
        case .csv: return csv()
        case .table, .markdown: return text(format)
        }
    }

    private var rows: Int { dataset.rows }

    private var mode: String {
        queryCount.map { "\($0) queries against \(rows) references" } ?? "self-retrieval (each item against the other \(rows - 1))"
    }

    private func text(_ format: OutputFormat) -> String {
        let names = report.metrics.map(\.name)
        var table = TextTable(header: [""] + names, rows: [], rightAligned: Set(1 ... names.count))
        table.rows.append(["mean"] + report.means.indices.map { m in withInterval(report.means[m], confidence?.means[m]) })
        if let perClass = report.perClass {
            table.rows.append(["macro (per-class)"] + perClass.macroMeans.indices.map { m in
                withInterval(perClass.macroMeans[m], confidence?.macro?[m])
            })
        }
        var lines: [String] = []
        let heading = [
            "dataset   \(DisplayText.escape(source)) (\(rows) x \(dataset.dimensions), \(dataset.classes) classes, hash \(dataset.hash.prefix(12)))",
            "search    \(DisplayText.escape(search.text)), \(distance.rawValue), \(mode), depth \(depth)",
            "queries   \(report.scoredQueries) scored, \(report.excludedQueries) excluded (R = 0: no other item of their class)",
        ] + (confidence.map { ["intervals \($0.description)"] } ?? [])
        if format == .markdown {
            lines += heading.map { "    " + $0 }
            lines += ["", table.markdown()]
        } else {
            lines += heading
            lines += ["", "values x100", table.aligned()]
        }
        if let check = approximation {
            // Recall of the exact top 10 and of the whole list (one column when the list is that short).
            let recallHeaders = check.depth > 10 ? ["knn-recall@10", "knn-recall@\(check.depth)"] : ["knn-recall@\(check.depth)"]
            let recalls = check.depth > 10 ? [check.recallAt10, check.recallAtDepth] : [check.recallAtDepth]
            let blank = recalls.map { _ in "" }
            var checkTable = TextTable(header: [""] + recallHeaders + names, rows: [],
                                       rightAligned: Set(1 ... names.count + recalls.count))
            checkTable.rows.append(["approximate"] + recalls.map { percent($0) } + check.approximateMeans.map { percent($0) })
            checkTable.rows.append(["exact"] + recalls.map { _ in percent(1) } + check.exactMeans.map { percent($0) })
            checkTable.rows.append(["change"] + blank + zip(check.approximateMeans, check.exactMeans).map { signedPercent($0 - $1) })
            lines += ["", "against exact search on \(check.sample.count) sampled queries (seed \(check.seed), \(check.scoredQueries) scored; x100)",
                      format == .markdown ? checkTable.markdown() : checkTable.aligned()]
        }
        if let clustering, let options = clusteringOptions {
            var clusterTable = TextTable(header: [""] + options.metrics.map(\.rawValue), rows: [], rightAligned: Set(1 ... options.metrics.count))
            clusterTable.rows.append(["k-means"] + options.metrics.map { percent($0.value(clustering)) })
            lines += ["", "clustering: k-means, \(clustering.clusters) clusters (the classes), best of \(clustering.restarts) k-means++ start\(clustering.restarts == 1 ? "" : "s") (seed \(clustering.seed)); x100",
                      format == .markdown ? clusterTable.markdown() : clusterTable.aligned()]
        }
        if let perClass = report.perClass {
            var classTable = TextTable(header: ["class", "queries"] + names, rows: [], rightAligned: Set(1 ... names.count + 1))
            for c in perClass.scoredQueries.indices {
                classTable.rows.append([classNames[c], String(perClass.scoredQueries[c])] + perClass.classMeans[c].map { percent($0) })
            }
            lines += ["", "per class (x100)", format == .markdown ? classTable.markdown() : classTable.aligned()]
        }
        return lines.joined(separator: "\n")
    }

    /// One row per metric (`metric,mean`, with `ci_lower,ci_upper` under --ci). With
    /// --per-class, one row per mean instead, one column per metric: the mean over queries,
    /// the macro mean, then every class (`scope,label,queries,METRIC...`), which pandas reads
    /// as one table.
    private func csv() -> String {
        if let perClass = report.perClass {
            var header = ["scope", "label", "queries"]
            for metric in report.metrics {
                header.append(metric.name)
                if confidence != nil { header += [metric.name + " ci_lower", metric.name + " ci_upper"] }
            }
            var table = TextTable(header: header, rows: [])
            func cells(_ values: [Double], _ intervals: [Bootstrap.Interval?]?) -> [String] {
                values.indices.flatMap { m -> [String] in
                    guard confidence != nil else { return [csvNumber(values[m])] }
                    let i = intervals?[m]
                    return [csvNumber(values[m]), i.map { csvNumber($0.lower) } ?? "", i.map { csvNumber($0.upper) } ?? ""]
                }
            }
            table.rows.append(["mean", "", String(report.scoredQueries)] + cells(report.means, confidence?.means ?? []))
            let classesWithQueries = perClass.scoredQueries.filter { $0 > 0 }.count
            table.rows.append(["macro", "", String(classesWithQueries)] + cells(perClass.macroMeans, confidence?.macro ?? []))
            for c in perClass.scoredQueries.indices {
                table.rows.append(["class", classNames[c], String(perClass.scoredQueries[c])] + cells(perClass.classMeans[c], nil))
            }
            return table.csv()
        }
        var header = ["metric", "mean"]
        if confidence != nil { header += ["ci_lower", "ci_upper"] }
        var table = TextTable(header: header, rows: [])
        for (m, metric) in report.metrics.enumerated() {
            var row = [metric.name, csvNumber(report.means[m])]
            if let confidence {
                let i = confidence.means[m]
                row += [i.map { csvNumber($0.lower) } ?? "", i.map { csvNumber($0.upper) } ?? ""]
            }
            table.rows.append(row)
        }
        if let clustering, let options = clusteringOptions {
            for metric in options.metrics {
                table.rows.append([metric.rawValue, csvNumber(metric.value(clustering))] + (report.perClass != nil ? [""] : []))
            }
        }
        return table.csv()
    }

    /// "68.4 [67.9, 68.9]" with an interval, "68.4" without.
    private func withInterval(_ mean: Double, _ interval: Bootstrap.Interval?) -> String {
        guard let interval else { return percent(mean) }
        return "\(percent(mean)) [\(percent(interval.lower)), \(percent(interval.upper))]"
    }

    /// A difference x100 with its sign ("+0.3", "-1.2", "0.0").
    private func signedPercent(_ delta: Double) -> String {
        let text = percent(delta)
        return delta > 0 && text != "0.0" ? "+" + text : text
    }

    private func csvNumber(_ v: Double) -> String { v.isFinite ? "\(v)" : "" }

    func json() -> JSON {
        var datasetFields = dataset.json
        if !datasetNames.isEmpty { datasetFields.append(("names", .array(datasetNames.map { .string($0) }))) }
        if let embeddingsPath { datasetFields.append(("embeddings", .string(embeddingsPath))) }
        if let labelsPath { datasetFields.append(("labels", .string(labelsPath))) }
        var fields: [(String, JSON)] = [
            ("run", run.map { .int(Int($0)) } ?? .null),
            ("dataset", .object(datasetFields)),
            ("search", .object([
                ("index", .string(search.kind.rawValue)), ("distance", .string(distance.rawValue)),
                ("mode", .string(queryCount == nil ? "self-retrieval" : "query-reference")), ("depth", .int(depth)),
            ] + (search.kind == .exact ? [] : [
                ("settings", settingsJSON(search.settings)),
                ("origin", search.origin.map { .string($0.text) } ?? .null),
                ("memory_bytes", search.memoryBytes.map(JSON.int) ?? .null),
            ]))),
            ("queries", .int(report.scoredQueries + report.excludedQueries)),
            ("scored_queries", .int(report.scoredQueries)),
            ("excluded_queries", .int(report.excludedQueries)),
            ("metrics", .object(zip(report.metrics, report.means).map { ($0.name, .number($1)) })),
        ]
        if let confidence {
            func pair(_ i: Bootstrap.Interval?) -> JSON { i.map { .array([.number($0.lower), .number($0.upper)]) } ?? .null }
            guard case .object(var settings) = confidence.json() else { preconditionFailure() }
            settings.append(("metrics", .object(report.metrics.indices.map { m in (report.metrics[m].name, .object([("mean", .number(report.means[m])), ("ci", pair(confidence.means[m]))])) })))
            if let macro = confidence.macro, let perClass = report.perClass {
                settings.append(("macro", .object(report.metrics.indices.map { m in (report.metrics[m].name, .object([("mean", .number(perClass.macroMeans[m])), ("ci", pair(macro[m]))])) })))
            }
            fields.append(("confidence", .object(settings)))
        }
        if let perClass = report.perClass {
            fields.append(("per_class", .object([
                ("macro", .object(zip(report.metrics, perClass.macroMeans).map { ($0.name, .number($1)) })),
                ("classes", .array(perClass.scoredQueries.indices.map { c in
                    .object([
                        ("label", .string(classNames[c])),
                        ("queries", .int(perClass.scoredQueries[c])),
                        ("metrics", .object(zip(report.metrics, perClass.classMeans[c]).map { ($0.name, .number($1)) })),
                    ])
                })),
            ])))
        }
        if let check = approximation {
            fields.append(("ann_check", .object([
                ("queries", .int(check.sample.count)), ("seed", .int(Int(check.seed))), ("scored_queries", .int(check.scoredQueries)),
                ("recall_at_\(min(10, check.depth))", .number(check.recallAt10)), ("recall_at_depth", .number(check.recallAtDepth)),
                ("approximate", .object(zip(check.metrics, check.approximateMeans).map { ($0.name, .number($1)) })),
                ("exact", .object(zip(check.metrics, check.exactMeans).map { ($0.name, .number($1)) })),
                ("change", .object(zip(check.metrics, zip(check.approximateMeans, check.exactMeans)).map { ($0.name, .number($1.0 - $1.1)) })),
            ])))
        }
        if let clustering, let options = clusteringOptions {
            fields.append(("clustering", .object(options.metrics.map { ($0.rawValue, JSON.number($0.value(clustering))) } + [
                ("clusters", .int(clustering.clusters)), ("restarts", .int(clustering.restarts)),
                ("iterations", .int(clustering.iterations)), ("seed", Int(exactly: clustering.seed).map(JSON.int) ?? .string(String(clustering.seed))), ("inertia", .number(clustering.inertia)),
            ])))
        }
        fields.append(("timings", .object(timings.map { ($0.0, .number($0.1)) })))
        return .object(fields)
    }
}

extension EvaluationSummary {
    /// What `job` produced, as printed.
    init(_ outcome: EvaluationJob.Outcome, job: EvaluationJob) {
        let source: String
        switch job.source {
        case .dataset:
            let record = outcome.datasetRecord!
            source = "stored dataset " + (record.names.first.map { "'\($0)' " } ?? "") + record.shortHash
        case .files(let embeddings, let labels):
            source = "\(embeddings) + \(labels ?? job.reading.labelsArray.map { "labels '\($0)'" } ?? "")"
        }
        self.init(
            run: outcome.runID, source: source, dataset: outcome.references, datasetNames: outcome.datasetRecord?.names ?? [],
            embeddingsPath: outcome.datasetRecord?.embeddingsPath ?? job.source.embeddingsPath,
            labelsPath: outcome.datasetRecord?.labelsPath ?? job.source.labelsPath,
            classNames: outcome.classNames, queryCount: outcome.queryCount, distance: job.distance, depth: outcome.evaluation.depth,
            report: outcome.evaluation.report, timings: outcome.timings, search: outcome.search, approximation: outcome.approximation,
            confidence: outcome.confidence.map { Confidence(settings: $0.settings, means: $0.means, macro: $0.macro) },
            clustering: outcome.clustering, clusteringOptions: job.clustering)
    }
}
