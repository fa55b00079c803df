// libpng's simplified png_image_* API. Its function-like macros do not import
// into Swift, so the few needed are wrapped as static inline functions.
#include <png.h>

/// The libpng version number this shim was compiled against (PNG_IMAGE_VERSION).
static inline unsigned int convnet_png_image_version(void) {
    return PNG_IMAGE_VERSION;
}

/// PNG_FORMAT_RGB (a macro built from flags, which does not import).
static inline unsigned int convnet_png_format_rgb(void) {
    return PNG_FORMAT_RGB;
}
