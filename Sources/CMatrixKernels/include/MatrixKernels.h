// ConvNet's own single-threaded SGEMM for the small, per-image products of a convolution
// (im2col columns times a weight matrix packed once per step). Row-major throughout.
// The AVX-512 kernels run only where convnet_cpu_has_avx512() says so; elsewhere these
// functions compute the same products with plain loops (the layers use OpenBLAS there instead).
#ifndef CONVNET_MATRIX_KERNELS_H
#define CONVNET_MATRIX_KERNELS_H

#include <stddef.h>

// Rows of A in one packed panel: the micro-kernel's tile is 6 rows × 64 columns of C.
#define CONVNET_PANEL_ROWS 6

// 1 when the CPU and the operating system support AVX-512 F, DQ, BW and VL (CPUID leaf 7;
// ZMM and opmask state enabled in XCR0).
int convnet_cpu_has_avx512(void);

// With 0, the products below run their plain loops even where AVX-512 is available (for tests);
// with 1, the AVX-512 kernels again where the CPU has them.
void convnet_matrix_kernels_allow_avx512(int allowed);

// Floats a packed [m, k] matrix needs: ⌈m / 6⌉ · 6 · k.
long convnet_packed_count(long m, long k);

// Packs A [m, k], whose element (i, p) is a[i · row_stride + p · column_stride], into panels
// of 6 rows, each stored p-major: packed[(i / 6) · 6k + p · 6 + i % 6] (rows past m are zero).
// A row-major matrix has strides (lda, 1); the transpose of a row-major [k, m] has (1, lda).
void convnet_pack(long m, long k, const float *a, long row_stride, long column_stride, float *packed);

// C [m, n] = A · B, or C += A · B when accumulate is non-zero, with A packed by convnet_pack
// and B [k, n] row-major with leading dimension ldb; C has leading dimension ldc.
void convnet_gemm_packed(long m, long n, long k, const float *packed, const float *b, long ldb,
                         float *c, long ldc, int accumulate);

// As convnet_gemm_packed, with A [m, k] row-major (leading dimension lda), not packed.
void convnet_gemm_rows(long m, long n, long k, const float *a, long lda, const float *b, long ldb,
                       float *c, long ldc, int accumulate);

#endif
