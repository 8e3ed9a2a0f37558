/// Table 3 of Saeki, Kawahara, Aman, "Multi Proxy Anchor Family Loss for Several Types of
/// Gradients" (2023): five rankings of a query with R = 4 relevant references, scored by
/// five metrics, as printed in the paper (x100). dmleval must reproduce every value at the
/// printed precision; `fixtures/table3.json` holds the same numbers for the tests.
public enum PaperTable3 {
    /// A printed column: the metric and the number of decimals the paper prints.
    public struct Column: Sendable {
        /// The metric of the column.
        public let metric: Metric
        /// The paper's column heading.
        public let heading: String
        /// The number of decimals the paper prints in this column.
        public let decimals: Int
    }

    /// A printed row: the ranking and the paper's values (x100), in column order.
    public struct Row: Sendable {
        /// The ranked list, best first (1 = relevant).
        public let ranking: [UInt8]
        /// The paper's values (x100), in the order of `columns`.
        public let printed: [Double]
    }

    /// R, the number of relevant references of the query in every row.
    public static let relevantCount = 4

    /// The paper's five columns: Recall@10, Precision@10, MAP@R, MAP@10 and nDCG@10.
    public static let columns: [Column] = [
        Column(metric: .recall(k: 10), heading: "Recall@10", decimals: 0),
        Column(metric: .precision(k: 10), heading: "Precision@10", decimals: 0),
        Column(metric: .mapAtR, heading: "MAP@R", decimals: 1),
        Column(metric: .map(k: 10), heading: "MAP@10", decimals: 1),
        Column(metric: .ndcg(k: 10), heading: "nDCG@10", decimals: 1),
    ]

    /// The paper's five rows: each ranking with its printed values.
    public static let rows: [Row] = [
        Row(ranking: [1, 0, 0, 0, 0, 0, 0, 0, 0, 0], printed: [100, 10, 25.0, 10.0, 39.0]),
        Row(ranking: [1, 0, 0, 0, 0, 0, 0, 0, 0, 1], printed: [100, 20, 25.0, 12.0, 50.3]),
        Row(ranking: [1, 0, 1, 0, 0, 0, 0, 0, 0, 0], printed: [100, 20, 41.7, 16.7, 58.6]),
        Row(ranking: [1, 0, 1, 0, 0, 0, 1, 0, 0, 1], printed: [100, 40, 41.7, 25.0, 82.9]),
        Row(ranking: [1, 1, 1, 1, 0, 0, 0, 0, 0, 0], printed: [100, 40, 100.0, 40.0, 100.0]),
    ]

    /// One computed cell next to the paper's.
    public struct Cell: Sendable {
        /// The index of the row in `rows`.
        public let row: Int
        /// The column.
        public let column: Column
        /// The library's value, a fraction in [0, 1].
        public let computed: Double
        /// The paper's printed value (x100).
        public let printed: Double

        /// The computed value x100, rounded to the paper's printed decimals.
        public var computedAtPrintedPrecision: Double { roundedPercent(computed, decimals: column.decimals) }
        /// Whether the two agree at the printed precision.
        public var matches: Bool { abs(computedAtPrintedPrecision - printed) < 1e-9 }
    }

    /// Scores every ranking with the library and pairs each value with the paper's.
    public static func compute() -> [[Cell]] {
        rows.enumerated().map { r, row in
            columns.enumerated().map { c, column in
                Cell(row: r, column: column,
                     computed: column.metric.value(row.ranking, relevantCount: relevantCount),
                     printed: row.printed[c])
            }
        }
    }

    /// `fraction` x100 rounded half away from zero to `decimals` places.
    public static func roundedPercent(_ fraction: Double, decimals: Int) -> Double {
        var scale = 1.0
        for _ in 0 ..< decimals { scale *= 10 }
        return (fraction * 100 * scale).rounded(.toNearestOrAwayFromZero) / scale
    }
}
