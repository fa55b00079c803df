import CZlib
import Foundation
import XCTest

// Fixtures shared by the ConvNetTests and ConvNetFuzzTests targets: files, IDX and gzip bytes.

/// The repository root (found from this file's path): tests read the bundled data and configs from it.
public let repositoryRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    while url.path != "/" {
        url.deleteLastPathComponent()
        if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url.path }
    }
    fatalError("no Package.swift above \(#filePath)")
}()

/// A fresh empty directory under the system temporary directory, removed when the test ends.
public func temporaryDirectory(_ test: XCTestCase) -> String {
    let path = NSTemporaryDirectory() + "convnet-tests-\(UUID().uuidString)"
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
    return path
}

/// Writes `bytes` to `path`, replacing it.
public func writeBytes(_ bytes: [UInt8], to path: String) {
    precondition(FileManager.default.createFile(atPath: path, contents: Data(bytes)), "cannot write \(path)")
}

/// An IDX file of unsigned bytes: magic 0x000008DD (D = dimension count), big-endian sizes, then `values`.
public func idxBytes(dimensions: [Int], values: [UInt8]) -> [UInt8] {
    var bytes: [UInt8] = [0, 0, 0x08, UInt8(dimensions.count)]
    for size in dimensions { bytes += RawPNG.bigEndian(UInt32(size)) }
    return bytes + values
}

/// `bytes` as a gzip stream (zlib's deflate at level 9 with the gzip wrapper).
public func gzip(_ bytes: [UInt8]) -> [UInt8] {
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
