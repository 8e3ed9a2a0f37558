import RetrievalEval
import RetrievalEvalStore
/// Everything `dmleval report` shows about one or more stored runs, computed from the store:
/// the data behind the HTML report and its JSON form (`--format json`), so other plotting
/// tools draw the same numbers.
public struct RunReport: Sendable {
    /// A metric's mean over the scored queries and its bootstrap interval.
    public struct MetricValue: Sendable {
        /// The metric's name, e.g. "map@r".
        public let name: String
        /// The mean over the scored queries.
        public let mean: Double
        /// The bootstrap interval of the mean; nil when the run has no per-query values for it.
        public let interval: Bootstrap.Interval?
    }

    /// One class's mean of each metric (in the run's metric order).
    public struct ClassValue: Sendable {
        /// The class's label.
        public let label: String
        /// The number of the class's scored queries.
        public let queries: Int
        /// The mean of each metric over the class's scored queries, in the run's metric order.
        public let means: [Double]
    }

    /// One training epoch of the run's training (loss nil for epoch 0, NaN if it diverged).
    public struct Epoch: Sendable {
        /// The epoch's number; 0 is the untrained head.
        public let epoch: Int
        /// The mean batch loss: nil for epoch 0, NaN if it diverged.
        public let loss: Double?
        /// The test metrics' means, in `Training.metricNames` order (NaN where not evaluated).
        public let test: [Double]
    }

    /// The stored training run whose final head the run evaluated.
    public struct Training: Sendable {
        /// The store's id of the training run.
        public let id: Int64
        /// The loss trained with, as the command line names it.
        public let loss: String
        /// The test metrics' names, in the order of each epoch's values.
        public let metricNames: [String]
        /// Every recorded epoch, in order.
        public let epochs: [Epoch]
    }

    /// One run.
    public struct Run: Sendable {
        /// The run as stored.
        public let record: RunRecord
        /// The run's metrics in order, with their intervals.
        public let metrics: [MetricValue]
        /// Recall@k and Precision@k at every k, when the store holds them (runs recorded since
        /// migration v4 by a search that kept its lists).
        public let curves: RetrievalCurves?
        /// Without curves: the run's own stored Recall@k and Precision@k (hit convention)
        /// metrics as points, `(series, k, mean)`.
        public let curvePoints: [(series: String, k: Int, value: Double)]
        /// How many queries have each R (the number of relevant references), by R.
        public let relevantCounts: [(r: Int, queries: Int)]
        /// Per-class means, sorted by the first metric, worst first.
        public let classes: [ClassValue]
        /// For an approximate search: the stored check against exact search.
        public let annCheck: [(String, String)]
        /// The training run that produced the evaluated embeddings, when the store links one.
        public let training: Training?

        /// The run's name, or "run ID".
        public var title: String { record.name ?? "run \(record.id)" }
    }

    /// The runs, in the order asked; the first is the reference.
    public let runs: [Run]
    /// Every run against the first, on the metrics all runs share (nil for one run).
    public let comparison: (metrics: [String], cells: [[RunComparison.Cell]])?
    /// The bootstrap settings of the intervals and of the comparison.
    public let settings: Bootstrap.Settings

    /// Builds the report of `runIDs` (the first is the reference of the comparison).
    /// - Throws: `StoreError` for an unknown run or a damaged store.
    public static func build(
        store: Store, runIDs: [Int64], settings: Bootstrap.Settings = .init(), permutations: Int = 10_000, seed: UInt64 = 0
    ) throws -> RunReport {
        var runs: [Run] = []
        var perQueryOfRuns: [[(metric: String, values: [Float])]] = []
        let trainings = try store.trainingRuns(limit: Int.max)
        for id in runIDs {
            let record = try store.run(id: id)
            let perQuery = try store.perQueryValues(runID: id)
            perQueryOfRuns.append(perQuery)
            let values = perQuery.map { $0.values.map(Double.init) }
            let intervals = Bootstrap.intervals(values, settings: settings).means
            let metrics = record.metrics.enumerated().map { m, value in
                MetricValue(name: value.metric, mean: value.mean, interval: m < intervals.count ? intervals[m] : nil)
            }
            // Queries, their classes and R, from the stored labels.
            let references = try store.labels(of: record.dataset)
            let queryLabels = try record.queryDataset.map { try store.labels(of: $0) }
            let judgments = queryLabels.map { RelevanceJudgments(queries: $0, references: references) }
                ?? RelevanceJudgments(selfRetrieval: references)
            let labels = queryLabels ?? references
            guard perQuery.allSatisfy({ $0.values.count == labels.count }) else {
                throw StoreError("\(store.path): run \(id) holds per-query values for another number of queries than its dataset (\(labels.count)); the store is damaged")
            }
            var histogram: [Int: Int] = [:]
            for r in judgments.relevantCounts { histogram[r, default: 0] += 1 }
            let relevantCounts = histogram.keys.sorted().map { (r: $0, queries: histogram[$0]!) }
            // Per-class means over the scored queries (labels.classIndex: the queries' own classes).
            var sums = [[Double]](repeating: [Double](repeating: 0, count: values.count), count: labels.classCount)
            var counts = [Int](repeating: 0, count: labels.classCount)
            for q in 0 ..< labels.count where !values.isEmpty && !values[0][q].isNaN {
                let c = Int(labels.classIndex[q])
                counts[c] += 1
                for m in values.indices { sums[c][m] += values[m][q] }
            }
            let classes = (0 ..< labels.classCount).filter { counts[$0] > 0 }.map { c in
                ClassValue(label: labels.classNames[c], queries: counts[c], means: sums[c].map { $0 / Double(counts[c]) })
            }.sorted { ($0.means.first ?? 0, $0.label) < ($1.means.first ?? 0, $1.label) }
            let curves = try store.curves(runID: id)
            var points: [(series: String, k: Int, value: Double)] = []
            if curves == nil {
                for value in record.metrics {
                    guard let metric = Metric(name: value.metric) else { continue }
                    switch metric {
                    case .recall(let k, .hit): points.append(("recall", k, value.mean))
                    case .precision(let k): points.append(("precision", k, value.mean))
                    default: break
                    }
                }
            }
            let training = trainings.first { $0.evaluationRunID == id }.map { summary in
                Training(id: summary.id, loss: summary.loss, metricNames: summary.metricNames,
                         epochs: ((try? store.trainingCurves(id: summary.id)) ?? []).map { e in
                             Epoch(epoch: e.epoch, loss: e.loss, test: summary.metricNames.map { e.test[$0] ?? .nan })
                         })
            }
            runs.append(Run(record: record, metrics: metrics, curves: curves, curvePoints: points,
                            relevantCounts: relevantCounts, classes: classes,
                            annCheck: record.parameters.filter { $0.0.hasPrefix("ann_check_") || $0.0.hasPrefix("index_") },
                            training: training))
        }
        var comparison: (metrics: [String], cells: [[RunComparison.Cell]])?
        if runs.count > 1 {
            let names = runs[0].record.metrics.map(\.metric).filter { name in runs.allSatisfy { $0.record.metrics.contains { $0.metric == name } } }
            let metrics = names.compactMap(Metric.init(name:))
            if metrics.count == names.count && !names.isEmpty {
                let means = runs.map { r in names.map { n in r.record.metrics.first { $0.metric == n }!.mean } }
                let perQuery = perQueryOfRuns.map { v in names.map { n in v.first { $0.metric == n }?.values ?? [] } }
                let first = runs[0].record
                let pairable = runs.map { r in
                    r.record.dataset.labelsHash == first.dataset.labelsHash && r.record.queryDataset?.labelsHash == first.queryDataset?.labelsHash
                }
                comparison = (names, RunComparison.compare(metrics: metrics, means: means, perQuery: perQuery, pairable: pairable,
                                                           permutations: permutations, seed: seed, interval: settings))
            }
        }
        return RunReport(runs: runs, comparison: comparison, settings: settings)
    }

    // MARK: - JSON

    /// The report's data as JSON: what the HTML shows, for other plotting tools.
    public func json() -> JSONValue {
        func interval(_ i: Bootstrap.Interval?) -> JSONValue { i.map { .array([.number($0.lower), .number($0.upper)]) } ?? .null }
        func numbers(_ values: [Double]) -> JSONValue { .array(values.map { .number($0) }) }
        var fields: [(String, JSONValue)] = [
            ("format", .string("dmleval-report")), ("version", .int(1)),
            ("intervals", .object([("level", .number(settings.level)), ("resamples", .int(settings.resamples)),
                                   ("seed", .int(Int(settings.seed))), ("method", .string("percentile bootstrap over queries"))])),
        ]
        fields.append(("runs", .array(runs.map { run in
            let r = run.record
            var dataset: [(String, JSONValue)] = [
                ("hash", .string(r.dataset.hash)), ("names", .array(r.dataset.names.map { .string($0) })),
                ("rows", .int(r.dataset.rows)), ("dimensions", .int(r.dataset.dimensions)), ("classes", .int(r.dataset.classCount)),
                ("embeddings", r.dataset.embeddingsPath.map(JSONValue.string) ?? .null), ("labels", r.dataset.labelsPath.map(JSONValue.string) ?? .null),
            ]
            if let q = r.queryDataset { dataset.append(("query_dataset", .object([("hash", .string(q.hash)), ("rows", .int(q.rows))]))) }
            var o: [(String, JSONValue)] = [
                ("run", .int(Int(r.id))), ("name", r.name.map(JSONValue.string) ?? .null), ("created_at", .string(r.createdAt)),
                ("tool_version", .string(r.toolVersion)), ("dataset", .object(dataset)),
                ("search", .object([("index", .string(r.search)), ("distance", .string(r.distance)), ("depth", .int(r.depth))])),
                ("parameters", .object(r.parameters.map { ($0.0, .string($0.1)) })),
                ("scored_queries", .int(r.scoredQueries)), ("excluded_queries", .int(r.excludedQueries)),
                ("metrics", .array(run.metrics.map { .object([("metric", .string($0.name)), ("mean", .number($0.mean)), ("ci", interval($0.interval))]) })),
                ("curves", run.curves.map { c in .object([("k", .array((1 ... max(1, c.depth)).prefix(c.depth).map { .int($0) })),
                                                         ("recall", numbers(c.recall)), ("precision", numbers(c.precision))]) } ?? .null),
                ("curve_points", .array(run.curvePoints.map { .object([("series", .string($0.series)), ("k", .int($0.k)), ("value", .number($0.value))]) })),
                ("relevant_counts", .array(run.relevantCounts.map { .object([("r", .int($0.r)), ("queries", .int($0.queries))]) })),
                ("per_class", .array(run.classes.map { c in
                    .object([("label", .string(c.label)), ("queries", .int(c.queries)),
                             ("metrics", .object(zip(r.metrics, c.means).map { ($0.metric, .number($1)) }))])
                })),
                ("ann_check", run.annCheck.isEmpty ? .null : .object(run.annCheck.map { ($0.0, .string($0.1)) })),
                ("timings", .object(r.timings.map { ($0.0, .number($0.1)) })),
            ]
            o.append(("training", run.training.map { t in
                .object([("id", .int(Int(t.id))), ("loss", .string(t.loss)), ("epochs", .array(t.epochs.map { e in
                    .object([("epoch", .int(e.epoch)), ("loss", e.loss.map(JSONValue.number) ?? .null),
                             ("test", .object(zip(t.metricNames, e.test).map { ($0, .number($1)) }))])
                }))])
            } ?? .null))
            return .object(o)
        })))
        if let comparison {
            fields.append(("comparison", .object([
                ("reference_run", .int(Int(runs[0].record.id))),
                ("metrics", .array(comparison.metrics.indices.map { m in
                    .object([("metric", .string(comparison.metrics[m])), ("runs", .array(runs.indices.map { r in
                        let c = comparison.cells[r][m]
                        return .object([
                            ("run", .int(Int(runs[r].record.id))), ("mean", .number(c.mean)), ("delta_points", .number(c.deltaPoints)),
                            ("delta_ci_points", interval(c.deltaInterval)),
                            ("randomization_p_holm", c.randomizationP.map(JSONValue.number) ?? .null),
                            ("wins", c.wins.map(JSONValue.int) ?? .null), ("ties", c.ties.map(JSONValue.int) ?? .null),
                            ("losses", c.losses.map(JSONValue.int) ?? .null),
                        ])
                    }))])
                })),
            ])))
        }
        return .object(fields)
    }
}
