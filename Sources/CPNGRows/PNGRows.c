#include "PNGRows.h"
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>

/// The file being read and where libpng's error message goes.
typedef struct {
    const uint8_t *next;
    size_t remaining;
    char *message;
    size_t message_size;
} Source;

static void read_bytes(png_structp png, png_bytep out, size_t count) {
    Source *source = png_get_io_ptr(png);
    if (count > source->remaining) png_error(png, "read beyond end of data");
    memcpy(out, source->next, count);
    source->next += count;
    source->remaining -= count;
}

/// Keeps libpng's message (already prefixed with the chunk name where it has one) and
/// returns to the setjmp in convnet_png_decode_16bit.
static void on_error(png_structp png, png_const_charp text) {
    Source *source = png_get_error_ptr(png);
    snprintf(source->message, source->message_size, "%s", text);
    png_longjmp(png, 1);
}

/// Warnings (benign errors included) are dropped, as png_image_* does: the image still decodes.
static void on_warning(png_structp png, png_const_charp text) {
    (void)png;
    (void)text;
}

int convnet_png_decode_16bit(const uint8_t *bytes, size_t count, int channels, uint32_t width, uint32_t height,
                             uint32_t maximum_side, const uint8_t *linear_to_encoded, uint8_t *output,
                             char *message, size_t message_size) {
    Source source = {bytes, count, message, message_size};
    message[0] = 0;
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &source, on_error, on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        snprintf(message, message_size, "libpng could not start (out of memory)");
        return 0;
    }
    // volatile: its value after png_malloc must survive the longjmp back to setjmp.
    png_bytep volatile row = NULL;
    if (setjmp(png_jmpbuf(png))) {
        png_free(png, row);
        png_destroy_read_struct(&png, &info, NULL);
        return 0;
    }
    png_set_read_fn(png, &source, read_bytes);
    png_set_user_limits(png, maximum_side, maximum_side);
    png_set_chunk_malloc_max(png, 8 << 20);
    png_set_chunk_cache_max(png, 128);
    png_set_benign_errors(png, 1);
    // Skip every chunk but the critical ones, tRNS and those that change the pixel values
    // (as png_image_finish_read does; here before any chunk is read).
    static const png_byte used[] = "bKGD\0cHRM\0gAMA\0iCCP\0sBIT\0sRGB";
    png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, NULL, -1);
    png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_AS_DEFAULT, used, (int)(sizeof used / 5));
    png_read_info(png, info);

    if (png_get_bit_depth(png, info) != 16 || png_get_image_width(png, info) != width ||
        png_get_image_height(png, info) != height)
        png_error(png, "not the 16-bit image expected");
    int colorType = png_get_color_type(png, info);
    int hasColour = (colorType & PNG_COLOR_MASK_COLOR) != 0;
    int hasAlpha = (colorType & PNG_COLOR_MASK_ALPHA) != 0 || png_get_valid(png, info, PNG_INFO_tRNS) != 0;

    // The transforms of png_image_read_direct for a linear output format with alpha.
    png_set_expand(png);
    // libpng cannot convert colour to grey and premultiply alpha in one pass when gamma
    // correction is involved (png_image_read_background works around it the same way):
    // it leaves α alone and the row loop below premultiplies, with libpng's rounding.
    int premultiplyHere = 0;
    if (channels == 3 && !hasColour) png_set_gray_to_rgb(png);
    if (channels == 1 && hasColour) {
        png_set_rgb_to_gray_fixed(png, PNG_ERROR_ACTION_NONE, PNG_RGB_TO_GRAY_DEFAULT, PNG_RGB_TO_GRAY_DEFAULT);
        premultiplyHere = hasAlpha;
    }
    // 16-bit samples without gAMA or sRGB are taken as sRGB-encoded (PNG_IMAGE_FLAG_16BIT_sRGB).
    png_set_alpha_mode_fixed(png, PNG_ALPHA_PNG, PNG_DEFAULT_sRGB);
    if (!hasAlpha) png_set_add_alpha(png, 65535, PNG_FILLER_AFTER);
    png_set_alpha_mode_fixed(png, hasAlpha && !premultiplyHere ? PNG_ALPHA_STANDARD : PNG_ALPHA_PNG, PNG_GAMMA_LINEAR);
    const uint16_t one = 1;
    if (*(const uint8_t *)&one == 1) png_set_swap(png);
    png_read_update_info(png, info);
    if (png_get_channels(png, info) != channels + 1 || png_get_bit_depth(png, info) != 16)
        png_error(png, "unexpected transformation");

    row = png_malloc(png, png_get_rowbytes(png, info));
    const size_t plane = (size_t)width * height;
    const int passes = png_get_interlace_type(png, info) == PNG_INTERLACE_ADAM7 ? PNG_INTERLACE_ADAM7_PASSES : 1;
    for (int pass = 0; pass < passes; ++pass) {
        // Without png_set_interlace_handling, each png_read_row gives one row of the current
        // pass: its pixels sit every `columnStep` columns from `firstColumn`.
        uint32_t firstRow = 0, rowStep = 1, firstColumn = 0, columnStep = 1;
        if (passes > 1) {
            if (PNG_PASS_COLS(width, pass) == 0) continue;  // libpng skips empty passes too
            firstRow = PNG_PASS_START_ROW(pass);
            rowStep = PNG_PASS_ROW_OFFSET(pass);
            firstColumn = PNG_PASS_START_COL(pass);
            columnStep = PNG_PASS_COL_OFFSET(pass);
        }
        for (uint32_t y = firstRow; y < height; y += rowStep) {
            png_read_row(png, row, NULL);
            const uint16_t *samples = (const uint16_t *)row;  // [W', C + 1]: V (·α), then α
            for (uint32_t x = firstColumn; x < width; x += columnStep, samples += channels + 1) {
                uint32_t alpha = samples[channels];
                for (int channel = 0; channel < channels; ++channel) {
                    uint32_t value = samples[channel];
                    if (premultiplyHere && alpha < 65535) value = alpha == 0 ? 0 : (value * alpha + 32767) / 65535;
                    uint32_t composited = value + 65535 - alpha;
                    output[channel * plane + (size_t)y * width + x] = linear_to_encoded[composited > 65535 ? 65535 : composited];
                }
            }
        }
    }
    png_free(png, row);
    row = NULL;
    png_destroy_read_struct(&png, &info, NULL);
    return 1;
}
