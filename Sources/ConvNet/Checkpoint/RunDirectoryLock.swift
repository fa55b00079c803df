import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An exclusive lock on a run directory, held while one run writes there: a second `train`
/// into the same directory is refused instead of both overwriting each other's checkpoints
/// and metrics. It is `flock(2)` on `<directory>/.lock` (which holds the owner's pid for the
/// message), so the kernel releases it when the process ends, however it ends.
public final class RunDirectoryLock {
    private let descriptor: Int32

    /// Takes the lock on `directory` (which must exist), or throws naming the process holding it.
    public init(directory: String) throws(CheckpointError) {
        let path = "\(directory)/.lock"
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0o644)
        guard descriptor >= 0 else { throw CheckpointError(file: path, "cannot create the run lock: \(describeErrno(errno))") }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let busy = errno == EWOULDBLOCK
            var owner = [UInt8](repeating: 0, count: 32)
            let count = read(descriptor, &owner, owner.count)
            close(descriptor)
            guard busy else { throw CheckpointError(file: path, "cannot lock the run directory: \(describeErrno(errno))") }
            let pid = Int(String(decoding: owner.prefix(max(count, 0)), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
            throw CheckpointError(file: directory, "another training run (\(pid.map { "pid \($0)" } ?? "another process")) is writing to this directory; wait for it, or give this run another one with --output")
        }
        ftruncate(descriptor, 0)
        let text = Array("\(getpid())\n".utf8)
        _ = text.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) }
        self.descriptor = descriptor
    }

    deinit { close(descriptor) }

    /// The files a training run writes into its directory that are there now: checkpoints,
    /// `metrics.csv`, confusion matrices and the report. Empty for a new directory.
    public static func runFiles(in directory: String) -> [String] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        let names: Set<String> = ["last.safetensors", "model.safetensors", "best.safetensors", "metrics.csv",
                                  "confusion-last.csv", "confusion-best.csv", "report.html", "report.json"]
        return entries.filter { names.contains($0) || ($0.hasPrefix("epoch-") && $0.hasSuffix(".safetensors")) }.sorted()
    }
}
