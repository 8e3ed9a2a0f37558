import DMLEvalJobs
import RetrievalEval
import RetrievalEvalStore
import ArgumentParser

/// How a command prints its results on stdout.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    /// Aligned columns for people; metric values x100 with one decimal, as the paper prints.
    case table
    /// One JSON object; metric values as fractions in [0, 1].
    case json
    /// Comma-separated values with a header row; fractions in [0, 1].
    case csv
    /// A GitHub-flavoured Markdown table; values x100 with one decimal.
    case markdown
}

/// A metric value as people read it: x100, one decimal ("68.4"), or "n/a" when undefined.
func percent(_ fraction: Double, decimals: Int = 1) -> String {
    guard fraction.isFinite else { return "n/a" }
    return formatFixed(fraction * 100, decimals: decimals)
}

/// `value` with exactly `decimals` digits after the point, rounded half away from zero.
func formatFixed(_ value: Double, decimals: Int) -> String { DisplayText.fixed(value, decimals: decimals) }
