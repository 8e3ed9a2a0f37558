import RetrievalEval

/// A dense row-major matrix of `Double`: the working precision of every loss in this module.
///
/// Losses take their inputs either as `DoubleMatrix` (exact path, used by the gradient tests)
/// or as RetrievalEval's `Matrix` of `Float` (converted once on entry with
/// `DoubleMatrix(matrix)`); every value, softmax and gradient after that is computed in
/// `Double`.
public typealias DoubleMatrix = DenseMatrix<Double>

extension DenseMatrix where Scalar == Double {
    /// This matrix rounded to `Float`, for handing back to RetrievalEval or an optimiser.
    @inlinable
    public var floatMatrix: Matrix { Matrix(self) }
}
