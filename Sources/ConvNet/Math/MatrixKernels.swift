import CMatrixKernels

/// ConvNet's own single-threaded SGEMM (`CMatrixKernels`, AVX-512) for the products inside one
/// image's convolution, where OpenBLAS spends a fifth of its time re-packing the same weights.
///
/// `C [m, n] (+)= A · B`, row-major. `B` (the image's im2col columns or ∂loss/∂y) is read in
/// place; `A` is either a weight matrix packed once per step into panels of 6 rows
/// (`pack`), or a plain row-major matrix. The micro-kernel keeps a 6 × 64 tile of `C` in
/// 24 vector registers over the whole depth. On LeNet's conv 50@5×5, one core: forward
/// [50, 500]·[500, 64] 1.4× OpenBLAS's SkylakeX kernels, dCols 1.2×, dW 1.1×.
///
/// Where the CPU has no AVX-512 (`isAvailable` false) the layers call OpenBLAS (`BLAS`) instead.
public enum MatrixKernels {
    /// Whether this CPU (and the operating system) run the AVX-512 kernels.
    public static let isAvailable = convnet_cpu_has_avx512() == 1

    /// Floats that a packed `[rows, depth]` matrix takes: ⌈rows / 6⌉ · 6 · depth.
    public static func packedCount(rows: Int, depth: Int) -> Int {
        convnet_packed_count(rows, depth)
    }

    /// Packs `A [rows, depth]` whose element `(i, p)` is `a[i · rowStride + p · depthStride]`:
    /// a row-major `[rows, depth]` matrix has strides `(depth, 1)`; the transpose of a row-major
    /// `[depth, rows]` matrix has `(1, rows)`. `packed` holds `packedCount(rows:depth:)` floats.
    @inline(__always)
    public static func pack(rows: Int, depth: Int, _ a: UnsafePointer<Float>, rowStride: Int, depthStride: Int,
                            into packed: UnsafeMutablePointer<Float>) {
        convnet_pack(rows, depth, a, rowStride, depthStride, packed)
    }

    /// `C [m, n] = A · B` (or `C += A · B` when `accumulate`), `A` packed by `pack`,
    /// `B [k, n]` and `C [m, n]` row-major with leading dimensions `ldb` and `ldc`.
    @inline(__always)
    public static func multiply(m: Int, n: Int, k: Int, packed: UnsafePointer<Float>,
                                b: UnsafePointer<Float>, ldb: Int,
                                c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool = false) {
        convnet_gemm_packed(m, n, k, packed, b, ldb, c, ldc, accumulate ? 1 : 0)
    }

    /// `C [m, n] = A · B` (or `C += A · B`), `A [m, k]` row-major with leading dimension `lda`.
    @inline(__always)
    public static func multiply(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int,
                                b: UnsafePointer<Float>, ldb: Int,
                                c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool = false) {
        convnet_gemm_rows(m, n, k, a, lda, b, ldb, c, ldc, accumulate ? 1 : 0)
    }
}
