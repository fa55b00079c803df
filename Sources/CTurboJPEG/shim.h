// libjpeg-turbo's TurboJPEG API (Debian: libturbojpeg0-dev). Its errors are returned, not
// longjmp'd through the caller, so Swift can call it directly.
#include <stddef.h>
#include <turbojpeg.h>

/// TJSCALED(dimension, factor): a dimension after DCT scaling by `factor`.
static inline int convnet_tj_scaled(int dimension, tjscalingfactor factor) {
    return TJSCALED(dimension, factor);
}
