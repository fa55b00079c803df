// ConvNet's own single-threaded SGEMM for the small, per-image products of a convolution
// (im2col columns times a weight matrix), reading every operand where it lies. Row-major.
// The AVX-512 kernel runs only where convnet_cpu_has_avx512() says so; elsewhere the product
// is computed with plain loops (the layers use OpenBLAS there instead).
#ifndef CONVNET_MATRIX_KERNELS_H
#define CONVNET_MATRIX_KERNELS_H

// 1 when the CPU and the operating system support AVX-512 F, DQ, BW and VL (CPUID leaf 7;
// ZMM and opmask state enabled in XCR0).
int convnet_cpu_has_avx512(void);

// With 0, products run their plain loops even where AVX-512 is available (for tests); with 1,
// the AVX-512 kernel again where the CPU has it.
void convnet_matrix_kernels_allow_avx512(int allowed);

// C [m, n] = A · B, or C += A · B when accumulate is non-zero. A's element (i, p) is
// a[i · row_stride + p · depth_stride]: a row-major [m, k] matrix has strides (lda, 1), and the
// transpose of a row-major [k, m] matrix has (1, lda). B [k, n] is row-major with leading
// dimension ldb ≥ n; C has leading dimension ldc ≥ n and must not overlap A or B.
void convnet_gemm(long m, long n, long k, const float *a, long row_stride, long depth_stride,
                  const float *b, long ldb, float *c, long ldc, int accumulate);

// C [m, n] = A · Bᵀ, or C += A · Bᵀ when accumulate is non-zero, with A [m, k] and B [n, k] both
// row-major (leading dimensions lda, ldb ≥ k): every element of C is a dot product of a row of A
// and a row of B (a convolution's weight gradient dY · colsᵀ). C has leading dimension ldc ≥ n
// and must not overlap A or B.
void convnet_gemm_transposed_b(long m, long n, long k, const float *a, long lda, const float *b, long ldb,
                               float *c, long ldc, int accumulate);

#endif
