#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes `bytes` to `path` atomically: a temporary file in the same directory is
/// written, flushed to disk (fsync) and renamed over `path`, then the directory is
/// synced. A crash or a full disk at any moment leaves either the old file or the
/// new one, never a partial file. Throws a one-line message naming `path`.
public func writeFileAtomically(_ bytes: [UInt8], to path: String) throws(CheckpointError) {
    let directory = parentDirectory(of: path)
    let temporary = "\(directory)/.\(lastPathComponent(path)).tmp-\(getpid())"
    let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard descriptor >= 0 else {
        throw CheckpointError(file: path, "cannot write here: \(describeErrno(errno)) (creating \(temporary))")
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
    if failure == 0 && fsync(descriptor) != 0 { failure = errno }
    if close(descriptor) != 0 && failure == 0 { failure = errno }
    if failure == 0 && rename(temporary, path) != 0 { failure = errno }
    guard failure == 0 else {
        unlink(temporary)
        let reason = failure == ENOSPC ? "the disk is full" : String(cString: strerror(failure))
        throw CheckpointError(file: path, "could not write the checkpoint: \(reason); the previous file, if any, is unchanged")
    }
    let directoryDescriptor = open(directory, O_RDONLY | O_CLOEXEC)
    if directoryDescriptor >= 0 {
        fsync(directoryDescriptor)
        close(directoryDescriptor)
    }
}

/// Creates `directory` (and its parents) if needed and proves a file can be written
/// there, so an unwritable location is reported before training starts.
public func prepareWritableDirectory(_ directory: String) throws(CheckpointError) {
    var partial = directory.hasPrefix("/") ? "" : "."
    for component in directory.split(separator: "/") {
        partial += "/\(component)"
        if mkdir(partial, 0o755) != 0 && errno != EEXIST {
            throw CheckpointError(file: directory, "cannot create the checkpoint directory: \(describeErrno(errno))")
        }
    }
    var status = stat()
    guard stat(directory, &status) == 0, (status.st_mode & S_IFMT) == S_IFDIR else {
        throw CheckpointError(file: directory, "cannot use as the checkpoint directory: it is not a directory")
    }
    let probe = "\(directory)/.write-test-\(getpid())"
    let descriptor = open(probe, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard descriptor >= 0 else {
        throw CheckpointError(file: directory, "cannot write checkpoints here: \(describeErrno(errno))")
    }
    close(descriptor)
    unlink(probe)
}

func parentDirectory(of path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return "." }
    return slash == path.startIndex ? "/" : String(path[..<slash])
}

func lastPathComponent(_ path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return path }
    return String(path[path.index(after: slash)...])
}
