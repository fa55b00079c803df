import Foundation

/// A saved model, and optionally the training state needed to resume it exactly.
///
/// Stored as safetensors (see `Safetensors`). The tensors are the model's state dictionary,
/// named as PyTorch's `nn.Sequential` names them (`"0.weight"` `[F, C, KH, KW]`,
/// `"1.running_mean"`, `"1.num_batches_tracked"` I64, `"7.weight"` `[O, I]`), and, in a
/// training checkpoint, the optimizer's state as `"optimizer.<its name>"`
/// (`"optimizer.0.weight.momentum_buffer"`, `"optimizer.step"`). `__metadata__` holds (all
/// strings): `format` = "convnet", `format_version`, `kind` ("model" or "training"), `model`
/// (the architecture as JSON), `classes` (JSON list), `normalization` (JSON), `preprocessing`
/// (how inputs are prepared, `InputPreparation` as JSON), `config` (the
/// training config as JSON), `epoch` (epochs completed), `step` (steps completed within the
/// next epoch, non-zero only for an interrupted epoch), for training checkpoints `optimizer`
/// (its settings as JSON) and `training_state` (JSON: partial-epoch sums, best accuracy), and
/// `checksum`: "crc32:" + 8 hex digits over the metadata, the tensor table and the data.
///
/// Format version 1 (ConvNet's first release) is still read: its tensors were the
/// parameters and `"velocity.<name>"` SGD velocities, and its checksum covered the data only.
public struct Checkpoint {
    /// The newest `format_version` this build reads, and the one it writes.
    public static let formatVersion = 2

    /// The architecture.
    public var model: ModelDescription
    /// Class names by output index.
    public var classNames: [String]
    /// Input normalisation the model was trained with.
    public var normalization: Normalization
    /// How images are prepared for the model. Checkpoints written before it was stored say
    /// nothing; they were digit models (`infer` prepared every image as a digit), so grey
    /// models without it get `.digit` and others `.resize`.
    public var preparation: InputPreparation
    /// The model's state dictionary: parameters and buffers, in model order.
    public var modelState: [NamedTensor]
    /// The optimizer's settings (training checkpoints only).
    public var optimizer: OptimizerSettings?
    /// The optimizer's state, named as the optimizer names it (training checkpoints only).
    public var optimizerState: [NamedTensor]
    /// The training config as JSON, if any.
    public var configuration: String?
    /// Epochs completed.
    public var epoch: Int
    /// Steps completed within epoch `epoch` (0 at an epoch boundary).
    public var step: Int
    /// Resumable training state (training checkpoints only).
    public var trainingState: TrainingState?
    /// The format version of the file this was read from (`formatVersion` when made here).
    public private(set) var formatVersionRead = Checkpoint.formatVersion

    /// What, beyond the model's and the optimizer's state, a run needs to continue exactly.
    public struct TrainingState: Codable, Equatable, Sendable {
        /// Sums over the steps of the interrupted epoch done so far.
        public var epochLossSum: Double
        /// Correct predictions over the steps of the interrupted epoch done so far.
        public var epochCorrect: Int
        /// Images seen in the interrupted epoch so far.
        public var epochSeen: Int
        /// Seconds spent in the interrupted epoch so far.
        public var epochSeconds: Double
        /// Best validation (or test) accuracy so far and its epoch.
        public var bestAccuracy: Double
        /// The epoch (1-based) of `bestAccuracy`.
        public var bestEpoch: Int
        /// The best epoch's test confusion matrix, for the report (absent in older checkpoints).
        public var bestConfusion: [[Int]]?
        /// The rows of `metrics.csv` for the epochs completed (absent in older checkpoints):
        /// a resumed run rewrites `metrics.csv` from them, so the two never disagree, whenever
        /// the run before was stopped.
        public var metricsRows: [String]?

        /// What makes this state impossible for a run of `classCount` classes after `epoch`
        /// epochs, or nil: sums and counts out of range, a best epoch or accuracy that cannot be,
        /// a confusion matrix of the wrong size, metrics rows that are not `metrics.csv` rows of
        /// epochs done (numbers only, epochs in increasing order).
        func problem(classCount: Int, epoch: Int) -> String? {
            guard epochLossSum.isFinite, epochLossSum >= 0, epochSeconds.isFinite, epochSeconds >= 0 else {
                return "the partial epoch's loss sum or seconds are negative or not finite"
            }
            guard epochSeen >= 0, (0...epochSeen).contains(epochCorrect) else { return "\(epochCorrect) correct of \(epochSeen) images seen" }
            guard (0...1).contains(bestAccuracy), (0...epoch).contains(bestEpoch) else {
                return "best accuracy \(bestAccuracy) at epoch \(bestEpoch) is not an accuracy after \(epoch) epochs"
            }
            if let bestConfusion, !bestConfusion.isEmpty {
                guard bestConfusion.count == classCount, bestConfusion.allSatisfy({ $0.count == classCount && $0.allSatisfy { $0 >= 0 } }) else {
                    return "the best epoch's confusion matrix is not \(classCount)×\(classCount) counts"
                }
            }
            if let metricsRows {
                let columns = Trainer.metricsHeader.split(separator: ",").count
                var previous = 0
                for (index, row) in metricsRows.enumerated() {
                    let fields = row.split(separator: ",", omittingEmptySubsequences: false)
                    guard fields.count == columns, let number = Int(fields[0]), number > previous, number <= epoch,
                          fields.dropFirst().allSatisfy({ $0.isEmpty || Double($0)?.isFinite == true }) else {
                        return "metrics row \(index + 1) is not a row of numbers for an epoch done, in order"
                    }
                    previous = number
                }
            }
            return nil
        }

        /// The state from its parts.
        public init(epochLossSum: Double, epochCorrect: Int, epochSeen: Int, epochSeconds: Double,
                    bestAccuracy: Double, bestEpoch: Int, bestConfusion: [[Int]]? = nil, metricsRows: [String]? = nil) {
            self.epochLossSum = epochLossSum; self.epochCorrect = epochCorrect; self.epochSeen = epochSeen
            self.epochSeconds = epochSeconds; self.bestAccuracy = bestAccuracy; self.bestEpoch = bestEpoch
            self.bestConfusion = bestConfusion; self.metricsRows = metricsRows
        }
    }

    /// A checkpoint of `model`'s current state and, for a training checkpoint, of `optimizer`'s.
    public init(model: Sequential, classNames: [String], normalization: Normalization,
                preparation: InputPreparation = .resize, configuration: String? = nil, epoch: Int = 0, step: Int = 0,
                optimizer: (settings: OptimizerSettings, optimizer: any Optimizer)? = nil,
                trainingState: TrainingState? = nil) {
        self.model = model.description
        self.classNames = classNames
        self.normalization = normalization
        self.preparation = preparation
        self.modelState = model.stateDictionary
        self.optimizer = optimizer?.settings
        self.optimizerState = optimizer?.optimizer.state ?? []
        self.configuration = configuration
        self.epoch = epoch
        self.step = step
        self.trainingState = trainingState
    }

    /// The prefix of optimizer state tensors in the file.
    static let optimizerPrefix = "optimizer."

    /// Encodes the checkpoint as a safetensors file.
    public func encoded() -> [UInt8] {
        var metadata: [String: String] = [
            "format": "convnet",
            "format_version": "\(Checkpoint.formatVersion)",
            "kind": trainingState == nil ? "model" : "training",
            "model": jsonString(model),
            "classes": jsonString(classNames),
            "normalization": jsonString(normalization),
            "preprocessing": jsonString(preparation),
            "epoch": "\(epoch)",
            "step": "\(step)",
        ]
        if let configuration { metadata["config"] = configuration }
        if let trainingState {
            metadata["training_state"] = jsonString(trainingState)
            if let optimizer { metadata["optimizer"] = jsonString(optimizer) }
        }
        let tensors = modelState + (trainingState == nil ? [] : optimizerState.map {
            NamedTensor(name: Checkpoint.optimizerPrefix + $0.name, shape: $0.shape, values: $0.values)
        })
        // The checksum covers the data and the header without itself: encode, checksum, encode again.
        let unsigned = Safetensors.encode(tensors, metadata: metadata)
        metadata["checksum"] = "crc32:" + Safetensors.contentChecksum(unsigned, tensors: tensors, metadata: metadata)
        return Safetensors.encode(tensors, metadata: metadata)
    }

    /// The name of the first tensor (model state, then optimizer state) holding a NaN or an
    /// infinity, or nil when every value is finite. Such a checkpoint is never written by
    /// training and never read.
    public var firstNonFiniteTensor: String? {
        for tensor in modelState + optimizerState {
            guard case .float32(let values) = tensor.values else { continue }
            if !allFinite(values) { return tensor.name }
        }
        return nil
    }

    /// Writes the checkpoint to `path` atomically (see `writeFileAtomically`).
    public func write(to path: String) throws(CheckpointError) {
        do {
            try writeFileAtomically(encoded(), to: path)
        } catch {
            throw CheckpointError(file: path, "cannot write the checkpoint: \(error.message) (the previous file, if any, is unchanged)")
        }
    }

    /// Reads and validates a checkpoint: the safetensors structure, the format and its
    /// version, the checksum, and that the tensors are exactly the architecture's state
    /// (and the optimizer's, for a training checkpoint).
    public static func read(contentsOf path: String) throws(CheckpointError) -> Checkpoint {
        let bytes: [UInt8]
        do { bytes = try readFileBytes(path, limit: 4 << 30) } catch { throw CheckpointError(file: path, error.message) }
        return try decode(bytes, name: path)
    }

    /// Decodes checkpoint bytes (see `read`); `name` is used in errors.
    public static func decode(_ bytes: [UInt8], name: String) throws(CheckpointError) -> Checkpoint {
        let (tensors, metadata) = try Safetensors.decode(bytes, name: name)
        guard metadata["format"] == "convnet" else {
            throw CheckpointError(file: name, "is a safetensors file but not a ConvNet checkpoint (no \"format\": \"convnet\" in __metadata__)")
        }
        guard let versionText = metadata["format_version"], let version = Int(versionText), version >= 1 else {
            throw CheckpointError(file: name, "has no valid format_version")
        }
        guard version <= formatVersion else {
            throw CheckpointError(file: name, "has format version \(version), newer than this ConvNet reads (\(formatVersion)); update ConvNet")
        }
        guard let storedChecksum = metadata["checksum"] else { throw CheckpointError(file: name, "has no checksum") }
        let actualChecksum = "crc32:" + (version == 1 ? Safetensors.dataChecksum(bytes)
                                         : Safetensors.contentChecksum(bytes, tensors: tensors, metadata: metadata))
        guard storedChecksum == actualChecksum else {
            throw CheckpointError(file: name, "is corrupt: its contents do not match its checksum (stored \(storedChecksum), computed \(actualChecksum))")
        }
        func field<T: Decodable>(_ key: String, _ type: T.Type) throws(CheckpointError) -> T {
            guard let text = metadata[key] else { throw CheckpointError(file: name, "metadata is missing \"\(key)\"") }
            do {
                return try JSONDecoder().decode(T.self, from: Data(text.utf8))
            } catch let error as DecodingError {
                throw CheckpointError(file: name, "metadata \"\(key)\": \(describe(error))")
            } catch {
                throw CheckpointError(file: name, "metadata \"\(key)\": \(error)")
            }
        }
        func integer(_ key: String) throws(CheckpointError) -> Int {
            guard let value = metadata[key].flatMap({ Int($0) }), value >= 0 else {
                throw CheckpointError(file: name, "metadata \"\(key)\" must be a non-negative integer")
            }
            return value
        }
        let model = try field("model", ModelDescription.self)
        let classNames = try field("classes", [String].self)
        let normalization = try field("normalization", Normalization.self)
        let preparation = metadata["preprocessing"] == nil ? (model.input.first == 1 ? InputPreparation.digit : .resize)
            : try field("preprocessing", InputPreparation.self)
        let isTraining = metadata["kind"] == "training"
        let trainingState = isTraining ? try field("training_state", TrainingState.self) : nil
        // Version 1 trained with SGD only; its velocities are SGD's momentum buffers.
        let optimizer: OptimizerSettings? = !isTraining ? nil
            : version == 1 ? OptimizerSettings(SGD.Specification(learningRate: 0.01)) : try field("optimizer", OptimizerSettings.self)

        // The tensors must be exactly the architecture's state (and the optimizer's for training).
        let expected: Sequential
        do { expected = try Sequential(model, seed: 0, parameterLimit: tensors.reduce(0) { $0 + $1.values.count }) } catch {
            throw CheckpointError(file: name, "its model cannot be built: \(error)")
        }
        guard expected.outputCount == classNames.count else {
            throw CheckpointError(file: name, "the model has \(expected.outputCount) outputs but \(classNames.count) class names")
        }
        guard Set(classNames).count == classNames.count else {
            throw CheckpointError(file: name, "metadata \"classes\" names a class twice")
        }
        guard let channels = model.input.first, normalization.channels == 1 || normalization.channels == channels else {
            throw CheckpointError(file: name, "metadata \"normalization\" has \(normalization.channels) values per key but the model takes \(model.input.first ?? 0) channels")
        }
        if let trainingState, let problem = trainingState.problem(classCount: classNames.count, epoch: try integer("epoch")) {
            throw CheckpointError(file: name, "metadata \"training_state\": \(problem)")
        }
        let byName = Dictionary(tensors.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        func stored(_ entries: [StateEntry], fileName: (String) -> String) throws(CheckpointError) -> [NamedTensor] {
            var result: [NamedTensor] = []
            for entry in entries {
                let tensorName = fileName(entry.name)
                guard let tensor = byName[tensorName] else { throw CheckpointError(file: name, "tensor \"\(tensorName)\" is missing") }
                guard tensor.shape == entry.shape, tensor.values.dtype == entry.dtype else {
                    throw CheckpointError(file: name, "tensor \"\(tensorName)\" is \(tensor.values.dtype) \(tensor.shape), the model needs \(entry.dtype) \(entry.shape)")
                }
                result.append(NamedTensor(name: entry.name, shape: tensor.shape, values: tensor.values))
            }
            return result
        }
        let modelState = try stored(expected.stateEntries) { $0 }
        var optimizerState: [NamedTensor] = []
        if let optimizer {
            let entries = optimizer.makeOptimizer(for: expected.arena).stateEntries
            optimizerState = version == 1
                ? try stored(entries) { "velocity." + $0.replacingOccurrences(of: ".momentum_buffer", with: "") }
                : try stored(entries) { optimizerPrefix + $0 }
        }
        guard tensors.count == modelState.count + optimizerState.count else {
            let known = Set(modelState.map(\.name) + optimizerState.map { optimizerPrefix + $0.name })
            let extra = tensors.map(\.name).filter { !known.contains($0) && !$0.hasPrefix("velocity.") }
            throw CheckpointError(file: name, "has tensors the model does not use: \(extra.prefix(5).joined(separator: ", "))")
        }
        var checkpoint = Checkpoint(model: model, classNames: classNames, normalization: normalization,
                                    preparation: preparation, modelState: modelState, optimizer: optimizer, optimizerState: optimizerState,
                                    configuration: metadata["config"],
                                    epoch: try integer("epoch"), step: try integer("step"),
                                    trainingState: trainingState)
        checkpoint.formatVersionRead = version
        if let tensor = checkpoint.firstNonFiniteTensor {
            throw CheckpointError(file: name, "tensor \"\(tensor)\" holds NaN or infinite values: the run that wrote it had diverged")
        }
        return checkpoint
    }

    private init(model: ModelDescription, classNames: [String], normalization: Normalization,
                 preparation: InputPreparation, modelState: [NamedTensor], optimizer: OptimizerSettings?, optimizerState: [NamedTensor],
                 configuration: String?, epoch: Int, step: Int, trainingState: TrainingState?) {
        self.model = model; self.classNames = classNames; self.normalization = normalization; self.preparation = preparation
        self.modelState = modelState; self.optimizer = optimizer; self.optimizerState = optimizerState
        self.configuration = configuration; self.epoch = epoch; self.step = step; self.trainingState = trainingState
    }

    /// Builds the model and loads its state into it.
    public func makeModel() throws(CheckpointError) -> Sequential {
        let model: Sequential
        do { model = try Sequential(self.model, seed: 0) } catch { throw CheckpointError(file: "", "\(error)") }
        loadState(into: model)
        return model
    }

    /// Copies the stored parameters and buffers into `model` (which must have this architecture).
    public func loadState(into model: Sequential) {
        model.loadState(Dictionary(modelState.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first }))
    }

    /// Copies the stored optimizer state into `optimizer` (one of this checkpoint's optimizer
    /// type, over a model of this architecture).
    public func loadOptimizerState(into optimizer: any Optimizer) {
        optimizer.load(state: Dictionary(optimizerState.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first }))
    }
}

/// Whether no value is NaN or infinite (x − x is 0 for finite x and NaN otherwise).
func allFinite(_ values: [Float]) -> Bool {
    var sum: Float = 0
    for value in values { sum += value - value }
    return sum == 0
}

/// Compact JSON for metadata values.
func jsonString<T: Encodable>(_ value: T) -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    return String(decoding: (try? encoder.encode(value)) ?? Data(), as: UTF8.self)
}
