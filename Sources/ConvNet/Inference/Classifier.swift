/// A class and its probability.
public struct Prediction: Equatable, Sendable {
    /// The class name.
    public var label: String
    /// Softmax probability in [0, 1].
    public var probability: Double
}

/// A trained model ready to classify images: built from a checkpoint alone (architecture,
/// weights, class names and input normalisation all come from it).
public final class Classifier {
    /// The network, in inference mode.
    public let model: Sequential
    /// Class names by output index.
    public let classNames: [String]
    /// Input height H and width W (the model's input is `[1, H, W]`).
    public let height: Int, width: Int
    private let loader: BatchLoader
    /// Class probabilities of the last batch `[B, K]`.
    private let probabilities = Tensor(shape: [0])
    /// Images per forward pass.
    public let batchSize = 256

    /// A classifier for the model in `checkpoint`.
    public init(checkpoint: Checkpoint, file: String) throws(CheckpointError) {
        guard checkpoint.model.input.count == 3, checkpoint.model.input[0] == 1 else {
            throw CheckpointError(file: file, "the model takes \(checkpoint.model.input.shapeDescription) inputs; only grey (1-channel) models classify PNG images")
        }
        do { model = try checkpoint.makeModel() } catch { throw CheckpointError(file: file, error.message) }
        classNames = checkpoint.classNames
        (height, width) = (checkpoint.model.input[1], checkpoint.model.input[2])
        loader = BatchLoader(normalization: checkpoint.normalization)
    }

    /// Loads the checkpoint at `path` and builds the classifier.
    public static func load(contentsOf path: String) throws(CheckpointError) -> Classifier {
        try Classifier(checkpoint: Checkpoint.read(contentsOf: path), file: path)
    }

    /// The H×W image the network sees for `image`: MNIST-style digit preparation
    /// (`DigitPreprocessor`), or with `preprocess` false only a resize to H×W if needed.
    public func prepare(_ image: GrayImage, preprocess: Bool = true) -> GrayImage {
        if preprocess { return DigitPreprocessor(height: height, width: width).prepare(image) }
        if image.width == width && image.height == height { return image }
        return DigitPreprocessor.resize(image, toHeight: height, width: width)
    }

    /// The `top` most probable classes of each prepared H×W image, most probable first.
    /// Images go through the network in batches of `batchSize`.
    public func classify(_ images: [GrayImage], top: Int = 1) -> [[Prediction]] {
        precondition(images.allSatisfy { $0.width == width && $0.height == height }, "images must be prepared to \(width)×\(height)")
        var results: [[Prediction]] = []
        var start = 0
        while start < images.count {
            let end = min(start + batchSize, images.count)
            let batch = Dataset(images: images[start..<end].flatMap(\.pixels), labels: [UInt8](repeating: 0, count: end - start),
                                sampleShape: [1, height, width], classNames: classNames)
            loader.load(batch, range: 0..<batch.count)
            SoftmaxCrossEntropy.softmax(model.forward(loader.images, phase: .inference), into: self.probabilities)
            let classes = classNames.count
            for slot in 0..<batch.count {
                let probabilities = self.probabilities.data + slot * classes
                let order = (0..<classes).sorted { probabilities[$0] > probabilities[$1] || (probabilities[$0] == probabilities[$1] && $0 < $1) }
                results.append(order.prefix(max(1, top)).map { Prediction(label: classNames[$0], probability: Double(probabilities[$0])) })
            }
            start = end
        }
        return results
    }
}
