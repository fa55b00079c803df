import Foundation

/// A saved model, and optionally the training state needed to resume it exactly.
///
/// Stored as safetensors (see `Safetensors`): model tensors are named as in PyTorch's
/// `nn.Sequential` (`"0.weight"` `[F, C, KH, KW]`, `"7.weight"` `[O, I]`, `"0.bias"`),
/// SGD velocities as `"velocity.<name>"`. `__metadata__` holds (all strings):
/// `format` = "convnet", `format_version`, `kind` ("model" or "training"), `model`
/// (the architecture as JSON), `classes` (JSON list), `normalization` (JSON),
/// `config` (the training config as JSON), `epoch` (epochs completed), `step` (steps
/// completed within the next epoch, non-zero only for an interrupted epoch),
/// `checksum` ("crc32:" + 8 hex digits of the data section) and, for training
/// checkpoints, `training_state` (JSON: dropout generators, partial-epoch sums, best accuracy).
public struct Checkpoint {
    /// The newest `format_version` this build reads and writes.
    public static let formatVersion = 1

    /// The architecture.
    public var model: ModelDescription
    /// Class names by output index.
    public var classNames: [String]
    /// Input normalisation the model was trained with.
    public var normalization: Normalization
    /// The model's parameters, by name, in model order.
    public var parameters: [NamedTensor]
    /// SGD velocities, by parameter, in model order (training checkpoints only).
    public var velocities: [NamedTensor]
    /// The training config as JSON, if any.
    public var configuration: String?
    /// Epochs completed.
    public var epoch: Int
    /// Steps completed within epoch `epoch` (0 at an epoch boundary).
    public var step: Int
    /// Resumable training state (training checkpoints only).
    public var trainingState: TrainingState?

    /// What, beyond weights and velocities, a run needs to continue exactly.
    public struct TrainingState: Codable, Equatable, Sendable {
        /// Each dropout layer's generator state, in layer order.
        public var dropoutGenerators: [[UInt64]]
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
    }

    /// A checkpoint of `model`'s current parameters.
    public init(model: Sequential, classNames: [String], normalization: Normalization,
                configuration: String? = nil, epoch: Int = 0, step: Int = 0,
                optimizer: SGD? = nil, trainingState: TrainingState? = nil) {
        self.model = model.description
        self.classNames = classNames
        self.normalization = normalization
        self.parameters = model.parameters.map { NamedTensor(name: $0.name, shape: $0.value.shape, values: $0.value.values) }
        self.velocities = optimizer.map { optimizer in
            zip(model.parameters, optimizer.velocities).map {
                NamedTensor(name: "velocity.\($0.name)", shape: $1.shape, values: $1.values)
            }
        } ?? []
        self.configuration = configuration
        self.epoch = epoch
        self.step = step
        self.trainingState = trainingState
    }

    /// Encodes the checkpoint as a safetensors file.
    public func encoded() -> [UInt8] {
        var metadata: [String: String] = [
            "format": "convnet",
            "format_version": "\(Checkpoint.formatVersion)",
            "kind": trainingState == nil ? "model" : "training",
            "model": jsonString(model),
            "classes": jsonString(classNames),
            "normalization": jsonString(normalization),
            "epoch": "\(epoch)",
            "step": "\(step)",
        ]
        if let configuration { metadata["config"] = configuration }
        if let trainingState { metadata["training_state"] = jsonString(trainingState) }
        let tensors = parameters + velocities
        // The checksum covers the data section, which does not depend on the header.
        let data = Safetensors.encode(tensors, metadata: [:])
        metadata["checksum"] = "crc32:" + Safetensors.dataChecksum(data)
        return Safetensors.encode(tensors, metadata: metadata)
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
    /// version, the checksum of the data, and that the tensors match the architecture.
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
        let actualChecksum = "crc32:" + Safetensors.dataChecksum(bytes)
        guard storedChecksum == actualChecksum else {
            throw CheckpointError(file: name, "is corrupt: its data does not match its checksum (stored \(storedChecksum), computed \(actualChecksum))")
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
        let trainingState = metadata["kind"] == "training" ? try field("training_state", TrainingState.self) : nil

        // The tensors must be exactly the architecture's parameters (and velocities for training).
        let expected: Sequential
        do { expected = try Sequential(model, seed: 0, parameterLimit: tensors.reduce(0) { $0 + $1.values.count }) } catch {
            throw CheckpointError(file: name, "its model cannot be built: \(error)")
        }
        guard expected.outputCount == classNames.count else {
            throw CheckpointError(file: name, "the model has \(expected.outputCount) outputs but \(classNames.count) class names")
        }
        let byName = Dictionary(tensors.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        func stored(prefix: String) throws(CheckpointError) -> [NamedTensor] {
            var result: [NamedTensor] = []
            for parameter in expected.parameters {
                let tensorName = prefix + parameter.name
                guard let tensor = byName[tensorName] else { throw CheckpointError(file: name, "tensor \"\(tensorName)\" is missing") }
                guard tensor.shape == parameter.value.shape else {
                    throw CheckpointError(file: name, "tensor \"\(tensorName)\" has shape \(tensor.shape), the model needs \(parameter.value.shape)")
                }
                result.append(tensor)
            }
            return result
        }
        let parameters = try stored(prefix: "")
        let velocities = trainingState == nil ? [] : try stored(prefix: "velocity.")
        guard tensors.count == parameters.count + velocities.count else {
            let known = Set((parameters + velocities).map(\.name))
            let extra = tensors.map(\.name).filter { !known.contains($0) }
            throw CheckpointError(file: name, "has tensors the model does not use: \(extra.prefix(5).joined(separator: ", "))")
        }
        var checkpoint = Checkpoint(model: model, classNames: classNames, normalization: normalization,
                                    parameters: parameters, velocities: velocities,
                                    configuration: metadata["config"],
                                    epoch: try integer("epoch"), step: try integer("step"),
                                    trainingState: trainingState)
        if let state = trainingState, state.dropoutGenerators.count != expected.dropoutLayers.count
            || state.dropoutGenerators.contains(where: { $0.count != 4 }) {
            throw CheckpointError(file: name, "training_state has \(state.dropoutGenerators.count) dropout generators, the model has \(expected.dropoutLayers.count) dropout layers")
        }
        checkpoint.trainingState = trainingState
        return checkpoint
    }

    private init(model: ModelDescription, classNames: [String], normalization: Normalization,
                 parameters: [NamedTensor], velocities: [NamedTensor], configuration: String?,
                 epoch: Int, step: Int, trainingState: TrainingState?) {
        self.model = model; self.classNames = classNames; self.normalization = normalization
        self.parameters = parameters; self.velocities = velocities; self.configuration = configuration
        self.epoch = epoch; self.step = step; self.trainingState = trainingState
    }

    /// Builds the model and loads the weights into it.
    public func makeModel() throws(CheckpointError) -> Sequential {
        let model: Sequential
        do { model = try Sequential(self.model, seed: 0) } catch { throw CheckpointError(file: "", "\(error)") }
        loadParameters(into: model)
        return model
    }

    /// Copies the stored weights into `model` (which must have this architecture).
    public func loadParameters(into model: Sequential) {
        for (parameter, tensor) in zip(model.parameters, parameters) {
            precondition(parameter.value.shape == tensor.shape)
            tensor.values.withUnsafeBufferPointer { parameter.value.data.update(from: $0.baseAddress!, count: $0.count) }
        }
    }

    /// Copies the stored velocities into `optimizer` (same parameter order).
    public func loadVelocities(into optimizer: SGD) {
        for (velocity, tensor) in zip(optimizer.velocities, velocities) {
            precondition(velocity.shape == tensor.shape)
            tensor.values.withUnsafeBufferPointer { velocity.data.update(from: $0.baseAddress!, count: $0.count) }
        }
    }
}

/// Compact JSON for metadata values.
func jsonString<T: Encodable>(_ value: T) -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    return String(decoding: (try? encoder.encode(value)) ?? Data(), as: UTF8.self)
}
