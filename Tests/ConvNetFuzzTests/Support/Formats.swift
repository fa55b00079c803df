@_exported import TestFixtures
import ConvNet
import CZlib
import Foundation
import XCTest

/// The decompressed contents of a gzip stream, or nil when it is not complete and valid
/// (used only to mutate the IDX data inside a gzip file; at most 64 MB).
func gunzip(_ compressed: [UInt8]) -> [UInt8]? {
    var stream = z_stream()
    guard convnet_inflate_init_gzip(&stream) == Z_OK else { return nil }
    defer { inflateEnd(&stream) }
    var output: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    return compressed.withUnsafeBufferPointer { input -> [UInt8]? in
        stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
        stream.avail_in = uInt(input.count)
        while output.count < 64 << 20 {
            let status = chunk.withUnsafeMutableBufferPointer { buffer -> Int32 in
                stream.next_out = buffer.baseAddress
                stream.avail_out = uInt(buffer.count)
                return inflate(&stream, Z_NO_FLUSH)
            }
            output += chunk[0..<(chunk.count - Int(stream.avail_out))]
            if status == Z_STREAM_END { return output }
            if status != Z_OK { return nil }
        }
        return nil
    }
}

/// The first `count` bytes a gzip stream decompresses to, or fewer when it ends or breaks
/// before (whatever follows them is not looked at).
func gunzipPrefix(_ compressed: [UInt8], count: Int) -> [UInt8] {
    var stream = z_stream()
    guard convnet_inflate_init_gzip(&stream) == Z_OK else { return [] }
    defer { inflateEnd(&stream) }
    var output = [UInt8](repeating: 0, count: count)
    let produced = compressed.withUnsafeBufferPointer { input in
        output.withUnsafeMutableBufferPointer { buffer -> Int in
            stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
            stream.avail_in = uInt(input.count)
            stream.next_out = buffer.baseAddress
            stream.avail_out = uInt(buffer.count)
            while stream.avail_out > 0 && inflate(&stream, Z_NO_FLUSH) == Z_OK && stream.avail_in > 0 {}
            return buffer.count - Int(stream.avail_out)
        }
    }
    return Array(output[0..<produced])
}

// MARK: - PNG

/// CRC-32 (zlib's) of `bytes`, as PNG chunks and checkpoints use it.
func crc32(of bytes: ArraySlice<UInt8>) -> UInt32 { RawPNG.crc(Array(bytes)) }

/// A small PNG written without libpng, so any colour type, bit depth and interlacing can be
/// made: random samples, a random filter type (0–4) per row, one IDAT, then IEND.
/// `extraChunks` (PLTE, tRNS, gAMA, …) go between IHDR and IDAT.
func makePNG(width: Int, height: Int, colorType: UInt8, bitDepth: Int, interlaced: Bool,
             extraChunks: [(String, [UInt8])] = [], random: inout SeededRandom) -> [UInt8] {
    let channels = [0: 1, 2: 3, 3: 1, 4: 2, 6: 4][Int(colorType)]!
    // Adam7 passes as (first row, first column, row step, column step).
    let passes = interlaced
        ? [(0, 0, 8, 8), (0, 4, 8, 8), (4, 0, 8, 4), (0, 2, 4, 4), (2, 0, 4, 2), (0, 1, 2, 2), (1, 0, 2, 1)]
        : [(0, 0, 1, 1)]
    var scanlines: [UInt8] = []
    for (firstRow, firstColumn, rowStep, columnStep) in passes {
        let rows = height > firstRow ? (height - firstRow + rowStep - 1) / rowStep : 0
        let columns = width > firstColumn ? (width - firstColumn + columnStep - 1) / columnStep : 0
        guard rows > 0, columns > 0 else { continue }
        for _ in 0..<rows {
            scanlines.append(UInt8(random.below(5)))
            scanlines += random.bytes((columns * channels * bitDepth + 7) / 8)
        }
    }
    var header = [UInt8](repeating: 0, count: 8) + [UInt8(bitDepth), colorType, 0, 0, interlaced ? 1 : 0]
    setBigEndian32(UInt32(width), in: &header, at: 0)
    setBigEndian32(UInt32(height), in: &header, at: 4)
    var file: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
    file += RawPNG.chunk("IHDR", header)
    for (type, data) in extraChunks { file += RawPNG.chunk(type, data) }
    file += RawPNG.chunk("IDAT", RawPNG.zlibCompress(scanlines))
    file += RawPNG.chunk("IEND", [])
    return file
}

/// Where a chunk sits in a PNG file: its length field at `offset`, then the type, the data
/// (`length` bytes) and the CRC.
struct PNGChunkLocation {
    /// Offset of the 4-byte length field.
    let offset: Int
    /// The data length the field states.
    let length: Int
    /// The 4-letter type.
    let type: String
    /// The type and data, which the CRC covers.
    var checkedRange: Range<Int> { (offset + 4)..<(offset + 8 + length) }
}

/// The chunks of a PNG file, as far as they are complete.
func pngChunks(_ bytes: [UInt8]) -> [PNGChunkLocation] {
    var chunks: [PNGChunkLocation] = []
    var offset = 8
    while offset + 12 <= bytes.count {
        let length = Int(bigEndian32(bytes, at: offset))
        guard length <= bytes.count - offset - 12 else { break }
        chunks.append(PNGChunkLocation(offset: offset, length: length,
                                       type: String(decoding: bytes[(offset + 4)..<(offset + 8)], as: UTF8.self)))
        offset += 12 + length
    }
    return chunks
}

/// The first chunk before the first IDAT whose length field claims more bytes (data and CRC)
/// than follow its header in the file, found independently of the decoder.
func overlongChunkBeforeImageData(_ bytes: [UInt8]) -> (offset: Int, length: Int)? {
    var offset = 8
    while offset + 8 <= bytes.count {
        let length = Int(bigEndian32(bytes, at: offset))
        if bytes[(offset + 4)..<(offset + 8)].elementsEqual("IDAT".utf8) { return nil }
        if length + 4 > bytes.count - offset - 8 { return (offset, length) }
        offset += 12 + length
    }
    return nil
}

/// Recomputes the CRC of `chunk`, so libpng's CRC check passes and the damage inside is parsed.
func fixCRC(_ bytes: inout [UInt8], of chunk: PNGChunkLocation) {
    setBigEndian32(crc32(of: bytes[chunk.checkedRange]), in: &bytes, at: chunk.checkedRange.upperBound)
}
