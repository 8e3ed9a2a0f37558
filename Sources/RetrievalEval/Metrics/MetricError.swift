/// A metric that cannot be computed as asked; never silently replaced by another number.
public struct MetricError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What kind of problem this is; stable, for programs that branch on it.
    public enum Code: String, Sendable {
        case listTooShort = "list-too-short"
        case invalidRelevantCount = "invalid-relevant-count"
        case invalidInput = "invalid-input"
    }

    /// What kind of problem this is.
    public var code: Code
    /// One line saying which query and what is wrong.
    public var message: String

    /// An error of kind `code` with its message.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }

    static func listTooShort(query: Int, metric: Metric, needed: Int, found: Int) -> MetricError {
        MetricError(
            .listTooShort,
            "query \(query): \(metric.name) needs a ranked list of at least \(needed) items, found \(found); "
                + "retrieve deeper or drop the metric (dmleval never scores a shorter list as if it were complete)")
    }
}
