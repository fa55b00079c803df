import CBLAS

/// The only file that talks to BLAS (OpenBLAS through its CBLAS interface).
public enum BLAS {
    /// General matrix multiply, row-major: `C = alpha · op(A) · op(B) + beta · C`.
    ///
    /// `op(A)` is `[M, K]` and `op(B)` is `[K, N]`; `C` is `[M, N]`.
    /// Stored, `A` is `[M, K]` (or `[K, M]` when `transposeA`) and `B` is `[K, N]`
    /// (or `[N, K]` when `transposeB`). Leading dimensions default to the stored
    /// row length of a contiguous matrix; pass them to multiply sub-matrices.
    /// `beta = 1` accumulates into `C` (weight gradients do this).
    @inline(__always)
    public static func gemm(
        transposeA: Bool = false, transposeB: Bool = false,
        m: Int, n: Int, k: Int,
        alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int? = nil,
        b: UnsafePointer<Float>, ldb: Int? = nil,
        beta: Float = 0,
        c: UnsafeMutablePointer<Float>, ldc: Int? = nil
    ) {
        let leadingA = lda ?? (transposeA ? m : k)
        let leadingB = ldb ?? (transposeB ? k : n)
        let leadingC = ldc ?? n
        cblas_sgemm(
            CblasRowMajor,
            transposeA ? CblasTrans : CblasNoTrans,
            transposeB ? CblasTrans : CblasNoTrans,
            blasint(m), blasint(n), blasint(k),
            alpha, a, blasint(leadingA), b, blasint(leadingB),
            beta, c, blasint(leadingC))
    }

    /// Threads OpenBLAS uses for each call (it defaults to every core).
    public static var threads: Int {
        get { Int(openblas_get_num_threads()) }
        set { openblas_set_num_threads(Int32(max(1, newValue))) }
    }

    /// The CPU kernel OpenBLAS selected, e.g. "Cooperlake".
    public static var coreName: String {
        guard let name = openblas_get_corename() else { return "unknown" }
        return String(cString: name)
    }
}
