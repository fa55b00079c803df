// OpenBLAS's CBLAS interface; the include path comes from pkg-config (openblas).
#include <cblas.h>

// OpenBLAS built for several CPUs (DYNAMIC_ARCH, as Debian's) picks its kernels when it loads;
// these re-run that choice after OPENBLAS_CORETYPE has been set. Weak: a build without
// DYNAMIC_ARCH has neither, and the pointers are then null.
extern void gotoblas_dynamic_init(void) __attribute__((weak));
extern void gotoblas_dynamic_quit(void) __attribute__((weak));

// Re-runs OpenBLAS's kernel choice (reading OPENBLAS_CORETYPE again); 0 when this OpenBLAS cannot.
static inline int convnet_openblas_choose_kernels_again(void) {
    if (!gotoblas_dynamic_init || !gotoblas_dynamic_quit) return 0;
    gotoblas_dynamic_quit();
    gotoblas_dynamic_init();
    return 1;
}

// 1 when the CPU and the operating system support the AVX-512 subsets OpenBLAS's SkylakeX
// kernels use (F, DQ, BW, VL: CPUID leaf 7; ZMM and opmask state enabled in XCR0).
static inline int convnet_cpu_has_avx512(void) {
#if defined(__x86_64__)
    unsigned int eax, ebx, ecx, edx;
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
