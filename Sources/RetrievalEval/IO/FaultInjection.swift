import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A test hook that kills the process at a chosen write, so tests can check that a command
/// killed at any point leaves the store and its output files whole.
///
/// With `DMLEVAL_FAULT_KILL_AFTER_WRITES=N` in the environment, the process sends itself
/// SIGKILL when it is about to make its N-th write: a row inserted, updated or deleted in the
/// store, or a block of an output file. `DMLEVAL_FAULT_COUNT_WRITES=1` prints the number of
/// writes made to stderr at exit instead (`writes: N`), so a test knows the range to try.
/// Without either variable nothing is counted.
public enum FaultInjection {
    nonisolated(unsafe) private static var writes = 0
    private static let lock = NSLock()

    /// The write at which to die, from the environment.
    static let killAfter: Int? = {
        guard let text = getenv("DMLEVAL_FAULT_KILL_AFTER_WRITES").flatMap({ String(validatingCString: $0) }) else { return nil }
        return Int(text)
    }()

    static let counting: Bool = {
        guard let raw = getenv("DMLEVAL_FAULT_COUNT_WRITES") else { return false }
        if String(cString: raw) == "1" {
            atexit {
                let line = "writes: \(FaultInjection.writes)\n"
                line.utf8CString.withUnsafeBufferPointer { _ = write(2, $0.baseAddress!, $0.count - 1) }
            }
            return true
        }
        return false
    }()

    /// Whether any hook is set.
    public static var isActive: Bool { killAfter != nil || counting }

    /// Counts one write and dies here if it is the chosen one.
    public static func willWrite() {
        guard isActive else { return }
        let n = lock.withLock { () -> Int in
            writes += 1
            return writes
        }
        if let killAfter, n >= killAfter { kill(getpid(), SIGKILL) }
    }
}
