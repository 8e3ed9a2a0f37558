/// A dense row-major matrix of `Float`: `rows` x `columns` values in one flat array.
///
/// Embeddings always live in a `Matrix` (one row per item), never in `[[Float]]`, so that a
/// whole set can be handed to BLAS without copying.
public struct Matrix: Sendable, Equatable {
    /// The number of rows (items).
    public let rows: Int
    /// The number of columns (dimensions).
    public let columns: Int
    /// `rows * columns` values, row `i` at `values[i * columns ..< (i + 1) * columns]`.
    public var values: [Float]

    /// Wraps `values` as a `rows` x `columns` matrix.
    /// - Precondition: `values.count == rows * columns`.
    public init(rows: Int, columns: Int, values: [Float]) {
        precondition(rows >= 0 && columns >= 0, "negative matrix shape")
        precondition(values.count == rows * columns, "values.count \(values.count) != \(rows) x \(columns)")
        self.rows = rows
        self.columns = columns
        self.values = values
    }

    /// A `rows` x `columns` matrix of zeros.
    public init(zeros rows: Int, _ columns: Int) {
        self.init(rows: rows, columns: columns, values: [Float](repeating: 0, count: rows * columns))
    }

    /// The values of row `index`, copied.
    public func row(_ index: Int) -> [Float] {
        Array(values[index * columns ..< (index + 1) * columns])
    }

    /// The element at `row`, `column`.
    @inlinable
    public subscript(row: Int, column: Int) -> Float {
        get { values[row * columns + column] }
        set { values[row * columns + column] = newValue }
    }
}
