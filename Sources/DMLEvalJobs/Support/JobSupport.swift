import RetrievalEval
import RetrievalEvalStore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What a job reports while it works: how far a stage is, or that it ended.
public enum JobProgress: Sendable, Equatable {
    /// `stage` (e.g. "searching") is `fraction` (0 to 1) done.
    case update(stage: String, fraction: Double)
    /// `stage` ended, successfully or not.
    case finish(stage: String)
    /// A line for the user about how the job runs (e.g. that it reads the embeddings from
    /// disk in tiles).
    case note(String)
}

/// Receives a job's progress; may be called from several threads.
public typealias ProgressHandler = @Sendable (JobProgress) -> Void

/// Reports the progress of one stage to a job's handler (nothing when there is none).
struct StageProgress: Sendable {
    let stage: String
    let handler: ProgressHandler?

    init(_ stage: String, _ handler: ProgressHandler?) {
        self.stage = stage
        self.handler = handler
    }

    func update(_ fraction: Double) { handler?(.update(stage: stage, fraction: fraction)) }
    func finish() { handler?(.finish(stage: stage)) }

    /// The stage's progress as a search's or a build's callback.
    var search: SearchProgress? {
        guard handler != nil else { return nil }
        let me = self
        return { me.update($0) }
    }

    /// Runs `body` as the stage: finished however it ends.
    func run<T>(_ body: () throws -> T) rethrows -> T {
        defer { finish() }
        return try body()
    }
}

/// Where a job's store is, and the version that opens it (named in its errors and records).
public struct StoreLocation: Sendable {
    /// The SQLite file.
    public var path: String
    /// The tool's version: refused newer stores name it.
    public var toolVersion: String

    /// A store at `path`, opened by `toolVersion`.
    public init(path: String, toolVersion: String) {
        self.path = path
        self.toolVersion = toolVersion
    }

    /// Whether the file exists.
    public var exists: Bool { access(path, F_OK) == 0 }

    /// Opens the store for recording, creating it when missing.
    public func open() throws -> Store { try Store(path: path, toolVersion: toolVersion) }

    /// Opens an existing store only to read it.
    /// - Throws: `JobError.noStore` when there is no file at `path`.
    public func openExisting() throws -> Store {
        guard exists else { throw JobError.noStore(path: path) }
        return try Store(path: path, access: .readOnly, toolVersion: toolVersion)
    }

    /// Fails early, before any work, when the store could not be created where asked: a
    /// missing or unwritable folder would otherwise only show once the run is done.
    /// - Throws: `JobError.storeNotCreatable`.
    public func checkCreatable() throws {
        if exists { return }
        let folder = path.contains("/") ? String(path[..<path.lastIndex(of: "/")!]) : "."
        guard access(folder.isEmpty ? "/" : folder, W_OK) == 0 else {
            throw JobError.storeNotCreatable(path: path, folder: folder)
        }
    }
}

/// Timing and dates as the jobs record them.
public enum JobClock {
    /// A monotonic clock in seconds.
    public static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// The current time as ISO 8601 UTC, e.g. 2026-11-29T21:50:19Z.
    public static func isoNow() -> String {
        var t = time(nil)
        var parts = tm()
        gmtime_r(&t, &parts)
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))Z"
    }
}

/// A job's output files: their missing parent folders are made first; the files are written
/// under temporary names and put in place together (`commit`, inside the run's transaction
/// when there is one) or taken away (`revert`); `close` discards what was never committed and
/// removes the folders made that are still empty.
final class OutputFiles {
    private var folders: [String] = []
    private var pending: [ArrayWriter.PendingFile] = []

    /// Makes the missing parent folders of `paths` (nil entries are outputs not asked for).
    init(for paths: [String?]) throws {
        do {
            for path in paths.compactMap({ $0 }) { folders += try OutputFolders.create(forFile: path) }
        } catch {
            OutputFolders.remove(folders)
            throw error
        }
    }

    /// Adds files written under temporary names.
    func add(_ files: ArrayWriter.PendingFile?...) { pending += files.compactMap { $0 } }
    func add(_ files: [ArrayWriter.PendingFile]) { pending += files }

    /// Puts every file in place.
    func commit() throws { for file in pending { try file.commit() } }

    /// Takes back the files put in place (the job failed after committing them).
    func revert() { pending.forEach { $0.revert() } }

    /// Discards what was never committed and removes the folders still empty.
    func close() {
        pending.forEach { $0.discard() }
        OutputFolders.remove(folders)
    }
}

/// Folders made for output files, and taken away again when a job fails.
public enum OutputFolders {
    /// Creates `path` and its missing parents, as `mkdir -p` does.
    /// - Throws: `InputError` naming the folder that could not be made.
    public static func create(_ path: String) throws {
        var built = path.hasPrefix("/") ? "/" : ""
        for part in path.split(separator: "/") {
            built += (built.isEmpty || built.hasSuffix("/") ? "" : "/") + part
            if mkdir(built, 0o755) != 0 && errno != EEXIST {
                throw InputError(.cannotWrite, file: built, expected: "a folder that can be created",
                                 found: String(cString: strerror(errno)).lowercased(), remedy: "check the path and its permissions")
            }
        }
    }

    /// Creates the missing folders above the file `path` (`mkdir -p` of its folder).
    /// - Returns: the folders it created, outermost first, for `remove` to take away again
    ///   when the job fails (a failure leaves the file system as it was).
    @discardableResult
    public static func create(forFile path: String) throws -> [String] {
        guard let slash = path.lastIndex(of: "/"), slash != path.startIndex else { return [] }
        let folder = String(path[..<slash])
        var created: [String] = []
        var built = folder.hasPrefix("/") ? "/" : ""
        for part in folder.split(separator: "/") {
            built += (built.isEmpty || built.hasSuffix("/") ? "" : "/") + part
            if access(built, F_OK) != 0 { created.append(built) }
        }
        try create(folder)
        return created
    }

    /// Removes folders `create(forFile:)` made, innermost first, if they are still empty.
    public static func remove(_ folders: [String]) {
        for folder in folders.reversed() { rmdir(folder) }
    }

    /// Writes `text` to `path`, making its folders first and removing them again on failure.
    public static func writeText(_ text: String, to path: String) throws {
        let folders = try create(forFile: path)
        do { try ArrayWriter.writeText(text, to: path) } catch { remove(folders); throw error }
    }
}
