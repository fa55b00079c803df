import Glibc

extension PNG {
    /// The largest file `read(contentsOf:)` loads, in bytes (256 MiB); a larger "PNG" is
    /// refused before reading, since even a 16384² image compresses to less.
    public static let maximumFileSize = 256 << 20

    /// Reads and decodes the PNG file at `path` to 8-bit luminance (see `decode`).
    ///
    /// Before reading, the path is checked so the error says what is wrong with it:
    /// "no such file", "is a directory", "permission denied", "empty file", or a size over
    /// `maximumFileSize`.
    public static func read(contentsOf path: String) throws(ImageError) -> GrayImage {
        try decode(readFile(path), name: path)
    }

    /// Encodes `image` as an 8-bit greyscale PNG and writes it to `path`, replacing any file.
    public static func write(_ image: GrayImage, to path: String) throws(ImageError) {
        let bytes: [UInt8]
        do {
            bytes = try encode(image)
        } catch {
            throw ImageError(file: path, message: error.message)
        }
        try writeFile(bytes, to: path)
    }

    /// The bytes of the regular file at `path`, at most `maximumFileSize` of them.
    static func readFile(_ path: String) throws(ImageError) -> [UInt8] {
        func failure(_ message: String) -> ImageError { ImageError(file: path, message: message) }
        var status = stat()
        guard stat(path, &status) == 0 else { throw failure(describe(errno: errno)) }
        let kind = status.st_mode & S_IFMT
        guard kind != S_IFDIR else { throw failure("is a directory") }
        guard kind == S_IFREG else { throw failure("is not a regular file") }
        let size = Int(status.st_size)
        guard size > 0 else { throw failure("empty file") }
        guard size <= maximumFileSize else {
            throw failure("file is \(size >> 20) MiB; the limit for a PNG is \(maximumFileSize >> 20) MiB")
        }

        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else { throw failure(describe(errno: errno)) }
        defer { close(descriptor) }
        var bytes = [UInt8](repeating: 0, count: size)
        var filled = 0
        var readError: Int32 = 0
        bytes.withUnsafeMutableBytes { buffer in
            while filled < size {
                let count = Glibc.read(descriptor, buffer.baseAddress! + filled, size - filled)
                if count > 0 {
                    filled += count
                } else if count == 0 {
                    break
                } else if errno != EINTR {
                    readError = errno
                    break
                }
            }
        }
        guard readError == 0 else { throw failure(describe(errno: readError)) }
        // The file shrank between stat and read: decode what is there, libpng will
        // report the truncation if it matters.
        bytes.removeLast(size - filled)
        guard !bytes.isEmpty else { throw failure("empty file") }
        return bytes
    }

    /// Writes `bytes` to `path`, creating it with mode 0644 or truncating it.
    static func writeFile(_ bytes: [UInt8], to path: String) throws(ImageError) {
        func failure(_ message: String) -> ImageError { ImageError(file: path, message: message) }
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard descriptor >= 0 else {
            let error = errno
            throw failure(error == ENOENT ? "no such directory" : describe(errno: error))
        }
        var written = 0
        var writeError: Int32 = 0
        bytes.withUnsafeBytes { buffer in
            while written < buffer.count {
                let count = Glibc.write(descriptor, buffer.baseAddress! + written, buffer.count - written)
                if count >= 0 {
                    written += count
                } else if errno != EINTR {
                    writeError = errno
                    break
                }
            }
        }
        if close(descriptor) != 0 && writeError == 0 { writeError = errno }
        guard writeError == 0 else { throw failure(describe(errno: writeError)) }
    }

    /// A short lower-case description of a POSIX error number.
    private static func describe(errno code: Int32) -> String {
        switch code {
        case ENOENT: return "no such file"
        case ENOTDIR: return "no such file (a component of the path is not a directory)"
        case EACCES, EPERM: return "permission denied"
        case EISDIR: return "is a directory"
        case ENOSPC: return "no space left on the device"
        default: return String(cString: strerror(code))
        }
    }
}
