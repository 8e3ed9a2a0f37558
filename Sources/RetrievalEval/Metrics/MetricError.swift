/// A metric that cannot be computed as asked; never silently replaced by another number.
public struct MetricError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case listTooShort = "list-too-short"
        case invalidRelevantCount = "invalid-relevant-count"
        case invalidInput = "invalid-input"
    }

    public var code: Code
    public var message: String

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
