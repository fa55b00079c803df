import ConvNet
import Foundation

/// Progress during training: a live bar on a terminal that fits its width (redrawn narrower
/// or wider when the window is resized), or a plain line every `interval` seconds for logs,
/// and one line per epoch either way.
final class ProgressPrinter: TrainingObserver {
    private let name: String
    private let quiet: Bool
    private let mode: Train.ProgressMode
    private let interval: Double
    private var epochs = 0
    private var lastDraw = 0.0, lastLine = 0.0
    private var barShown = false

    init(name: String, quiet: Bool, mode: Train.ProgressMode, interval: Double) {
        self.name = name
        self.quiet = quiet
        self.mode = mode
        self.interval = interval
        if mode == .bar { TerminalWidth.watch() }
    }

    func trainingWillStart(_ plan: TrainingPlan) {
        epochs = plan.epochs
        lastLine = Date().timeIntervalSinceReferenceDate
        guard !quiet else { return }
        print(Report.start(name: name, plan: plan))
        print("Checkpoints go to \(oneLine(plan.checkpointDirectory))/")
        fflush(nil)  // all streams: `stdout` is a global the Swift 6 checker cannot prove safe
    }

    func batchDidFinish(_ progress: BatchProgress) {
        let now = Date().timeIntervalSinceReferenceDate
        switch mode {
        case .bar:
            guard now - lastDraw > 0.1 || progress.step == progress.steps || TerminalWidth.changed else { return }
            lastDraw = now
            print("\r\u{1B}[2K" + Report.progress(progress, width: TerminalWidth.current), terminator: "")
            fflush(nil)
            barShown = true
        case .lines:
            guard now - lastLine >= interval, progress.step < progress.steps else { return }
            lastLine = now
            print(Report.progressLine(progress))
            fflush(nil)
        case .none:
            return
        }
    }

    func epochDidFinish(_ metrics: EpochMetrics) {
        guard !quiet else { return }
        finishLine()
        print(Report.epoch(metrics, of: epochs))
        fflush(nil)
        lastLine = Date().timeIntervalSinceReferenceDate
    }

    /// Clears the progress bar so the next line starts clean.
    func finishLine() {
        if barShown {
            print("\r\u{1B}[2K", terminator: "")
            barShown = false
        }
    }
}

/// The terminal's width in columns, measured again after each SIGWINCH (a resized window).
enum TerminalWidth {
    /// Columns of the terminal on standard output (80 when it cannot be measured).
    static var current: Int {
        if resized != 0 || measured == 0 {
            resized = 0
            var size = winsize()
            measured = ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size) == 0 && size.ws_col > 0 ? Int(size.ws_col) : 80
        }
        return measured
    }

    /// Whether the window was resized since the last measurement.
    static var changed: Bool { resized != 0 }

    /// Installs the SIGWINCH handler.
    static func watch() {
        signal(SIGWINCH) { _ in resized = 1 }
    }
}

/// Set by the SIGWINCH handler, read and cleared by the drawing thread. `nonisolated(unsafe)`:
/// a signal handler can only set a `sig_atomic_t`; the worst a race can do is one extra measurement.
nonisolated(unsafe) private var resized: sig_atomic_t = 0
/// The last measured width (0: not yet). `nonisolated(unsafe)`: only the training thread uses it.
nonisolated(unsafe) private var measured = 0
