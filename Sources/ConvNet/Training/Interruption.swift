#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// SIGINT, SIGTERM and SIGUSR1 handling for training: the first signal asks the run to stop
/// at the next step boundary (after saving); a second one exits at once. (`mpirun` passes
/// SIGUSR1 on to every process as it is, while it answers Ctrl-C with SIGTERM and, a moment
/// later, SIGKILL: SIGUSR1 to `mpirun` stops a data-parallel run with no deadline.)
public enum Interruption {
    /// What the first signal prints on stderr.
    public enum Notice: Sendable {
        /// "Stopping after this step and saving a checkpoint…".
        case singleProcess
        /// The same for a data-parallel run, where `mpirun` sends SIGTERM to every process both
        /// for Ctrl-C and when another process has failed (it then kills them a moment later).
        case dataParallel
        /// Nothing (the other processes of a data-parallel run: rank 0 speaks for them).
        case none
    }

    /// Installs the handlers; the first signal prints `notice` as one line on stderr.
    public static func install(notice: Notice = .singleProcess) {
        switch notice {
        case .singleProcess: announceSignals = 1
        case .dataParallel: announceSignals = 2
        case .none: announceSignals = 0
        }
        signal(SIGINT, handleSignal)
        signal(SIGTERM, handleSignal)
        signal(SIGUSR1, handleSignal)
    }

    /// True once a SIGINT, SIGTERM or SIGUSR1 has arrived.
    public static var requested: Bool { interruptSignals > 0 }

    /// The first signal received (SIGINT, SIGTERM or SIGUSR1), 0 if none.
    public static var signalNumber: Int32 { firstSignal }
}

/// Set by the signal handler, read by the training thread. `nonisolated(unsafe)`: a signal
/// handler can use no lock; a `sig_atomic_t` written once (0 → 1) is what C allows there.
nonisolated(unsafe) private var interruptSignals: sig_atomic_t = 0
/// The first signal's number, written by the handler before `interruptSignals` is set.
nonisolated(unsafe) private var firstSignal: Int32 = 0
/// 0: the handler prints nothing; 1: the single-process notices; 2: the data-parallel ones.
/// Written before the handler is installed.
nonisolated(unsafe) private var announceSignals: sig_atomic_t = 1

private func handleSignal(_ number: Int32) {
    if interruptSignals > 0 {
        if announceSignals != 0 { writeToStandardError("\nInterrupted again: exiting now without saving.\n") }
        _exit(130)
    }
    interruptSignals = 1
    firstSignal = number
    if announceSignals == 1 || (announceSignals == 2 && number == SIGUSR1) { writeToStandardError("\nStopping after this step and saving a checkpoint (Ctrl-C again to quit at once)...\n") }
    if announceSignals == 2 && number != SIGUSR1 {
        writeToStandardError("\nmpirun is ending the job (Ctrl-C, or a process failed): stopping after this step and saving a checkpoint if every process is still running...\n")
    }
}

/// write(2) of a static string: async-signal-safe, no allocation.
private func writeToStandardError(_ text: StaticString) {
    text.withUTF8Buffer { _ = write(STDERR_FILENO, $0.baseAddress, $0.count) }
}
