import Foundation

/// Text for people: the lines `train` prints. Kept in the library so the
/// executables stay thin and the formats are tested.
public enum Report {
    /// `Training mnist: 60,000 training / 10,000 test images, …`.
    public static func start(name: String, plan: TrainingPlan) -> String {
        var text = "Training \(name): \(grouped(plan.trainCount)) training"
        if plan.validationCount > 0 { text += " / \(grouped(plan.validationCount)) validation" }
        text += " / \(grouped(plan.testCount)) test images, \(grouped(plan.parameterCount)) parameters, "
        text += "batch \(plan.batchSize), \(grouped(plan.stepsPerEpoch)) steps per epoch, \(plan.threads) thread\(plan.threads == 1 ? "" : "s")"
        if plan.processes > 1 { text += " × \(plan.processes) processes (\(plan.batchSize / plan.processes) images each per step)" }
        if plan.startEpoch > 0 || plan.startStep > 0 {
            text += "\nResuming at epoch \(plan.startEpoch + 1), step \(plan.startStep) of \(plan.epochs) epochs"
        }
        return text
    }

    /// One line per epoch:
    /// `epoch  3/12  train loss 0.0421 acc 98.71%  test loss 0.0385 acc 98.80%  6.2 s  9,650 img/s  lr 0.01`.
    public static func epoch(_ m: EpochMetrics, of epochs: Int) -> String {
        let width = String(epochs).count
        var text = "epoch \(String(repeating: " ", count: width - String(m.epoch).count))\(m.epoch)/\(epochs)"
        text += String(format: "  train loss %.4f acc %@", m.trainLoss, percent(m.trainAccuracy))
        if let validation = m.validation {
            text += String(format: "  val loss %.4f acc %@", validation.loss, percent(validation.accuracy))
        }
        text += String(format: "  test loss %.4f acc %@  %.1f s  %@ img/s  lr %@", m.test.loss, percent(m.test.accuracy),
                       m.seconds, grouped(Int(m.imagesPerSecond.rounded())), shortNumber(m.learningRate))
        if let communication = m.communication {
            text += String(format: "  all-reduce %@/step, %.1f ms wait", bytes(communication.bytesPerStep), communication.waitSecondsPerStep * 1000)
        }
        return text
    }

    /// The live progress line, at most `width` columns so a terminal never wraps it:
    /// `epoch 3/12 [=======>      ] 412/938  loss 0.0512  acc 98.40%  9,812 img/s  ETA 3s  run 1m20s`.
    /// On narrower terminals the bar shrinks, then fields go, least useful first: images/s,
    /// accuracy, the run's ETA, the loss, the step count; the epoch and the epoch's ETA stay.
    public static func progress(_ p: BatchProgress, width: Int = 100) -> String {
        let epoch = "epoch \(p.epoch)/\(p.epochs)"
        let count = "\(p.step)/\(p.steps)"
        let loss = String(format: "loss %.4f", p.loss), accuracy = "acc " + percent(p.accuracy)
        let rate = "\(grouped(Int(p.imagesPerSecond.rounded()))) img/s"
        let eta = "ETA \(duration(p.secondsRemaining))", run = p.epoch < p.epochs ? "run \(duration(p.runSecondsRemaining))" : nil
        // Fields in display order, each with its priority (higher stays longer).
        var fields: [(text: String, priority: Int)] = [(count, 3), (loss, 4), (accuracy, 1), (rate, 0), (eta, 6)]
        if let run { fields.append((run, 2)) }
        func line(bar: Int) -> String {
            var parts = [epoch]
            if bar > 0 {
                let filled = p.steps == 0 ? 0 : min(bar, bar * p.step / p.steps)
                parts.append("[" + String(repeating: "=", count: filled) + (filled < bar ? ">" + String(repeating: " ", count: bar - filled - 1) : "") + "]")
            }
            return (parts + fields.map(\.text)).joined(separator: "  ")
        }
        let limit = max(1, width - 1)  // the last column would wrap some terminals
        for bar in [24, 16, 10] where line(bar: bar).count <= limit { return line(bar: bar) }
        while true {
            for bar in [10, 6] where line(bar: bar).count <= limit { return line(bar: bar) }
            guard let lowest = fields.indices.filter({ fields[$0].priority < 6 }).min(by: { fields[$0].priority < fields[$1].priority }) else { break }
            fields.remove(at: lowest)
        }
        let text = line(bar: 0)
        return text.count <= limit ? text : String(text.prefix(limit))
    }

    /// A progress line for logs and pipes (`--progress lines`):
    /// `epoch 3/12  44% (412/938)  loss 0.0512  acc 98.40%  9,812 img/s  ETA 3s, run 1m20s`.
    public static func progressLine(_ p: BatchProgress) -> String {
        let share = p.steps == 0 ? 0 : 100 * p.step / p.steps
        var text = "epoch \(p.epoch)/\(p.epochs)  \(share)% (\(p.step)/\(p.steps))  " + String(format: "loss %.4f", p.loss)
        text += "  acc \(percent(p.accuracy))  \(grouped(Int(p.imagesPerSecond.rounded()))) img/s  ETA \(duration(p.secondsRemaining))"
        if p.epoch < p.epochs { text += ", run \(duration(p.runSecondsRemaining))" }
        return text
    }

    /// Per-class accuracy on one line and the confusion matrix (rows true, columns predicted).
    /// Class names are shown with control characters escaped (`oneLine`), so a name cannot
    /// break a line or send a terminal escape.
    public static func evaluation(_ result: EvaluationResult, classNames: [String]) -> String {
        let classNames = classNames.map(oneLine)
        var lines: [String] = []
        lines.append("Per-class accuracy: " + zip(classNames, result.perClassAccuracy)
            .map { "\($0) \(percent($1))" }.joined(separator: "  "))
        let labelWidth = max(5, classNames.map(\.count).max() ?? 1)
        let cellWidth = max(5, String(result.confusion.flatMap { $0 }.max() ?? 0).count + 1,
                            (classNames.map(\.count).max() ?? 1) + 1)
        func pad(_ text: String, _ width: Int) -> String { String(repeating: " ", count: max(0, width - text.count)) + text }
        lines.append("Confusion matrix (rows: true class, columns: predicted):")
        lines.append(pad("", labelWidth) + classNames.map { pad(String($0.prefix(cellWidth - 1)), cellWidth) }.joined())
        for (name, row) in zip(classNames, result.confusion) {
            lines.append(pad(String(name.prefix(labelWidth)), labelWidth) + row.map { pad(String($0), cellWidth) }.joined())
        }
        return lines.joined(separator: "\n")
    }

    /// Prints `error: <message>` as one line to stderr (control characters escaped, see
    /// `oneLine`) and exits with status 1: how the executables report a problem.
    public static func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data("error: \(oneLine(message))\n".utf8))
        exit(1)
    }

    /// `98.76%`.
    public static func percent(_ fraction: Double) -> String { String(format: "%.2f%%", fraction * 100) }

    /// `1.7 MB`, `640 KB`, `96 B` (decimal units).
    public static func bytes(_ count: Int) -> String {
        switch count {
        case ..<1000: return "\(count) B"
        case ..<1_000_000: return String(format: "%.0f KB", Double(count) / 1e3)
        case ..<1_000_000_000: return String(format: "%.1f MB", Double(count) / 1e6)
        default: return String(format: "%.2f GB", Double(count) / 1e9)
        }
    }

    /// `60,000`.
    public static func grouped(_ value: Int) -> String {
        let digits = String(abs(value))
        var result = ""
        for (index, character) in digits.enumerated() {
            if index > 0 && (digits.count - index) % 3 == 0 { result.append(",") }
            result.append(character)
        }
        return value < 0 ? "-" + result : result
    }

    /// A number in 2 significant digits: `0.01`, `0.0005`, `0.0019`, `5.6e-08`.
    public static func shortNumber(_ value: Double) -> String { String(format: "%.2g", value) }

    /// `["a", "b"]` as `[a, b]`, each item on one line (see `oneLine`).
    public static func list(_ items: [String]) -> String { "[" + items.map(oneLine).joined(separator: ", ") + "]" }

    /// `text` as one word for a POSIX shell (bash and zsh too): a word of ASCII letters, digits
    /// and `_./=:,+-@%` as it is (unless it starts with `=`, which zsh expands), anything else
    /// in single quotes, where only `'` is special and is written `'\''` (`'it'\''s'` for `it's`).
    /// Line breaks stay inside the quotes, as the shell reads them.
    public static func shellQuoted(_ text: String) -> String {
        let plain = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./=:,+-@%")
        if !text.isEmpty && !text.hasPrefix("=") && text.allSatisfy({ plain.contains($0) }) { return text }
        return "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    /// The command line that resumes an interrupted run: `command` (already shell words, e.g.
    /// `swift run train`), then the run's `arguments` without any `--resume` or `--init-from`
    /// and its value and without `--overwrite` (which `train` refuses with `--resume`), then
    /// `--resume checkpoint`; every argument quoted by `shellQuoted`.
    public static func resumeCommand(_ command: String, arguments: [String], checkpoint: String) -> String {
        var kept: [String] = []
        var skipNext = false
        for argument in arguments {
            if skipNext { skipNext = false; continue }
            if argument == "--overwrite" { continue }
            if argument == "--resume" || argument == "--init-from" { skipNext = true; continue }
            if argument.hasPrefix("--resume=") || argument.hasPrefix("--init-from=") { continue }
            kept.append(argument)
        }
        return ([command] + (kept + ["--resume", checkpoint]).map(shellQuoted)).joined(separator: " ")
    }

    /// `42s`, `3m05s`, `2h07m`.
    public static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds >= 0, seconds < 1e9 else { return "?" }
        let total = Int(seconds.rounded())
        if total < 60 { return "\(total)s" }
        if total < 3600 { return String(format: "%dm%02ds", total / 60, total % 60) }
        return String(format: "%dh%02dm", total / 3600, (total % 3600) / 60)
    }
}
