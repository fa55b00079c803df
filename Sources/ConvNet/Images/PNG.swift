import CPNG
import CPNGRows
import Glibc

/// PNG decoding and encoding through libpng's simplified `png_image_*` API.
///
/// Swift calls only the simplified API: it reports errors in `png_image.message` and returns,
/// whereas libpng's classic API reports them with `longjmp`, which a Swift caller cannot
/// survive. 16-bit files are the exception: the simplified API would hold the whole image as
/// 16-bit linear samples (1 GiB for 16384² grey), so they are decoded row by row by libpng's
/// classic API in C (`CPNGRows`), where the `setjmp` and every libpng call stay.
/// Every colour type, bit depth and interlacing decodes to 8-bit luminance
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
///   read through libpng's linear format and converted a row at a time (see `decodeSixteenBit`).
///
/// Memory: the decoded 8-bit image (width · height · channels bytes; for 8-bit RGB files once
/// more while libpng's interleaved pixels become planes) plus a row, whatever the bit depth.
/// Sizes are checked before any of it is allocated: sides from the header (`maximumDimension`),
/// the image data a file of this length can hold, and every chunk length before the image
/// data against the bytes the file has left (libpng would allocate a text chunk's stated
/// length before reading it). A buffer the system refuses (a memory limit) is an `ImageError`.
public enum PNG {
    /// The largest width or height `decode` accepts (and `encode` writes), in pixels.
    /// Checked from the header before anything is allocated, so a hostile or broken file
    /// claiming 100000×100000 pixels costs nothing; 16384² bytes is 256 MiB of luminance
    /// (768 MiB as RGB), whatever the file's bit depth.
    public static let maximumDimension = 16384

    /// Decodes a PNG held in memory to 8-bit luminance; see the type's documentation for
    /// how colour, bit depth and transparency are converted.
    ///
    /// - Parameters:
    ///   - bytes: the whole PNG file.
    ///   - name: the file name or other label used in errors.
    /// - Throws: `ImageError` when `bytes` is empty, is not a PNG (with a hint when it is a
    ///   JPEG, GIF, text, …), is truncated or corrupt (with libpng's message, or naming a chunk
    ///   whose length runs past the end of the file), has a side of 0 or larger than
    ///   `maximumDimension`, or when the system refuses the memory for the decoded image.
    public static func decode(_ bytes: [UInt8], name: String) throws(ImageError) -> GrayImage {
        try decode(bytes, name: name, channels: 1).luminance
    }

    /// Decodes a PNG held in memory to `channels` channels: 1 as `decode(_:name:)` does, 3 as
    /// 8-bit sRGB red, green and blue (grey files give R = G = B; alpha is composited onto white
    /// like grey; 16-bit files are read as sRGB-encoded and reduced to 8 bits). With
    /// `maximumPixels`, a larger image is refused from its header, as too wide or tall ones are.
    public static func decode(_ bytes: [UInt8], name: String, channels: Int, maximumPixels: Int? = nil) throws(ImageError) -> Image {
        precondition(channels == 1 || channels == 3)
        func failure(_ message: String) -> ImageError { ImageError(file: name, message: message) }
        guard !bytes.isEmpty else { throw failure("empty file") }
        guard FileSignature.isPNG(bytes) else { throw failure(FileSignature.rejection(of: bytes)) }
        if let lie = chunkLengthLie(in: bytes) { throw failure(lie) }

        var image = png_image()
        image.version = convnet_png_image_version()
        defer { png_image_free(&image) }
        let begun = bytes.withUnsafeBytes { png_image_begin_read_from_memory(&image, $0.baseAddress, $0.count) }
        guard begun != 0 else { throw failure("truncated or corrupt PNG: \(libpngMessage(image))") }

        let width = Int(image.width), height = Int(image.height)
        guard width > 0, height > 0, width <= maximumDimension, height <= maximumDimension else {
            throw failure("image is \(width)×\(height) pixels; the limit is \(maximumDimension) on a side")
        }
        if let maximumPixels, width * height > maximumPixels {
            throw failure("image is \(width)×\(height) pixels, more than the \(maximumPixels / 1_000_000)-megapixel limit")
        }
        // Deflate cannot compress by more than 1032:1, and the image data holds at least
        // one bit per pixel plus a filter byte per row: a small file claiming a huge image
        // is corrupt, and is refused before the pixel buffers are allocated.
        let leastImageData = height * (1 + (width + 7) / 8)
        guard leastImageData <= bytes.count * 1032 + 65536 else {
            throw failure("corrupt PNG: the header claims \(width)×\(height) pixels, more than a \(bytes.count)-byte file can hold")
        }
        let sixteenBit = image.format & UInt32(PNG_FORMAT_FLAG_LINEAR) != 0
        // [C, H, W], and for 8-bit RGB libpng's interleaved [H, W, C] beside it until converted.
        let needed = channels * width * height * (channels == 3 && !sixteenBit ? 2 : 1)
        guard canAllocate(needed) else { throw failure(allocationFailure(needed, for: "decoding this \(width)×\(height) image")) }
        if sixteenBit {
            png_image_free(&image)
            return try decodeSixteenBit(bytes, name: name, channels: channels, width: width, height: height)
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

    /// Describes the first chunk before the image data whose length field claims more bytes
    /// than the file has left; nil when every one fits.
    ///
    /// libpng allocates a text chunk's (tEXt, zTXt, iTXt) stated length before reading its
    /// data, so a 41-byte file whose tEXt chunk claims 2³¹ − 1 bytes would cost 2 GiB before
    /// libpng found that the file ends. Only chunks before the first IDAT are checked: libpng
    /// streams the image data and reads no further, so a file cut short in IDAT is reported
    /// by libpng, and one whose IEND is damaged still decodes, as before.
    static func chunkLengthLie(in bytes: [UInt8]) -> String? {
        var offset = 8  // after the signature; each chunk: length (4), type (4), data, CRC (4)
        while offset + 8 <= bytes.count {
            let length = bytes[offset..<(offset + 4)].reduce(0) { $0 << 8 | Int($1) }
            let type = bytes[(offset + 4)..<(offset + 8)]
            if type.elementsEqual("IDAT".utf8) { return nil }
            let following = bytes.count - offset - 8
            guard length + 4 <= following else {
                let isName = type.allSatisfy { (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) }
                let typeName = isName ? String(decoding: type, as: UTF8.self)
                    : "chunk of type " + type.map { String($0, radix: 16, uppercase: true) }.joined(separator: " ")
                return "truncated or corrupt PNG: the \(typeName)\(isName ? " chunk" : "") at byte \(offset) claims \(length) bytes, "
                    + "but the file ends \(following) bytes after the chunk's header"
            }
            offset += 12 + length
        }
        return nil
    }

    /// Decodes a 16-bit PNG row by row (`convnet_png_decode_16bit`): libpng gives linear
    /// light with premultiplied alpha, which is composited onto white and encoded to 8 bits:
    /// Y = Yα + (1 − α), out = 255·Y^(1/2.2).
    ///
    /// libpng 1.6's own 16-bit to 8-bit path scrambles the pixels of interlaced files
    /// (`png_image_finish_read` to any 8-bit format, checked against 1.6.39); its linear
    /// formats read them correctly. libpng decodes sRGB-flagged samples to linear with the
    /// power 2.2 (its `PNG_GAMMA_sRGB`), so encoding with 1/2.2 gives a 16-bit grey v·257
    /// back as v, within one level at the darkest values where 16-bit linear light is coarse.
    /// With `channels` 3 the same is done for each of R, G and B. Memory: the `[C, H, W]`
    /// output and one row of 16-bit samples.
    private static func decodeSixteenBit(_ bytes: [UInt8], name: String, channels: Int, width: Int, height: Int) throws(ImageError) -> Image {
        let count = channels * width * height
        var message = [CChar](repeating: 0, count: 128)
        var decoded = false
        let pixels = [UInt8](unsafeUninitializedCapacity: count) { output, initialized in
            decoded = bytes.withUnsafeBufferPointer { input in
                linearToEncoded.withUnsafeBufferPointer { table in
                    message.withUnsafeMutableBufferPointer { text in
                        convnet_png_decode_16bit(input.baseAddress, input.count, Int32(channels), UInt32(width), UInt32(height),
                                                 UInt32(maximumDimension), table.baseAddress, output.baseAddress,
                                                 text.baseAddress, text.count) != 0
                    }
                }
            }
            // Every pixel is written when decoding succeeds; on failure the array is dropped empty.
            initialized = decoded ? count : 0
        }
        guard decoded else {
            let reason = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw ImageError(file: name, message: "truncated or corrupt PNG: \(reason.isEmpty ? "unknown libpng error" : reason)")
        }
        return Image(channels: channels, height: height, width: width, pixels: pixels)
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
