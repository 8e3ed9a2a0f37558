/// A dense row-major matrix of `Float`: `rows` x `columns` values in one flat array.
///
/// Embeddings always live in a `Matrix` (one row per item), never in `[[Float]]`, so that a
/// whole set can be handed to BLAS without copying.
public typealias Matrix = DenseMatrix<Float>

/// A dense row-major matrix of `rows` x `columns` values of one floating-point type in one
/// flat array: `Matrix` (`Float`) for embeddings and search, `DenseMatrix<Double>` for the
/// training losses' working precision.
public struct DenseMatrix<Scalar: BinaryFloatingPoint & Sendable>: Sendable, Equatable {
    /// The number of rows (items).
    public let rows: Int
    /// The number of columns (dimensions).
    public let columns: Int
    /// `rows * columns` values, row `i` at `values[i * columns ..< (i + 1) * columns]`.
    public var values: [Scalar]

    /// Wraps `values` as a `rows` x `columns` matrix.
    /// - Precondition: `values.count == rows * columns`.
    @inlinable
    public init(rows: Int, columns: Int, values: [Scalar]) {
        precondition(rows >= 0 && columns >= 0, "negative matrix shape")
        precondition(values.count == rows * columns, "values.count \(values.count) != \(rows) x \(columns)")
        self.rows = rows
        self.columns = columns
        self.values = values
    }

    /// A `rows` x `columns` matrix of zeros.
    @inlinable
    public init(zeros rows: Int, _ columns: Int) {
        self.init(rows: rows, columns: columns, values: [Scalar](repeating: 0, count: rows * columns))
    }

    /// `matrix` converted value by value to `Scalar` (exact from `Float` to `Double`,
    /// rounded to nearest the other way).
    @inlinable
    public init<Source>(_ matrix: DenseMatrix<Source>) {
        self.init(rows: matrix.rows, columns: matrix.columns, values: matrix.values.map(Scalar.init))
    }

    /// The values of row `index`, copied.
    @inlinable
    public func row(_ index: Int) -> [Scalar] {
        Array(values[index * columns ..< (index + 1) * columns])
    }

    /// The element at `row`, `column`.
    @inlinable
    public subscript(row: Int, column: Int) -> Scalar {
        get { values[row * columns + column] }
        set { values[row * columns + column] = newValue }
    }
}
