import RetrievalEval

/// A dense row-major matrix of `Double`: the working precision of every loss in this module.
///
/// Losses take their inputs either as `DoubleMatrix` (exact path, used by the gradient tests)
/// or as RetrievalEval's `Matrix` of `Float` (converted once on entry); every value, softmax
/// and gradient after that is computed in `Double`.
public struct DoubleMatrix: Sendable, Equatable {
    /// The number of rows.
    public let rows: Int
    /// The number of columns.
    public let columns: Int
    /// `rows * columns` values, row `i` at `values[i * columns ..< (i + 1) * columns]`.
    public var values: [Double]

    /// Wraps `values` as a `rows` x `columns` matrix.
    /// - Precondition: `values.count == rows * columns`.
    public init(rows: Int, columns: Int, values: [Double]) {
        precondition(rows >= 0 && columns >= 0, "negative matrix shape")
        precondition(values.count == rows * columns, "values.count \(values.count) != \(rows) x \(columns)")
        self.rows = rows
        self.columns = columns
        self.values = values
    }

    /// A `rows` x `columns` matrix of zeros.
    public init(zeros rows: Int, _ columns: Int) {
        self.init(rows: rows, columns: columns, values: [Double](repeating: 0, count: rows * columns))
    }

    /// The `Float` matrix `matrix`, widened to `Double`.
    public init(_ matrix: Matrix) {
        self.init(rows: matrix.rows, columns: matrix.columns, values: matrix.values.map(Double.init))
    }

    /// This matrix rounded to `Float`, for handing back to RetrievalEval or an optimiser.
    public var floatMatrix: Matrix {
        Matrix(rows: rows, columns: columns, values: values.map(Float.init))
    }

    /// The element at `row`, `column`.
    @inlinable
    public subscript(row: Int, column: Int) -> Double {
        get { values[row * columns + column] }
        set { values[row * columns + column] = newValue }
    }
}
