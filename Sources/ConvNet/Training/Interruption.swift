#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// SIGINT and SIGTERM handling for training: the first signal asks the run to stop
/// at the next step boundary (after saving); a second one exits at once.
public enum Interruption {
    /// Installs the handlers; the first signal prints a one-line notice to stderr.
    public static func install() {
        signal(SIGINT, handleSignal)
        signal(SIGTERM, handleSignal)
    }

    /// True once a SIGINT or SIGTERM has arrived.
    public static var requested: Bool { interruptSignals > 0 }

    /// The first signal received (SIGINT or SIGTERM), 0 if none.
    public static var signalNumber: Int32 { firstSignal }
}

/// Set by the signal handler, read by the training thread. `nonisolated(unsafe)`: a signal
/// handler can use no lock; a `sig_atomic_t` written once (0 → 1) is what C allows there.
nonisolated(unsafe) private var interruptSignals: sig_atomic_t = 0
/// The first signal's number, written by the handler before `interruptSignals` is set.
nonisolated(unsafe) private var firstSignal: Int32 = 0

private func handleSignal(_ number: Int32) {
    if interruptSignals > 0 {
        writeToStandardError("\nInterrupted again: exiting now without saving.\n")
        _exit(130)
    }
    interruptSignals = 1
    firstSignal = number
    writeToStandardError("\nStopping after this step and saving a checkpoint (Ctrl-C again to quit at once)...\n")
}

/// write(2) of a static string: async-signal-safe, no allocation.
private func writeToStandardError(_ text: StaticString) {
    text.withUTF8Buffer { _ = write(STDERR_FILENO, $0.baseAddress, $0.count) }
}
