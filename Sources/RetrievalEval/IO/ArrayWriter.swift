#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes matrices as `.npy` or `.fbin`, atomically: the data goes to a temporary file next
/// to the target, which is renamed over it only once complete, so an interrupted write never
/// leaves a half-written file behind.
public enum ArrayWriter {
    /// Writes `matrix` as a version 1.0 `.npy` file of dtype `<f4`.
    public static func writeNpy(_ matrix: Matrix, to path: String) throws {
        try writeNpy(matrix.values, descr: "<f4", rows: matrix.rows, columns: matrix.columns, to: path)
    }

    /// Writes a `rows` x `columns` array of int64 (for example neighbour indices) as `.npy`.
    public static func writeNpy(int64 values: [Int64], rows: Int, columns: Int, to path: String) throws {
        try writeNpy(values, descr: "<i8", rows: rows, columns: columns, to: path)
    }

    /// Writes a `rows` x `columns` array of float64 (for example gradients) as `.npy`.
    public static func writeNpy(float64 values: [Double], rows: Int, columns: Int, to path: String) throws {
        try writeNpy(values, descr: "<f8", rows: rows, columns: columns, to: path)
    }

    /// Writes `values` (little-endian on every platform Swift runs on here) under a version
    /// 1.0 header of `descr` and shape (rows, columns).
    private static func writeNpy<T>(_ values: [T], descr: String, rows: Int, columns: Int, to path: String) throws {
        precondition(values.count == rows * columns)
        let header = NpyHeader.encode(descr: descr, shape: [rows, columns])
        try write(path: path) { out in
            try out.append(header)
            try values.withUnsafeBytes { try out.append($0) }
        }
    }

    /// Writes `matrix` as big-ann-benchmarks `.fbin`: uint32 n, uint32 d, then the floats.
    public static func writeFbin(_ matrix: Matrix, to path: String) throws {
        guard matrix.rows <= Int(UInt32.max), matrix.columns <= Int(UInt32.max) else {
            throw InputError(
                .cannotWrite, file: path, expected: "at most 2^32 - 1 rows and columns",
                found: "\(matrix.rows) x \(matrix.columns)", remedy: "write .npy instead")
        }
        var head: [UInt8] = []
        for v in [UInt32(matrix.rows), UInt32(matrix.columns)] {
            head += [UInt8(v & 0xFF), UInt8((v >> 8) & 0xFF), UInt8((v >> 16) & 0xFF), UInt8(v >> 24)]
        }
        try write(path: path) { out in
            try out.append(head)
            try matrix.values.withUnsafeBytes { try out.append($0) }
        }
    }

    /// Writes the format the extension names (`.npy`, or `.fbin`/`.bin`).
    public static func write(_ matrix: Matrix, to path: String) throws {
        switch EmbeddingFormat.fromExtension(of: path) {
        case .npy: try writeNpy(matrix, to: path)
        case .fbin: try writeFbin(matrix, to: path)
        default:
            throw InputError(
                .unknownFormat, file: path, expected: "an output extension .npy, .fbin or .bin",
                found: EmbeddingReader.extensionDescription(path), remedy: "name the output file .npy or .fbin")
        }
    }

    // MARK: - Atomic file output

    final class Output {
        let fd: Int32
        let path: String
        init(fd: Int32, path: String) { self.fd = fd; self.path = path }

        func append(_ bytes: [UInt8]) throws { try bytes.withUnsafeBytes { try append($0) } }

        func append(_ bytes: UnsafeRawBufferPointer) throws {
            FaultInjection.willWrite()
            var done = 0
            while done < bytes.count {
                let n = posixWrite(fd, bytes.baseAddress! + done, bytes.count - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw InputError(
                        .cannotWrite, file: path, at: .byte(done), expected: "room to write",
                        found: String(cString: strerror(errno)).lowercased(), remedy: "free disk space or choose another path")
                }
                done += n
            }
        }
    }

    static func write(path: String, body: (Output) throws -> Void) throws {
        try prepare(path: path, body: body).commit()
    }

    /// A complete output file under a temporary name next to its target, put in place by
    /// `commit()` or removed by `discard()`: a command that also records in the store writes
    /// its files first and renames them inside the store's transaction, so a failure at any
    /// step leaves neither the files nor the record.
    public final class PendingFile: @unchecked Sendable {
        /// The target path the file is renamed to on `commit()`.
        public let path: String
        let temporary: String
        private var done = false
        private var committed = false

        init(path: String, temporary: String) {
            self.path = path
            self.temporary = temporary
        }

        /// Renames the file into place.
        public func commit() throws {
            guard !done else { return }
            FaultInjection.willWrite()
            guard rename(temporary, path) == 0 else {
                let reason = String(cString: strerror(errno)).lowercased()
                discard()
                throw InputError(
                    .cannotWrite, file: path, expected: "a writable location", found: reason,
                    remedy: "check that the folder exists and is writable")
            }
            done = true
            committed = true
        }

        /// Takes a committed file away again (when the record it belongs to failed).
        public func revert() {
            if committed { unlink(path) }
            committed = false
        }

        /// Removes the temporary file (a no-op once committed).
        public func discard() {
            guard !done else { return }
            unlink(temporary)
            done = true
        }

        deinit { discard() }
    }

    /// Writes `text` under a temporary name next to `path`, to be committed later.
    public static func prepareText(_ text: String, to path: String) throws -> PendingFile {
        try prepare(path: path) { out in try out.append(Array(text.utf8)) }
    }

    /// Writes an int64 `.npy` under a temporary name next to `path`, to be committed later.
    public static func prepareNpy(int64 values: [Int64], rows: Int, columns: Int, to path: String) throws -> PendingFile {
        precondition(values.count == rows * columns)
        let header = NpyHeader.encode(descr: "<i8", shape: [rows, columns])
        return try prepare(path: path) { out in
            try out.append(header)
            try values.withUnsafeBytes { try out.append($0) }
        }
    }

    static func prepare(path: String, body: (Output) throws -> Void) throws -> PendingFile {
        removeStaleTemporaries(of: path)
        let temporary = path + ".tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else {
            throw InputError(
                .cannotWrite, file: path, expected: "a writable location",
                found: String(cString: strerror(errno)).lowercased(), remedy: "check that the folder exists and is writable")
        }
        do {
            try body(Output(fd: fd, path: path))
            guard fsync(fd) == 0, close(fd) == 0 else {
                throw InputError(
                    .cannotWrite, file: path, expected: "the data flushed to disk",
                    found: String(cString: strerror(errno)).lowercased(), remedy: "check the disk")
            }
        } catch {
            close(fd)
            unlink(temporary)
            throw error
        }
        return PendingFile(path: path, temporary: temporary)
    }

    /// Removes the temporary files that killed dmleval processes left next to `path`
    /// (`path.tmp-PID` whose process no longer exists).
    static func removeStaleTemporaries(of path: String) {
        let slash = path.lastIndex(of: "/")
        let folder = slash.map { String(path[..<$0]) } ?? "."
        let base = slash.map { String(path[path.index(after: $0)...]) } ?? path
        guard let dir = opendir(folder.isEmpty ? "/" : folder) else { return }
        defer { closedir(dir) }
        let prefix = base + ".tmp-"
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            guard name.hasPrefix(prefix), let pid = Int32(name.dropFirst(prefix.count)), pid != getpid() else { continue }
            // kill(pid, 0) fails with ESRCH only when no such process exists.
            if kill(pid, 0) != 0 && errno == ESRCH { unlink((folder.isEmpty ? "" : folder + "/") + name) }
        }
    }
}

@inline(__always)
private func posixWrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
    write(fd, buffer, count)
}

extension ArrayWriter {
    /// Writes UTF-8 text to `path`, atomically like the arrays.
    public static func writeText(_ text: String, to path: String) throws {
        try write(path: path) { out in try out.append(Array(text.utf8)) }
    }
}
