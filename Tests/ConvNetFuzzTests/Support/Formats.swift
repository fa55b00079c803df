import ConvNet
import CZlib
import Foundation
import XCTest

/// The repository root (found from this file's path), for the bundled configs.
let repositoryRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    while url.path != "/" {
        url.deleteLastPathComponent()
        if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url.path }
    }
    fatalError("no Package.swift above \(#filePath)")
}()

/// A fresh empty directory under the system temporary directory, removed when the test ends.
func temporaryDirectory(_ test: XCTestCase) -> String {
    let path = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("convnet-fuzz-\(UUID().uuidString)").path
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
    return path
}

/// Writes `bytes` to `path`, replacing it.
func writeBytes(_ bytes: [UInt8], to path: String) {
    precondition(FileManager.default.createFile(atPath: path, contents: Data(bytes)), "cannot write \(path)")
}

// MARK: - IDX

/// An IDX file of unsigned bytes: magic 0x000008DD (D = dimension count), big-endian sizes, `values`.
func idxBytes(dimensions: [Int], values: [UInt8]) -> [UInt8] {
    var bytes: [UInt8] = [0, 0, 0x08, UInt8(dimensions.count)]
    for size in dimensions {
        bytes += [0, 0, 0, 0]
        setBigEndian32(UInt32(size), in: &bytes, at: bytes.count - 4)
    }
    return bytes + values
}

// MARK: - gzip

/// `bytes` as a gzip stream (zlib's deflate at level 9 with the gzip wrapper).
func gzip(_ bytes: [UInt8]) -> [UInt8] {
    var stream = z_stream()
    // deflateInit2 is a macro; this is what it expands to. windowBits 15 + 16 selects gzip.
    let begun = deflateInit2_(&stream, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY,
                              zlibVersion(), Int32(MemoryLayout<z_stream>.size))
    precondition(begun == Z_OK, "deflateInit2 failed: \(begun)")
    defer { deflateEnd(&stream) }
    var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, uLong(bytes.count))))
    let status = bytes.withUnsafeBufferPointer { input in
        output.withUnsafeMutableBufferPointer { buffer in
            stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
            stream.avail_in = uInt(input.count)
            stream.next_out = buffer.baseAddress
            stream.avail_out = uInt(buffer.count)
            return deflate(&stream, Z_FINISH)
        }
    }
    precondition(status == Z_STREAM_END, "deflate failed: \(status)")
    output.removeLast(Int(stream.avail_out))
    return output
}

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

// MARK: - PNG

/// PNG chunk types carry their CRC-32 (zlib's) over type and data.
func crc32(of bytes: ArraySlice<UInt8>) -> UInt32 {
    UInt32(bytes.withUnsafeBufferPointer { crc32(0, $0.baseAddress, uInt($0.count)) })
}

/// `length · type · data · CRC-32(type + data)`.
func pngChunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
    var chunk = [UInt8](repeating: 0, count: 4) + Array(type.utf8) + data + [0, 0, 0, 0]
    setBigEndian32(UInt32(data.count), in: &chunk, at: 0)
    setBigEndian32(crc32(of: chunk[4..<(chunk.count - 4)]), in: &chunk, at: chunk.count - 4)
    return chunk
}

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
    file += pngChunk("IHDR", header)
    for (type, data) in extraChunks { file += pngChunk(type, data) }
    file += pngChunk("IDAT", zlibCompress(scanlines))
    file += pngChunk("IEND", [])
    return file
}

/// A zlib stream of `bytes` (`compress2` at level 9).
func zlibCompress(_ bytes: [UInt8]) -> [UInt8] {
    var size = compressBound(uLong(bytes.count))
    var output = [UInt8](repeating: 0, count: Int(size))
    let status = output.withUnsafeMutableBufferPointer { destination in
        bytes.withUnsafeBufferPointer { compress2(destination.baseAddress, &size, $0.baseAddress, uLong($0.count), 9) }
    }
    precondition(status == Z_OK, "compress2 failed: \(status)")
    return Array(output[0..<Int(size)])
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

/// Recomputes the CRC of `chunk`, so libpng's CRC check passes and the damage inside is parsed.
func fixCRC(_ bytes: inout [UInt8], of chunk: PNGChunkLocation) {
    setBigEndian32(crc32(of: bytes[chunk.checkedRange]), in: &bytes, at: chunk.checkedRange.upperBound)
}
