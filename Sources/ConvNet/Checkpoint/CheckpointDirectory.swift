import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Creates `directory` (and its parents) if needed and proves a file can be written
/// there, so an unwritable location is reported before training starts. Also removes
/// temporary files left by an atomic write whose process was killed (`.*.tmp-<pid>`).
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
    removeAbandonedTemporaryFiles(in: directory)
}

/// Deletes `.<name>.tmp-<pid>` files of `writeFileAtomically` whose writer no longer runs.
private func removeAbandonedTemporaryFiles(in directory: String) {
    guard let entries = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
    for entry in entries where entry.hasPrefix(".") {
        guard let marker = entry.range(of: ".tmp-", options: .backwards),
              let pid = Int32(entry[marker.upperBound...]), pid > 0 else { continue }
        if kill(pid, 0) != 0 && errno == ESRCH { unlink("\(directory)/\(entry)") }
    }
}

func parentDirectory(of path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return "." }
    return slash == path.startIndex ? "/" : String(path[..<slash])
}

func lastPathComponent(_ path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return path }
    return String(path[path.index(after: slash)...])
}
