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
        return text
    }

    /// The live progress line: `epoch 3/12 [=======>      ] 412/938  loss 0.0512 acc 98.4%  9,812 img/s  ETA 3s`.
    public static func progress(_ p: BatchProgress, barWidth: Int = 24) -> String {
        let filled = p.steps == 0 ? 0 : min(barWidth, barWidth * p.step / p.steps)
        let bar = String(repeating: "=", count: filled) + (filled < barWidth ? ">" + String(repeating: " ", count: barWidth - filled - 1) : "")
        return String(format: "epoch %d/%d [%@] %d/%d  loss %.4f acc %@  %@ img/s  ETA %@",
                      p.epoch, p.epochs, bar, p.step, p.steps, p.loss, percent(p.accuracy),
                      grouped(Int(p.imagesPerSecond.rounded())), duration(p.secondsRemaining))
    }

    /// Per-class accuracy on one line and the confusion matrix (rows true, columns predicted).
    public static func evaluation(_ result: EvaluationResult, classNames: [String]) -> String {
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

    /// Prints `error: <message>` as one line to stderr and exits with status 1: how the
    /// executables report a problem.
    public static func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data("error: \(message)\n".utf8))
        exit(1)
    }

    /// `98.76%`.
    public static func percent(_ fraction: Double) -> String { String(format: "%.2f%%", fraction * 100) }

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

    /// `0.01`, `0.0005`, `1e-05`.
    public static func shortNumber(_ value: Double) -> String { String(format: "%g", value) }

    /// `42s`, `3m05s`.
    public static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite else { return "?" }
        let total = Int(seconds.rounded())
        return total < 60 ? "\(total)s" : String(format: "%dm%02ds", total / 60, total % 60)
    }
}
