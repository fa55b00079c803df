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
                    "data.normalize has \(normalization.channels) values per key but the images have \(channels) channels; give 1 or \(channels)"))
            }
            return normalization
        }
    }

    /// Loads the data a config names and checks it fits the model's input shape;
    /// `configurationFile` names the config in errors. When the model is a checkpoint's (to
    /// evaluate it), `modelFile` names that checkpoint, and data that does not fit its input is
    /// the checkpoint's error, not the config's.
    public static func load(_ configuration: Configuration, configurationFile: String,
                            modelFile: String? = nil) throws(TrainingError) -> TrainingData {
        let data = configuration.data
        var train: Dataset, test: Dataset
        var trainSource: String, testSource: String
        do {
            switch data.format {
            case .idx:
                let classes = data.classes ?? []
                trainSource = data.train!.images
                testSource = data.test!.images
                train = try Dataset.loadIDX(images: data.train!.images, labels: data.train!.labels, classNames: classes)
                test = try Dataset.loadIDX(images: data.test!.images, labels: data.test!.labels, classNames: classes)
            case .pngFolders:
                let root = data.root!
                trainSource = "\(root)/train"
                testSource = "\(root)/test"
                train = try ImageFolder.load("\(root)/train", classNames: data.classes, imageShape: configuration.model.input,
                                             preparation: data.preparation)
                test = try ImageFolder.load("\(root)/test", classNames: train.classNames, imageShape: configuration.model.input,
                                            preparation: data.preparation)
            }
        } catch {
            throw .data(error)
        }
        if let limit = data.trainLimit, limit < train.count { train = train.slice(0..<limit) }
        if let limit = data.testLimit, limit < test.count { test = test.slice(0..<limit) }
        for (dataset, source) in [(train, trainSource), (test, testSource)] where dataset.sampleShape != configuration.model.input {
            if let modelFile {
                throw .checkpoint(CheckpointError(file: modelFile,
                    "its model takes \(configuration.model.input.shapeDescription) images but \(source) (the data of \(configurationFile)) holds \(dataset.sampleShape.shapeDescription) images"))
            }
            throw .configuration(ConfigError(file: configurationFile,
                "model.input is \(configuration.model.input.shapeDescription) but \(source) holds \(dataset.sampleShape.shapeDescription) images; set model.input to \(dataset.sampleShape)"))
        }
        guard data.validation < train.count else {
            throw .configuration(ConfigError(file: configurationFile,
                "data.validation holds out \(data.validation) images but only \(train.count) training images are loaded"))
        }
        var validation: Dataset?
        if data.validation > 0 {
            validation = train.slice((train.count - data.validation)..<train.count)
            train = train.slice(0..<(train.count - data.validation))
        }
        var loaded = TrainingData(train: train, validation: validation, test: test)
        loaded.normalization = try loaded.normalization(for: configuration, configurationFile: configurationFile)
        return loaded
    }
}
