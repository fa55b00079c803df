/// An array read from an IDX file (the MNIST format): its dimensions and its unsigned bytes.
///
/// IDX layout, big-endian: two zero bytes, a type byte (0x08 = unsigned byte, the
/// only type read here), the dimension count D, then D 32-bit sizes, then the data
/// in row-major order. Labels are `0x00000801` ([N]); images `0x00000803` ([N, H, W]).
public struct IDXArray: Equatable, Sendable {
    /// Sizes, outermost first: `[N]` for labels, `[N, H, W]` for images.
    public var dimensions: [Int]
    /// The values, row-major; `dimensions`' product of them.
    public var bytes: [UInt8]

    /// Largest IDX file accepted (after decompression): 4 GB.
    public static let sizeLimit = 4 << 30

    /// Reads an IDX file, raw or gzip-compressed (detected by the gzip magic number,
    /// not the name), requiring `dimensionCount` dimensions of unsigned bytes.
    ///
    /// Checks the magic number, the type, the dimension count, and that the data is
    /// exactly as long as the header says, before trusting any header size.
    public static func read(contentsOf path: String, dimensionCount: Int) throws(DataError) -> IDXArray {
        try read(contentsOf: path, dimensionCounts: [dimensionCount])
    }

    /// `read(contentsOf:dimensionCount:)` accepting any of `dimensionCounts` (images of 3
    /// dimensions, or 4 with channels).
    public static func read(contentsOf path: String, dimensionCounts: [Int]) throws(DataError) -> IDXArray {
        let file = try readFileBytes(path, limit: sizeLimit)
        if file.isEmpty { throw DataError(file: path, "is empty, expected an IDX file") }
        let contents: [UInt8]
        if isGzip(file) {
            contents = try gunzip(file, file: path, limit: sizeLimit) { (prefix) throws(DataError) -> Int? in
                try expectedLength(prefix, file: path, dimensionCounts: dimensionCounts)
            }
        } else {
            contents = file
        }
        return try parse(contents, file: path, dimensionCounts: dimensionCounts)
    }

    /// Parses IDX bytes already in memory (see `read`).
    public static func parse(_ contents: [UInt8], file: String, dimensionCount: Int) throws(DataError) -> IDXArray {
        try parse(contents, file: file, dimensionCounts: [dimensionCount])
    }

    /// Parses IDX bytes with any of `dimensionCounts` dimensions.
    public static func parse(_ contents: [UInt8], file: String, dimensionCounts: [Int]) throws(DataError) -> IDXArray {
        guard let length = try expectedLength(contents, file: file, dimensionCounts: dimensionCounts) else {
            throw DataError(file: file, "truncated: \(contents.count) bytes is too short for an IDX header")
        }
        let dimensionCount = Int(contents[3])
        let headerLength = 4 + 4 * dimensionCount
        let dimensions = (0..<dimensionCount).map { readBigEndian(contents, at: 4 + 4 * $0) }
        guard contents.count == length else {
            let described = "\(dimensions.shapeDescription) bytes of data (\(length) bytes with the header)"
            if contents.count < length {
                throw DataError(file: file, "truncated: the header announces \(described) but the file has \(contents.count) bytes")
            }
            throw DataError(file: file, "has \(contents.count - length) bytes after the \(described) its header announces")
        }
        return IDXArray(dimensions: dimensions, bytes: Array(contents[headerLength...]))
    }

    /// The total length the header announces, nil while fewer bytes than the header are available.
    /// Throws on a wrong magic number, type or dimension count, or an absurd size.
    static func expectedLength(_ prefix: [UInt8], file: String, dimensionCount: Int) throws(DataError) -> Int? {
        try expectedLength(prefix, file: file, dimensionCounts: [dimensionCount])
    }

    /// `expectedLength` for a file that may have any of `dimensionCounts` dimensions.
    static func expectedLength(_ prefix: [UInt8], file: String, dimensionCounts: [Int]) throws(DataError) -> Int? {
        var dimensionCount = dimensionCounts[0]
        if prefix.count >= 4, dimensionCounts.contains(Int(prefix[3])) { dimensionCount = Int(prefix[3]) }
        let expectedMagic = 0x0000_0800 | UInt32(dimensionCount)
        let kind = dimensionCount == 1 ? "labels" : "images"
        if prefix.count >= 4 {
            let magic = UInt32(readBigEndian(prefix, at: 0))
            guard prefix[0] == 0, prefix[1] == 0 else {
                throw DataError(file: file, String(format: "not an IDX file: magic number 0x%08X, expected 0x%08X (IDX %@)", magic, expectedMagic, kind))
            }
            guard prefix[2] == 0x08 else {
                throw DataError(file: file, String(format: "IDX data type 0x%02X is not supported, expected 0x08 (unsigned byte)", prefix[2]))
            }
            guard Int(prefix[3]) == dimensionCount else {
                throw DataError(file: file, String(format: "magic number 0x%08X says %d dimensions, expected 0x%08X (IDX %@, %d dimension%@)",
                                                   magic, Int(prefix[3]), expectedMagic, kind, dimensionCount, dimensionCount == 1 ? "" : "s"))
            }
        }
        let headerLength = 4 + 4 * dimensionCount
        guard prefix.count >= headerLength else { return nil }
        var length = 1
        for index in 0..<dimensionCount {
            let size = readBigEndian(prefix, at: 4 + 4 * index)
            guard size > 0 else { throw DataError(file: file, "dimension \(index + 1) of the header is 0") }
            let (product, overflow) = length.multipliedReportingOverflow(by: size)
            guard !overflow, product <= sizeLimit else {
                throw DataError(file: file, "the header announces an absurd size (dimensions \((0..<dimensionCount).map { readBigEndian(prefix, at: 4 + 4 * $0) }.shapeDescription))")
            }
            length = product
        }
        return headerLength + length
    }
}

@inline(__always)
private func readBigEndian(_ bytes: [UInt8], at offset: Int) -> Int {
    Int(bytes[offset]) << 24 | Int(bytes[offset + 1]) << 16 | Int(bytes[offset + 2]) << 8 | Int(bytes[offset + 3])
}

import Foundation
