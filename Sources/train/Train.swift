import ArgumentParser
import ConvNet
import Foundation

/// `swift run train configs/mnist.json`: trains a model, writes checkpoints, metrics and a report.
@main
struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a convolutional network described by a JSON config.",
        discussion: """
            Writes into <dir>: model.safetensors (the last epoch, for infer), best.safetensors (the \
            best epoch), last.safetensors (to resume), epoch-NNNN.safetensors, metrics.csv, \
            confusion-last.csv, confusion-best.csv and report.html, where <dir> is the config's \
            checkpoint.directory (default checkpoints/<name>) or --output.
            """,
        version: ConvNetVersion.string)

    @Argument(help: ArgumentHelp("The run's JSON config, e.g. configs/mnist.json (or give it with --config).", valueName: "config"))
    var configArgument: String?

    @Option(name: [.customShort("c"), .long], help: ArgumentHelp("The run's JSON config.", valueName: "file"))
    var config: String?

    @Option(name: [.short, .long], help: "Total epochs of the run (a resumed run continues up to this).")
    var epochs: Int?

    @Option(name: [.short, .long], help: "Images per step.")
    var batchSize: Int?

    @Option(name: [.customLong("learning-rate"), .customLong("lr")], help: "Base learning rate (--lr for short).")
    var learningRate: Double?

    @Option(help: "Seed for initialisation, shuffling, augmentation and dropout.")
    var seed: UInt64?

    @Option(name: [.short, .long], help: "Threads for BLAS and the element-wise work.")
    var threads: Int?

    @Option(name: [.short, .customLong("output")], help: ArgumentHelp("Checkpoint directory (overrides the config's).", valueName: "dir"))
    var output: String?

    @Option(help: ArgumentHelp("Continue from a training checkpoint (last.safetensors or epoch-NNNN.safetensors).", valueName: "checkpoint"))
    var resume: String?

    @Option(help: ArgumentHelp("Start from a trained model's weights wherever names and shapes match (fine-tuning, e.g. to new classes).", valueName: "checkpoint"))
    var initFrom: String?

    @Option(help: ArgumentHelp("Only evaluate this checkpoint on the config's test set.", valueName: "checkpoint"))
    var evaluate: String?

    @Flag(help: "Print the model table (layers, output shapes, parameters, multiply-adds) and exit.")
    var summary = false

    @Option(help: ArgumentHelp("Progress during an epoch: bar (a live line on a terminal), lines (a line every --progress-interval seconds, for logs), none; default bar on a terminal, none otherwise.", valueName: "mode"))
    var progress: ProgressMode?

    @Option(help: ArgumentHelp("Seconds between progress lines with --progress lines.", valueName: "seconds"))
    var progressInterval: Double = 10

    @Flag(name: [.short, .long], help: "Print only the final summary.")
    var quiet = false

    /// The `--progress` values.
    enum ProgressMode: String, ExpressibleByArgument, CaseIterable {
        case bar, lines, none
    }

    /// The config file, given either way.
    private var configPath: String { config ?? configArgument ?? "" }

    func validate() throws {
        switch (config, configArgument) {
        case (nil, nil): throw ValidationError("Give the config, e.g. train configs/mnist.json.")
        case (.some(let option), .some(let argument)) where option != argument:
            throw ValidationError("Give the config once: \(argument) and --config \(option).")
        default: break
        }
        if resume != nil && initFrom != nil {
            throw ValidationError("Give --resume (continue a run) or --init-from (start a new one from trained weights), not both.")
        }
        guard progressInterval > 0 && progressInterval.isFinite else {
            throw ValidationError("--progress-interval must be a positive number of seconds.")
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
        let settings = try Configuration.load(contentsOf: configPath, overrides: overrides)

        if summary {
            let plan = try ModelPlan(settings.model)
            print("Model of \(configPath):")
            print(plan.table)
            return
        }
        if let evaluate {
            try runEvaluation(checkpointPath: evaluate, settings: settings)
            return
        }
        // Read the checkpoints before loading data, so a bad --resume or --init-from fails fast.
        let resumed = try resume.map { (checkpoint: try Checkpoint.read(contentsOf: $0), path: $0) }
        let initial = try initFrom.map { (checkpoint: try Checkpoint.read(contentsOf: $0), path: $0) }
        let data = try TrainingData.load(settings, configurationFile: configPath)
        let directory = output ?? settings.checkpointDirectory
        let trainer = try Trainer(configuration: settings, data: data, checkpointDirectory: directory,
                                  resume: resumed, configurationFile: configPath)
        if !quiet {
            print((try? ModelPlan(settings.model).table) ?? "")
        }
        if let (checkpoint, path) = initial {
            let initialization = try trainer.initialize(from: checkpoint, path: path)
            if !quiet {
                let fresh = initialization.fresh.map { "\($0.name) (\($0.reason))" }
                print("Initialised \(initialization.loaded.count) tensors from \(path); \(fresh.isEmpty ? "none afresh" : "afresh: " + fresh.joined(separator: ", "))")
            }
        }
        let terminal = isatty(STDOUT_FILENO) == 1
        let mode = quiet ? .none : progress ?? (terminal ? .bar : .none)
        let printer = ProgressPrinter(name: settings.name, quiet: quiet, mode: mode, interval: progressInterval)
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
        let data = try TrainingData.load(evaluationSettings, configurationFile: configPath)
        guard data.classNames == checkpoint.classNames else {
            throw CheckpointError(file: checkpointPath, "was trained on classes \(Report.list(checkpoint.classNames)) but \(configPath)'s data has \(Report.list(data.classNames))")
        }
        let result = Evaluator(normalization: checkpoint.normalization).evaluate(model, on: data.test)
        print("\(checkpointPath) on \(Report.grouped(result.count)) test images: accuracy \(Report.percent(result.accuracy)), loss \(String(format: "%.4f", result.loss))")
        print(Report.evaluation(result, classNames: checkpoint.classNames))
    }

    private func printSummary(_ result: TrainingResult, classNames: [String]) {
        guard let last = result.epochs.last else {
            if result.stoppedEarly { print("Nothing to do: the run had already stopped early, at epoch \(result.bestEpoch) + its patience.") }
            return
        }
        let selection = last.validation == nil ? "test" : "validation"
        print("Best \(selection) accuracy \(Report.percent(result.bestAccuracy)) (epoch \(result.bestEpoch)); "
              + "final test accuracy \(Report.percent(last.test.accuracy)) after \(last.epoch) epoch\(last.epoch == 1 ? "" : "s").")
        if result.stoppedEarly {
            print("Stopped early: no better \(selection) accuracy in the \(last.epoch - result.bestEpoch) epochs since epoch \(result.bestEpoch).")
        }
        print(Report.evaluation(last.test, classNames: classNames))
        let directory = result.checkpointDirectory
        print("Checkpoints: \(directory)/model.safetensors (last epoch, for infer), \(directory)/best.safetensors (epoch \(result.bestEpoch)), "
              + "\(directory)/last.safetensors (to resume); metrics in \(directory)/metrics.csv; report in \(directory)/report.html")
    }

    /// This run's arguments with `--resume` pointing at `checkpoint`, each quoted for a POSIX shell.
    private func resumeArguments(checkpoint: String) -> String {
        var arguments: [String] = []
        var skipNext = false
        for argument in CommandLine.arguments.dropFirst() {
            if skipNext { skipNext = false; continue }
            if argument == "--resume" || argument == "--init-from" { skipNext = true; continue }
            if argument.hasPrefix("--resume=") || argument.hasPrefix("--init-from=") { continue }
            arguments.append(argument)
        }
        arguments += ["--resume", checkpoint]
        return arguments.map(Report.shellQuoted).joined(separator: " ")
    }
}
