import Foundation
import CStandardOutput

/// Refuses to start when standard output is closed (`>&-`): the first file the command opens
/// would otherwise take descriptor 1, and `print` would write into it.
func requireStandardOutput() {
    guard fcntl(STDOUT_FILENO, F_GETFD) == -1, errno == EBADF else { return }
    FileHandle.standardError.write(Data("error: cannot write the output: standard output is closed\n".utf8))
    exit(1)
}

/// Flushes standard output and, if any write to it failed (`>/dev/full`, a full disk), says
/// so in one line on stderr and exits with status 1, instead of reporting success for output
/// that was lost. A reader that closed its pipe early (`| head -1`) ends the process by
/// SIGPIPE as usual (status 141 in the shell), without a message.
public func finishStandardOutput() {
    let code = convnet_flush_standard_output()
    guard code != 0 else { return }
    if code == EPIPE {
        signal(SIGPIPE, SIG_DFL)
        raise(SIGPIPE)
    }
    let reason = code < 0 ? "a write failed" : String(cString: strerror(code))
    FileHandle.standardError.write(Data("error: cannot write the output: \(reason.prefix(1).lowercased() + reason.dropFirst())\n".utf8))
    exit(1)
}
