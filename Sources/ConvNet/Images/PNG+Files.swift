extension PNG {
    /// The largest file `read(contentsOf:)` loads, in bytes (256 MiB); a larger "PNG" is
    /// refused before reading, since even a 16384² image compresses to less.
    public static let maximumFileSize = ImageFile.maximumFileSize

    /// Reads and decodes the PNG file at `path` to 8-bit luminance (see `decode`).
    ///
    /// The path is checked first so the error says what is wrong with it:
    /// "no such file", "is a directory", "permission denied", "empty file", or a size over
    /// `maximumFileSize`.
    public static func read(contentsOf path: String) throws(ImageError) -> GrayImage {
        let bytes: [UInt8]
        do { bytes = try readFileBytes(path, limit: maximumFileSize) } catch { throw ImageError(file: path, message: error.message) }
        guard !bytes.isEmpty else { throw ImageError(file: path, message: "empty file") }
        return try decode(bytes, name: path)
    }

    /// Encodes `image` as an 8-bit greyscale PNG and writes it to `path` atomically,
    /// replacing any file.
    public static func write(_ image: GrayImage, to path: String) throws(ImageError) {
        try write(Image(image), to: path)
    }

    /// Encodes `image` as an 8-bit grey or RGB PNG and writes it to `path` atomically, replacing
    /// any file (`durable`: see `writeFileAtomically`).
    public static func write(_ image: Image, to path: String, durable: Bool = true) throws(ImageError) {
        let bytes: [UInt8]
        do { bytes = try encode(image) } catch { throw ImageError(file: path, message: error.message) }
        do { try writeFileAtomically(bytes, to: path, durable: durable) } catch { throw ImageError(file: path, message: error.message) }
    }
}
