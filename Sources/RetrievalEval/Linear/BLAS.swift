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
