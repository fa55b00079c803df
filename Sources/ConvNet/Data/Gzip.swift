import Foundation
import CZlib

/// True when `bytes` start with the gzip magic number 1F 8B.
public func isGzip(_ bytes: [UInt8]) -> Bool {
    bytes.count >= 2 && bytes[0] == 0x1F && bytes[1] == 0x8B
}

/// Decompresses a gzip stream 64 KB at a time, handing each piece to `consume` as it is
/// produced, so the caller keeps only what it needs, where it needs it. `consume` returns
/// false to stop early; the rest of the stream is then neither decompressed nor checked.
/// Returns the number of bytes produced.
///
/// Throws when the stream is corrupt or ends early, or, read to its end, is followed by more
/// bytes; and whatever `consume` throws (e.g. more output than a header announced).
func inflateGzip(_ compressed: [UInt8], file: String,
                 into consume: (UnsafeBufferPointer<UInt8>) throws(DataError) -> Bool) throws(DataError) -> Int {
    var stream = z_stream()
    guard convnet_inflate_init_gzip(&stream) == Z_OK else { throw DataError(file: file, "zlib could not start") }
    defer { inflateEnd(&stream) }
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    var total = 0
    var finished = false
    try compressed.withUnsafeBufferPointer { (input) throws(DataError) in
        stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
        stream.avail_in = uInt(input.count)
        while !finished {
            let status = chunk.withUnsafeMutableBufferPointer { buffer -> Int32 in
                stream.next_out = buffer.baseAddress
                stream.avail_out = uInt(buffer.count)
                return inflate(&stream, Z_NO_FLUSH)
            }
            let produced = chunk.count - Int(stream.avail_out)
            total += produced
            let goOn = try chunk.withUnsafeBufferPointer { (buffer) throws(DataError) -> Bool in
                try consume(UnsafeBufferPointer(rebasing: buffer[0..<produced]))
            }
            guard goOn else { return }
            switch status {
            case Z_STREAM_END:
                finished = true
            case Z_OK:
                if produced == 0 && stream.avail_in == 0 {
                    throw DataError(file: file, "truncated gzip data (the stream ends early after \(total) bytes)")
                }
            case Z_BUF_ERROR:
                throw DataError(file: file, "truncated gzip data (the stream ends early after \(total) bytes)")
            default:
                let reason = stream.msg.map { String(cString: $0) } ?? "error \(status)"
                throw DataError(file: file, "corrupt gzip data: \(reason)")
            }
        }
        if stream.avail_in > 0 {
            throw DataError(file: file, "has \(stream.avail_in) unexpected bytes after the end of the gzip stream")
        }
    }
    return total
}

/// The length of the contents a gzip file's trailer records (ISIZE, modulo 2³²), nil when
/// the file is too short to have one. Not trusted: a file can lie here as anywhere; it only
/// says whether announced sizes agree.
func gzipRecordedLength(_ compressed: [UInt8]) -> UInt32? {
    guard compressed.count >= 18 else { return nil }  // 10-byte header, 8-byte trailer
    return compressed.suffix(4).reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
}

/// Decompresses a whole gzip stream into memory, growing the output only as data arrives.
///
/// `expectedSize` is called with the bytes decompressed so far whenever more are
/// produced; it returns the total size the content announces once it can tell
/// (an IDX header), or nil. Output beyond that size, or beyond `limit`, stops with
/// an error, so a lying header or a decompression bomb cannot exhaust memory.
func gunzip(_ compressed: [UInt8], file: String, limit: Int,
            expectedSize: ([UInt8]) throws(DataError) -> Int?) throws(DataError) -> [UInt8] {
    var output: [UInt8] = []
    var announced: Int?
    _ = try inflateGzip(compressed, file: file) { (piece) throws(DataError) -> Bool in
        output.append(contentsOf: piece)
        if announced == nil { announced = try expectedSize(output) }
        if let announced, output.count > announced {
            throw DataError(file: file, "decompresses to more than the \(announced) bytes its header announces")
        }
        if output.count > limit {
            throw DataError(file: file, "decompresses to more than \(formatBytes(limit)); refusing to continue")
        }
        return true
    }
    return output
}
