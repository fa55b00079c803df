import Foundation

/// One epoch's results.
public struct EpochMetrics: Sendable {
    /// 1-based epoch number.
    public var epoch: Int
    /// The learning rate at the epoch's last step.
    public var learningRate: Double
    /// Mean training loss over the epoch's batches (weighted by batch size).
    public var trainLoss: Double
    /// Training accuracy over the epoch (in training mode, dropout on).
    public var trainAccuracy: Double
    /// Validation results, when a validation split is configured.
    public var validation: EvaluationResult?
    /// Test results.
    public var test: EvaluationResult
    /// Seconds spent training (evaluation excluded).
    public var seconds: Double
    /// Training images per second.
    public var imagesPerSecond: Double
    /// In a data-parallel run, the gradient all-reduce's traffic and waiting over the epoch.
    public var communication: CommunicationStatistics?

    /// An epoch's results from their parts.
    public init(epoch: Int, learningRate: Double, trainLoss: Double, trainAccuracy: Double, validation: EvaluationResult?,
                test: EvaluationResult, seconds: Double, imagesPerSecond: Double) {
        self.epoch = epoch; self.learningRate = learningRate; self.trainLoss = trainLoss; self.trainAccuracy = trainAccuracy
        self.validation = validation; self.test = test; self.seconds = seconds; self.imagesPerSecond = imagesPerSecond
    }
}

/// What a data-parallel epoch's gradient all-reduce cost, per step.
public struct CommunicationStatistics: Sendable {
    /// Processes P.
    public var processes: Int
    /// Bytes each process contributes to the sums per step (the gradient arena and a few scalars).
    public var bytesPerStep: Int
    /// Seconds per step spent waiting for the sums after backward: the communication that
    /// overlapping with backward did not hide.
    public var waitSecondsPerStep: Double
}

/// Where an epoch is, reported after every step.
public struct BatchProgress: Sendable {
    /// 1-based epoch and total epochs.
    public var epoch: Int, epochs: Int
    /// Steps done in this epoch and steps per epoch.
    public var step: Int, steps: Int
    /// Mean loss and accuracy over the epoch so far.
    public var loss: Double, accuracy: Double
    /// Training images per second so far this epoch.
    public var imagesPerSecond: Double
    /// Estimated seconds left in this epoch.
    public var secondsRemaining: Double
    /// Estimated seconds left in the whole run: this epoch, the epochs after it and their evaluations.
    public var runSecondsRemaining: Double = .nan
}

/// What a run is about to do.
public struct TrainingPlan: Sendable {
    /// Epoch (0-based) and step the run starts from (non-zero when resuming).
    public var startEpoch: Int, startStep: Int
    /// Total epochs.
    public var epochs: Int
    /// Steps per epoch and batch size.
    public var stepsPerEpoch: Int, batchSize: Int
    /// Image counts.
    public var trainCount: Int, validationCount: Int, testCount: Int
    /// Learnable parameters.
    public var parameterCount: Int
    /// Threads used.
    public var threads: Int
    /// Where checkpoints go.
    public var checkpointDirectory: String
    /// Processes of a data-parallel run (1 otherwise); each takes batchSize / processes images a step.
    public var processes: Int = 1
}

/// How a run ended.
public struct TrainingResult: Sendable {
    /// Epochs completed in this process.
    public var epochs: [EpochMetrics]
    /// Best validation accuracy (test accuracy when there is no validation split) and its 1-based epoch.
    public var bestAccuracy: Double, bestEpoch: Int
    /// The checkpoint directory.
    public var checkpointDirectory: String
    /// True when stopped by `shouldStop` before finishing; `last.safetensors` then holds the position.
    public var interrupted: Bool
    /// True when early stopping ended the run: `patience` epochs without improvement.
    public var stoppedEarly = false
    /// The last full-training-state checkpoint written.
    public var lastCheckpoint: String
}

/// Receives progress during training. All methods have empty defaults.
public protocol TrainingObserver: AnyObject {
    /// Before the first step.
    func trainingWillStart(_ plan: TrainingPlan)
    /// After every step.
    func batchDidFinish(_ progress: BatchProgress)
    /// After each epoch's evaluation and checkpoint.
    func epochDidFinish(_ metrics: EpochMetrics)
}

extension TrainingObserver {
    public func trainingWillStart(_ plan: TrainingPlan) {}
    public func batchDidFinish(_ progress: BatchProgress) {}
    public func epochDidFinish(_ metrics: EpochMetrics) {}
}

/// The training loop: shuffles, steps the optimizer, evaluates, checkpoints and resumes.
///
/// Each step is forward, loss, zero gradients, backward, update. The order of the
/// training images in epoch e is a permutation drawn from a generator seeded with
/// (seed, e), so a run resumed at any step sees exactly the images it would have.
///
/// Data-parallel (`processes` of P > 1, e.g. under `mpirun`): every process holds the whole
/// model and takes its contiguous share of each batch of that same permutation (B / P images);
/// its loss gradient is scaled by 1/B and the gradients are summed over the processes while
/// backward runs (`GradientSynchronizer`), so every process applies the same update, that of
/// the whole batch. Evaluation is split across the processes and combined. Rank 0 alone writes
/// checkpoints, metrics and the report. Batch norm uses each process's share's statistics
/// (running estimates averaged over the processes before evaluating and saving) unless
/// `training.syncBatchNorm`.
public final class Trainer {
    /// The config being run (after overrides).
    public let configuration: Configuration
    /// The model being trained.
    public let model: Sequential
    /// The optimizer, as the config's `training.optimizer` describes it.
    public let optimizer: any Optimizer
    /// The data.
    public let data: TrainingData
    /// Where checkpoints and metrics.csv are written.
    public let checkpointDirectory: String
    /// Checked after every step; returning true stops the run at that step boundary,
    /// after writing a resumable `last.safetensors`.
    public var shouldStop: () -> Bool = { false }
    /// Progress receiver.
    public weak var observer: (any TrainingObserver)?
    /// The processes of a data-parallel run (one process otherwise).
    public let processes: any ProcessGroup
    /// Sums the gradients over the processes during backward; nil for one process.
    public let gradientSynchronizer: GradientSynchronizer?

    private let normalization: Normalization
    private let loss: SoftmaxCrossEntropy
    private let loader: BatchLoader
    private let evaluator: Evaluator
    /// Epoch in progress (0-based) and steps done in it.
    private var epoch = 0, step = 0
    /// Sums over the epoch in progress.
    private var lossSum = 0.0, correct = 0, seen = 0, epochSeconds = 0.0
    private var bestAccuracy = 0.0, bestEpoch = 0
    /// Seconds the last epoch's evaluation took (for the run's ETA).
    private var evaluationSeconds = 0.0
    /// The best epoch's test confusion matrix, and the report as last written (for its final status).
    private var bestConfusion: [[Int]] = [], report: RunReport?
    private var metricsRows: [String] = []
    /// Bytes this process is expected to need at most: model and batch (see
    /// `ModelPlan.memoryEstimate`), the data as bytes, and the process itself.
    public let memoryEstimate: Int
    /// Held from `init` until `run` returns, while this trainer may write into
    /// `checkpointDirectory` (rank 0 only).
    private var directoryLock: RunDirectoryLock?

    /// Prepares a run of `configuration` on `data`, writing to `checkpointDirectory`,
    /// continuing from `resume` (a training checkpoint of the same architecture) if given.
    /// `processes` are the processes of a data-parallel run (one by default): `training.batchSize`
    /// must be a multiple of their number; their gradients are summed in buckets of about
    /// `gradientBucketBytes`. The trainer locks `checkpointDirectory` until `run` returns (see
    /// `RunDirectoryLock`); a new run (no `resume`) into a directory holding an earlier run's
    /// files is refused unless `overwrite`, which deletes them first. A run whose
    /// `memoryEstimate` exceeds `memoryLimit` (default: `MemoryBudget.machineBytes`) is refused
    /// before the model is allocated.
    public init(configuration: Configuration, data: TrainingData, checkpointDirectory: String,
                resume: (checkpoint: Checkpoint, path: String)? = nil, configurationFile: String = "config",
                processes: any ProcessGroup = SingleProcess(), gradientBucketBytes: Int = 512 << 10,
                overwrite: Bool = false, memoryLimit: Int? = nil) throws(TrainingError) {
        self.configuration = configuration
        self.data = data
        self.checkpointDirectory = checkpointDirectory
        self.processes = processes
        let training = configuration.training
        if processes.size > 1 {
            // First of all, so that every later error is met by every process alike.
            var settings = configuration
            settings.training.threads = 1  // may differ between machines
            let disagreement = processes.firstDisagreement([
                ("config", RunFingerprint.of(Array(settings.jsonString().utf8))),
                ("data", RunFingerprint.of(data)),
                ("--resume checkpoint", RunFingerprint.of(resume?.checkpoint)),
            ])
            if let failure = processes.failure { throw .communication(failure) }
            if let disagreement { throw .processesDiffer(part: disagreement.part, rank: disagreement.rank) }
        }
        if processes.size > 1, let (checkpoint, path) = resume, checkpoint.step > 0,
           let stored = checkpoint.configuration.flatMap({ try? Configuration.parse(Data($0.utf8), file: path) }),
           stored.training.batchSize % processes.size != 0 {
            throw .checkpoint(CheckpointError(file: path,
                "stopped in the middle of an epoch with batch size \(stored.training.batchSize), which does not split over \(processes.size) processes; resume it with a process count that divides \(stored.training.batchSize), or from the end of an epoch (an epoch-NNNN.safetensors file)"))
        }
        guard training.batchSize % processes.size == 0 else {
            // The multiples on either side, or only the one above when the batch is smaller than the process count.
            let lower = training.batchSize / processes.size * processes.size
            let examples = lower == 0 ? "\(processes.size)" : "\(lower) or \(lower + processes.size)"
            throw .configuration(ConfigError(file: configurationFile,
                "training.batchSize \(training.batchSize) does not split evenly over \(processes.size) processes; give a multiple of \(processes.size), e.g. --batch-size \(examples)"))
        }
        BLAS.threads = training.threads
        Parallelism.threads = training.threads
        let plan: ModelPlan
        do { plan = try ModelPlan(configuration.model) } catch { throw .model(configurationFile, error) }
        let share = training.batchSize / processes.size
        let imageCount = data.train.count + (data.validation?.count ?? 0) + data.test.count
        memoryEstimate = plan.memoryEstimate(batchSize: share, training: true, optimizerStates: 2, threads: training.threads)
            .addingSaturating(imageCount.multipliedSaturating(by: configuration.model.input.reduce(1, *)))
            .addingSaturating(MemoryBudget.processBaseBytes)
        let limit = memoryLimit ?? MemoryBudget.machineBytes
        guard memoryEstimate <= limit else {
            throw .configuration(ConfigError(file: configurationFile,
                "the run would need about \(formatBytes(memoryEstimate)) (the model with batch \(share), the data, the process), more than the \(formatBytes(limit)) \(memoryLimit == nil ? "this machine has" : "of --max-memory"); lower training.batchSize (--batch-size) or the model's size\(memoryLimit == nil ? "" : ", or raise --max-memory")"))
        }
        do {
            model = try Sequential(configuration.model, seed: training.seed)
        } catch {
            throw .model(configurationFile, error)
        }
        guard model.outputCount == data.classNames.count else {
            throw .configuration(ConfigError(file: configurationFile,
                "the model ends with \(model.outputCount) outputs but the data has \(data.classNames.count) classes; make the last dense layer's units \(data.classNames.count)"))
        }
        optimizer = training.optimizer.makeOptimizer(for: model.arena)
        gradientSynchronizer = processes.size > 1 ? GradientSynchronizer(model: model, processes: processes, bucketBytes: gradientBucketBytes) : nil
        loss = SoftmaxCrossEntropy(labelSmoothing: Float(training.labelSmoothing))
        if let (checkpoint, path) = resume {
            // What the run so far used: a config asking for other values would train on inputs
            // the weights were not made for, and its checkpoints would contradict themselves.
            if case .fixed(let asked) = configuration.data.normalize, asked != checkpoint.normalization {
                throw .checkpoint(CheckpointError(file: path, "was trained with data.normalize \(jsonString(checkpoint.normalization)) but the config says \(jsonString(asked)); resume with the normalisation it was trained with"))
            }
            normalization = checkpoint.normalization
        } else {
            normalization = try data.normalization(for: configuration, configurationFile: configurationFile)
        }
        loader = BatchLoader(normalization: normalization)
        // Evaluating in training-sized batches reuses the training pass's buffers: a larger
        // batch would add its own activations to the run's peak memory for little speed.
        evaluator = Evaluator(normalization: normalization, batchSize: share)
        if let (checkpoint, path) = resume { try restore(checkpoint, path: path) }
        if writesFiles {
            do throws(CheckpointError) {
                try prepareWritableDirectory(checkpointDirectory)
                directoryLock = try RunDirectoryLock(directory: checkpointDirectory)
                let earlier = RunDirectoryLock.runFiles(in: checkpointDirectory)
                if resume == nil && !earlier.isEmpty {
                    guard overwrite else {
                        let resumable = earlier.contains("last.safetensors") ? "continue it with --resume \(checkpointDirectory)/last.safetensors, " : ""
                        throw CheckpointError(file: checkpointDirectory, "holds an earlier run (\(earlier.prefix(3).joined(separator: ", "))\(earlier.count > 3 ? ", …" : "")); \(resumable)replace it with --overwrite, or give another --output")
                    }
                    for name in earlier { unlink("\(checkpointDirectory)/\(name)") }
                }
            } catch { throw .checkpoint(error) }
            if resume?.checkpoint.trainingState?.metricsRows != nil {
                do { try writeMetrics() } catch { throw .checkpoint(error) }  // the rows `restore` took
            } else if resume != nil {
                loadEarlierMetrics()
            }
        }
    }

    /// What `initialize(from:path:)` did, tensor by tensor.
    public struct Initialization: Sendable {
        /// The state entries copied from the checkpoint.
        public var loaded: [String]
        /// The entries left as freshly initialised, each with the reason.
        public var fresh: [(name: String, reason: String)]
    }

    /// Starts from a trained model: copies every tensor of `checkpoint`'s model state whose name,
    /// shape and dtype match this model's (PyTorch's `load_state_dict(strict=False)` with shape
    /// checks), leaving the others as initialised, e.g. a last dense layer for another number of
    /// classes. The optimizer starts afresh. Throws when nothing matches.
    public func initialize(from checkpoint: Checkpoint, path: String) throws(TrainingError) -> Initialization {
        let stored = Dictionary(checkpoint.modelState.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        var usable: [String: NamedTensor] = [:]
        var result = Initialization(loaded: [], fresh: [])
        for entry in model.stateEntries {
            guard let tensor = stored[entry.name] else {
                result.fresh.append((entry.name, "not in the checkpoint"))
                continue
            }
            guard tensor.shape == entry.shape, tensor.values.dtype == entry.dtype else {
                result.fresh.append((entry.name, "the checkpoint has \(tensor.shape.shapeDescription), the model needs \(entry.shape.shapeDescription)"))
                continue
            }
            usable[entry.name] = tensor
            result.loaded.append(entry.name)
        }
        guard !result.loaded.isEmpty else {
            throw .checkpoint(CheckpointError(file: path, "has no tensor of this model's names and shapes to start from"))
        }
        model.loadMatching(usable)
        return result
    }

    private func restore(_ checkpoint: Checkpoint, path: String) throws(TrainingError) {
        guard let state = checkpoint.trainingState else {
            throw .checkpoint(CheckpointError(file: path, "holds a model only, not a training state; resume from last.safetensors or an epoch-NNNN.safetensors file"))
        }
        guard checkpoint.model == configuration.model else {
            throw .checkpoint(CheckpointError(file: path, "was trained with a different model than the config's: checkpoint \(describeLayers(checkpoint.model)), config \(describeLayers(configuration.model))"))
        }
        guard checkpoint.classNames == data.classNames else {
            throw .checkpoint(CheckpointError(file: path, "was trained on classes \(checkpoint.classNames) but the data has \(data.classNames)"))
        }
        guard checkpoint.epoch < configuration.training.epochs else {
            throw .checkpoint(CheckpointError(file: path, "has already completed \(checkpoint.epoch) epochs; pass --epochs N with N > \(checkpoint.epoch) to train further"))
        }
        if checkpoint.step > 0, let stored = checkpoint.configuration.flatMap({ try? Configuration.parse(Data($0.utf8), file: path) }),
           stored.training.batchSize != configuration.training.batchSize {
            throw .checkpoint(CheckpointError(file: path, "stopped in the middle of an epoch with batch size \(stored.training.batchSize); resume it with --batch-size \(stored.training.batchSize), not \(configuration.training.batchSize)"))
        }
        guard let stored = checkpoint.optimizer, stored.typeName == configuration.training.optimizer.typeName else {
            throw .checkpoint(CheckpointError(file: path, "was trained with optimizer \(checkpoint.optimizer?.typeName ?? "none") but the config's is \(configuration.training.optimizer.typeName); resume with the same optimizer"))
        }
        let batchSize = configuration.training.batchSize, trainCount = data.train.count
        let stepsPerEpoch = (trainCount + batchSize - 1) / batchSize
        guard checkpoint.step < stepsPerEpoch, state.epochSeen == min(checkpoint.step * batchSize, trainCount),
              state.bestEpoch <= checkpoint.epoch, (state.metricsRows?.count ?? checkpoint.epoch) <= checkpoint.epoch else {
            throw .checkpoint(CheckpointError(file: path, "its position (epoch \(checkpoint.epoch), step \(checkpoint.step), \(state.epochSeen) images seen) does not fit \(trainCount) training images in batches of \(batchSize); resume with the data and batch size it was trained with"))
        }
        checkpoint.loadState(into: model)
        checkpoint.loadOptimizerState(into: optimizer)
        epoch = checkpoint.epoch
        step = checkpoint.step
        lossSum = state.epochLossSum
        correct = state.epochCorrect
        seen = state.epochSeen
        epochSeconds = state.epochSeconds
        bestAccuracy = state.bestAccuracy
        bestEpoch = state.bestEpoch
        bestConfusion = state.bestConfusion ?? []
        metricsRows = state.metricsRows ?? []
    }

    /// Trains until `training.epochs` or until `shouldStop` says so.
    public func run() throws(TrainingError) -> TrainingResult {
        defer { directoryLock = nil }  // nothing is written after a run: the directory is free again
        let training = configuration.training
        let batchSize = training.batchSize, totalEpochs = training.epochs
        let trainCount = data.train.count
        let stepsPerEpoch = (trainCount + batchSize - 1) / batchSize
        observer?.trainingWillStart(TrainingPlan(
            startEpoch: epoch, startStep: step, epochs: totalEpochs, stepsPerEpoch: stepsPerEpoch,
            batchSize: batchSize, trainCount: trainCount, validationCount: data.validation?.count ?? 0,
            testCount: data.test.count, parameterCount: model.parameters.reduce(0) { $0 + $1.value.count },
            threads: training.threads, checkpointDirectory: checkpointDirectory, processes: processes.size))
        if let synchronizer = gradientSynchronizer {
            // Before the first step: the starting weights (after --init-from) and how the sums are cut.
            let disagreement = processes.firstDisagreement([
                ("starting weights (--init-from checkpoint)", RunFingerprint.of(model: model, epoch: epoch, step: step)),
                ("gradient bucket layout (--bucket-kb, --no-overlap)", RunFingerprint.of(synchronizer)),
            ])
            if let failure = processes.failure { throw .communication(failure) }
            if let disagreement { throw .processesDiffer(part: disagreement.part, rank: disagreement.rank) }
        }
        var finished: [EpochMetrics] = []
        var learningRate = training.optimizer.learningRate
        while epoch < totalEpochs && !(step == 0 && patienceRunOut) {
            let order = Trainer.permutation(count: trainCount, seed: training.seed, epoch: epoch)
            let clock = Stopwatch()
            while step < stepsPerEpoch {
                learningRate = training.schedule.learningRate(
                    base: training.optimizer.learningRate, epoch: epoch, stepInEpoch: step,
                    stepsPerEpoch: stepsPerEpoch, totalEpochs: totalEpochs)
                let start = step * batchSize, end = min(start + batchSize, trainCount)
                let (batchLoss, batchCorrect, stopRequested) = order.withUnsafeBufferPointer {
                    step(on: UnsafeBufferPointer(rebasing: $0[start..<end]), learningRate: learningRate, epoch: epoch, step: step)
                }
                if let failure = processes.failure { throw .communication(failure) }
                guard batchLoss.isFinite && batchLoss < Trainer.divergedLoss else {
                    throw .diverged(epoch: epoch + 1, step: step + 1, learningRate: learningRate, loss: batchLoss,
                                    largestInput: normalization.largestMagnitude)
                }
                lossSum += Double(batchLoss) * Double(end - start)
                correct += batchCorrect
                seen += end - start
                step += 1
                let elapsed = epochSeconds + clock.seconds
                if let observer {
                    let rate = Double(seen) / max(elapsed, 1e-9)
                    let epochRemaining = Double(trainCount - seen) / max(rate, 1e-9)
                    var progress = BatchProgress(
                        epoch: epoch + 1, epochs: totalEpochs, step: step, steps: stepsPerEpoch,
                        loss: lossSum / Double(seen), accuracy: Double(correct) / Double(seen),
                        imagesPerSecond: rate, secondsRemaining: epochRemaining)
                    let later = Double(totalEpochs - epoch - 1)
                    progress.runSecondsRemaining = epochRemaining + evaluationSeconds * (later + 1) + later * Double(trainCount) / max(rate, 1e-9)
                    observer.batchDidFinish(progress)
                }
                if step < stepsPerEpoch && stopRequested {
                    epochSeconds = elapsed
                    try averageBatchStatistics()
                    let path = try saveTrainingState(learningRate: learningRate)
                    try writeReport(status: "interrupted", lastTest: nil)
                    return TrainingResult(epochs: finished, bestAccuracy: bestAccuracy, bestEpoch: bestEpoch,
                                          checkpointDirectory: checkpointDirectory, interrupted: true, lastCheckpoint: path)
                }
            }
            let seconds = epochSeconds + clock.seconds
            let evaluationClock = Stopwatch()
            try averageBatchStatistics()
            let validation = data.validation.map { evaluator.evaluate(model, on: $0, processes: processes) }
            let test = evaluator.evaluate(model, on: data.test, mistakes: RunReport.mistakeCount, processes: processes)
            if let failure = processes.failure { throw .communication(failure) }
            evaluationSeconds = evaluationClock.seconds
            var metrics = EpochMetrics(epoch: epoch + 1, learningRate: learningRate,
                                       trainLoss: lossSum / Double(max(seen, 1)), trainAccuracy: Double(correct) / Double(max(seen, 1)),
                                       validation: validation, test: test, seconds: seconds,
                                       imagesPerSecond: Double(seen) / max(seconds, 1e-9))
            if let synchronizer = gradientSynchronizer, synchronizer.steps > 0 {
                metrics.communication = CommunicationStatistics(
                    processes: processes.size, bytesPerStep: synchronizer.bytes / synchronizer.steps,
                    waitSecondsPerStep: synchronizer.waitSeconds / Double(synchronizer.steps))
                synchronizer.resetStatistics()
            }
            let selection = validation?.accuracy ?? test.accuracy
            let minimumGain = training.earlyStopping?.minimumImprovement ?? 0
            let improved = bestEpoch == 0 || selection > bestAccuracy + minimumGain
            if improved { (bestAccuracy, bestEpoch, bestConfusion) = (selection, epoch + 1, test.confusion) }
            epoch += 1
            step = 0
            (lossSum, correct, seen, epochSeconds) = (0, 0, 0, 0)
            try saveEpoch(metrics, best: improved)
            try writeReport(status: epoch < totalEpochs ? "running" : "finished", lastTest: test)
            finished.append(metrics)
            observer?.epochDidFinish(metrics)
            if patienceRunOut { break }
            if epoch < totalEpochs && stopAgreed() { break }
        }
        var result = TrainingResult(epochs: finished, bestAccuracy: bestAccuracy, bestEpoch: bestEpoch,
                                    checkpointDirectory: checkpointDirectory, interrupted: epoch < totalEpochs && !patienceRunOut,
                                    lastCheckpoint: path("last.safetensors"))
        result.stoppedEarly = epoch < totalEpochs && patienceRunOut
        if result.stoppedEarly || result.interrupted { try writeReport(status: result.stoppedEarly ? "stopped early" : "interrupted", lastTest: nil) }
        return result
    }

    /// Writes `report.json` and `report.html` (see `RunReport`): the epochs so far from the
    /// metrics, confusion matrices, the last test evaluation's mistakes (`lastTest`; nil keeps
    /// the last report's and changes only its status), the first layer's filters, the model
    /// table, config and machine.
    private func writeReport(status: String, lastTest: EvaluationResult?) throws(TrainingError) {
        guard writesFiles else { return }
        var report: RunReport
        if let lastTest {
            report = RunReport(status: status, configuration: configuration, model: model, data: data,
                               epochs: metricsRows.compactMap(RunReport.Epoch.init(metricsRow:)), bestEpoch: bestEpoch,
                               bestConfusion: bestConfusion, lastTest: lastTest)
        } else if let last = self.report {
            report = last
            report.status = status
        } else {
            return
        }
        self.report = report
        do { try report.write(to: checkpointDirectory) } catch {
            throw .checkpoint(CheckpointError(file: error.file, "cannot write the report: \(error.message)"))
        }
    }

    /// Whether early stopping applies now: `patience` epochs have passed since the best one.
    private var patienceRunOut: Bool {
        guard let patience = configuration.training.earlyStopping?.patience, bestEpoch > 0 else { return false }
        return epoch - bestEpoch >= patience
    }

    /// One optimizer step on the training images at `indices`: load (and augment) them, forward,
    /// loss, zero gradients, backward, update. Random draws (augmentation, dropout masks) are
    /// functions of the seed, `epoch` and `step`. Returns the batch's mean loss and how many it
    /// classified correctly. (If the loss is not finite the update has still been applied; `run`
    /// stops there.) In a data-parallel run `indices` is the whole batch, of which this process
    /// takes its share.
    public func trainStep(on indices: UnsafeBufferPointer<Int32>, learningRate: Double, epoch: Int = 0, step: Int = 0) -> (loss: Float, correct: Int) {
        let result = self.step(on: indices, learningRate: learningRate, epoch: epoch, step: step)
        return (result.loss, result.correct)
    }

    /// `trainStep`, and whether to stop after it: `shouldStop()`, or in a data-parallel run whether
    /// any process's `shouldStop()` said so (summed with the gradients, so all stop at the same step).
    private func step(on batch: UnsafeBufferPointer<Int32>, learningRate: Double, epoch: Int, step: Int) -> (loss: Float, correct: Int, stop: Bool) {
        let training = configuration.training
        let share = processes.share(of: batch.count)
        let indices = UnsafeBufferPointer(rebasing: batch[share])
        loader.load(data.train, indices: indices, augmentation: training.augmentation, seed: training.seed, epoch: epoch)
        let context = ForwardContext(phase: .training, randomKey: Trainer.randomKey(seed: training.seed, epoch: epoch, step: step),
                                     firstImage: share.lowerBound, statisticsGroup: training.syncBatchNorm && processes.size > 1 ? processes : nil)
        let logits = model.forward(loader.images, context: context)
        let shareLoss = loss.forward(logits: logits, labels: loader.labels)
        model.zeroGradients()
        guard let synchronizer = gradientSynchronizer else {
            model.backward(loss.backward())
            optimizer.step(learningRate: Float(learningRate))
            return (shareLoss, loss.correctCount(), shouldStop())
        }
        model.backward(loss.backward(meanOver: batch.count), layerFinished: synchronizer.layerFinished)
        let totals = synchronizer.finish(stepScalars: [Double(shareLoss) * Double(indices.count), Double(loss.correctCount()), shouldStop() ? 1 : 0])
        optimizer.step(learningRate: Float(learningRate))
        return (Float(totals[0] / Double(max(batch.count, 1))), Int(totals[1]), totals[2] > 0)
    }

    /// Whether to stop at an epoch's end: `shouldStop()`, or whether any process's said so.
    private func stopAgreed() -> Bool {
        let stop = shouldStop()
        return processes.size == 1 ? stop : processes.sum([stop ? 1 : 0])[0] > 0
    }

    /// In a data-parallel run without synchronised batch norm, each process's running estimates
    /// come from its own shares: replaces them by their mean over the processes, so every process
    /// evaluates and rank 0 saves the same model. (The estimates are linear in the batch
    /// statistics, so averaging now or at the end of the run gives the same result.)
    private func averageBatchStatistics() throws(TrainingError) {
        guard processes.size > 1 && !configuration.training.syncBatchNorm else { return }
        let scale = 1 / Float(processes.size)
        for layer in model.layers {
            for buffer in layer.buffers {
                guard case .float32(let values) = buffer.storage else { continue }
                processes.allReduceSum(UnsafeMutableBufferPointer(start: values.data, count: values.count))
                for index in 0..<values.count { values.data[index] *= scale }
            }
        }
        if let failure = processes.failure { throw .communication(failure) }
    }

    /// Whether this process writes checkpoints, metrics and the report: rank 0 only.
    private var writesFiles: Bool { processes.rank == 0 }

    /// The random key of step `step` of `epoch` (0-based): a function of the three only.
    public static func randomKey(seed: UInt64, epoch: Int, step: Int) -> UInt64 {
        CounterRandom.key(CounterRandom.key(seed, UInt64(epoch)), UInt64(step))
    }

    /// A batch loss this large (or NaN, or infinite) stops training as diverged: a healthy
    /// cross-entropy is near ln K, and 10⁴ means logits 10⁴ apart, i.e. exploding weights.
    public static let divergedLoss: Float = 1e4

    /// The order of the training images in `epoch`: a permutation seeded by (seed, epoch).
    public static func permutation(count: Int, seed: UInt64, epoch: Int) -> [Int32] {
        var random = SeededRandom(seed: seed ^ (0x9E37_79B9_7F4A_7C15 &* UInt64(epoch + 1)))
        return random.permutation(count)
    }

    private func path(_ file: String) -> String { "\(checkpointDirectory)/\(file)" }

    private func trainingCheckpoint() -> Checkpoint {
        Checkpoint(model: model, classNames: data.classNames, normalization: normalization,
                   preparation: configuration.data.preparation, configuration: configuration.jsonString(), epoch: epoch, step: step,
                   optimizer: (configuration.training.optimizer, optimizer),
                   trainingState: .init(epochLossSum: lossSum, epochCorrect: correct, epochSeen: seen,
                                        epochSeconds: epochSeconds, bestAccuracy: bestAccuracy, bestEpoch: bestEpoch,
                                        bestConfusion: bestConfusion, metricsRows: metricsRows))
    }

    /// Throws `.nonFiniteState` when `checkpoint` holds a NaN or an infinity: checked by every
    /// process before anything is written (their states are identical), so a run whose last
    /// updates exploded never leaves such a checkpoint.
    private func requireFinite(_ checkpoint: Checkpoint, learningRate: Double) throws(TrainingError) {
        guard let tensor = checkpoint.firstNonFiniteTensor else { return }
        throw .nonFiniteState(epoch: step == 0 ? epoch : epoch + 1, step: step, learningRate: learningRate, tensor: tensor)
    }

    /// Writes `last.safetensors` (full state at the current step) and returns its path.
    @discardableResult
    private func saveTrainingState(learningRate: Double) throws(TrainingError) -> String {
        let state = trainingCheckpoint()
        try requireFinite(state, learningRate: learningRate)
        guard writesFiles else { return path("last.safetensors") }
        do { try state.write(to: path("last.safetensors")) } catch { throw .checkpoint(error) }
        return path("last.safetensors")
    }

    /// After an epoch: `last.safetensors`, `model.safetensors`, `best.safetensors` when the epoch
    /// is the best so far (`best`), every `checkpoint.every` epochs `epoch-NNNN.safetensors`
    /// (keeping `checkpoint.keep`), and `metrics.csv`.
    ///
    /// The new row goes into `metrics.csv` first, then into the training checkpoints, which
    /// carry all rows: a run killed in between leaves `metrics.csv` one row ahead, and resuming
    /// rewrites it from the checkpoint (see `init`).
    private func saveEpoch(_ metrics: EpochMetrics, best: Bool) throws(TrainingError) {
        metricsRows.append(Trainer.metricsRow(metrics))
        let state = trainingCheckpoint()
        try requireFinite(state, learningRate: metrics.learningRate)
        // Weights can stay finite and still give logits that are not (the epoch's last update
        // was never seen by a training loss): such a model is not saved either.
        for evaluated in [metrics.validation?.loss, metrics.test.loss].compactMap({ $0 }) where !(evaluated.isFinite && Float(evaluated) < Trainer.divergedLoss) {
            let batchSize = configuration.training.batchSize
            throw .diverged(epoch: epoch, step: (data.train.count + batchSize - 1) / batchSize, learningRate: metrics.learningRate, loss: Float(evaluated),
                            largestInput: normalization.largestMagnitude)
        }
        guard writesFiles else { return }
        let settings = configuration.checkpoint
        do throws(CheckpointError) {
            try writeMetrics()
            try state.write(to: path("last.safetensors"))
            let model = Checkpoint(model: self.model, classNames: data.classNames, normalization: normalization,
                                   preparation: configuration.data.preparation, configuration: configuration.jsonString(), epoch: epoch)
            try model.write(to: path("model.safetensors"))
            if best { try model.write(to: path("best.safetensors")) }
            if settings.keep > 0 && epoch % settings.every == 0 {
                try state.write(to: path(Trainer.epochFileName(epoch)))
                let old = epoch - settings.every * settings.keep
                if old > 0 { try? FileManager.default.removeItem(atPath: path(Trainer.epochFileName(old))) }
            }
            do throws(DataError) {
                try writeFileAtomically(Array(Trainer.confusionCSV(metrics.test.confusion, classNames: data.classNames).utf8),
                                        to: path("confusion-last.csv"))
                if best {
                    try writeFileAtomically(Array(Trainer.confusionCSV(metrics.test.confusion, classNames: data.classNames).utf8),
                                            to: path("confusion-best.csv"))
                }
            } catch {
                throw CheckpointError(file: error.file, "cannot write the metrics: \(error.message)")
            }
        } catch {
            throw .checkpoint(error)
        }
    }

    /// Writes `metrics.csv`: the header and `metricsRows`.
    private func writeMetrics() throws(CheckpointError) {
        let csv = ([Trainer.metricsHeader] + metricsRows).joined(separator: "\n") + "\n"
        do { try writeFileAtomically(Array(csv.utf8), to: path("metrics.csv")) } catch {
            throw CheckpointError(file: error.file, "cannot write the metrics: \(error.message)")
        }
    }

    /// A confusion matrix as CSV: a header `true \\ predicted,<classes…>,accuracy`, then one row
    /// per true class: its name, the counts predicted as each class, and its accuracy. Names
    /// holding a comma, quote or line break are quoted as RFC 4180 says.
    public static func confusionCSV(_ confusion: [[Int]], classNames: [String]) -> String {
        func field(_ text: String) -> String {
            text.contains(where: { ",\"\n\r".contains($0) }) ? "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : text
        }
        var lines = [(["true \\ predicted"] + classNames + ["accuracy"]).map(field).joined(separator: ",")]
        for (row, counts) in confusion.enumerated() {
            let total = counts.reduce(0, +)
            let accuracy = total == 0 ? 0 : Double(counts[row]) / Double(total)
            lines.append(([field(classNames[row])] + counts.map(String.init) + [String(format: "%.6f", accuracy)]).joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// `epoch-0003.safetensors`.
    public static func epochFileName(_ epoch: Int) -> String { String(format: "epoch-%04d.safetensors", epoch) }

    /// The columns of metrics.csv.
    public static let metricsHeader =
        "epoch,learning_rate,train_loss,train_accuracy,test_loss,test_accuracy,seconds,images_per_second,validation_loss,validation_accuracy"

    static func metricsRow(_ m: EpochMetrics) -> String {
        let validation = m.validation.map { String(format: "%.6f,%.6f", $0.loss, $0.accuracy) } ?? ","
        return String(format: "%d,%.8g,%.6f,%.6f,%.6f,%.6f,%.3f,%.1f,", m.epoch, m.learningRate, m.trainLoss,
                      m.trainAccuracy, m.test.loss, m.test.accuracy, m.seconds, m.imagesPerSecond) + validation
    }

    /// When resuming from a checkpoint older than the rows it carries, keep the rows of the
    /// directory's metrics.csv for the epochs already done.
    private func loadEarlierMetrics() {
        guard let bytes = try? readFileBytes(path("metrics.csv"), limit: 64 << 20) else { return }
        metricsRows = String(decoding: bytes, as: UTF8.self).split(separator: "\n").dropFirst().map(String.init).filter { row in
            guard let number = row.split(separator: ",").first.flatMap({ Int($0) }) else { return false }
            return number <= epoch
        }
    }
}

/// Describes a model's layers in one line: `[1×28×28: conv 20@5×5, relu, …]` (for mismatch messages).
func describeLayers(_ description: ModelDescription) -> String {
    "[\(description.input.shapeDescription): \(description.layers.map(\.description).joined(separator: ", "))]"
}

/// Monotonic wall-clock time since creation.
struct Stopwatch {
    private let start = DispatchTime.now().uptimeNanoseconds
    /// Seconds since creation.
    var seconds: Double { Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }
}
