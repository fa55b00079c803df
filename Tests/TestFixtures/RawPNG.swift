import CZlib

/// A minimal PNG writer for test fixtures, independent of libpng, so the decoder can be fed
/// files libpng's simplified writer cannot produce: 1/2/4/16-bit grey, palettes with tRNS,
/// grey+alpha, and Adam7 interlacing.
///
/// Layout (PNG specification): the 8-byte signature, then chunks of
/// `length (4, big-endian) · type (4) · data · CRC-32 of type+data (4)`:
/// IHDR, optional PLTE and tRNS, one IDAT holding the zlib-compressed scanlines
/// (each preceded by filter type 0), IEND.
public struct RawPNG {
    /// PNG colour types.
    public enum ColorType: UInt8 {
        case gray = 0, rgb = 2, palette = 3, grayAlpha = 4, rgba = 6

        /// Samples per pixel.
        public var channels: Int {
            switch self {
            case .gray, .palette: return 1
            case .grayAlpha: return 2
            case .rgb: return 3
            case .rgba: return 4
            }
        }
    }

    public var width: Int
    public var height: Int
    public var colorType: ColorType
    public var bitDepth: Int
    /// `[H, W, channels]` samples, each in 0..<2^bitDepth (palette indices for `.palette`).
    public var samples: [UInt16]
    public var interlaced = false
    /// Palette entries (r, g, b) for `.palette`.
    public var palette: [(UInt8, UInt8, UInt8)] = []
    /// The tRNS chunk's data, written as given when not empty.
    public var transparency: [UInt8] = []

    /// An image of `samples` `[H, W, channels]`.
    public init(width: Int, height: Int, colorType: ColorType, bitDepth: Int, samples: [UInt16], interlaced: Bool = false,
                palette: [(UInt8, UInt8, UInt8)] = [], transparency: [UInt8] = []) {
        self.width = width; self.height = height; self.colorType = colorType; self.bitDepth = bitDepth
        self.samples = samples; self.interlaced = interlaced; self.palette = palette; self.transparency = transparency
    }

    /// A 2×2 grey PNG whose IHDR (with a valid CRC) claims `width`×`height` pixels.
    public static func claiming(width: UInt32, height: UInt32) -> [UInt8] {
        var png = RawPNG(width: 2, height: 2, colorType: .gray, bitDepth: 8, samples: [0, 0, 0, 0]).encoded()
        // IHDR is the first chunk: length at 8, type at 12, its 13 data bytes at 16, CRC at 29.
        png.replaceSubrange(8..<33, with: chunk("IHDR", bigEndian(width) + bigEndian(height) + [8, 0, 0, 0, 0]))
        return png
    }

    /// A large PNG without holding its image: every one of `height` rows is `row` (the samples
    /// of one row, already packed, big-endian for 16 bits), compressed a row at a time at zlib
    /// level 1. For memory tests, whose images are hundreds of megabytes decoded.
    public static func repeatedRow(_ row: [UInt8], width: Int, height: Int, colorType: ColorType, bitDepth: Int) -> [UInt8] {
        precondition(row.count == (width * colorType.channels * bitDepth + 7) / 8, "row length")
        var stream = z_stream()
        // deflateInit is a macro; this is what it expands to.
        precondition(deflateInit_(&stream, 1, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK, "deflateInit")
        defer { deflateEnd(&stream) }
        let scanline = [0] + row  // filter type 0
        var compressed: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        scanline.withUnsafeBufferPointer { source in
            buffer.withUnsafeMutableBufferPointer { output in
                func deflateSome(_ flush: Int32) -> Int32 {
                    stream.next_out = output.baseAddress
                    stream.avail_out = uInt(output.count)
                    let status = deflate(&stream, flush)
                    compressed += output[0..<(output.count - Int(stream.avail_out))]
                    return status
                }
                for _ in 0..<height {
                    stream.next_in = UnsafeMutablePointer(mutating: source.baseAddress)
                    stream.avail_in = uInt(source.count)
                    while stream.avail_in > 0 { _ = deflateSome(Z_NO_FLUSH) }
                }
                while deflateSome(Z_FINISH) != Z_STREAM_END {}
            }
        }
        var header = bigEndian(UInt32(width)) + bigEndian(UInt32(height))
        header += [UInt8(bitDepth), colorType.rawValue, 0, 0, 0]
        return [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + chunk("IHDR", header) + chunk("IDAT", compressed) + chunk("IEND", [])
    }

    /// The complete file.
    public func encoded() -> [UInt8] {
        precondition(samples.count == width * height * colorType.channels, "sample count")
        var file: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        var header = RawPNG.bigEndian(UInt32(width)) + RawPNG.bigEndian(UInt32(height))
        header += [UInt8(bitDepth), colorType.rawValue, 0, 0, interlaced ? 1 : 0]
        file += RawPNG.chunk("IHDR", header)
        if !palette.isEmpty { file += RawPNG.chunk("PLTE", palette.flatMap { [$0.0, $0.1, $0.2] }) }
        if !transparency.isEmpty { file += RawPNG.chunk("tRNS", transparency) }
        file += RawPNG.chunk("IDAT", RawPNG.zlibCompress(scanlines()))
        file += RawPNG.chunk("IEND", [])
        return file
    }

    /// The uncompressed image data: every row of every pass, each preceded by filter byte 0.
    public func scanlines() -> [UInt8] {
        // Adam7 passes as (first row, first column, row step, column step).
        let passes = interlaced
            ? [(0, 0, 8, 8), (0, 4, 8, 8), (4, 0, 8, 4), (0, 2, 4, 4), (2, 0, 4, 2), (0, 1, 2, 2), (1, 0, 2, 1)]
            : [(0, 0, 1, 1)]
        var data: [UInt8] = []
        for (firstRow, firstColumn, rowStep, columnStep) in passes {
            let rows = Array(stride(from: firstRow, to: height, by: rowStep))
            let columns = Array(stride(from: firstColumn, to: width, by: columnStep))
            if rows.isEmpty || columns.isEmpty { continue }
            for row in rows {
                data.append(0)
                data += packedRow(row: row, columns: columns)
            }
        }
        return data
    }

    /// The samples of `columns` in `row`, packed MSB-first for depths below 8, big-endian for 16.
    private func packedRow(row: Int, columns: [Int]) -> [UInt8] {
        let channels = colorType.channels
        var rowSamples: [UInt16] = []
        for column in columns {
            let start = (row * width + column) * channels
            rowSamples += samples[start..<start + channels]
        }
        if bitDepth == 16 { return rowSamples.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] } }
        if bitDepth == 8 { return rowSamples.map { UInt8($0) } }
        var bytes = [UInt8](repeating: 0, count: (rowSamples.count * bitDepth + 7) / 8)
        for (index, sample) in rowSamples.enumerated() {
            let bit = index * bitDepth
            bytes[bit / 8] |= UInt8(sample) << (8 - bitDepth - bit % 8)
        }
        return bytes
    }

    /// `length · type · data · CRC-32(type + data)`.
    public static func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let typeAndData = Array(type.utf8) + data
        return bigEndian(UInt32(data.count)) + typeAndData + bigEndian(crc(typeAndData))
    }

    /// zlib's CRC-32, the checksum PNG chunks carry.
    public static func crc(_ bytes: [UInt8]) -> UInt32 {
        UInt32(bytes.withUnsafeBufferPointer { crc32(0, $0.baseAddress, uInt($0.count)) })
    }

    /// A zlib stream of `bytes` (zlib's `compress2` at level 9).
    public static func zlibCompress(_ bytes: [UInt8]) -> [UInt8] {
        var size = compressBound(uLong(bytes.count))
        var output = [UInt8](repeating: 0, count: Int(size))
        let status = output.withUnsafeMutableBufferPointer { destination in
            bytes.withUnsafeBufferPointer { compress2(destination.baseAddress, &size, $0.baseAddress, uLong($0.count), 9) }
        }
        precondition(status == Z_OK, "compress2 failed: \(status)")
        return Array(output[0..<Int(size)])
    }

    public static func bigEndian(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)]
    }
}
