#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A one-line progress bar with an ETA on stderr, drawn only when stderr is a terminal.
final class ProgressBar: @unchecked Sendable {
    private let label: String
    private let enabled: Bool
    private let start = now()
    private var lastDraw = 0.0
    private var drawn = false

    init(_ label: String, enabled: Bool = stderrIsTerminal) {
        self.label = label
        self.enabled = enabled
    }

    /// Updates the bar to `fraction` (at most ten redraws a second).
    func update(_ fraction: Double) {
        guard enabled else { return }
        let t = now()
        guard fraction >= 1 || t - lastDraw >= 0.1 else { return }
        lastDraw = t
        let width = 30
        let filled = Int((fraction * Double(width)).rounded(.down))
        let elapsed = t - start
        var eta = ""
        if fraction > 0.02 && fraction < 1 {
            eta = " ETA " + ProgressBar.duration(elapsed / fraction - elapsed)
        } else if fraction >= 1 {
            eta = " " + ProgressBar.duration(elapsed)
        }
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        let percent = Int((fraction * 100).rounded(.down))
        printRaw("\r\(label) [\(bar)] \(percent)%\(eta)\u{1B}[K")
        drawn = true
    }

    /// Clears the bar's line.
    func finish() {
        guard enabled, drawn else { return }
        printRaw("\r\u{1B}[K")
    }

    static func duration(_ seconds: Double) -> String {
        if seconds < 60 { return "\(Int(seconds.rounded(.up)))s" }
        let s = Int(seconds.rounded())
        return "\(s / 60)m\(s % 60 < 10 ? "0" : "")\(s % 60)s"
    }

    private func printRaw(_ text: String) {
        text.utf8CString.withUnsafeBufferPointer { _ = write(2, $0.baseAddress!, $0.count - 1) }
    }
}
