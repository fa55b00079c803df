// zlib. `inflateInit2` is a macro, so it is wrapped for Swift.
#include <zlib.h>

/// Starts inflating a gzip stream (windowBits 15 + 32: detect gzip or zlib header).
static inline int convnet_inflate_init_gzip(z_stream *stream) {
    return inflateInit2(stream, 15 + 32);
}
