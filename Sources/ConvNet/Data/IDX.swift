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
    ///
    /// Memory: the data section, read (or decompressed) straight into the array returned, plus
    /// a gzip file's compressed bytes; see `IDXFile` for how a lying header is kept from costing more.
    public static func read(contentsOf path: String, dimensionCounts: [Int]) throws(DataError) -> IDXArray {
        let file = try IDXFile.open(path, dimensionCounts: dimensionCounts)
        return IDXArray(dimensions: file.dimensions, bytes: try file.readData())
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

/// An IDX file whose header has been read and checked, and whose data has not.
///
/// `open` reads only the header: from a raw file its first bytes, whose sizes are then checked
/// against the file's length; from a gzip file only as much as decompresses to the header. So
/// counts and shapes can be checked against other files (a labels file, a model's input)
/// before the large part is read. `readData` then reads the data section straight into the
/// array it returns: a raw file's bytes, whose length is already known to match; a gzip
/// file's, decompressed 64 KB at a time into the array, which is given the announced length
/// at once when the gzip trailer records that length too, and otherwise grows as data
/// arrives, at most doubling, so a header that lies costs about what really arrives.
struct IDXFile {
    /// The path as given.
    let path: String
    /// Sizes, outermost first, as the header gives them.
    let dimensions: [Int]
    /// Bytes of data the header announces: the product of `dimensions`.
    let dataLength: Int
    /// The compressed file, for a gzip file; nil for a raw one.
    private let compressed: [UInt8]?

    /// Bytes before the data: 4 + 4 · dimension count.
    var headerLength: Int { 4 + 4 * dimensions.count }

    /// Opens `path`, reading and checking its header (see `IDXArray.read`).
    static func open(_ path: String, dimensionCounts: [Int]) throws(DataError) -> IDXFile {
        let size = try regularFileSize(path, limit: IDXArray.sizeLimit)
        if size == 0 { throw DataError(file: path, "is empty, expected an IDX file") }
        // The longest header: 255 dimensions.
        let longestHeader = 4 + 4 * 255
        let start = try readFileBytes(path, limit: IDXArray.sizeLimit, offset: 0, count: min(size, longestHeader))
        if isGzip(start) {
            let compressed = try readFileBytes(path, limit: IDXArray.sizeLimit)
            var prefix: [UInt8] = []
            var length: Int?
            _ = try inflateGzip(compressed, file: path) { (piece) throws(DataError) -> Bool in
                prefix.append(contentsOf: piece.prefix(longestHeader - prefix.count))
                length = try IDXArray.expectedLength(prefix, file: path, dimensionCounts: dimensionCounts)
                return length == nil && prefix.count < longestHeader
            }
            guard let length else { throw DataError(file: path, "truncated: \(prefix.count) bytes is too short for an IDX header") }
            return IDXFile(path: path, header: prefix, length: length, compressed: compressed)
        }
        guard let length = try IDXArray.expectedLength(start, file: path, dimensionCounts: dimensionCounts) else {
            throw DataError(file: path, "truncated: \(size) bytes is too short for an IDX header")
        }
        let file = IDXFile(path: path, header: start, length: length, compressed: nil)
        guard size == length else {
            let described = "\(file.dimensions.shapeDescription) bytes of data (\(length) bytes with the header)"
            if size < length {
                throw DataError(file: path, "truncated: the header announces \(described) but the file has \(size) bytes")
            }
            throw DataError(file: path, "has \(size - length) bytes after the \(described) its header announces")
        }
        return file
    }

    /// A file whose checked `header` announces `length` bytes in all.
    private init(path: String, header: [UInt8], length: Int, compressed: [UInt8]?) {
        self.path = path
        let count = Int(header[3])
        dimensions = (0..<count).map { readBigEndian(header, at: 4 + 4 * $0) }
        dataLength = length - 4 - 4 * count
        self.compressed = compressed
    }

    /// The data section, `dataLength` bytes, after checking the file holds exactly that.
    func readData() throws(DataError) -> [UInt8] {
        let length = headerLength + dataLength
        guard let compressed else {
            return try readFileBytes(path, limit: IDXArray.sizeLimit, offset: headerLength, count: dataLength)
        }
        let trailerAgrees = gzipRecordedLength(compressed) == UInt32(truncatingIfNeeded: length)
        var data: [UInt8] = []
        func reserve(_ capacity: Int) throws(DataError) {
            guard canAllocate(capacity) else {
                throw DataError(file: path, allocationFailure(capacity, for: "the \(dimensions.shapeDescription) data"))
            }
            data.reserveCapacity(capacity)
        }
        try reserve(trailerAgrees ? dataLength : min(dataLength, max(1 << 20, 4 * compressed.count)))
        var header = headerLength  // bytes of header still to skip
        let total = try inflateGzip(compressed, file: path) { (piece) throws(DataError) -> Bool in
            let skipped = min(header, piece.count)
            header -= skipped
            let values = UnsafeBufferPointer(rebasing: piece[skipped...])
            guard data.count + values.count <= dataLength else {
                throw DataError(file: path, "decompresses to more than the \(length) bytes its header announces")
            }
            if data.count + values.count > data.capacity {
                try reserve(min(dataLength, max(2 * data.capacity, data.count + values.count)))
            }
            data.append(contentsOf: values)
            return true
        }
        guard data.count == dataLength else {
            throw DataError(file: path, "truncated: the header announces \(dimensions.shapeDescription) bytes of data "
                                        + "(\(length) bytes with the header) but the file has \(total) bytes")
        }
        return data
    }
}

@inline(__always)
private func readBigEndian(_ bytes: [UInt8], at offset: Int) -> Int {
    Int(bytes[offset]) << 24 | Int(bytes[offset + 1]) << 16 | Int(bytes[offset + 2]) << 8 | Int(bytes[offset + 3])
}

import Foundation
