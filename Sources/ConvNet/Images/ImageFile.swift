/// Image files of any supported format — PNG and JPEG, told apart by their first bytes, not
/// their names — read to the channels a model wants.
public enum ImageFile {
    /// The largest file read, in bytes (256 MiB); larger is refused before reading.
    public static let maximumFileSize = 256 << 20
    /// The most pixels a decoded image may have (64 Mi, e.g. 8192×8192): 192 MiB as RGB.
    /// Checked from the header, PNG or JPEG (after a JPEG's scaling), before decoding.
    public static let maximumPixels = 1 << 26
    /// File name extensions of the images in a folder data set (case-insensitive).
    public static let extensions: Set<String> = ["png", "jpg", "jpeg"]

    /// Reads and decodes the PNG or JPEG file at `path` to `channels` channels (1 or 3).
    ///
    /// The path is checked first so the error says what is wrong with it: "no such file",
    /// "is a directory", "is not a regular file", "permission denied", "empty file", too large.
    /// `minimumSide` lets a JPEG decoder skip resolution that would be thrown away (see `JPEG`).
    public static func read(contentsOf path: String, channels: Int, minimumSide: Int? = nil) throws(ImageError) -> Image {
        let bytes: [UInt8]
        do { bytes = try readFileBytes(path, limit: maximumFileSize) } catch { throw ImageError(file: path, message: error.message) }
        return try decode(bytes, name: path, channels: channels, minimumSide: minimumSide)
    }

    /// Decodes PNG or JPEG bytes (see `read`); `name` is used in errors.
    public static func decode(_ bytes: [UInt8], name: String, channels: Int, minimumSide: Int? = nil) throws(ImageError) -> Image {
        guard !bytes.isEmpty else { throw ImageError(file: name, message: "empty file") }
        if JPEG.isJPEG(bytes) { return try JPEG.decode(bytes, name: name, channels: channels, minimumSide: minimumSide) }
        guard FileSignature.isPNG(bytes) else {
            throw ImageError(file: name, message: FileSignature.rejection(of: bytes, acceptingJPEG: true))
        }
        return try PNG.decode(bytes, name: name, channels: channels, maximumPixels: maximumPixels)
    }

    /// Whether `fileName` has an image extension (`.png`, `.jpg`, `.jpeg`, any case).
    public static func hasImageExtension(_ fileName: String) -> Bool {
        guard let dot = fileName.lastIndex(of: "."), !fileName.hasPrefix(".") else { return false }
        return extensions.contains(fileName[fileName.index(after: dot)...].lowercased())
    }
}
