#if canImport(Accelerate)
import Accelerate
#else
import CBLAS
#endif

/// Thin, typed wrappers over the BLAS routines dmleval uses.
///
/// Every big product in the project goes through here, so that the platform switch
/// (OpenBLAS on Linux, Accelerate on Apple platforms) lives in one file.
public enum BLAS {
    /// `C = alpha * A * B^T + beta * C` for row-major `A` (m x k), `B` (n x k), `C` (m x n),
    /// each given with its leading dimension (the distance between two rows, in elements).
    ///
    /// - Complexity: O(m n k), at the machine's sgemm speed.
    public static func gemmNT(
        m: Int, n: Int, k: Int, alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0,
        c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        cblas_sgemm(
            CblasRowMajor, CblasNoTrans, CblasTrans,
            blasInt(m), blasInt(n), blasInt(k), alpha,
            a, blasInt(lda), b, blasInt(ldb), beta, c, blasInt(ldc))
    }

    /// `C = alpha * op(A) * op(B) + beta * C` for row-major matrices, op transposing when asked:
    /// op(A) is m x k, op(B) is k x n, C is m x n.
    ///
    /// - Complexity: O(m n k).
    public static func gemm(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        cblas_sgemm(
            CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
            blasInt(m), blasInt(n), blasInt(k), alpha,
            a, blasInt(lda), b, blasInt(ldb), beta, c, blasInt(ldc))
    }

    /// The product `op(A) * op(B)` of two matrices.
    /// - Precondition: the inner dimensions agree.
    public static func product(_ a: Matrix, transposed ta: Bool = false, _ b: Matrix, transposed tb: Bool = false) -> Matrix {
        let m = ta ? a.columns : a.rows, k = ta ? a.rows : a.columns
        let kb = tb ? b.columns : b.rows, n = tb ? b.rows : b.columns
        precondition(k == kb, "inner dimensions differ: \(k) vs \(kb)")
        var c = Matrix(zeros: m, n)
        if m == 0 || n == 0 || k == 0 { return c }
        a.values.withUnsafeBufferPointer { pa in
            b.values.withUnsafeBufferPointer { pb in
                c.values.withUnsafeMutableBufferPointer { pc in
                    gemm(transposeA: ta, transposeB: tb, m: m, n: n, k: k,
                         a: pa.baseAddress!, lda: max(a.columns, 1), b: pb.baseAddress!, ldb: max(b.columns, 1),
                         c: pc.baseAddress!, ldc: max(n, 1))
                }
            }
        }
        return c
    }

    #if canImport(Accelerate)
    @inline(__always) static func blasInt(_ x: Int) -> Int32 { Int32(x) }
    #else
    @inline(__always) static func blasInt(_ x: Int) -> blasint { blasint(x) }
    #endif
}

extension BLAS {
    /// Sets how many threads BLAS may use for one call (OpenBLAS; Accelerate manages its own).
    ///
    /// dmleval alternates between BLAS calls and its own parallel loops, never overlapping
    /// them, so both can use every core without oversubscribing.
    public static func setThreads(_ count: Int) {
        #if !canImport(Accelerate)
        openblas_set_num_threads(Int32(max(1, count)))
        #endif
    }
}
