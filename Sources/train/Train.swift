import ArgumentParser
import CommandLineSupport
import ConvNet
import ConvNetMPI
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

            Data-parallel over MPI: mpirun -np P train CONFIG splits each batch over P processes \
            (on one machine or several); rank 0 writes the files and the output.
            """,
        version: ConvNetVersion.string)

    /// A usage error is one line: `error: unknown option '--foo'; see train --help`.
    static func main() { mainReportingOneLine() }

    @Argument(help: ArgumentHelp("The run's JSON config, e.g. configs/mnist.json (or give it with --config).", valueName: "config"))
    var configArgument: String?

    @Option(name: [.customShort("c"), .long], help: ArgumentHelp("The run's JSON config.", valueName: "file"))
    var config: String?

    @Option(name: [.short, .long], parsing: .unconditional, help: "Total epochs of the run (a resumed run continues up to this).")
    var epochs: Int?

    @Option(name: [.short, .long], parsing: .unconditional, help: "Images per step.")
    var batchSize: Int?

    @Option(name: [.customLong("learning-rate"), .customLong("lr")], parsing: .unconditional, help: "Base learning rate (--lr for short).")
    var learningRate: Double?

    @Option(parsing: .unconditional, help: "Seed for initialisation, shuffling, augmentation and dropout.")
    var seed: UInt64?

    @Option(name: [.short, .long], parsing: .unconditional, help: "Threads for BLAS and the element-wise work.")
    var threads: Int?

    @Option(name: [.short, .customLong("output")], help: ArgumentHelp("Checkpoint directory (overrides the config's).", valueName: "dir"))
    var output: String?

    @Option(help: ArgumentHelp("Continue from a training checkpoint (last.safetensors or epoch-NNNN.safetensors).", valueName: "checkpoint"))
    var resume: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("Refuse a run whose memory estimate is over this (e.g. 2G, 500M; default: the machine's memory).", valueName: "size"))
    var maxMemory: String?

    @Flag(help: "Start a new run in a directory that holds an earlier one, deleting its checkpoints, metrics and report.")
    var overwrite = false

    @Option(help: ArgumentHelp("Start from a trained model's weights wherever names and shapes match (fine-tuning, e.g. to new classes).", valueName: "checkpoint"))
    var initFrom: String?

    @Option(help: ArgumentHelp("Only evaluate this checkpoint on the config's test set.", valueName: "checkpoint"))
    var evaluate: String?

    @Flag(help: "Print the model table (layers, output shapes, parameters, multiply-adds) and exit.")
    var summary = false

    @Option(help: ArgumentHelp("Progress during an epoch: bar (a live line on a terminal), lines (a line every --progress-interval seconds, for logs), none; default bar on a terminal, none otherwise.", valueName: "mode"))
    var progress: ProgressMode?

    @Option(parsing: .unconditional, help: ArgumentHelp("Seconds between progress lines with --progress lines.", valueName: "seconds"))
    var progressInterval: Double = 10

    @Flag(name: [.short, .long], help: "Print only the final summary.")
    var quiet = false

    @Option(parsing: .unconditional, help: ArgumentHelp("Under mpirun: seconds a process waits for the others before declaring the run stuck.", valueName: "seconds"))
    var collectiveTimeout: Double = 300

    @Option(parsing: .unconditional, help: ArgumentHelp("Under mpirun: size of the gradient buckets summed while backward runs, in KB.", valueName: "KB"))
    var bucketKb: Int = 512

    @Flag(help: "Under mpirun: sum the gradients only after backward, not overlapped with it (for measuring the overlap).")
    var noOverlap = false

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
        if let maxMemory, MemoryBudget.parse(maxMemory) == nil {
            throw ValidationError("--max-memory must be a positive size such as 2G or 500M, found '\(maxMemory)'.")
        }
        if let output, output.isEmpty { throw ValidationError("--output must name a folder") }
        if resume != nil && overwrite {
            throw ValidationError("Give --resume (continue the run) or --overwrite (replace it), not both.")
        }
        if resume != nil && initFrom != nil {
            throw ValidationError("Give --resume (continue a run) or --init-from (start a new one from trained weights), not both.")
        }
        guard progressInterval > 0 && progressInterval.isFinite else {
            throw ValidationError("--progress-interval must be a positive number of seconds.")
        }
        guard collectiveTimeout > 0 && collectiveTimeout.isFinite else {
            throw ValidationError("--collective-timeout must be a positive number of seconds.")
        }
        guard bucketKb >= 1 && bucketKb <= 1 << 20 else {
            throw ValidationError("--bucket-kb must be in 1...1048576.")
        }
    }

    func run() throws {
        // Started by mpirun for several processes: one of a data-parallel run.
        var group: MPIProcessGroup?
        if MPIProcessGroup.isLaunchedForSeveralProcesses {
            do { group = try MPIProcessGroup(timeout: collectiveTimeout) } catch { Report.fail(error.description) }
        }
        do {
            try execute(processes: group)
        } catch let shared as SharedError {
            // Every process is here: rank 0 prints the one line, then all end together
            // (the others wait for it, or mpirun could stop rank 0 before it prints).
            if group?.rank ?? 0 == 0 { FileHandle.standardError.write(Data("error: \(shared.error.description)\n".utf8)) }
            _ = group?.sum([0])
            group?.finalize()
            Foundation.exit(1)
        } catch let error as ConvNetError {
            guard let group else { Report.fail(error.description) }
            // Only this process may have met it: it says which rank and machine, and exiting
            // non-zero makes mpirun end the others.
            let origin = group.rank == 0 ? "" : " on rank \(group.rank) (\(group.hostName))"
            FileHandle.standardError.write(Data("error\(origin): \(error.description)\n".utf8))
            Foundation.exit(1)
        } catch let code as ExitCode {
            group?.finalize()
            throw code
        }
        group?.finalize()
    }

    /// An error every process of a data-parallel run met at the same point, from inputs they
    /// were checked to share (after `Trainer.init` compared config, data and checkpoint), so rank
    /// 0's line says it all. Other errors (a file missing on one machine, a failed collective)
    /// are reported by the process that met them.
    struct SharedError: Error {
        let error: any ConvNetError
    }

    private func execute(processes group: MPIProcessGroup?) throws {
        let processes: any ProcessGroup = group ?? SingleProcess()
        // Only rank 0 prints; the other processes of a data-parallel run are silent.
        let quiet = self.quiet || processes.rank != 0
        var overrides: [ConfigurationOverride] = []
        if let epochs { overrides.append(.init("--epochs", keyPath: "training.epochs", value: epochs)) }
        if let batchSize { overrides.append(.init("--batch-size", keyPath: "training.batchSize", value: batchSize)) }
        if let learningRate { overrides.append(.init("--learning-rate", keyPath: "training.optimizer.learningRate", value: learningRate)) }
        if let seed { overrides.append(.init("--seed", keyPath: "training.seed", value: seed)) }
        if let threads { overrides.append(.init("--threads", keyPath: "training.threads", value: threads)) }
        let settings = try Configuration.load(contentsOf: configPath, overrides: overrides)

        if summary {
            guard processes.rank == 0 else { return }
            let plan = try ModelPlan(settings.model)
            print("Model of \(oneLine(configPath)):")
            print(plan.table)
            return
        }
        if let evaluate {
            guard processes.rank == 0 else { return }
            try runEvaluation(checkpointPath: evaluate, settings: settings)
            return
        }
        // Read the checkpoints before loading data, so a bad --resume or --init-from fails fast.
        let resumed = try resume.map { (checkpoint: try Checkpoint.read(contentsOf: $0), path: $0) }
        let initial = try initFrom.map { (checkpoint: try Checkpoint.read(contentsOf: $0), path: $0) }
        let data = try TrainingData.load(settings, configurationFile: configPath)
        let directory = output ?? settings.checkpointDirectory
        // Only rank 0 writes: a directory it cannot use is its own error, met before the
        // processes compare their inputs (after that, the errors of making the trainer are shared).
        if processes.rank == 0 {
            do { try prepareWritableDirectory(directory) } catch { throw TrainingError.checkpoint(error) }
        }
        let memoryLimit = maxMemory.flatMap(MemoryBudget.parse)
        let trainer: Trainer
        do {
            trainer = try Trainer(configuration: settings, data: data, checkpointDirectory: directory,
                                  resume: resumed, configurationFile: configPath, processes: processes,
                                  gradientBucketBytes: bucketKb << 10, overwrite: overwrite,
                                  memoryLimit: memoryLimit)
        } catch {
            // The processes compare their inputs first thing: any other error is then everyone's.
            if processes.size > 1, !error.isCommunicationFailure { throw SharedError(error: error) }
            throw error
        }
        trainer.gradientSynchronizer?.overlap = !noOverlap
        if !quiet {
            print((try? ModelPlan(settings.model).table) ?? "")
            print("memory: about \(formatBytes(trainer.memoryEstimate)) (model, batch \(settings.training.batchSize / processes.size), data), of \(formatBytes(memoryLimit ?? MemoryBudget.machineBytes))\(memoryLimit == nil ? " this machine has" : " allowed by --max-memory")")
        }
        if let (checkpoint, path) = initial {
            let initialization = try trainer.initialize(from: checkpoint, path: path)
            if !quiet {
                let fresh = initialization.fresh.map { "\($0.name) (\($0.reason))" }
                print("Initialised \(initialization.loaded.count) tensors from \(oneLine(path)); \(fresh.isEmpty ? "none afresh" : "afresh: " + fresh.joined(separator: ", "))")
            }
        }
        let terminal = isatty(STDOUT_FILENO) == 1
        // Under mpirun a process's output is a pseudo-terminal even when mpirun's goes to a file:
        // no bar unless asked for.
        let mode = quiet ? .none : progress ?? (terminal && processes.size == 1 ? .bar : .none)
        let printer = ProgressPrinter(name: settings.name, quiet: quiet, mode: mode, interval: progressInterval)
        if processes.rank == 0 { trainer.observer = printer }
        Interruption.install(notice: processes.size == 1 ? .singleProcess : processes.rank == 0 ? .dataParallel : .none)
        trainer.shouldStop = { Interruption.requested }
        let result: TrainingResult
        do {
            result = try trainer.run()
        } catch {
            switch error {
            case .diverged, .nonFiniteState, .processesDiffer: if processes.size > 1 { throw SharedError(error: error) }
            default: break
            }
            throw error
        }
        printer.finishLine()
        guard processes.rank == 0 else {
            if result.interrupted { throw ExitCode(130) }
            return
        }

        if result.interrupted {
            print("Stopped at a step boundary; the full training state is in \(oneLine(result.lastCheckpoint)).")
            let command = processes.size > 1 ? "mpirun -np \(processes.size) \(Report.shellQuoted(CommandLine.arguments[0]))" : "swift run train"
            print("Resume with: " + Report.resumeCommand(command, arguments: Array(CommandLine.arguments.dropFirst()), checkpoint: result.lastCheckpoint))
            throw ExitCode(130)
        }
        printSummary(result, classNames: data.classNames)
    }

    private func runEvaluation(checkpointPath: String, settings: ConvNet.Configuration) throws {
        let checkpoint = try Checkpoint.read(contentsOf: checkpointPath)
        let model: Sequential
        do { model = try checkpoint.makeModel() } catch { throw CheckpointError(file: checkpointPath, error.message) }
        var evaluationSettings = settings
        evaluationSettings.data.validation = 0
        evaluationSettings.model = checkpoint.model
        let data = try TrainingData.load(evaluationSettings, configurationFile: configPath, modelFile: checkpointPath)
        guard data.classNames == checkpoint.classNames else {
            throw CheckpointError(file: checkpointPath, "was trained on classes \(Report.list(checkpoint.classNames)) but \(configPath)'s data has \(Report.list(data.classNames))")
        }
        let result = Evaluator(normalization: checkpoint.normalization).evaluate(model, on: data.test)
        guard result.loss.isFinite else {
            throw CheckpointError(file: checkpointPath, "its model's outputs are not numbers on the test images (its weights overflow): the loss is \(result.loss)")
        }
        print("\(oneLine(checkpointPath)) on \(Report.grouped(result.count)) test images: accuracy \(Report.percent(result.accuracy)), loss \(String(format: "%.4f", result.loss))")
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
        let directory = oneLine(result.checkpointDirectory)
        print("Checkpoints: \(directory)/model.safetensors (last epoch, for infer), \(directory)/best.safetensors (epoch \(result.bestEpoch)), "
              + "\(directory)/last.safetensors (to resume); metrics in \(directory)/metrics.csv; report in \(directory)/report.html")
    }
}

extension TrainingError {
    /// A collective that failed or timed out: met by one process, not by all alike.
    var isCommunicationFailure: Bool {
        if case .communication = self { return true }
        return false
    }
}
