#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An error meant for the user: its `description` is one line saying what is wrong and
/// where (file, key path or layer). The executables print it and exit with status 1.
public protocol ConvNetError: Error, CustomStringConvertible {}

/// A file that cannot be read or whose contents are wrong: which file and what is wrong.
public struct DataError: ConvNetError, Equatable {
    /// The path as the user gave it.
    public var file: String
    /// What is wrong, with expected and found values where there are some.
    public var message: String

    /// An error about `file`.
    public init(file: String, _ message: String) {
        self.file = file
        self.message = message
    }

    /// `path: message`, one line.
    public var description: String { oneLine("\(file): \(message)") }
}

/// `text` with line breaks, other control characters and format characters written as escapes
/// (`\n`, `\u{1b}`, `\u{202e}`),
/// so an error or a result line quoting a file name, a class name or a config key stays one
/// line whatever they contain, and cannot send a terminal escape sequence.
public func oneLine(_ text: String) -> String {
    guard text.unicodeScalars.contains(where: isControlCharacter) else { return text }
    var result = ""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\n": result += "\\n"
        case "\r": result += "\\r"
        case "\t": result += "\\t"
        case _ where isControlCharacter(scalar): result += "\\u{\(String(scalar.value, radix: 16))}"
        default: result.unicodeScalars.append(scalar)
        }
    }
    return result
}

/// C0 and C1 control characters, DEL, the Unicode line and paragraph separators, and format
/// characters (general category Cf: the bidi overrides and isolates U+202A–202E and U+2066–2069,
/// the marks U+200E, U+200F and U+061C, zero-width characters, U+FEFF): what a terminal or a
/// line-reading script may act on rather than show, or what reorders or hides the text around it.
func isControlCharacter(_ scalar: Unicode.Scalar) -> Bool {
    scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || scalar.value == 0x2028 || scalar.value == 0x2029
        || scalar.properties.generalCategory == .format
}

/// Reads a whole regular file, refusing directories, FIFOs, devices and sockets, and files
/// over `limit` bytes before reading anything, and naming the problem in the error.
public func readFileBytes(_ path: String, limit: Int) throws(DataError) -> [UInt8] {
    try withRegularFile(path, limit: limit) { (descriptor, size) throws(DataError) in
        try readBytes(descriptor, path: path, offset: 0, count: size)
    }
}

/// Bytes `offset..<offset + count` of the regular file at `path`, with the checks of
/// `readFileBytes`; nothing else of the file is read. Throws when the file is shorter.
func readFileBytes(_ path: String, limit: Int, offset: Int, count: Int) throws(DataError) -> [UInt8] {
    try withRegularFile(path, limit: limit) { (descriptor, size) throws(DataError) in
        guard offset + count <= size else {
            throw DataError(file: path, "changed while being read (expected at least \(offset + count) bytes, it has \(size))")
        }
        return try readBytes(descriptor, path: path, offset: offset, count: count)
    }
}

/// The size of the regular file at `path`, with the checks of `readFileBytes`.
func regularFileSize(_ path: String, limit: Int) throws(DataError) -> Int {
    try withRegularFile(path, limit: limit) { (_, size) throws(DataError) in size }
}

/// Opens `path` for reading and calls `body` with the descriptor and the file's size, after
/// refusing directories, other non-regular files and files over `limit` bytes.
private func withRegularFile<Result>(_ path: String, limit: Int,
                                     _ body: (Int32, Int) throws(DataError) -> Result) throws(DataError) -> Result {
    // O_NONBLOCK: opening a FIFO with no writer would otherwise wait forever, before fstat
    // could tell what it is. (It changes nothing for reading a regular file.)
    let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
    guard descriptor >= 0 else { throw DataError(file: path, describeErrno(errno)) }
    defer { close(descriptor) }
    var status = stat()
    guard fstat(descriptor, &status) == 0 else { throw DataError(file: path, describeErrno(errno)) }
    try requireRegularFile(status, path: path)
    let size = Int(status.st_size)
    guard size <= limit else {
        throw DataError(file: path, "is \(formatBytes(size)), larger than the \(formatBytes(limit)) limit for this kind of file")
    }
    return try body(descriptor, size)
}

/// `count` bytes from `offset` of an open file, read straight into the array returned.
private func readBytes(_ descriptor: Int32, path: String, offset: Int, count: Int) throws(DataError) -> [UInt8] {
    guard canAllocate(count) else { throw DataError(file: path, allocationFailure(count, for: "reading it")) }
    var done = 0
    var failure: Int32 = 0
    let bytes = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
        while done < count {
            let got = pread(descriptor, buffer.baseAddress! + done, count - done, off_t(offset + done))
            if got < 0 {
                if errno == EINTR { continue }
                failure = errno
                break
            }
            if got == 0 { break }
            done += got
        }
        initialized = done
    }
    if failure != 0 { throw DataError(file: path, "read failed: \(String(cString: strerror(failure)))") }
    guard done == count else { throw DataError(file: path, "changed while being read (expected \(count) bytes, got \(done))") }
    return bytes
}

/// Throws unless `status` (of `path`) is a regular file, saying what it is instead.
func requireRegularFile(_ status: stat, path: String) throws(DataError) {
    switch status.st_mode & S_IFMT {
    case S_IFREG: return
    case S_IFDIR: throw DataError(file: path, "is a directory")
    case S_IFIFO: throw DataError(file: path, "is a FIFO (named pipe), not a regular file")
    case S_IFCHR, S_IFBLK: throw DataError(file: path, "is a device, not a regular file")
    case S_IFSOCK: throw DataError(file: path, "is a socket, not a regular file")
    default: throw DataError(file: path, "is not a regular file")
    }
}

/// Writes `bytes` to `path` atomically: a temporary file in the same directory is
/// written, flushed to disk (fsync) and renamed over `path`, then the directory is
/// synced. A crash or a full disk at any moment leaves either the old file or the
/// new one, never a partial file. With `durable` false the two fsyncs are skipped (many
/// small exported files, where a crash only means exporting again): still never a partial
/// file under the name, but the data may not have reached the disk yet.
public func writeFileAtomically(_ bytes: [UInt8], to path: String, durable: Bool = true) throws(DataError) {
    let directory = parentDirectory(of: path)
    let temporary = "\(directory)/.\(lastPathComponent(path)).tmp-\(getpid())"
    // A new file, never one that exists: a link planted under the (predictable) temporary name
    // would otherwise be followed and its target overwritten. A leftover of this pid is removed
    // first (unlink removes a link itself, not what it points to).
    unlink(temporary)
    let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
    guard descriptor >= 0 else {
        throw DataError(file: path, errno == ENOENT ? "no such directory" : describeErrno(errno))
    }
    var failure: Int32 = 0
    bytes.withUnsafeBytes { raw in
        var written = 0
        while written < raw.count {
            let result = write(descriptor, raw.baseAddress! + written, raw.count - written)
            if result < 0 {
                if errno == EINTR { continue }
                failure = errno
                return
            }
            written += result
        }
    }
    if failure == 0 && durable && fsync(descriptor) != 0 { failure = errno }
    if close(descriptor) != 0 && failure == 0 { failure = errno }
    if failure == 0 && rename(temporary, path) != 0 { failure = errno }
    guard failure == 0 else {
        unlink(temporary)
        throw DataError(file: path, describeErrno(failure))
    }
    let directoryDescriptor = durable ? open(directory, O_RDONLY | O_CLOEXEC) : -1
    if directoryDescriptor >= 0 {
        fsync(directoryDescriptor)
        close(directoryDescriptor)
    }
}

/// A user-facing phrase for an `open`/`stat` error number.
func describeErrno(_ code: Int32) -> String {
    switch code {
    case ENOENT: return "no such file"
    case EACCES, EPERM: return "permission denied"
    case EISDIR: return "is a directory"
    case ENOTDIR: return "a parent of this path is not a directory"
    case ENOSPC: return "the disk is full"
    case EROFS: return "the file system is read-only"
    default: return String(cString: strerror(code))
    }
}

/// `47.0 MB`, `512 KB`, `12 bytes`.
public func formatBytes(_ count: Int) -> String {
    if count >= 1 << 30 { return String(format: "%.1f GB", Double(count) / Double(1 << 30)) }
    if count >= 1 << 20 { return String(format: "%.1f MB", Double(count) / Double(1 << 20)) }
    if count >= 1 << 10 { return "\(count >> 10) KB" }
    return "\(count) bytes"
}
