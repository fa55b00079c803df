import CBLAS
import Foundation

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

    /// Threads OpenBLAS uses for each call (it defaults to every core). Setting it first makes
    /// sure OpenBLAS runs the best kernels it has for this CPU (`kernelChoice`).
    public static var threads: Int {
        get { Int(openblas_get_num_threads()) }
        set {
            _ = kernelChoice
            openblas_set_num_threads(Int32(max(1, min(newValue, 1024))))  // clamped: Int32(huge) would trap
        }
    }

    /// The CPU kernel OpenBLAS runs, e.g. "SkylakeX".
    public static var coreName: String {
        guard let name = openblas_get_corename() else { return "unknown" }
        return String(cString: name)
    }

    /// What was done about OpenBLAS's kernel choice, for `bench` and the report: nil when
    /// OpenBLAS's own choice stands unremarked, or a sentence saying what happened.
    ///
    /// OpenBLAS names the CPU when it loads and falls back to older kernels for a CPU newer than
    /// itself: Debian 12's 0.3.21 runs its AVX2 "Haswell" kernels on AMD Zen 5 and on recent
    /// Intel Xeons, although they support AVX-512, where its "SkylakeX" kernels run SGEMM about
    /// 1.7× faster (measured on this project's Zen 5 machine at LeNet's shapes: 168–220 GFLOP/s per
    /// core against 100–120). So when it fell back to an AVX2 kernel on a CPU with AVX-512 (F,
    /// DQ, BW, VL), ConvNet asks it for SkylakeX instead, once, before any work. A kernel the
    /// user chose with `OPENBLAS_CORETYPE` is left alone, and the sentence says so.
    public static let kernelChoice: String? = {
        let chosen = coreName
        let fallbacks = ["Haswell", "Zen", "Sandybridge", "Prescott"]
        guard fallbacks.contains(chosen), MatrixKernels.isAvailable else { return nil }
        if let pinned = ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] {
            return "OPENBLAS_CORETYPE=\(pinned) is set: OpenBLAS runs its \(chosen) kernels although this CPU has AVX-512 (unset it for the faster SkylakeX kernels; the layers run on ConvNet's own kernels here, so this changes only bench's ceiling and --gemm openblas)"
        }
        setenv("OPENBLAS_CORETYPE", "SkylakeX", 1)
        defer { unsetenv("OPENBLAS_CORETYPE") }
        guard convnet_openblas_choose_kernels_again() == 1, coreName == "SkylakeX" else { return nil }
        return "OpenBLAS picked \(chosen) (it does not know this CPU); ConvNet selected its AVX-512 SkylakeX kernels"
    }()
}
