import RetrievalEval
import RetrievalEvalStore
/// The report as one self-contained HTML file: inline CSS and SVG, no script, no network, and
/// well-formed XML (XHTML), so that it prints, archives, and parses as XML in the tests.
///
/// Every number drawn or printed also sits in a `data-*` attribute at full precision
/// (`data-mean`, `data-values`, ...), so a reader of the file can check it against the store.
public enum ReportHTML {
    static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"]

    /// The HTML text of `report`.
    /// - Parameter generated: the tool version and time printed in the footer.
    public static func render(_ report: RunReport, generated: String) -> String {
        var body: [String] = []
        let title = report.runs.count == 1 ? "dmleval report: \(report.runs[0].title)"
            : "dmleval report: " + report.runs.map(\.title).joined(separator: " vs ")
        body.append("<h1>\(x(title))</h1>")
        let level = formatPercentLevel(report.settings.level)
        body.append("<p class=\"note\">Values x100. Intervals: \(level)% percentile bootstrap over queries (\(report.settings.resamples) resamples, seed \(report.settings.seed)); queries are resampled, the references are fixed, so an interval says nothing about another gallery or another training run.</p>")
        if report.runs.count > 1, let comparison = report.comparison {
            body.append(comparisonSection(report, comparison))
        }
        for (i, run) in report.runs.enumerated() {
            body.append(runSection(run, index: i, settings: report.settings))
        }
        body.append("<footer>\(x(generated))</footer>")
        return """
            <!DOCTYPE html>
            <html xmlns="http://www.w3.org/1999/xhtml" lang="en">
            <head>
            <meta charset="utf-8"/>
            <meta name="viewport" content="width=device-width, initial-scale=1"/>
            <title>\(x(title))</title>
            <style>
            \(css)
            </style>
            </head>
            <body>
            \(body.joined(separator: "\n"))
            </body>
            </html>

            """
    }

    static let css = """
        body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #222; margin: 24px auto; max-width: 980px; padding: 0 16px; font-size: 14px; }
        h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 18px; border-bottom: 2px solid #ddd; padding-bottom: 4px; margin-top: 32px; }
        h3 { font-size: 15px; margin: 20px 0 6px; }
        table { border-collapse: collapse; margin: 8px 0; } th, td { padding: 3px 10px; text-align: right; border-bottom: 1px solid #eee; }
        th:first-child, td:first-child { text-align: left; } th { background: #f6f6f6; }
        td.bad { color: #b00; font-weight: bold; } td.good { color: #070; }
        .note { color: #666; font-size: 12px; } dl { display: grid; grid-template-columns: max-content auto; gap: 2px 14px; margin: 6px 0; }
        dt { color: #666; } dd { margin: 0; font-family: ui-monospace, Menlo, monospace; font-size: 12px; word-break: break-all; }
        svg { display: block; margin: 6px 0; } svg text { font-family: inherit; font-size: 11px; fill: #333; }
        footer { color: #888; font-size: 11px; margin-top: 40px; }
        @media print { body { margin: 0; max-width: none; } section, svg, table { break-inside: avoid; } h2 { break-after: avoid; } }
        """

    // MARK: - Sections

    static func comparisonSection(_ report: RunReport, _ comparison: (metrics: [String], cells: [[RunComparison.Cell]])) -> String {
        var rows: [String] = []
        let runs = report.runs
        var header = "<tr><th>metric</th>"
        for (r, run) in runs.enumerated() {
            header += "<th>\(x(run.title))</th>"
            if r > 0 { header += "<th>delta [\(formatPercentLevel(report.settings.level))% CI]</th><th>p (rand., Holm)</th><th>wins/ties/losses</th>" }
        }
        rows.append(header + "</tr>")
        for (m, name) in comparison.metrics.enumerated() {
            var row = "<tr><td>\(x(name))</td>"
            for r in runs.indices {
                let c = comparison.cells[r][m]
                row += "<td data-run=\"\(runs[r].record.id)\" data-metric=\"\(x(name))\" data-mean=\"\(n(c.mean))\">\(pct(c.mean))</td>"
                if r > 0 {
                    let cls = c.deltaInterval.map { $0.lower > 0 ? " class=\"good\"" : $0.upper < 0 ? " class=\"bad\"" : "" } ?? ""
                    let ci = c.deltaInterval.map { " [\(signed($0.lower)), \(signed($0.upper))]" } ?? ""
                    row += "<td\(cls) data-delta-points=\"\(n(c.deltaPoints))\"\(c.deltaInterval.map { " data-lower=\"\(n($0.lower))\" data-upper=\"\(n($0.upper))\"" } ?? "")>\(signed(c.deltaPoints))\(ci)</td>"
                    row += "<td>\(c.randomizationP.map { $0 < 0.0001 ? "&lt;0.0001" : fixed($0, 4) } ?? "n/a")</td>"
                    row += "<td data-wins=\"\(c.wins.map(String.init) ?? "")\" data-ties=\"\(c.ties.map(String.init) ?? "")\" data-losses=\"\(c.losses.map(String.init) ?? "")\">"
                        + (c.wins.map { w in "\(w)/\(c.ties!)/\(c.losses!)" } ?? "n/a") + "</td>"
                }
            }
            rows.append(row + "</tr>")
        }
        var out = "<section id=\"comparison\"><h2>Comparison</h2>"
        out += "<p class=\"note\">Each run against \(x(runs[0].title)): the difference of the means in points, its bootstrap interval over paired queries, the two-sided paired randomization p-value (Holm-corrected across the metrics), and the queries where the run scores higher, the same, lower. Green: the interval is above 0; red: below.</p>"
        out += "<table class=\"comparison\">" + rows.joined() + "</table>"
        // Curves of every run, overlaid.
        var series: [Series] = []
        for (r, run) in runs.enumerated() {
            if let c = run.curves {
                series.append(Series(name: "\(run.title) recall", color: palette[r % palette.count], values: c.recall, dashed: false, attributes: "data-run=\"\(run.record.id)\" data-series=\"recall\""))
                series.append(Series(name: "\(run.title) precision", color: palette[r % palette.count], values: c.precision, dashed: true, attributes: "data-run=\"\(run.record.id)\" data-series=\"precision\""))
            }
        }
        if !series.isEmpty {
            out += "<h3>Recall@k (solid) and Precision@k (dashed) of every run</h3>" + lineChart(series, xLabel: "k", yLabel: "x100", id: "compare-curves")
        }
        return out + "</section>"
    }

    static func runSection(_ run: RunReport.Run, index: Int, settings: Bootstrap.Settings) -> String {
        let r = run.record
        var out = "<section class=\"run\" id=\"run-\(r.id)\" data-run=\"\(r.id)\"><h2>\(x(run.title))</h2>"
        // Dataset and settings.
        var items: [(String, String)] = [
            ("run", "\(r.id)\(r.name.map { " '\($0)'" } ?? ""), \(r.createdAt), dmleval \(r.toolVersion)"),
            ("dataset", (r.dataset.names.first.map { "'\($0)' " } ?? "") + "\(r.dataset.shortHash) (\(r.dataset.rows) x \(r.dataset.dimensions), \(r.dataset.classCount) classes)"),
        ]
        if let path = r.dataset.embeddingsPath { items.append(("embeddings", path)) }
        if let path = r.dataset.labelsPath { items.append(("labels", path)) }
        if let q = r.queryDataset { items.append(("queries", "\(q.shortHash) (\(q.rows) x \(q.dimensions))")) }
        items.append(("search", "\(r.search), \(r.distance), depth \(r.depth)"))
        items.append(("queries scored", "\(r.scoredQueries) (\(r.excludedQueries) excluded: R = 0)"))
        // The settings not already shown above (the paths, the search and its depth).
        let shown: Set<String> = ["embeddings", "labels", "search", "depth", "distance"]
        items += r.parameters.filter { !$0.0.hasPrefix("ann_check_") && !$0.0.hasPrefix("index_") && !shown.contains($0.0) }.map { ($0.0, $0.1) }
        items.append(("timings", r.timings.map { "\($0.0) \(fixed($0.1, 3)) s" }.joined(separator: ", ")))
        out += "<h3>Dataset and settings</h3><dl>" + items.map { "<dt>\(x($0.0))</dt><dd>\(x($0.1))</dd>" }.joined() + "</dl>"
        // Metrics.
        out += "<h3>Metrics</h3><table class=\"metrics\"><tr><th>metric</th><th>mean x100</th><th>\(formatPercentLevel(settings.level))% interval</th></tr>"
        for m in run.metrics {
            let attributes = "data-metric=\"\(x(m.name))\" data-mean=\"\(n(m.mean))\"" + (m.interval.map { " data-lower=\"\(n($0.lower))\" data-upper=\"\(n($0.upper))\"" } ?? "")
            out += "<tr class=\"metric\" \(attributes)><td>\(x(m.name))</td><td>\(pct(m.mean))</td><td>\(m.interval.map { "[\(pct($0.lower)), \(pct($0.upper))]" } ?? "n/a")</td></tr>"
        }
        out += "</table>"
        // Curves.
        // As deep as every scored query was searched (each query goes only as deep as its own
        // metrics need), which can be less than the run's depth.
        out += "<h3>Recall@k and Precision@k, k = 1 to \(run.curves?.depth ?? r.depth)</h3>"
        if let c = run.curves {
            out += lineChart([
                Series(name: "Recall@k (hit)", color: palette[0], values: c.recall, dashed: false, attributes: "data-run=\"\(r.id)\" data-series=\"recall\""),
                Series(name: "Precision@k", color: palette[1], values: c.precision, dashed: true, attributes: "data-run=\"\(r.id)\" data-series=\"precision\""),
            ], xLabel: "k", yLabel: "x100", id: "curves-\(r.id)")
        } else if !run.curvePoints.isEmpty {
            out += "<p class=\"note\">This run was recorded without its curves (before dmleval stored them, or by a search that kept no lists): shown are its stored Recall@k and Precision@k metrics.</p>"
            out += pointChart(run.curvePoints, depth: max(r.depth, run.curvePoints.map(\.k).max() ?? 1), id: "points-\(r.id)")
        } else {
            out += "<p class=\"note\">This run was recorded without its curves (before dmleval stored them, or by a search that kept no lists), and has no Recall@k or Precision@k metric to show instead.</p>"
        }
        // R.
        out += "<h3>Distribution of R (relevant references per query)</h3>" + histogram(run.relevantCounts, id: "r-\(r.id)")
        // Per class.
        if let first = run.metrics.first, !run.classes.isEmpty {
            out += "<h3>Per class: \(x(first.name)), worst first</h3>" + classBars(run.classes, metric: first.name, id: "classes-\(r.id)")
        }
        // ANN check.
        if !run.annCheck.isEmpty {
            out += "<h3>Approximate search, checked against exact search</h3><table class=\"ann\">"
                + run.annCheck.map { "<tr><td>\(x($0.0))</td><td data-value=\"\(x($0.1))\">\(x($0.1))</td></tr>" }.joined() + "</table>"
        }
        // Training.
        if let t = run.training {
            out += "<h3>Training run \(t.id) (\(x(t.loss))): loss and test metrics per epoch</h3>"
            let epochs = t.epochs.filter { $0.loss != nil }
            if !epochs.isEmpty {
                out += lineChart([Series(name: "mean batch loss", color: palette[3], values: epochs.map { $0.loss ?? .nan }, dashed: false,
                                         attributes: "data-series=\"loss\" data-epochs=\"\(epochs.map { String($0.epoch) }.joined(separator: " "))\"")],
                                 xLabel: "epoch", yLabel: "loss", id: "loss-\(t.id)", xValues: epochs.map(\.epoch), unitScale: false)
            }
            let evaluated = t.epochs.filter { !$0.test.isEmpty && $0.test.contains { !$0.isNaN } }
            if !evaluated.isEmpty {
                let series = t.metricNames.indices.map { m in
                    Series(name: t.metricNames[m], color: palette[m % palette.count], values: evaluated.map { $0.test[m] }, dashed: false,
                           attributes: "data-series=\"test\" data-metric=\"\(x(t.metricNames[m]))\"")
                }
                out += lineChart(series, xLabel: "epoch", yLabel: "test x100", id: "test-\(t.id)", xValues: evaluated.map(\.epoch))
            }
        }
        return out + "</section>"
    }

    // MARK: - Charts

    struct Series {
        let name: String
        let color: String
        /// One value per x, NaN for a gap.
        let values: [Double]
        let dashed: Bool
        let attributes: String
    }

    static let width = 860.0, height = 300.0, left = 56.0, right = 170.0, top = 14.0, bottom = 40.0

    /// Lines over x = 1 ... count (or `xValues`); y in [0, 1] drawn x100, or the data's own
    /// range when `unitScale` is false.
    static func lineChart(_ series: [Series], xLabel: String, yLabel: String, id: String, xValues: [Int]? = nil, unitScale: Bool = true) -> String {
        let count = series.map(\.values.count).max() ?? 0
        let xs = xValues ?? Array(1 ... max(1, count))
        let (x0, x1) = (Double(xs.first ?? 1), Double(max(xs.last ?? 1, (xs.first ?? 1) + 1)))
        let finite = series.flatMap(\.values).filter(\.isFinite)
        var (y0, y1) = unitScale ? (0.0, 1.0) : (min(0, finite.min() ?? 0), finite.max() ?? 1)
        if y1 <= y0 { y1 = y0 + 1 }
        let plotW = width - left - right, plotH = height - top - bottom
        func px(_ v: Double) -> Double { left + (v - x0) / (x1 - x0) * plotW }
        func py(_ v: Double) -> Double { top + (1 - (v - y0) / (y1 - y0)) * plotH }
        var svg = svgOpen(id: id)
        svg += axes(x0: x0, x1: x1, y0: y0, y1: y1, px: px, py: py, xLabel: xLabel, yLabel: yLabel, percent: unitScale)
        for (i, s) in series.enumerated() {
            var segments: [[String]] = [[]]
            for (j, v) in s.values.enumerated() where j < xs.count {
                if v.isFinite { segments[segments.count - 1].append("\(fixed(px(Double(xs[j])), 1)),\(fixed(py(v), 1))") } else { segments.append([]) }
            }
            let dash = s.dashed ? " stroke-dasharray=\"6 3\"" : ""
            svg += "<g class=\"series\" \(s.attributes) data-values=\"\(s.values.map(n).joined(separator: " "))\">"
            for segment in segments where !segment.isEmpty {
                svg += segment.count == 1
                    ? "<circle cx=\"\(segment[0].split(separator: ",")[0])\" cy=\"\(segment[0].split(separator: ",")[1])\" r=\"3\" fill=\"\(s.color)\"/>"
                    : "<polyline fill=\"none\" stroke=\"\(s.color)\" stroke-width=\"2\"\(dash) points=\"\(segment.joined(separator: " "))\"/>"
            }
            svg += "</g>"
            let ly = top + 14 + Double(i) * 18
            svg += "<line x1=\"\(fixed(width - right + 12, 1))\" y1=\"\(fixed(ly - 4, 1))\" x2=\"\(fixed(width - right + 36, 1))\" y2=\"\(fixed(ly - 4, 1))\" stroke=\"\(s.color)\" stroke-width=\"2\"\(dash)/>"
            svg += "<text x=\"\(fixed(width - right + 42, 1))\" y=\"\(fixed(ly, 1))\">\(x(String(s.name.prefix(22))))</text>"
        }
        return svg + "</svg>"
    }

    /// The stored @k metrics of a run without curves, as points.
    static func pointChart(_ points: [(series: String, k: Int, value: Double)], depth: Int, id: String) -> String {
        let x1 = Double(max(depth, 2))
        let plotW = width - left - right, plotH = height - top - bottom
        func px(_ v: Double) -> Double { left + (v - 1) / (x1 - 1) * plotW }
        func py(_ v: Double) -> Double { top + (1 - v) * plotH }
        var svg = svgOpen(id: id) + axes(x0: 1, x1: x1, y0: 0, y1: 1, px: px, py: py, xLabel: "k", yLabel: "x100", percent: true)
        for p in points where p.value.isFinite {
            let color = p.series == "recall" ? palette[0] : palette[1]
            svg += "<circle class=\"point\" data-series=\"\(p.series)\" data-k=\"\(p.k)\" data-value=\"\(n(p.value))\" cx=\"\(fixed(px(Double(p.k)), 1))\" cy=\"\(fixed(py(p.value), 1))\" r=\"4\" fill=\"\(color)\"/>"
        }
        svg += "<text x=\"\(fixed(width - right + 12, 1))\" y=\"\(top + 14)\" fill=\"\(palette[0])\">● Recall@k</text>"
        svg += "<text x=\"\(fixed(width - right + 12, 1))\" y=\"\(top + 32)\" fill=\"\(palette[1])\">● Precision@k</text>"
        return svg + "</svg>"
    }

    /// Queries per R: one bar per R value, or per range of R when there are many.
    static func histogram(_ counts: [(r: Int, queries: Int)], id: String) -> String {
        guard let minR = counts.first?.r, let maxR = counts.last?.r else { return "" }
        let binCount = min(40, maxR - minR + 1)
        let binWidth = Double(maxR - minR + 1) / Double(binCount)
        var bins = [Int](repeating: 0, count: binCount)
        for c in counts { bins[min(binCount - 1, Int(Double(c.r - minR) / binWidth))] += c.queries }
        let top = Double(bins.max() ?? 1)
        let plotW = width - left - right, plotH = height - self.top - bottom
        var svg = svgOpen(id: id, height: height)
        svg += "<g data-r=\"\(counts.map { String($0.r) }.joined(separator: " "))\" data-queries=\"\(counts.map { String($0.queries) }.joined(separator: " "))\">"
        let barW = plotW / Double(binCount)
        for (b, value) in bins.enumerated() {
            let h = Double(value) / top * plotH
            let lo = minR + Int((Double(b) * binWidth).rounded(.up)), hi = minR + Int((Double(b + 1) * binWidth).rounded(.up)) - 1
            let label = lo >= hi ? "R = \(lo)" : "R = \(lo) to \(hi)"
            svg += "<rect class=\"bar\" data-bin=\"\(x(label))\" data-count=\"\(value)\" x=\"\(fixed(left + Double(b) * barW + 1, 1))\" y=\"\(fixed(self.top + plotH - h, 1))\" width=\"\(fixed(max(1, barW - 2), 1))\" height=\"\(fixed(h, 1))\" fill=\"\(palette[0])\"><title>\(x(label)): \(value) queries</title></rect>"
        }
        svg += "</g>"
        svg += "<line x1=\"\(left)\" y1=\"\(self.top + plotH)\" x2=\"\(left + plotW)\" y2=\"\(self.top + plotH)\" stroke=\"#333\"/>"
        svg += "<text x=\"\(left)\" y=\"\(fixed(self.top + plotH + 16, 1))\">R = \(minR)</text>"
        svg += "<text x=\"\(fixed(left + plotW, 1))\" y=\"\(fixed(self.top + plotH + 16, 1))\" text-anchor=\"end\">R = \(maxR)</text>"
        svg += "<text x=\"\(fixed(left + plotW / 2, 1))\" y=\"\(fixed(height - 6, 1))\" text-anchor=\"middle\">R (queries per bar; tallest bar \(Int(top)) queries)</text>"
        return svg + "</svg>"
    }

    /// Horizontal bars of each class's mean, worst first; the worst tenth (at least one class)
    /// in red. More than 40 classes: the 30 worst and the 10 best.
    static func classBars(_ classes: [RunReport.ClassValue], metric: String, id: String) -> String {
        let worst = max(1, classes.count / 10)
        var shown = Array(classes.enumerated())
        var skipped = 0
        if classes.count > 40 {
            skipped = classes.count - 40
            shown = Array(shown.prefix(30)) + Array(shown.suffix(10))
        }
        let rowH = 16.0, labelW = 150.0, plotW = width - labelW - 80
        let h = Double(shown.count) * rowH + (skipped > 0 ? rowH : 0) + 24
        var svg = svgOpen(id: id, height: h)
        var y = 4.0
        for (position, (rank, c)) in shown.enumerated() {
            if skipped > 0 && position == 30 {
                svg += "<text x=\"\(labelW)\" y=\"\(fixed(y + 12, 1))\" fill=\"#666\">... \(skipped) classes in between ...</text>"
                y += rowH
            }
            let v = c.means.first ?? .nan
            let color = rank < worst ? "#d62728" : "#1f77b4"
            let barW = v.isFinite ? max(0, v) * plotW : 0
            svg += "<g class=\"class\" data-label=\"\(x(c.label))\" data-queries=\"\(c.queries)\" data-value=\"\(n(v))\" data-worst=\"\(rank < worst)\">"
            svg += "<text x=\"\(fixed(labelW - 6, 1))\" y=\"\(fixed(y + 12, 1))\" text-anchor=\"end\">\(x(String(c.label.prefix(24))))</text>"
            svg += "<rect x=\"\(labelW)\" y=\"\(fixed(y + 2, 1))\" width=\"\(fixed(barW, 1))\" height=\"\(fixed(rowH - 4, 1))\" fill=\"\(color)\"/>"
            svg += "<text x=\"\(fixed(labelW + barW + 4, 1))\" y=\"\(fixed(y + 12, 1))\">\(pct(v)) (\(c.queries))</text></g>"
            y += rowH
        }
        svg += "<text x=\"\(labelW)\" y=\"\(fixed(y + 14, 1))\" fill=\"#666\">\(x(metric)) x100 per class (queries); red: the worst \(worst)</text>"
        return svg + "</svg>"
    }

    static func svgOpen(id: String, height: Double = height) -> String {
        "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"\(x(id))\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" role=\"img\">"
    }

    static func axes(x0: Double, x1: Double, y0: Double, y1: Double, px: (Double) -> Double, py: (Double) -> Double,
                     xLabel: String, yLabel: String, percent: Bool) -> String {
        var svg = "<g class=\"axes\" stroke=\"#999\" stroke-width=\"1\">"
        svg += "<line x1=\"\(left)\" y1=\"\(fixed(py(y0), 1))\" x2=\"\(fixed(px(x1), 1))\" y2=\"\(fixed(py(y0), 1))\"/>"
        svg += "<line x1=\"\(left)\" y1=\"\(top)\" x2=\"\(left)\" y2=\"\(fixed(py(y0), 1))\"/></g>"
        for i in 0 ... 4 {
            let v = y0 + (y1 - y0) * Double(i) / 4
            svg += "<line x1=\"\(left)\" y1=\"\(fixed(py(v), 1))\" x2=\"\(fixed(px(x1), 1))\" y2=\"\(fixed(py(v), 1))\" stroke=\"#eee\"/>"
            svg += "<text x=\"\(fixed(left - 6, 1))\" y=\"\(fixed(py(v) + 4, 1))\" text-anchor=\"end\">\(percent ? fixed(v * 100, 0) : fixed(v, 2))</text>"
        }
        let span = x1 - x0
        let step = max(1, Int((span / 8).rounded(.up)))
        var k = Int(x0)
        while Double(k) <= x1 {
            svg += "<text x=\"\(fixed(px(Double(k)), 1))\" y=\"\(fixed(py(y0) + 16, 1))\" text-anchor=\"middle\">\(k)</text>"
            k += step
        }
        svg += "<text x=\"\(fixed((left + px(x1)) / 2, 1))\" y=\"\(fixed(height - 6, 1))\" text-anchor=\"middle\">\(x(xLabel))</text>"
        svg += "<text x=\"12\" y=\"\(fixed(top + (py(y0) - top) / 2, 1))\" text-anchor=\"middle\" transform=\"rotate(-90 12 \(fixed(top + (py(y0) - top) / 2, 1)))\">\(x(yLabel))</text>"
        return svg
    }

    // MARK: - Text

    /// XML-escaped text with control characters made visible.
    static func x(_ text: String) -> String { DisplayText.xml(text) }

    /// A number at full precision for a data attribute ("nan" when undefined).
    static func n(_ v: Double) -> String { v.isFinite ? "\(v)" : "nan" }

    static func pct(_ v: Double) -> String { v.isFinite ? fixed(v * 100, 1) : "n/a" }

    static func signed(_ points: Double) -> String {
        let t = fixed(points, 2)
        return t.hasPrefix("-") ? t : "+" + t
    }

    static func formatPercentLevel(_ level: Double) -> String {
        let p = level * 100
        return p == p.rounded() ? String(Int(p)) : fixed(p, 1)
    }

    /// `value` with `decimals` digits, rounded half away from zero.
    static func fixed(_ value: Double, _ decimals: Int) -> String { DisplayText.fixed(value, decimals: decimals) }
}
