import CPNG
import Glibc

/// PNG decoding and encoding through libpng's simplified `png_image_*` API.
///
/// Only the simplified API is used: it reports errors in `png_image.message` and returns,
/// whereas libpng's classic API reports them with `longjmp`, which a Swift caller cannot
/// survive. Every colour type, bit depth and interlacing decodes to 8-bit luminance
/// (`GrayImage`, sRGB-encoded like the 8-bit samples of a typical PNG):
/// - grey: 1/2/4-bit values are scaled to 0…255 by bit replication (4-bit v → 17·v);
///   8-bit values are unchanged; 16-bit values become v / 257 within 1.25 levels (exactly
///   for every v = 257·k except k = 1, which is lost in libpng's 16-bit linear intermediate).
/// - colour: Y = 0.2126·R + 0.7152·G + 0.0722·B computed by libpng on linear light
///   (or with the coefficients of the file's cHRM chunk), then sRGB-encoded;
///   so pure red → 126, green → 219, blue → 76 (the exact sRGB curve gives 127, 220, 76;
///   libpng approximates it with the power 2.2), and R = G = B = v → v.
/// - alpha (grey+alpha, RGBA, palettes with tRNS): composited by libpng in linear light
///   onto a white page, so a transparent background reads as white (255), not black, and
///   50%-transparent black reads 186–187 (linear ½, sRGB-encoded).
/// - 16-bit files without gAMA/sRGB chunks are taken as sRGB-encoded like 8-bit ones
///   (`PNG_IMAGE_FLAG_16BIT_sRGB`): that is how image editors write them, whereas libpng's
///   default, linear, would decode a mid-grey 16-bit scan as 188 instead of 128. They are
///   read through libpng's linear format and converted here (see `finishSixteenBit`).
public enum PNG {
    /// The largest width or height `decode` accepts (and `encode` writes), in pixels.
    /// Checked from the header before anything is allocated, so a hostile or broken file
    /// claiming 100000×100000 pixels costs nothing; 16384² bytes is 256 MiB of luminance.
    public static let maximumDimension = 16384

    /// Decodes a PNG held in memory to 8-bit luminance; see the type's documentation for
    /// how colour, bit depth and transparency are converted.
    ///
    /// - Parameters:
    ///   - bytes: the whole PNG file.
    ///   - name: the file name or other label used in errors.
    /// - Throws: `ImageError` when `bytes` is empty, is not a PNG (with a hint when it is a
    ///   JPEG, GIF, text, …), is truncated or corrupt (with libpng's message), or has a side
    ///   of 0 or larger than `maximumDimension`.
    public static func decode(_ bytes: [UInt8], name: String) throws(ImageError) -> GrayImage {
        try decode(bytes, name: name, channels: 1).luminance
    }

    /// Decodes a PNG held in memory to `channels` channels: 1 as `decode(_:name:)` does, 3 as
    /// 8-bit sRGB red, green and blue (grey files give R = G = B; alpha is composited onto white
    /// like grey; 16-bit files are read as sRGB-encoded and reduced to 8 bits).
    public static func decode(_ bytes: [UInt8], name: String, channels: Int) throws(ImageError) -> Image {
        precondition(channels == 1 || channels == 3)
        func failure(_ message: String) -> ImageError { ImageError(file: name, message: message) }
        guard !bytes.isEmpty else { throw failure("empty file") }
        guard FileSignature.isPNG(bytes) else { throw failure(FileSignature.rejection(of: bytes)) }

        var image = png_image()
        image.version = convnet_png_image_version()
        defer { png_image_free(&image) }
        let begun = bytes.withUnsafeBytes { png_image_begin_read_from_memory(&image, $0.baseAddress, $0.count) }
        guard begun != 0 else { throw failure("truncated or corrupt PNG: \(libpngMessage(image))") }

        let width = Int(image.width), height = Int(image.height)
        guard width > 0, height > 0, width <= maximumDimension, height <= maximumDimension else {
            throw failure("image is \(width)×\(height) pixels; the limit is \(maximumDimension) on a side")
        }
        // Deflate cannot compress by more than 1032:1, and the image data holds at least
        // one bit per pixel plus a filter byte per row: a small file claiming a huge image
        // is corrupt, and is refused before the pixel buffers are allocated.
        let leastImageData = height * (1 + (width + 7) / 8)
        guard leastImageData <= bytes.count * 1032 + 65536 else {
            throw failure("corrupt PNG: the header claims \(width)×\(height) pixels, more than a \(bytes.count)-byte file can hold")
        }
        image.flags |= UInt32(PNG_IMAGE_FLAG_16BIT_sRGB)
        if image.format & UInt32(PNG_FORMAT_FLAG_LINEAR) != 0 {
            return Image(planes: try finishSixteenBit(&image, name: name, channels: channels))
        }
        image.format = channels == 1 ? UInt32(PNG_FORMAT_GRAY) : convnet_png_format_rgb()
        // libpng composites transparency onto this background (for grey output, onto its green channel).
        var white = png_color(red: 255, green: 255, blue: 255)
        var interleaved = [UInt8](repeating: 0, count: channels * width * height)
        let finished = interleaved.withUnsafeMutableBytes {
            png_image_finish_read(&image, &white, $0.baseAddress, Int32(channels * width), nil)
        }
        guard finished != 0 else { throw failure("truncated or corrupt PNG: \(libpngMessage(image))") }
        if channels == 1 { return Image(channels: 1, height: height, width: width, pixels: interleaved) }
        return interleaved.withUnsafeBufferPointer { Image(interleavedRGB: $0, height: height, width: width) }
    }

    /// Finishes reading a 16-bit PNG as linear luminance with premultiplied alpha, then
    /// composites onto white and encodes to 8 bits here: Y = Yα + (1 − α), out = 255·Y^(1/2.2).
    ///
    /// libpng 1.6's own 16-bit to 8-bit path scrambles the pixels of interlaced files
    /// (`png_image_finish_read` to any 8-bit format, checked against 1.6.39); its linear
    /// formats read them correctly. libpng decodes sRGB-flagged samples to linear with the
    /// power 2.2 (its `PNG_GAMMA_sRGB`), so encoding with 1/2.2 gives a 16-bit grey v·257
    /// back as v, within one level at the darkest values where 16-bit linear light is coarse.
    /// With `channels` 3 the same is done for each of R, G and B (`PNG_FORMAT_LINEAR_RGB_ALPHA`).
    /// Returns one grey plane per channel.
    private static func finishSixteenBit(_ image: inout png_image, name: String, channels: Int) throws(ImageError) -> [GrayImage] {
        image.format = channels == 1 ? UInt32(PNG_FORMAT_LINEAR_Y_ALPHA) : convnet_png_format_linear_rgb_alpha()
        let (width, height) = (Int(image.width), Int(image.height))
        let count = width * height, stride = channels + 1
        // [H, W, C + 1]: premultiplied linear values V·α per channel, then α, each 0…65535.
        var samples = [UInt16](repeating: 0, count: stride * count)
        let finished = samples.withUnsafeMutableBytes {
            png_image_finish_read(&image, nil, $0.baseAddress, Int32(convnet_png_row_stride(&image)), nil)
        }
        guard finished != 0 else {
            throw ImageError(file: name, message: "truncated or corrupt PNG: \(libpngMessage(image))")
        }
        let encode = linearToEncoded
        return samples.withUnsafeBufferPointer { samples in
            (0..<channels).map { channel in
                let pixels = [UInt8](unsafeUninitializedCapacity: count) { pixels, initialized in
                    for index in 0..<count {
                        let premultiplied = Int(samples[stride * index + channel]), alpha = Int(samples[stride * index + channels])
                        pixels[index] = encode[min(65535, premultiplied + 65535 - alpha)]
                    }
                    initialized = count
                }
                return GrayImage(width: width, height: height, pixels: pixels)
            }
        }
    }

    /// 16-bit linear light L to 8 bits: round(255 · (L / 65535)^(1/2.2)), all 65536 values.
    private static let linearToEncoded: [UInt8] = (0...65535).map {
        UInt8((255 * pow(Double($0) / 65535, 1 / 2.2)).rounded())
    }

    /// Encodes `image` as an 8-bit greyscale PNG (with an sRGB chunk), the bytes of a whole file.
    ///
    /// - Throws: `ImageError` when a side is 0 or larger than `maximumDimension`, or libpng fails.
    public static func encode(_ image: GrayImage) throws(ImageError) -> [UInt8] {
        try encode(Image(image))
    }

    /// Encodes `image` as an 8-bit greyscale or RGB PNG (with an sRGB chunk), the bytes of a whole file.
    public static func encode(_ image: Image) throws(ImageError) -> [UInt8] {
        func failure(_ message: String) -> ImageError { ImageError(file: "PNG encoder", message: message) }
        guard image.width > 0, image.height > 0,
              image.width <= maximumDimension, image.height <= maximumDimension else {
            throw failure("image is \(image.width)×\(image.height) pixels; "
                          + "a PNG side must be 1 to \(maximumDimension)")
        }
        var png = png_image()
        png.version = convnet_png_image_version()
        png.width = UInt32(image.width)
        png.height = UInt32(image.height)
        png.format = image.channels == 1 ? UInt32(PNG_FORMAT_GRAY) : convnet_png_format_rgb()
        defer { png_image_free(&png) }
        let interleaved = image.interleaved, rowStride = Int32(image.channels * image.width)
        // The first call, with no output buffer, only measures the compressed size.
        var size: png_alloc_size_t = 0
        let measured = interleaved.withUnsafeBytes {
            png_image_write_to_memory(&png, nil, &size, 0, $0.baseAddress, rowStride, nil)
        }
        guard measured != 0 else { throw failure("libpng could not encode: \(libpngMessage(png))") }
        var output = [UInt8](repeating: 0, count: Int(size))
        let written = output.withUnsafeMutableBytes { outputBytes in
            interleaved.withUnsafeBytes {
                png_image_write_to_memory(&png, outputBytes.baseAddress, &size, 0, $0.baseAddress, rowStride, nil)
            }
        }
        guard written != 0 else { throw failure("libpng could not encode: \(libpngMessage(png))") }
        output.removeLast(output.count - Int(size))
        return output
    }

    /// libpng's NUL-terminated `message` (a `char[64]` imported as a tuple) as a String.
    static func libpngMessage(_ image: png_image) -> String {
        withUnsafeBytes(of: image.message) { raw in
            let text = raw.prefix { $0 != 0 }
            return text.isEmpty ? "unknown libpng error" : String(decoding: text, as: UTF8.self)
        }
    }
}
