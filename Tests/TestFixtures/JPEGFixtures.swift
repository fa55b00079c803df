import CTurboJPEG
import ConvNet

/// JPEG files for tests that ConvNet's own encoder does not write: CMYK, and files with an
/// EXIF orientation.
public enum JPEGFixtures {
    /// A CMYK JPEG (as print workflows write them) of `width`×`height` pixels, all one ink mix.
    public static func cmyk(width: Int, height: Int) -> [UInt8] {
        let handle = tjInitCompress()!
        defer { tjDestroy(handle) }
        let pixels = [UInt8](repeating: 60, count: 4 * width * height)
        var output: UnsafeMutablePointer<UInt8>?
        var size: UInt = 0
        let status = pixels.withUnsafeBufferPointer {
            tjCompress2(handle, $0.baseAddress, Int32(width), Int32(4 * width), Int32(height), Int32(TJPF_CMYK.rawValue),
                        &output, &size, Int32(TJSAMP_444.rawValue), 90, 0)
        }
        precondition(status == 0, "CMYK fixture")
        defer { tjFree(output) }
        return Array(UnsafeBufferPointer(start: output, count: Int(size)))
    }

    /// A progressive JPEG (SOF2) of `width`×`height` grey pixels, all `value`.
    public static func progressive(width: Int, height: Int, value: UInt8 = 128) -> [UInt8] {
        let handle = tjInitCompress()!
        defer { tjDestroy(handle) }
        let pixels = [UInt8](repeating: value, count: width * height)
        var output: UnsafeMutablePointer<UInt8>?
        var size: UInt = 0
        let status = pixels.withUnsafeBufferPointer {
            tjCompress2(handle, $0.baseAddress, Int32(width), Int32(width), Int32(height), Int32(TJPF_GRAY.rawValue),
                        &output, &size, Int32(TJSAMP_GRAY.rawValue), 90, TJFLAG_PROGRESSIVE)
        }
        precondition(status == 0, "progressive fixture")
        defer { tjFree(output) }
        return Array(UnsafeBufferPointer(start: output, count: Int(size)))
    }

    /// `jpeg` with the height and width of its frame header (the first SOF marker) replaced,
    /// as a file lying about its size would have them.
    public static func claiming(_ jpeg: [UInt8], width: Int, height: Int) -> [UInt8] {
        var bytes = jpeg
        var offset = 2
        while offset + 9 <= bytes.count {
            let marker = bytes[offset + 1]
            if (0xC0...0xCF).contains(marker) && ![0xC4, 0xC8, 0xCC].contains(marker) {
                // FF Cn, length (2), precision (1), height (2), width (2)
                bytes[offset + 5] = UInt8(height >> 8); bytes[offset + 6] = UInt8(height & 0xFF)
                bytes[offset + 7] = UInt8(width >> 8); bytes[offset + 8] = UInt8(width & 0xFF)
                return bytes
            }
            offset += 2 + (Int(bytes[offset + 2]) << 8 | Int(bytes[offset + 3]))
        }
        preconditionFailure("no frame header")
    }

    /// `jpeg` with an APP1 EXIF segment holding `orientation` inserted after the SOI marker,
    /// in big-endian ("MM") or little-endian ("II") TIFF byte order.
    public static func withOrientation(_ jpeg: [UInt8], _ orientation: Int, littleEndian: Bool = false) -> [UInt8] {
        func u16(_ value: Int) -> [UInt8] {
            littleEndian ? [UInt8(value & 0xFF), UInt8(value >> 8)] : [UInt8(value >> 8), UInt8(value & 0xFF)]
        }
        func u32(_ value: Int) -> [UInt8] { littleEndian ? u16(value & 0xFFFF) + u16(value >> 16) : u16(value >> 16) + u16(value & 0xFFFF) }
        // TIFF header, IFD0 at offset 8 with one entry: tag 0x0112, type SHORT (3), count 1, value.
        let tiff = (littleEndian ? [0x49, 0x49] : [0x4D, 0x4D]) + u16(42) + u32(8) + u16(1)
            + u16(0x0112) + u16(3) + u32(1) + u16(orientation) + [0, 0] + u32(0)
        let payload: [UInt8] = Array("Exif".utf8) + [0, 0] + tiff.map { UInt8($0) }
        let length = payload.count + 2
        let segment: [UInt8] = [0xFF, 0xE1, UInt8(length >> 8), UInt8(length & 0xFF)] + payload
        return Array(jpeg[0..<2]) + segment + Array(jpeg[2...])
    }
}
