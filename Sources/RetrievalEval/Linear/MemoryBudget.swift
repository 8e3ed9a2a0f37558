#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A check, before allocating, that what a setting asks for can be had: a size past the
/// machine's memory (or its cgroup limit) is one error line naming the size, never an abort
/// in the allocator.
public enum MemoryBudget {
    /// The memory this process may use: the smaller of physical memory and the limit of its
    /// cgroup (v2 `memory.max`, or v1 `memory.limit_in_bytes`), when there is one.
    public static var limitBytes: Int {
        var limit = Int(sysconf(Int32(_SC_PHYS_PAGES))) &* Int(sysconf(Int32(_SC_PAGESIZE)))
        if limit <= 0 { limit = Int.max }
        for path in cgroupLimitFiles() {
            if let text = try? String(contentsOfCgroupFile: path), let cgroup = Int(text), cgroup > 0 {
                limit = min(limit, cgroup)
            }
        }
        return limit
    }

    /// The files that hold this process's cgroup memory limit: its own cgroup's, found from
    /// /proc/self/cgroup ("0::/path" in v2, "N:memory:/path" in v1), and the root's as seen
    /// from inside a container.
    static func cgroupLimitFiles() -> [String] {
        var files = ["/sys/fs/cgroup/memory.max"]
        guard let f = fopen("/proc/self/cgroup", "r") else { return files }
        defer { fclose(f) }
        var buffer = [CChar](repeating: 0, count: 4096)
        while fgets(&buffer, 4096, f) != nil {
            let line = String(cString: buffer).trimmingCharacters(in: "\n ")
            let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3 else { continue }
            let path = parts[2] == "/" ? "" : String(parts[2])
            if parts[0] == "0" && parts[1].isEmpty {
                files.append("/sys/fs/cgroup\(path)/memory.max")
            } else if parts[1].split(separator: ",").contains("memory") {
                files.append("/sys/fs/cgroup/memory\(path)/memory.limit_in_bytes")
            }
        }
        return files
    }

    /// Throws unless `bytes` (nil: the size overflowed) fits in memory.
    /// - Parameter what: what the memory is for, and the setting that sized it.
    public static func require(_ bytes: Int?, for what: String) throws {
        let limit = limitBytes
        guard let bytes, bytes <= limit else {
            throw MemoryError(
                "\(what) needs \(bytes.map(describe) ?? "more than 2^63 bytes"), more than the \(describe(limit)) this process can have; choose a smaller setting")
        }
    }

    /// "1.5 GiB", "320 MiB".
    public static func describe(_ bytes: Int) -> String {
        let units = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]
        var value = Double(bytes), unit = 0
        while value >= 1024 && unit < units.count - 1 { value /= 1024; unit += 1 }
        return unit == 0 ? "\(bytes) bytes" : "\((value * 10).rounded() / 10) \(units[unit])"
    }

    /// `factors` multiplied, or nil when one is negative or the product overflows.
    public static func product(_ factors: Int...) -> Int? {
        factors.allSatisfy { $0 >= 0 } ? checkedProduct(factors) : nil
    }

    /// `terms` added, or nil when any is nil or the sum overflows.
    public static func sum(_ terms: Int?...) -> Int? {
        var s = 0
        for t in terms {
            guard let t else { return nil }
            let (r, overflow) = s.addingReportingOverflow(t)
            if overflow { return nil }
            s = r
        }
        return s
    }
}

/// Memory that a setting asks for and cannot be had.
public struct MemoryError: Error, Sendable, CustomStringConvertible {
    /// The one-line explanation: what was asked for and what is available.
    public var message: String
    /// An error with its message.
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

private extension String {
    /// The first line of a small kernel file ("max" where there is no limit).
    init?(contentsOfCgroupFile path: String) throws {
        guard let f = fopen(path, "r") else { return nil }
        defer { fclose(f) }
        var buffer = [CChar](repeating: 0, count: 64)
        guard fgets(&buffer, 64, f) != nil else { return nil }
        self = String(cString: buffer).trimmingCharacters(in: "\n ")
    }

    func trimmingCharacters(in set: String) -> String {
        var s = Substring(self)
        while let c = s.last, set.contains(c) { s.removeLast() }
        return String(s)
    }
}
