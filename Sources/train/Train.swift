import ArgumentParser
import ConvNet
import Foundation

/// `swift run train --config configs/mnist.json`: trains a model, writes checkpoints and metrics.
@main
struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a convolutional network described by a JSON config.",
        discussion: """
            Writes <dir>/model.safetensors (for infer), <dir>/last.safetensors (to resume), \
            <dir>/epoch-NNNN.safetensors and <dir>/metrics.csv, where <dir> is the config's \
            checkpoint.directory (default checkpoints/<name>) or --output.
            """)

    @Option(help: "The run's JSON config, e.g. configs/mnist.json.")
    var config: String

    @Option(help: "Total epochs of the run (a resumed run continues up to this).")
    var epochs: Int?

    @Option(help: "Images per step.")
    var batchSize: Int?

    @Option(help: "Base learning rate.")
    var learningRate: Double?

    @Option(help: "Seed for initialisation, shuffling and dropout.")
    var seed: UInt64?

    @Option(help: "Threads for BLAS and the element-wise work.")
    var threads: Int?

    @Option(name: .customLong("output"), help: ArgumentHelp("Checkpoint directory (overrides the config's).", valueName: "dir"))
    var output: String?

    @Option(help: ArgumentHelp("Continue from a training checkpoint (last.safetensors or epoch-NNNN.safetensors).", valueName: "checkpoint"))
    var resume: String?

    @Option(help: ArgumentHelp("Start from a trained model's weights wherever names and shapes match (fine-tuning, e.g. to new classes).", valueName: "checkpoint"))
    var initFrom: String?

    @Option(help: ArgumentHelp("Only evaluate this checkpoint on the config's test set.", valueName: "checkpoint"))
    var evaluate: String?

    @Flag(help: "Print only the final summary.")
    var quiet = false

    func validate() throws {
        if resume != nil && initFrom != nil {
            throw ValidationError("Give --resume (continue a run) or --init-from (start a new one from trained weights), not both.")
        }
    }

    func run() throws {
        do {
            try execute()
        } catch let error as ConvNetError {
            Report.fail(error.description)
        }
    }

    private func execute() throws {
        var overrides: [String: Any] = [:]
        if let epochs { overrides["training.epochs"] = epochs }
        if let batchSize { overrides["training.batchSize"] = batchSize }
        if let learningRate { overrides["training.optimizer.learningRate"] = learningRate }
        if let seed { overrides["training.seed"] = seed }
        if let threads { overrides["training.threads"] = threads }
        let settings = try Configuration.load(contentsOf: config, overrides: overrides)

        if let evaluate {
            try runEvaluation(checkpointPath: evaluate, settings: settings)
            return
        }
        // Read the checkpoints before loading data, so a bad --resume or --init-from fails fast.
        let resumed = try resume.map { (checkpoint: try Checkpoint.read(contentsOf: $0), path: $0) }
        let initial = try initFrom.map { (checkpoint: try Checkpoint.read(contentsOf: $0), path: $0) }
        let data = try TrainingData.load(settings, configurationFile: config)
        let directory = output ?? settings.checkpointDirectory
        let trainer = try Trainer(configuration: settings, data: data, checkpointDirectory: directory,
                                  resume: resumed, configurationFile: config)
        if let (checkpoint, path) = initial {
            let initialization = try trainer.initialize(from: checkpoint, path: path)
            if !quiet {
                let fresh = initialization.fresh.map { "\($0.name) (\($0.reason))" }
                print("Initialised \(initialization.loaded.count) tensors from \(path); \(fresh.isEmpty ? "none afresh" : "afresh: " + fresh.joined(separator: ", "))")
            }
        }
        let printer = ProgressPrinter(name: settings.name, quiet: quiet)
        trainer.observer = printer
        Interruption.install()
        trainer.shouldStop = { Interruption.requested }
        let result = try trainer.run()
        printer.finishLine()

        if result.interrupted {
            print("Stopped at a step boundary; the full training state is in \(result.lastCheckpoint).")
            print("Resume with: swift run train \(resumeArguments(checkpoint: result.lastCheckpoint))")
            throw ExitCode(130)
        }
        printSummary(result, classNames: data.classNames)
    }

    private func runEvaluation(checkpointPath: String, settings: ConvNet.Configuration) throws {
        let checkpoint = try Checkpoint.read(contentsOf: checkpointPath)
        let model = try checkpoint.makeModel()
        var evaluationSettings = settings
        evaluationSettings.data.validation = 0
        evaluationSettings.model = checkpoint.model
        let data = try TrainingData.load(evaluationSettings, configurationFile: config)
        guard data.classNames.count == checkpoint.classNames.count else {
            throw CheckpointError(file: checkpointPath, "has \(checkpoint.classNames.count) classes but the config's data has \(data.classNames.count)")
        }
        let result = Evaluator(normalization: checkpoint.normalization).evaluate(model, on: data.test)
        print("\(checkpointPath) on \(Report.grouped(result.count)) test images: accuracy \(Report.percent(result.accuracy)), loss \(String(format: "%.4f", result.loss))")
        print(Report.evaluation(result, classNames: checkpoint.classNames))
    }

    private func printSummary(_ result: TrainingResult, classNames: [String]) {
        guard let last = result.epochs.last else { return }
        let selection = last.validation == nil ? "test" : "validation"
        print("Best \(selection) accuracy \(Report.percent(result.bestAccuracy)) (epoch \(result.bestEpoch)); "
              + "final test accuracy \(Report.percent(last.test.accuracy)) after \(last.epoch) epoch\(last.epoch == 1 ? "" : "s").")
        if result.stoppedEarly {
            print("Stopped early: no better \(selection) accuracy in the \(last.epoch - result.bestEpoch) epochs since epoch \(result.bestEpoch).")
        }
        print(Report.evaluation(last.test, classNames: classNames))
        let directory = result.checkpointDirectory
        print("Checkpoints: \(directory)/model.safetensors (last epoch, for infer), \(directory)/best.safetensors (epoch \(result.bestEpoch)), "
              + "\(directory)/last.safetensors (to resume), metrics in \(directory)/metrics.csv")
    }

    /// This run's arguments with `--resume` pointing at `checkpoint`.
    private func resumeArguments(checkpoint: String) -> String {
        var arguments: [String] = []
        var skipNext = false
        for argument in CommandLine.arguments.dropFirst() {
            if skipNext { skipNext = false; continue }
            if argument == "--resume" { skipNext = true; continue }
            if argument.hasPrefix("--resume=") { continue }
            arguments.append(argument)
        }
        arguments += ["--resume", checkpoint]
        return arguments.map { $0.contains(" ") ? "'\($0)'" : $0 }.joined(separator: " ")
    }
}


/// Shows a live progress bar on a terminal, one line per epoch otherwise.
final class ProgressPrinter: TrainingObserver {
    private let name: String
    private let quiet: Bool
    private let live = isatty(STDOUT_FILENO) == 1
    private var epochs = 0
    private var lastDraw = 0.0
    private var barShown = false

    init(name: String, quiet: Bool) {
        self.name = name
        self.quiet = quiet
    }

    func trainingWillStart(_ plan: TrainingPlan) {
        epochs = plan.epochs
        guard !quiet else { return }
        print(Report.start(name: name, plan: plan))
        print("Checkpoints go to \(plan.checkpointDirectory)/")
        fflush(nil)  // all streams: `stdout` is a global the Swift 6 checker cannot prove safe
    }

    func batchDidFinish(_ progress: BatchProgress) {
        guard live, !quiet else { return }
        let now = Date().timeIntervalSinceReferenceDate
        guard now - lastDraw > 0.1 || progress.step == progress.steps else { return }
        lastDraw = now
        print("\r\u{1B}[2K" + Report.progress(progress), terminator: "")
        fflush(nil)  // all streams: `stdout` is a global the Swift 6 checker cannot prove safe
        barShown = true
    }

    func epochDidFinish(_ metrics: EpochMetrics) {
        guard !quiet else { return }
        finishLine()
        print(Report.epoch(metrics, of: epochs))
        fflush(nil)  // all streams: `stdout` is a global the Swift 6 checker cannot prove safe
    }

    /// Clears the progress bar so the next line starts clean.
    func finishLine() {
        if barShown {
            print("\r\u{1B}[2K", terminator: "")
            barShown = false
        }
    }
}
