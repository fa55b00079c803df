// libpng's simplified png_image_* API. Its function-like macros do not import
// into Swift, so the few needed are wrapped as static inline functions.
#include <png.h>

/// Bytes per row of `image` in its requested format (PNG_IMAGE_ROW_STRIDE).
static inline unsigned int convnet_png_row_stride(const png_image *image) {
    return PNG_IMAGE_ROW_STRIDE(*image);
}

/// The libpng version number this shim was compiled against (PNG_IMAGE_VERSION).
static inline unsigned int convnet_png_image_version(void) {
    return PNG_IMAGE_VERSION;
}

/// PNG_FORMAT_RGB and PNG_FORMAT_LINEAR_RGB_ALPHA (macros built from flags, which do not import).
static inline unsigned int convnet_png_format_rgb(void) {
    return PNG_FORMAT_RGB;
}

static inline unsigned int convnet_png_format_linear_rgb_alpha(void) {
    return PNG_FORMAT_LINEAR_RGB_ALPHA;
}
