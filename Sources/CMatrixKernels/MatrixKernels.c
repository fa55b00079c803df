// ConvNet's SGEMM micro-kernel (AVX-512), for the products of one image's convolution.
//
// C [m, n] (+)= A [m, k] · B [k, n], row-major. C is computed in tiles of up to 6 rows and
// 64 columns (four 16-float vectors), 24 accumulators held in registers over a depth block of
// up to 512 (a deeper product adds each block into C):
// for each p, the tile's row of B is loaded once (4 vectors) and each of the 6 values of A's
// column p is broadcast and multiplied into it. Nothing is copied: B is read in place (in a
// convolution, the image's im2col columns [C·KH·KW, OH·OW], its im2row rows [OH·OW, C·KH·KW], or
// ∂loss/∂y, already in cache), and
// A through two strides, so it can be a weight matrix or its transpose as stored. Measured on
// LeNet's shapes, packing A into panels first (what BLAS does on every call) gained nothing.
#include "MatrixKernels.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

// Rows of C in one tile.
#define TILE_ROWS 6

// The depth processed per pass over C: B's tile of 64 columns stays in L2 (at most 128 KB).
#define DEPTH_BLOCK 512

// Rows of A and of B in one tile of C = A · Bᵀ.
#define DOT_TILE 5

int convnet_cpu_has_avx512(void) {
#if defined(__x86_64__)
    unsigned int eax, ebx, ecx, edx;
    __asm__ volatile("cpuid" : "=a"(eax), "=b"(ebx), "=c"(ecx), "=d"(edx) : "a"(0), "c"(0));
    if (eax < 7) return 0;  // no leaf 7 to ask
    __asm__ volatile("cpuid" : "=a"(eax), "=b"(ebx), "=c"(ecx), "=d"(edx) : "a"(1), "c"(0));
    if (!(ecx & (1u << 27))) return 0;  // OSXSAVE: xgetbv is available
    unsigned int low, high;
    __asm__ volatile("xgetbv" : "=a"(low), "=d"(high) : "c"(0));
    if ((low & 0xE6) != 0xE6) return 0;  // SSE, AVX, opmask, ZMM_Hi256, Hi16_ZMM state
    __asm__ volatile("cpuid" : "=a"(eax), "=b"(ebx), "=c"(ecx), "=d"(edx) : "a"(7), "c"(0));
    const unsigned int wanted = (1u << 16) | (1u << 17) | (1u << 30) | (1u << 31);  // F, DQ, BW, VL
    return (ebx & wanted) == wanted;
#else
    return 0;
#endif
}

// Where A's element (i, p) is: a + i · row_stride + p · depth_stride.
typedef struct {
    const float *a;
    long row_stride, depth_stride;
} MatrixA;

#if defined(__x86_64__)
#define AVX512 __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,fma")))

// One tile: `rows` (1…6) rows of C and `vectors` (1…4) vectors of 16 columns, the last one
// masked by `last`. Inlined with constant rows and vectors, so the accumulators are registers.
static inline __attribute__((always_inline)) AVX512 void tile(
    const int rows, const int vectors, long k, const float *a, long row_stride, long depth_stride,
    const float *b, long ldb, float *c, long ldc, __mmask16 last, int accumulate) {
    __m512 sum[TILE_ROWS][4];
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < vectors; j++) sum[i][j] = _mm512_setzero_ps();
    for (long p = 0; p < k; p++) {
        __m512 row[4];
        for (int j = 0; j < vectors - 1; j++) row[j] = _mm512_loadu_ps(b + p * ldb + 16 * j);
        row[vectors - 1] = _mm512_maskz_loadu_ps(last, b + p * ldb + 16 * (vectors - 1));
        for (int i = 0; i < rows; i++) {
            const __m512 value = _mm512_set1_ps(a[i * row_stride + p * depth_stride]);
            for (int j = 0; j < vectors; j++) sum[i][j] = _mm512_fmadd_ps(value, row[j], sum[i][j]);
        }
    }
    for (int i = 0; i < rows; i++) {
        for (int j = 0; j < vectors; j++) {
            float *destination = c + i * ldc + 16 * j;
            const __mmask16 mask = j == vectors - 1 ? last : (__mmask16)0xFFFF;
            __m512 result = sum[i][j];
            if (accumulate) result = _mm512_add_ps(result, _mm512_maskz_loadu_ps(mask, destination));
            _mm512_mask_storeu_ps(destination, mask, result);
        }
    }
}

typedef void (*TileFunction)(long, const float *, long, long, const float *, long, float *, long, __mmask16, int);

#define TILE(ROWS, VECTORS)                                                                         \
    static AVX512 void tile_##ROWS##_##VECTORS(long k, const float *a, long row_stride,             \
        long depth_stride, const float *b, long ldb, float *c, long ldc, __mmask16 last, int accumulate) { \
        tile(ROWS, VECTORS, k, a, row_stride, depth_stride, b, ldb, c, ldc, last, accumulate);      \
    }
#define TILES(ROWS) TILE(ROWS, 1) TILE(ROWS, 2) TILE(ROWS, 3) TILE(ROWS, 4)
TILES(1) TILES(2) TILES(3) TILES(4) TILES(5) TILES(6)
#define ROW_OF_TILES(ROWS) {tile_##ROWS##_1, tile_##ROWS##_2, tile_##ROWS##_3, tile_##ROWS##_4}
static const TileFunction tiles[TILE_ROWS][4] = {
    ROW_OF_TILES(1), ROW_OF_TILES(2), ROW_OF_TILES(3), ROW_OF_TILES(4), ROW_OF_TILES(5), ROW_OF_TILES(6),
};

static AVX512 void multiply_avx512(long m, long n, long k, MatrixA a, const float *b, long ldb,
                                   float *c, long ldc, int accumulate) {
    for (long depth = 0; depth < k; depth += DEPTH_BLOCK) {
        const long kc = k - depth < DEPTH_BLOCK ? k - depth : DEPTH_BLOCK;
        const int add = accumulate || depth > 0;
        for (long column = 0; column < n; column += 64) {
            const long width = n - column < 64 ? n - column : 64;
            const int vectors = (int)((width + 15) / 16);
            const int remainder = (int)(width - 16 * (vectors - 1));
            const __mmask16 last = (__mmask16)((1u << remainder) - 1);
            // The fewest tiles of at most 6 rows, their heights as even as possible: 50 rows as
            // five tiles of 6 and four of 5, not eight of 6 and one of 2 (which loads B's row
            // for two multiply-adds per vector, at half the speed). Each element is the same sum.
            const long tiles_down = (m + TILE_ROWS - 1) / TILE_ROWS;
            const long base = m / tiles_down, taller = m % tiles_down;  // `taller` tiles of base + 1 rows
            for (long tile_index = 0, row = 0; tile_index < tiles_down; tile_index++) {
                const int rows = (int)(base + (tile_index < taller ? 1 : 0));
                const float *first = a.a + row * a.row_stride + depth * a.depth_stride;
                tiles[rows - 1][vectors - 1](kc, first, a.row_stride, a.depth_stride,
                                             b + depth * ldb + column, ldb, c + row * ldc + column, ldc,
                                             last, add);
                row += rows;
            }
        }
    }
}
#endif

#if defined(__x86_64__)
// C (+)= A · Bᵀ in tiles of up to 5 rows of A by 5 rows of B: 25 dot products at once, each
// accumulated as a 16-lane vector along the depth (both operands are contiguous along it), the
// lanes summed at the end. Per 16 steps of depth: 5 vectors of B held, 5 of A loaded one at a
// time, 25 multiply-adds, in 31 registers.
static inline __attribute__((always_inline)) AVX512 void dot_tile(
    const int rows, const int columns, long k, const float *a, long lda, const float *b, long ldb,
    float *c, long ldc, int accumulate) {
    __m512 sum[DOT_TILE][DOT_TILE];
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < columns; j++) sum[i][j] = _mm512_setzero_ps();
    for (long p = 0; p < k; p += 16) {
        const __mmask16 mask = k - p >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (k - p)) - 1);
        __m512 column[DOT_TILE];
        for (int j = 0; j < columns; j++) column[j] = _mm512_maskz_loadu_ps(mask, b + j * ldb + p);
        for (int i = 0; i < rows; i++) {
            const __m512 row = _mm512_maskz_loadu_ps(mask, a + i * lda + p);
            for (int j = 0; j < columns; j++) sum[i][j] = _mm512_fmadd_ps(row, column[j], sum[i][j]);
        }
    }
    for (int i = 0; i < rows; i++) {
        for (int j = 0; j < columns; j++) {
            const float value = _mm512_reduce_add_ps(sum[i][j]);
            c[i * ldc + j] = accumulate ? c[i * ldc + j] + value : value;
        }
    }
}

typedef void (*DotTileFunction)(long, const float *, long, const float *, long, float *, long, int);

#define DOT(ROWS, COLUMNS)                                                                          \
    static AVX512 void dot_##ROWS##_##COLUMNS(long k, const float *a, long lda, const float *b,    \
        long ldb, float *c, long ldc, int accumulate) {                                             \
        dot_tile(ROWS, COLUMNS, k, a, lda, b, ldb, c, ldc, accumulate);                             \
    }
#define DOTS(ROWS) DOT(ROWS, 1) DOT(ROWS, 2) DOT(ROWS, 3) DOT(ROWS, 4) DOT(ROWS, 5)
DOTS(1) DOTS(2) DOTS(3) DOTS(4) DOTS(5)
#define ROW_OF_DOTS(ROWS) {dot_##ROWS##_1, dot_##ROWS##_2, dot_##ROWS##_3, dot_##ROWS##_4, dot_##ROWS##_5}
static const DotTileFunction dot_tiles[DOT_TILE][DOT_TILE] = {
    ROW_OF_DOTS(1), ROW_OF_DOTS(2), ROW_OF_DOTS(3), ROW_OF_DOTS(4), ROW_OF_DOTS(5),
};

static AVX512 void multiply_transposed_avx512(long m, long n, long k, const float *a, long lda, const float *b,
                                              long ldb, float *c, long ldc, int accumulate) {
    for (long row = 0; row < m; row += DOT_TILE) {
        const int rows = (int)(m - row < DOT_TILE ? m - row : DOT_TILE);
        for (long column = 0; column < n; column += DOT_TILE) {
            const int columns = (int)(n - column < DOT_TILE ? n - column : DOT_TILE);
            dot_tiles[rows - 1][columns - 1](k, a + row * lda, lda, b + column * ldb, ldb, c + row * ldc + column, ldc, accumulate);
        }
    }
}
#endif

// Plain loops for CPUs without AVX-512 (ConvNet uses OpenBLAS there; these keep the functions
// total and right on any CPU).
static void multiply_plain(long m, long n, long k, MatrixA a, const float *b, long ldb,
                           float *c, long ldc, int accumulate) {
    for (long i = 0; i < m; i++) {
        const float *row = a.a + i * a.row_stride;
        for (long j = 0; j < n; j++) {
            float sum = 0;
            for (long p = 0; p < k; p++) sum += row[p * a.depth_stride] * b[p * ldb + j];
            c[i * ldc + j] = accumulate ? c[i * ldc + j] + sum : sum;
        }
    }
}

static void multiply_transposed_plain(long m, long n, long k, const float *a, long lda, const float *b,
                                      long ldb, float *c, long ldc, int accumulate) {
    for (long i = 0; i < m; i++) {
        for (long j = 0; j < n; j++) {
            float sum = 0;
            for (long p = 0; p < k; p++) sum += a[i * lda + p] * b[j * ldb + p];
            c[i * ldc + j] = accumulate ? c[i * ldc + j] + sum : sum;
        }
    }
}

// Whether the AVX-512 kernels may run: asked once (0 unknown, 1 no, 2 yes).
static int known = 0;

void convnet_matrix_kernels_allow_avx512(int allowed) {
    __atomic_store_n(&known, allowed && convnet_cpu_has_avx512() ? 2 : 1, __ATOMIC_RELAXED);
}

#if defined(__x86_64__)
static int has_avx512(void) {
    int answer = __atomic_load_n(&known, __ATOMIC_RELAXED);
    if (answer == 0) {
        answer = convnet_cpu_has_avx512() ? 2 : 1;
        __atomic_store_n(&known, answer, __ATOMIC_RELAXED);
    }
    return answer == 2;
}
#endif

// Whether the product is empty (no rows, columns or depth), after leaving C as an empty depth
// makes it: zero, or as it was when accumulating.
static int empty_product(long m, long n, long k, float *c, long ldc, int accumulate) {
    if (m <= 0 || n <= 0) return 1;
    if (k > 0) return 0;
    for (long i = 0; i < m && !accumulate; i++)
        for (long j = 0; j < n; j++) c[i * ldc + j] = 0;
    return 1;
}

// C (+)= A · B with the depth and sizes checked.
static void product(long m, long n, long k, MatrixA a, const float *b, long ldb, float *c, long ldc, int accumulate) {
    if (empty_product(m, n, k, c, ldc, accumulate)) return;
#if defined(__x86_64__)
    if (has_avx512()) {
        multiply_avx512(m, n, k, a, b, ldb, c, ldc, accumulate);
        return;
    }
#endif
    multiply_plain(m, n, k, a, b, ldb, c, ldc, accumulate);
}

void convnet_gemm(long m, long n, long k, const float *a, long row_stride, long depth_stride,
                  const float *b, long ldb, float *c, long ldc, int accumulate) {
    const MatrixA matrix = {a, row_stride, depth_stride};
    product(m, n, k, matrix, b, ldb, c, ldc, accumulate);
}

void convnet_gemm_transposed_b(long m, long n, long k, const float *a, long lda, const float *b, long ldb,
                               float *c, long ldc, int accumulate) {
    if (empty_product(m, n, k, c, ldc, accumulate)) return;
#if defined(__x86_64__)
    if (has_avx512()) {
        multiply_transposed_avx512(m, n, k, a, lda, b, ldb, c, ldc, accumulate);
        return;
    }
#endif
    multiply_transposed_plain(m, n, k, a, lda, b, ldb, c, ldc, accumulate);
}
