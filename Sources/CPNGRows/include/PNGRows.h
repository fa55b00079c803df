// A 16-bit PNG decoded row by row with libpng's classic API, which reports errors by longjmp:
// the setjmp and every libpng call stay in this C file, so no Swift frame is ever jumped over.
#ifndef CONVNET_PNG_ROWS_H
#define CONVNET_PNG_ROWS_H

#include <stddef.h>
#include <stdint.h>

/// Decodes the 16-bit PNG `bytes` (`count` bytes) to 8 bits per channel, one row at a time,
/// into `output`: `channels` planes (1 grey, 3 red, green, blue) of `width`·`height` bytes, `[C, H, W]`.
///
/// libpng converts each row as `png_image_finish_read` does for `PNG_FORMAT_LINEAR_Y_ALPHA` or
/// `PNG_FORMAT_LINEAR_RGB_ALPHA` with `PNG_IMAGE_FLAG_16BIT_sRGB` (linear light, alpha
/// premultiplied); each value V·α is then composited onto white and encoded to 8 bits through
/// `linear_to_encoded` (65536 entries): out = linear_to_encoded[min(65535, V·α + 65535 − α)].
/// Interlaced files are read pass by pass and each pass's pixels put in place, so the only
/// buffer besides `output` is one row of 16-bit samples.
///
/// Chunks that do not change the pixels (text, time, unknown chunks) are skipped unread; sides
/// over `maximum_side` and chunks over 8 MB (IDAT excepted, which is streamed) are refused.
/// `width` and `height` must be the file's. Returns 1, or 0 with libpng's reason in `message`
/// (NUL-terminated, at most `message_size` bytes). Nothing is printed.
int convnet_png_decode_16bit(const uint8_t *bytes, size_t count, int channels, uint32_t width, uint32_t height,
                             uint32_t maximum_side, const uint8_t *linear_to_encoded, uint8_t *output,
                             char *message, size_t message_size);

#endif
