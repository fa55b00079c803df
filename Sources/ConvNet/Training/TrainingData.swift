/// The datasets of a run: training images, the held-out validation images, and the test set.
public struct TrainingData: Sendable {
    /// Images trained on.
    public var train: Dataset
    /// The last `data.validation` training images, held out for model selection (nil when 0).
    public var validation: Dataset?
    /// The test set.
    public var test: Dataset
    /// The input normalisation, resolved: the config's values, or measured on `train` for
    /// `"auto"`; nil when the config has none (then the trainer uses the config's, or none).
    public var normalization: Normalization?
    /// Class names by label.
    public var classNames: [String] { test.classNames }

    /// Training, validation and test sets from their parts.
    public init(train: Dataset, validation: Dataset?, test: Dataset, normalization: Normalization? = nil) {
        self.train = train; self.validation = validation; self.test = test; self.normalization = normalization
    }

    /// The normalisation `configuration` asks for on this data: its values, measured on the
    /// training images for `"auto"`, or none. Checked against the images' channels.
    public func normalization(for configuration: Configuration, configurationFile: String) throws(TrainingError) -> Normalization {
        if let normalization { return normalization }
        switch configuration.data.normalize {
        case nil: return .none
        case .automatic: return .measured(on: train)
        case .fixed(let normalization):
            let channels = train.sampleShape[0]
            guard normalization.channels == 1 || normalization.channels == channels else {
                throw .configuration(ConfigError(file: configurationFile,
                    "data.normalize has \(normalization.channels) values per key but the images have \(channels) channel\(channels == 1 ? "" : "s"); give \(channels == 1 ? "1 value" : "1 or \(channels) values") per key"))
            }
            return normalization
        }
    }

    /// Loads the data a config names and checks it fits the model's input shape;
    /// `configurationFile` names the config in errors. When the model is a checkpoint's (to
    /// evaluate it), `modelFile` names that checkpoint, and data that does not fit its input is
    /// the checkpoint's error, not the config's.
    ///
    /// IDX data is checked before the images are read: the labels files are read first and
    /// each images file's header checked against them, against the model's input and against
    /// `data.validation`, so a mismatch costs milliseconds, not the decompression of gigabytes.
    /// Limits and the validation split cut the loaded sets in place.
    public static func load(_ configuration: Configuration, configurationFile: String,
                            modelFile: String? = nil) throws(TrainingError) -> TrainingData {
        let data = configuration.data
        func configurationError(_ message: String) -> TrainingError {
            .configuration(ConfigError(file: configurationFile, message))
        }
        func checkShape(_ sampleShape: [Int], of source: String) throws(TrainingError) {
            guard sampleShape == configuration.model.input else {
                if let modelFile {
                    throw .checkpoint(CheckpointError(file: modelFile,
                        "its model takes \(configuration.model.input.shapeDescription) images but \(source) (the data of \(configurationFile)) holds \(sampleShape.shapeDescription) images"))
                }
                throw configurationError("model.input is \(configuration.model.input.shapeDescription) but \(source) holds "
                                         + "\(sampleShape.shapeDescription) images; set model.input to \(sampleShape)")
            }
        }
        func checkValidation(trainCount: Int) throws(TrainingError) {
            guard data.validation < trainCount else {
                throw configurationError("data.validation holds out \(data.validation) images but only \(trainCount) training images are loaded")
            }
        }
        func limited(_ count: Int, _ limit: Int?) -> Int { min(count, limit ?? count) }
        var train: Dataset, test: Dataset
        switch data.format {
        case .idx:
            let classes = data.classes ?? []
            let trainSource: Dataset.IDXSource, testSource: Dataset.IDXSource
            do {
                trainSource = try Dataset.IDXSource(images: data.train!.images, labels: data.train!.labels, classNames: classes)
                testSource = try Dataset.IDXSource(images: data.test!.images, labels: data.test!.labels, classNames: classes)
            } catch {
                throw .data(error)
            }
            try checkShape(trainSource.sampleShape, of: trainSource.imagesPath)
            try checkShape(testSource.sampleShape, of: testSource.imagesPath)
            try checkValidation(trainCount: limited(trainSource.count, data.trainLimit))
            do {
                train = try trainSource.load()
                test = try testSource.load()
            } catch {
                throw .data(error)
            }
        case .pngFolders:
            let root = data.root!
            do {
                train = try ImageFolder.load("\(root)/train", classNames: data.classes, imageShape: configuration.model.input,
                                             preparation: data.preparation)
                test = try ImageFolder.load("\(root)/test", classNames: train.classNames, imageShape: configuration.model.input,
                                            preparation: data.preparation)
            } catch {
                throw .data(error)
            }
            try checkShape(train.sampleShape, of: "\(root)/train")
            try checkShape(test.sampleShape, of: "\(root)/test")
            try checkValidation(trainCount: limited(train.count, data.trainLimit))
        }
        train.keepFirst(limited(train.count, data.trainLimit))
        test.keepFirst(limited(test.count, data.testLimit))
        var validation: Dataset?
        if data.validation > 0 {
            validation = train.slice((train.count - data.validation)..<train.count)
            train.keepFirst(train.count - data.validation)
        }
        var loaded = TrainingData(train: train, validation: validation, test: test)
        loaded.normalization = try loaded.normalization(for: configuration, configurationFile: configurationFile)
        return loaded
    }
}
