/// Writing a matrix row block by row block, so that it never exists whole in memory.
extension ArrayWriter {
    /// Appends rows of int64 to an `.npy` file being written.
    public final class Int64Rows {
        let output: Output
        let columns: Int
        let rows: Int
        /// Rows written so far.
        public private(set) var written = 0
        private var buffer: [Int64] = []

        init(output: Output, rows: Int, columns: Int) {
            self.output = output
            self.rows = rows
            self.columns = columns
        }

        /// Appends one row of exactly `columns` values.
        public func append(_ row: some Collection<Int32>) throws {
            precondition(row.count == columns && written < rows, "a row of \(columns) values within \(rows) rows")
            for v in row { buffer.append(Int64(v)) }
            written += 1
            if buffer.count >= 1 << 17 { try flush() }
        }

        /// Writes what is buffered (at most 1 MiB is).
        func flush() throws {
            try buffer.withUnsafeBytes { try output.append($0) }
            buffer.removeAll(keepingCapacity: true)
        }
    }

    /// Writes a `rows` x `columns` int64 `.npy` file (for example neighbour indices) whose rows
    /// `body` appends in order; atomically, like every write here: if `body` throws, or
    /// appends too few rows, nothing is left at `path`.
    public static func writeNpyRows<R>(
        int64 rows: Int, columns: Int, to path: String, body: (Int64Rows) throws -> R
    ) throws -> R {
        let (result, file) = try prepareNpyRows(int64: rows, columns: columns, to: path, body: body)
        try file.commit()
        return result
    }

    /// Like `writeNpyRows`, but leaves the complete file under its temporary name, to be put
    /// in place by the caller (`PendingFile.commit()`) together with what it belongs to.
    public static func prepareNpyRows<R>(
        int64 rows: Int, columns: Int, to path: String, body: (Int64Rows) throws -> R
    ) throws -> (R, PendingFile) {
        var result: R?
        let file = try prepare(path: path) { out in
            try out.append(NpyHeader.encode(descr: "<i8", shape: [rows, columns]))
            let sink = Int64Rows(output: out, rows: rows, columns: columns)
            result = try body(sink)
            try sink.flush()
            precondition(sink.written == rows, "\(sink.written) of \(rows) rows written")
        }
        return (result!, file)
    }
}
