import CMatrixKernels

/// ConvNet's own single-threaded SGEMM (`CMatrixKernels`, AVX-512) for the products inside one
/// image's convolution, where OpenBLAS spends a fifth of its time copying (packing) operands.
///
/// `C [m, n] (+)= A · B`, row-major, every operand read where it lies: `B` (the image's im2col
/// columns, or ∂loss/∂y) in place, `A` through two strides (a weight matrix or its transpose as
/// stored). The micro-kernel keeps a 6 × 64 tile of `C` in 24 vector registers over a depth
/// of up to 512 (deeper products add into `C` block by block). LeNet's conv 50@5×5 on 64
/// images (`bench --only conv`, against OpenBLAS's AVX-512 kernels): forward 0.65 → 0.49 ms
/// (420 GFLOP/s on 2 cores), forward + backward 1.94 → 1.66 ms. Layers call it through
/// `GEMMBackend.multiply`, which runs the same product on OpenBLAS where this one is not used.
///
/// Where the CPU has no AVX-512 (`isAvailable` false) the layers call OpenBLAS (`BLAS`) instead;
/// called anyway, the product runs as plain loops.
public enum MatrixKernels {
    /// Whether this CPU (and the operating system) run the AVX-512 kernel.
    public static let isAvailable = convnet_cpu_has_avx512() == 1

    /// `C [m, n] = A · B`, or `C += A · B` when `accumulate`. A's element `(i, p)` is
    /// `a[i · rowStride + p · depthStride]`: a row-major `[m, k]` matrix has strides `(lda, 1)`,
    /// the transpose of a row-major `[k, m]` matrix `(1, lda)`. `B [k, n]` and `C [m, n]` are
    /// row-major with leading dimensions `ldb ≥ n` and `ldc ≥ n`; `C` must not overlap `A` or `B`.
    @inline(__always)
    public static func multiply(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, rowStride: Int, depthStride: Int,
                                b: UnsafePointer<Float>, ldb: Int,
                                c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool = false) {
        precondition(ldb >= n && ldc >= n, "MatrixKernels.multiply: ldb \(ldb) and ldc \(ldc) must be at least n \(n)")
        convnet_gemm(m, n, k, a, rowStride, depthStride, b, ldb, c, ldc, accumulate ? 1 : 0)
    }

    /// `C [m, n] = A · Bᵀ`, or `C += A · Bᵀ` when `accumulate`, with `A [m, k]` and `B [n, k]` both
    /// row-major (`lda`, `ldb` ≥ k): each element of `C` a dot product of two contiguous rows, in
    /// 5 × 5 tiles of 16-lane sums along the depth. For a shallow convolution's weight gradient
    /// dW = dY·colsᵀ (LeNet's conv1: [20, 576] times [25, 576]ᵀ), where the depth (the image's
    /// output positions) is long and the transposes that `multiply` would need cost more than
    /// the product.
    @inline(__always)
    public static func multiplyTransposedB(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int,
                                           b: UnsafePointer<Float>, ldb: Int,
                                           c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool = false) {
        precondition(lda >= k && ldb >= k && ldc >= n,
                     "MatrixKernels.multiplyTransposedB: lda \(lda) and ldb \(ldb) must be at least k \(k), ldc \(ldc) at least n \(n)")
        convnet_gemm_transposed_b(m, n, k, a, lda, b, ldb, c, ldc, accumulate ? 1 : 0)
    }
}

/// The SGEMM behind a layer's products (`Conv2D`, `Dense`).
public enum GEMMBackend: String, Sendable, CaseIterable {
    /// OpenBLAS (`BLAS`), on every CPU.
    case openBLAS = "openblas"
    /// ConvNet's own kernel (`MatrixKernels`), where the CPU has AVX-512.
    case matrixKernels = "own"

    /// What new layers use: `matrixKernels` where the CPU has AVX-512, else `openBLAS`.
    /// `bench --gemm openblas` and tests set it before building a model, to compare the two or
    /// to reproduce the first release's arithmetic bit for bit. `nonisolated(unsafe)`: read only
    /// when a layer is created, on the thread building the model.
    nonisolated(unsafe) public static var preferred: GEMMBackend = MatrixKernels.isAvailable ? .matrixKernels : .openBLAS

    /// `C [m, n] = op(A) · B`, or `C += op(A) · B` when `accumulate`, on this backend: the
    /// products both backends can run, so a layer calls one function. `op(A)` is `A [m, k]`
    /// (leading dimension `lda`), or with `transposeA` the transpose of a stored `[k, m]`;
    /// `B [k, n]` and `C [m, n]` are row-major with leading dimensions `ldb` and `ldc`.
    @inline(__always)
    public func multiply(transposeA: Bool = false, m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int,
                         b: UnsafePointer<Float>, ldb: Int, c: UnsafeMutablePointer<Float>, ldc: Int,
                         accumulate: Bool = false) {
        switch self {
        case .matrixKernels:
            MatrixKernels.multiply(m: m, n: n, k: k, a: a, rowStride: transposeA ? 1 : lda, depthStride: transposeA ? lda : 1,
                                   b: b, ldb: ldb, c: c, ldc: ldc, accumulate: accumulate)
        case .openBLAS:
            BLAS.gemm(transposeA: transposeA, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb,
                      beta: accumulate ? 1 : 0, c: c, ldc: ldc)
        }
    }

    /// `C [m, n] = A · Bᵀ`, or `C += A · Bᵀ` when `accumulate`, on this backend, with `A [m, k]` and
    /// `B [n, k]` row-major (leading dimensions `lda`, `ldb`) and `C` leading dimension `ldc`.
    @inline(__always)
    public func multiplyTransposedB(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int,
                                    b: UnsafePointer<Float>, ldb: Int, c: UnsafeMutablePointer<Float>, ldc: Int,
                                    accumulate: Bool = false) {
        switch self {
        case .matrixKernels:
            MatrixKernels.multiplyTransposedB(m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc, accumulate: accumulate)
        case .openBLAS:
            BLAS.gemm(transposeB: true, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, beta: accumulate ? 1 : 0, c: c, ldc: ldc)
        }
    }
}
