/// A class and its probability.
public struct Prediction: Equatable, Sendable {
    /// The class name.
    public var label: String
    /// Softmax probability in [0, 1].
    public var probability: Double
}

/// A trained model ready to classify images: built from a checkpoint alone (architecture,
/// weights, class names, input normalisation and input preparation all come from it).
public final class Classifier {
    /// The network, in inference mode.
    public let model: Sequential
    /// Class names by output index.
    public let classNames: [String]
    /// The model's input channels C (1 or 3), height H and width W.
    public let channels: Int, height: Int, width: Int
    /// How the checkpoint says images are prepared for this model.
    public let preparation: InputPreparation
    private let loader: BatchLoader
    /// Class probabilities of the last batch `[B, K]`.
    private let probabilities = Tensor(shape: [0])
    /// Images per forward pass: 256, or fewer when that many would not fit in memory.
    public let batchSize: Int

    /// A classifier for the model in `checkpoint`.
    public init(checkpoint: Checkpoint, file: String) throws(CheckpointError) {
        guard checkpoint.model.input.count == 3, [1, 3].contains(checkpoint.model.input[0]) else {
            throw CheckpointError(file: file, "the model takes \(checkpoint.model.input.shapeDescription) inputs; images have 1 or 3 channels")
        }
        // The weights are in the file, but a small file can describe large activations: check
        // what one image needs before any forward pass allocates it.
        let plan: ModelPlan
        do { plan = try ModelPlan(checkpoint.model) } catch { throw CheckpointError(file: file, "its model cannot be built: \(error)") }
        let budget = MemoryBudget.machineBytes - MemoryBudget.processBaseBytes
        let perImage = plan.memoryEstimate(batchSize: 1, training: false, threads: Parallelism.threads)
        guard perImage <= budget else {
            throw CheckpointError(file: file, "its model needs about \(formatBytes(perImage)) to classify one image (\(checkpoint.model.input.shapeDescription) input, \(checkpoint.model.layers.count) layers), more than the \(formatBytes(budget)) this machine has")
        }
        batchSize = max(1, min(256, budget / 2 / max(1, perImage)))
        do { model = try checkpoint.makeModel() } catch { throw CheckpointError(file: file, error.message) }
        classNames = checkpoint.classNames
        (channels, height, width) = (checkpoint.model.input[0], checkpoint.model.input[1], checkpoint.model.input[2])
        preparation = checkpoint.preparation
        loader = BatchLoader(normalization: checkpoint.normalization)
    }

    /// Loads the checkpoint at `path` and builds the classifier.
    public static func load(contentsOf path: String) throws(CheckpointError) -> Classifier {
        try Classifier(checkpoint: Checkpoint.read(contentsOf: path), file: path)
    }

    /// The shortest side worth decoding a photo at for `preparation` (a JPEG decoder may skip
    /// finer detail): a digit is found in a whole page, so 16 times the input's side; a resize
    /// only needs twice the input's side for clean area averaging.
    public func decodingMinimumSide(for preparation: InputPreparation? = nil) -> Int {
        ((preparation ?? self.preparation).method == .digit ? 16 : 2) * max(height, width)
    }

    /// `image` prepared as this model's input `[C, H, W]` by `preparation` (default: the checkpoint's).
    public func prepare(_ image: Image, using preparation: InputPreparation? = nil) -> InputPreparation.Outcome {
        (preparation ?? self.preparation).prepare(image, channels: channels, height: height, width: width)
    }

    /// The `top` most probable classes of each prepared `[C, H, W]` image, most probable first.
    /// Images go through the network in batches of `batchSize`.
    public func classify(_ images: [Image], top: Int = 1) -> [[Prediction]] {
        precondition(images.allSatisfy { $0.shape == [channels, height, width] }, "images must be prepared to \([channels, height, width])")
        var results: [[Prediction]] = []
        var start = 0
        while start < images.count {
            let end = min(start + batchSize, images.count)
            let batch = Dataset(images: images[start..<end].flatMap(\.pixels), labels: [UInt8](repeating: 0, count: end - start),
                                sampleShape: [channels, height, width], classNames: classNames)
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
