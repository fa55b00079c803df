import CTurboJPEG

/// JPEG decoding and encoding through libjpeg-turbo's TurboJPEG API.
///
/// Baseline and progressive JPEGs, grey or YCbCr, decode to 8-bit grey or RGB (`Image`);
/// the EXIF orientation of a photo is applied (a phone's portrait shot comes out upright).
/// Colour files read as grey are reduced with `Image.luminance`, like PNGs, so a digit
/// photographed as PNG or JPEG gives the same grey levels. CMYK and YCCK files (print
/// workflows) are refused with a one-line error. A large photo can be decoded at 1/2, 1/4 or
/// 1/8 of its size by the decoder itself (`minimumSide`), which saves most of the work and
/// memory when it is going to be shrunk to 28×28 anyway.
public enum JPEG {
    /// Whether `bytes` start like a JPEG file (SOI marker FF D8 then a marker FF).
    public static func isJPEG(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF
    }

    /// Decodes a JPEG held in memory to `channels` channels (1 grey, 3 RGB).
    ///
    /// - Parameters:
    ///   - minimumSide: when given, the decoder scales the image down by the largest of its
    ///     factors (1/2, 1/4, 1/8) that keeps both sides at least this long.
    /// Memory: the decoded pixels twice (libjpeg-turbo's interleaved rows, then planes), and
    /// for a progressive file the whole image's DCT coefficients at full size (2 bytes per
    /// sample of each component, e.g. 3 bytes per pixel for 4:2:0 colour). Both are bounded
    /// from the header before decompressing: the output by `ImageFile.maximumPixels` after
    /// scaling, a progressive file's full size by the same limit.
    ///
    /// - Throws: `ImageError` when the file is truncated or corrupt (with libjpeg's message),
    ///   is CMYK, has a side larger than `PNG.maximumDimension`, decodes to more than
    ///   `ImageFile.maximumPixels` pixels (a progressive file: is larger than that before
    ///   scaling), or when the system refuses the memory for the decoded image.
    public static func decode(_ bytes: [UInt8], name: String, channels: Int, minimumSide: Int? = nil) throws(ImageError) -> Image {
        precondition(channels == 1 || channels == 3)
        func failure(_ message: String) -> ImageError { ImageError(file: name, message: message) }
        guard isJPEG(bytes) else { throw failure("not a JPEG file") }
        guard let handle = tjInitDecompress() else { throw failure("libjpeg-turbo could not start") }
        defer { tjDestroy(handle) }
        var width: Int32 = 0, height: Int32 = 0, subsampling: Int32 = 0, colorspace: Int32 = 0
        let header = bytes.withUnsafeBufferPointer {
            tjDecompressHeader3(handle, $0.baseAddress, UInt($0.count), &width, &height, &subsampling, &colorspace)
        }
        guard header == 0 else { throw failure("truncated or corrupt JPEG: \(message(handle))") }
        guard width > 0, height > 0 else { throw failure("truncated or corrupt JPEG: the header gives no image size") }
        guard colorspace != Int32(TJCS_CMYK.rawValue) && colorspace != Int32(TJCS_YCCK.rawValue) else {
            throw failure("CMYK JPEG files are not supported; save it as RGB (sRGB) first")
        }
        guard width > 0, height > 0, width <= PNG.maximumDimension, height <= PNG.maximumDimension else {
            throw failure("image is \(width)×\(height) pixels; the limit is \(PNG.maximumDimension) on a side")
        }
        let factor = scalingFactor(width: Int(width), height: Int(height), minimumSide: minimumSide)
        let outputWidth = Int(convnet_tj_scaled(width, factor)), outputHeight = Int(convnet_tj_scaled(height, factor))
        guard outputWidth * outputHeight <= ImageFile.maximumPixels else {
            throw failure("image is \(width)×\(height) pixels, more than the \(ImageFile.maximumPixels / 1_000_000)-megapixel limit")
        }
        // libjpeg-turbo keeps a progressive file's coefficients for the whole image at full size, whatever the scaling.
        if isProgressive(bytes) && Int(width) * Int(height) > ImageFile.maximumPixels {
            throw failure("progressive JPEG of \(width)×\(height) pixels: decoding one needs the whole image at full size in memory, "
                          + "and the limit is \(ImageFile.maximumPixels / 1_000_000) megapixels")
        }
        let isGray = colorspace == Int32(TJCS_GRAY.rawValue)
        let decodedChannels = isGray ? 1 : 3
        let count = decodedChannels * outputWidth * outputHeight
        // The interleaved pixels, then the planes made from them.
        guard canAllocate(2 * count) else {
            throw failure(allocationFailure(2 * count, for: "decoding this \(outputWidth)×\(outputHeight) image"))
        }
        var pixels = [UInt8](repeating: 0, count: count)
        let format = isGray ? Int32(TJPF_GRAY.rawValue) : Int32(TJPF_RGB.rawValue)
        let status = pixels.withUnsafeMutableBufferPointer { output in
            bytes.withUnsafeBufferPointer { input in
                tjDecompress2(handle, input.baseAddress, UInt(input.count), output.baseAddress, Int32(outputWidth),
                              Int32(decodedChannels * outputWidth), Int32(outputHeight), format, 0)
            }
        }
        if status != 0 {
            // A warning (e.g. extraneous bytes) still gives the whole image, except a file cut short.
            let text = message(handle)
            if tjGetErrorCode(handle) != Int32(TJERR_WARNING.rawValue) || text.contains("Premature end") {
                throw failure("truncated or corrupt JPEG: \(text)")
            }
        }
        let image = isGray
            ? Image(channels: 1, height: outputHeight, width: outputWidth, pixels: pixels)
            : pixels.withUnsafeBufferPointer { Image(interleavedRGB: $0, height: outputHeight, width: outputWidth) }
        pixels = []  // the interleaved copy goes before orienting makes another
        return image.oriented(ExifOrientation.read(bytes)).converted(toChannels: channels)
    }

    /// Encodes `image` as a baseline JPEG of `quality` (1…100), 4:2:0 for colour: for tests
    /// and examples.
    public static func encode(_ image: Image, quality: Int = 90) throws(ImageError) -> [UInt8] {
        func failure(_ message: String) -> ImageError { ImageError(file: "JPEG encoder", message: message) }
        guard image.width > 0, image.height > 0 else { throw failure("image is \(image.width)×\(image.height) pixels") }
        guard let handle = tjInitCompress() else { throw failure("libjpeg-turbo could not start") }
        defer { tjDestroy(handle) }
        var output: UnsafeMutablePointer<UInt8>?
        var size: UInt = 0
        let interleaved = image.interleaved
        let gray = image.channels == 1
        let status = interleaved.withUnsafeBufferPointer {
            tjCompress2(handle, $0.baseAddress, Int32(image.width), Int32(image.channels * image.width), Int32(image.height),
                        gray ? Int32(TJPF_GRAY.rawValue) : Int32(TJPF_RGB.rawValue), &output, &size,
                        gray ? Int32(TJSAMP_GRAY.rawValue) : Int32(TJSAMP_420.rawValue), Int32(max(1, min(100, quality))), 0)
        }
        defer { if let output { tjFree(output) } }
        guard status == 0, let output else { throw failure("libjpeg-turbo could not encode: \(message(handle))") }
        return Array(UnsafeBufferPointer(start: output, count: Int(size)))
    }

    /// Whether the frame header (SOF marker) of `bytes` says progressive (SOF2, 6, 10, 14),
    /// found by walking the marker segments before it; false when the walk fails, and the
    /// decoder then reports the damage.
    static func isProgressive(_ bytes: [UInt8]) -> Bool {
        var offset = 2  // after SOI
        while offset + 4 <= bytes.count, bytes[offset] == 0xFF {
            let marker = bytes[offset + 1]
            switch marker {
            case 0xFF: offset += 1  // a fill byte before the marker
            case 0xC2, 0xC6, 0xCA, 0xCE: return true
            case 0xC0...0xCF where marker != 0xC4 && marker != 0xC8 && marker != 0xCC: return false
            case 0xDA, 0xD9: return false  // a scan or the end before any frame header
            case 0x01, 0xD0...0xD8: offset += 2  // markers without a length
            default: offset += 2 + (Int(bytes[offset + 2]) << 8 | Int(bytes[offset + 3]))
            }
        }
        return false
    }

    /// The smallest of TurboJPEG's reduction factors (≤ 1) that keeps both sides ≥ `minimumSide`.
    private static func scalingFactor(width: Int, height: Int, minimumSide: Int?) -> tjscalingfactor {
        let full = tjscalingfactor(num: 1, denom: 1)
        guard let minimumSide else { return full }
        var count: Int32 = 0
        guard let factors = tjGetScalingFactors(&count) else { return full }
        var best = full
        for factor in UnsafeBufferPointer(start: factors, count: Int(count)) where factor.num <= factor.denom {
            let scaledWidth = Int(convnet_tj_scaled(Int32(width), factor)), scaledHeight = Int(convnet_tj_scaled(Int32(height), factor))
            let bestWidth = Int(convnet_tj_scaled(Int32(width), best))
            if min(scaledWidth, scaledHeight) >= minimumSide && scaledWidth < bestWidth { best = factor }
        }
        return best
    }

    /// TurboJPEG's last error message for `handle`.
    private static func message(_ handle: tjhandle) -> String {
        guard let text = tjGetErrorStr2(handle) else { return "unknown error" }
        return String(cString: text)
    }
}
