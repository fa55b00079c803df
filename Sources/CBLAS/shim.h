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
