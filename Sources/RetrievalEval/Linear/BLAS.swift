import Dispatch

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

    /// `gemm` split by rows of C over `workers` of our own, each a single-threaded sgemm on its
    /// slice (call with BLAS set to one thread: `setThreads(1)`).
    ///
    /// OpenBLAS's own threads busy-wait (`sched_yield`) between calls; in a loop that
    /// alternates products with its own parallel work, they took the cores that work needed
    /// (a third of a training epoch's time went to the scheduler). Our workers end with the
    /// product. Small products (fewer than 64 rows per worker) run in one call.
    public static func parallelGemm(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        c: UnsafeMutablePointer<Float>, ldc: Int, workers: Int
    ) {
        let parts = max(1, min(workers, m / 64))
        guard parts > 1 else {
            gemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc)
            return
        }
        let pointers = UnsafeSendableBox((a, b, c))
        DispatchQueue.concurrentPerform(iterations: parts) { part in
            let (a, b, c) = pointers.value
            let lo = m * part / parts, hi = m * (part + 1) / parts
            // Rows lo..<hi of op(A): rows of A, or columns of A when it is transposed.
            let slice = transposeA ? a + lo : a + lo * lda
            gemm(transposeA: transposeA, transposeB: transposeB, m: hi - lo, n: n, k: k,
                 a: slice, lda: lda, b: b, ldb: ldb, c: c + lo * ldc, ldc: ldc)
        }
    }

    /// The product `op(A) * op(B)` of two matrices.
    /// - Parameter workers: split the product over this many of our own threads (see
    ///   `parallelGemm`); 1 for one sgemm call with however many threads BLAS has.
    /// - Precondition: the inner dimensions agree.
    public static func product(
        _ a: Matrix, transposed ta: Bool = false, _ b: Matrix, transposed tb: Bool = false, workers: Int = 1
    ) -> Matrix {
        let m = ta ? a.columns : a.rows, k = ta ? a.rows : a.columns
        let kb = tb ? b.columns : b.rows, n = tb ? b.rows : b.columns
        precondition(k == kb, "inner dimensions differ: \(k) vs \(kb)")
        var c = Matrix(zeros: m, n)
        if m == 0 || n == 0 || k == 0 { return c }
        a.values.withUnsafeBufferPointer { pa in
            b.values.withUnsafeBufferPointer { pb in
                c.values.withUnsafeMutableBufferPointer { pc in
                    parallelGemm(transposeA: ta, transposeB: tb, m: m, n: n, k: k,
                                 a: pa.baseAddress!, lda: max(a.columns, 1), b: pb.baseAddress!, ldb: max(b.columns, 1),
                                 c: pc.baseAddress!, ldc: max(n, 1), workers: workers)
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
