import Foundation

/// A training run described as data: `configs/*.json`.
///
/// ```json
/// {"name": "mnist",
///  "data": {"format": "idx", "train": {"images": "…", "labels": "…"}, "test": {…},
///           "classes": ["0", …], "validation": 0, "normalize": {"mean": 0.1307, "std": 0.3081}},
///  "model": {"input": [1, 28, 28], "layers": […]},
///  "training": {"epochs": 10, "batchSize": 64, "seed": 1, "threads": 2,
///               "optimizer": {"type": "sgd", "learningRate": 0.01, "momentum": 0.9, "weightDecay": 0.0005},
///               "schedule": {"type": "step", "every": 4, "factor": 0.1}},
///  "checkpoint": {"directory": "checkpoints/mnist", "every": 1, "keep": 3}}
/// ```
/// Unknown keys, wrong types and out-of-range values are rejected with their key path.
public struct Configuration: Codable, Equatable, Sendable {
    /// Run name (letters, digits, `.`, `_`, `-`); the default checkpoint directory is `checkpoints/<name>`.
    public var name: String
    /// Optional free text.
    public var description: String?
    /// Where the images come from.
    public var data: DataConfiguration
    /// The network.
    public var model: ModelDescription
    /// Optimisation settings.
    public var training: TrainingSettings
    /// Where and how often checkpoints are written.
    public var checkpoint: CheckpointSettings

    private enum Keys: String, CodingKey { case name, description, data, model, training, checkpoint }

    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(allowed: ["name", "description", "data", "model", "training", "checkpoint"])
        let container = try decoder.container(keyedBy: Keys.self)
        name = try container.decode(.name, mustBe: "a non-empty name of letters, digits, '.', '_' or '-'") { (name: String) in
            !name.isEmpty && name.count <= 100 && name != "." && name != ".."
                && name.unicodeScalars.allSatisfy { CharacterSet.alphanumerics.contains($0) || "._-".unicodeScalars.contains($0) }
        }
        description = try container.decodeIfPresent(String.self, forKey: .description)
        data = try container.decode(DataConfiguration.self, forKey: .data)
        model = try container.decode(ModelDescription.self, forKey: .model)
        training = try container.decode(TrainingSettings.self, forKey: .training)
        checkpoint = try container.decodeIfPresent(CheckpointSettings.self, forKey: .checkpoint) ?? CheckpointSettings()
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: Keys.self)
        try container.encode(name, forKey: .name)
        try container.encodeIfPresent(description, forKey: .description)
        try container.encode(data, forKey: .data)
        try container.encode(model, forKey: .model)
        try container.encode(training, forKey: .training)
        try container.encode(checkpoint, forKey: .checkpoint)
    }

    /// The checkpoint directory: `checkpoint.directory`, or `checkpoints/<name>`.
    public var checkpointDirectory: String { checkpoint.directory ?? "checkpoints/\(name)" }

    /// Reads and validates a config file. `overrides` replace values by key path
    /// (`--epochs 3` for `training.epochs`) before validation, so an override is checked like
    /// the file, and an error in its value names the option rather than the file.
    public static func load(contentsOf path: String, overrides: [ConfigurationOverride] = []) throws(ConfigError) -> Configuration {
        let bytes: [UInt8]
        do { bytes = try readFileBytes(path, limit: 1 << 20) } catch { throw ConfigError(file: path, error.message) }
        return try parse(Data(bytes), file: path, overrides: overrides)
    }

    /// Parses and validates config JSON (see `load`).
    public static func parse(_ json: Data, file: String, overrides: [ConfigurationOverride] = []) throws(ConfigError) -> Configuration {
        var json = json
        // The decoder would keep one value of a repeated key and drop the other without a word.
        if let key = firstDuplicateKey(in: Array(json)) { throw ConfigError(file: file, "\(key) appears twice") }
        if !overrides.isEmpty {
            for override in overrides {
                if let number = override.value as? Double, !number.isFinite {
                    throw ConfigError(option: override.option, file: file, "must be a finite number, found \(number)")
                }
            }
            guard var object = (try? JSONSerialization.jsonObject(with: json)) as? [String: Any] else {
                throw ConfigError(file: file, "is not a JSON object")
            }
            for override in overrides {
                setValue(override.value, at: override.keyPath.split(separator: ".").map(String.init), in: &object)
            }
            do { json = try JSONSerialization.data(withJSONObject: object) } catch { throw ConfigError(file: file, "\(error)") }
        }
        do {
            return try JSONDecoder().decode(Configuration.self, from: json)
        } catch let error as DecodingError {
            let (path, problem) = locate(error)
            if let override = overrides.first(where: { $0.keyPath == keyPath(path) }) {
                throw ConfigError(option: override.option, file: file, problem)
            }
            throw ConfigError(file: file, describe(error))
        } catch {
            throw ConfigError(file: file, "\(error)")
        }
    }

    /// The config as pretty, stable JSON (stored in checkpoints).
    public func jsonString() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self)
    }
}

private func setValue(_ value: Any, at path: [String], in object: inout [String: Any]) {
    guard let key = path.first else { return }
    if path.count == 1 {
        object[key] = value
    } else {
        var child = object[key] as? [String: Any] ?? [:]
        setValue(value, at: Array(path.dropFirst()), in: &child)
        object[key] = child
    }
}

/// A value given on the command line in place of the config's: `--epochs 3` sets `training.epochs`.
public struct ConfigurationOverride {
    /// The option as the user wrote it, e.g. `--epochs`; errors in the value name it.
    public var option: String
    /// The config key it sets, e.g. `training.epochs`.
    public var keyPath: String
    /// The value, as JSON would hold it: an integer, a number, a string or a Boolean.
    public var value: Any

    /// `option` setting `keyPath` to `value`.
    public init(_ option: String, keyPath: String, value: Any) {
        self.option = option; self.keyPath = keyPath; self.value = value
    }
}

/// A config that cannot be used: the file and the key path with what was expected and found,
/// or the command-line option whose value replaced the file's.
public struct ConfigError: ConvNetError, Equatable {
    /// The config file.
    public var file: String
    /// What is wrong, e.g. `training.optimizer.learningRate must be > 0, found -1`.
    public var message: String
    /// The option the wrong value came from, e.g. `--learning-rate` (nil when it is the file's).
    public var option: String?
    /// An error about `file`.
    public init(file: String, _ message: String) { self.file = file; self.message = message }
    /// An error in the value of `option`, which overrides part of `file`; `message` says what
    /// is wrong with it: `must be > 0, found -1`.
    public init(option: String, file: String, _ message: String) { self.file = file; self.message = message; self.option = option }
    /// `file: message`, or `option message`; one line.
    public var description: String { oneLine(option.map { "\($0) \(message)" } ?? "\(file): \(message)") }
}

/// The `data` section: format, paths, classes, validation split and normalisation.
public struct DataConfiguration: Codable, Equatable, Sendable {
    /// The on-disk layout of the data.
    public enum Format: String, Codable, Sendable {
        /// MNIST-style IDX files (raw or .gz): `train` and `test` name the image and label files.
        case idx
        /// `root/train/<class>/*.png` and `root/test/<class>/*.png`; classes are the sorted folder names.
        case pngFolders = "png-folders"
    }

    /// A pair of IDX files.
    public struct IDXFiles: Codable, Equatable, Sendable {
        /// Images file, `[N, H, W]`.
        public var images: String
        /// Labels file, `[N]`.
        public var labels: String

        private enum Keys: String, CodingKey { case images, labels }
        /// The two paths.
        public init(images: String, labels: String) { self.images = images; self.labels = labels }
        public init(from decoder: Decoder) throws {
            try decoder.rejectUnknownKeys(allowed: ["images", "labels"])
            let container = try decoder.container(keyedBy: Keys.self)
            images = try container.decode(.images, mustBe: "a path") { (path: String) in !path.isEmpty }
            labels = try container.decode(.labels, mustBe: "a path") { (path: String) in !path.isEmpty }
        }
    }

    /// The layout.
    public var format: Format
    /// IDX training files (format `idx`).
    public var train: IDXFiles?
    /// IDX test files (format `idx`).
    public var test: IDXFiles?
    /// Folder holding `train/` and `test/` (format `png-folders`).
    public var root: String?
    /// Class names by label; required for `idx`, optional (must match the folders, so each must be
    /// a folder name: see `ImageFolder.folderNameProblem`) for `png-folders`.
    public var classes: [String]?
    /// The last `validation` training images are held out for model selection (default 0).
    public var validation: Int
    /// Use only the first `trainLimit` training images (before the validation split).
    public var trainLimit: Int?
    /// Use only the first `testLimit` test images.
    public var testLimit: Int?
    /// Optional normalisation applied after scaling pixels to [0, 1]: values, or `"auto"`.
    public var normalize: NormalizationSetting?
    /// How images become model inputs, in data loading and in `infer` (default `"resize"`).
    public var preprocessing: InputPreparation?

    /// The preparation in effect: `preprocessing`, or a plain resize.
    public var preparation: InputPreparation { preprocessing ?? .resize }

    private enum Keys: String, CodingKey {
        case format, train, test, root, classes, validation, trainLimit, testLimit, normalize, preprocessing
    }

    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(allowed: ["format", "train", "test", "root", "classes", "validation", "trainLimit",
                                                "testLimit", "normalize", "preprocessing"])
        let container = try decoder.container(keyedBy: Keys.self)
        let formatName = try container.decode(String.self, forKey: .format)
        guard let format = Format(rawValue: formatName) else {
            throw DecodingError.dataCorruptedError(forKey: .format, in: container,
                                                   debugDescription: "must be \"idx\" or \"png-folders\", found \"\(formatName)\"")
        }
        self.format = format
        train = try container.decodeIfPresent(IDXFiles.self, forKey: .train)
        test = try container.decodeIfPresent(IDXFiles.self, forKey: .test)
        root = try container.decodeIfPresent(String.self, forKey: .root)
        classes = try container.decodeIfPresent([String].self, forKey: .classes)
        validation = try container.decode(.validation, default: 0, mustBe: ">= 0") { (count: Int) in count >= 0 }
        trainLimit = try container.decodeIfPresent(.trainLimit, mustBe: "> 0") { (limit: Int) in limit > 0 }
        testLimit = try container.decodeIfPresent(.testLimit, mustBe: "> 0") { (limit: Int) in limit > 0 }
        normalize = try container.decodeIfPresent(NormalizationSetting.self, forKey: .normalize)
        preprocessing = try container.decodeIfPresent(InputPreparation.self, forKey: .preprocessing)
        if let classes {
            guard classes.count >= 2, classes.count <= Dataset.maximumClasses, Set(classes).count == classes.count else {
                throw DecodingError.dataCorruptedError(forKey: .classes, in: container,
                    debugDescription: "must list 2 to \(Dataset.maximumClasses) distinct class names, found \(classes.count) names")
            }
        }
        switch format {
        case .idx:
            for (key, value) in [(Keys.train, train as Any?), (.test, test), (.classes, classes)] where value == nil {
                throw DecodingError.keyNotFound(key, .init(codingPath: decoder.codingPath, debugDescription: "needed by format idx"))
            }
            if root != nil {
                throw DecodingError.dataCorruptedError(forKey: .root, in: container, debugDescription: "is only for format png-folders; idx uses train and test")
            }
        case .pngFolders:
            if let classes, let (index, problem) = ImageFolder.folderProblem(classes) {
                throw DecodingError.dataCorrupted(.init(codingPath: container.codingPath + [Keys.classes, AnyCodingKey(intValue: index)],
                    debugDescription: "is \(formatFound(classes[index])), \(problem)"))
            }
            if root == nil {
                throw DecodingError.keyNotFound(Keys.root, .init(codingPath: decoder.codingPath, debugDescription: "needed by format png-folders"))
            }
            if train != nil || test != nil {
                throw DecodingError.dataCorruptedError(forKey: train != nil ? .train : .test, in: container,
                    debugDescription: "is only for format idx; png-folders reads root/train and root/test")
            }
        }
    }
}

/// The `training` section.
public struct TrainingSettings: Codable, Equatable, Sendable {
    /// Total epochs of the run (a resumed run continues up to this).
    public var epochs: Int
    /// Images per step B.
    public var batchSize: Int
    /// Seed for initialisation, shuffling and dropout.
    public var seed: UInt64
    /// Threads for BLAS and the element-wise work.
    public var threads: Int
    /// The optimizer.
    public var optimizer: OptimizerSettings
    /// The learning-rate schedule (default constant).
    public var schedule: LearningRateSchedule
    /// Random changes to training images (default none).
    public var augmentation: Augmentation?
    /// Stop when the selection accuracy has not improved for `patience` epochs (default: never).
    public var earlyStopping: EarlyStopping?
    /// Label smoothing ε of the training loss, in [0, 1) (default 0; evaluation reports plain cross-entropy).
    public var labelSmoothing: Double
    /// In a data-parallel run, batch norm normalises with the whole batch's statistics, summed
    /// over the processes (PyTorch's `SyncBatchNorm`), rather than each process's share's (default false).
    public var syncBatchNorm: Bool

    /// `{"patience": N}`: stop after N epochs without a better validation (or test) accuracy.
    public struct EarlyStopping: Codable, Equatable, Sendable {
        /// Epochs without improvement before stopping, ≥ 1.
        public var patience: Int
        /// The gain in accuracy (a fraction) that counts as an improvement (default 0: any gain).
        public var minimumImprovement: Double

        /// Early stopping after `patience` epochs without a gain over `minimumImprovement`.
        public init(patience: Int, minimumImprovement: Double = 0) { self.patience = patience; self.minimumImprovement = minimumImprovement }

        private enum Keys: String, CodingKey { case patience, minimumImprovement }

        public init(from decoder: Decoder) throws {
            try decoder.rejectUnknownKeys(allowed: ["patience", "minimumImprovement"])
            let container = try decoder.container(keyedBy: Keys.self)
            patience = try container.decode(.patience, mustBe: "in 1...100000") { (value: Int) in value >= 1 && value <= 100_000 }
            minimumImprovement = try container.decode(.minimumImprovement, default: 0, mustBe: "in [0, 1)") { (value: Double) in
                value >= 0 && value < 1
            }
        }
    }

    private enum Keys: String, CodingKey {
        case epochs, batchSize, seed, threads, optimizer, schedule, augmentation, earlyStopping, labelSmoothing, syncBatchNorm
    }

    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(allowed: ["epochs", "batchSize", "seed", "threads", "optimizer", "schedule", "augmentation",
                                                "earlyStopping", "labelSmoothing", "syncBatchNorm"])
        let container = try decoder.container(keyedBy: Keys.self)
        epochs = try container.decode(.epochs, mustBe: "in 1...100000") { (value: Int) in value >= 1 && value <= 100_000 }
        batchSize = try container.decode(.batchSize, mustBe: "in 1...65536") { (value: Int) in value >= 1 && value <= 65_536 }
        seed = try container.decode(.seed, default: 1, mustBe: ">= 0") { (_: UInt64) in true }
        threads = try container.decode(.threads, default: 2, mustBe: "in 1...256") { (value: Int) in value >= 1 && value <= 256 }
        optimizer = try container.decode(OptimizerSettings.self, forKey: .optimizer)
        schedule = try container.decodeIfPresent(LearningRateSchedule.self, forKey: .schedule) ?? .constant
        // A cosine schedule falls from the base rate to its minimum: a minimum above the base would make it rise.
        if case .cosine(let minimum) = schedule, minimum > optimizer.learningRate {
            throw DecodingError.dataCorrupted(.init(codingPath: container.codingPath + [Keys.schedule, AnyCodingKey(stringValue: "minimum")],
                debugDescription: "must be at most the base learning rate (training.optimizer.learningRate, \(formatFound(optimizer.learningRate))), found \(formatFound(minimum))"))
        }
        augmentation = try container.decodeIfPresent(Augmentation.self, forKey: .augmentation)
        earlyStopping = try container.decodeIfPresent(EarlyStopping.self, forKey: .earlyStopping)
        labelSmoothing = try container.decode(.labelSmoothing, default: 0, mustBeAsFloat: "in [0, 1)") { $0 >= 0 && $0 < 1 }
        syncBatchNorm = try container.decode(.syncBatchNorm, default: false, mustBe: "true or false") { (_: Bool) in true }
    }
}

/// The `checkpoint` section.
public struct CheckpointSettings: Codable, Equatable, Sendable {
    /// Directory for `model.safetensors`, `last.safetensors`, `epoch-NNNN.safetensors` and `metrics.csv`
    /// (default `checkpoints/<name>`).
    public var directory: String?
    /// Write `epoch-NNNN.safetensors` every this many epochs (default 1).
    public var every: Int
    /// Keep this many `epoch-NNNN.safetensors` files, deleting older ones (default 3; 0 keeps none).
    public var keep: Int

    /// The defaults.
    public init() { directory = nil; every = 1; keep = 3 }

    private enum Keys: String, CodingKey { case directory, every, keep }

    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(allowed: ["directory", "every", "keep"])
        let container = try decoder.container(keyedBy: Keys.self)
        directory = try container.decodeIfPresent(.directory, mustBe: "a non-empty folder path") { (path: String) in !path.isEmpty }
        every = try container.decode(.every, default: 1, mustBe: ">= 1") { (value: Int) in value >= 1 }
        keep = try container.decode(.keep, default: 3, mustBe: ">= 0") { (value: Int) in value >= 0 }
    }
}
