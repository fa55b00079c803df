/// Loss, accuracy and confusion matrix of a model on a labelled dataset.
public struct EvaluationResult: Equatable, Sendable {
    /// Mean softmax cross-entropy.
    public var loss: Double
    /// Correct predictions.
    public var correct: Int
    /// Images evaluated.
    public var count: Int
    /// `confusion[t][p]`: images of true class t predicted as p, `[K, K]`.
    public var confusion: [[Int]]
    /// The most confidently wrong predictions, most confident first (as many as asked for).
    public var mistakes: [Mistake] = []

    /// A wrong prediction: which image, its true class, the class predicted and its probability.
    public struct Mistake: Equatable, Sendable {
        /// Index of the image in the dataset.
        public var index: Int
        /// True and predicted class indices.
        public var truth: Int, predicted: Int
        /// The predicted class's probability.
        public var probability: Double
    }

    /// correct / count.
    public var accuracy: Double { count == 0 ? 0 : Double(correct) / Double(count) }

    /// Per class t: confusion[t][t] / Σ_p confusion[t][p] (0 for a class with no images).
    public var perClassAccuracy: [Double] {
        confusion.enumerated().map { index, row in
            let total = row.reduce(0, +)
            return total == 0 ? 0 : Double(row[index]) / Double(total)
        }
    }
}

/// Runs a model over a dataset in inference mode, in batches, reusing its buffers.
public final class Evaluator {
    private let loader: BatchLoader
    private let loss = SoftmaxCrossEntropy()
    /// Images per forward pass.
    public let batchSize: Int

    /// An evaluator feeding batches of `batchSize` normalised with `normalization`.
    public init(normalization: Normalization, batchSize: Int = 256) {
        loader = BatchLoader(normalization: normalization)
        self.batchSize = batchSize
    }

    /// Evaluates `model` on every image of `dataset`, keeping the `mistakes` most confidently
    /// wrong predictions.
    public func evaluate(_ model: Sequential, on dataset: Dataset, mistakes wanted: Int = 0) -> EvaluationResult {
        var mistakes: [EvaluationResult.Mistake] = []
        let classes = model.outputCount
        var confusion = [[Int]](repeating: [Int](repeating: 0, count: classes), count: classes)
        var lossSum = 0.0, correct = 0
        var start = 0
        while start < dataset.count {
            let end = min(start + batchSize, dataset.count)
            loader.load(dataset, range: start..<end)
            let logits = model.forward(loader.images, phase: .inference)
            lossSum += Double(loss.forward(logits: logits, labels: loader.labels)) * Double(end - start)
            let probabilities = loss.probabilities.data
            for slot in 0..<(end - start) {
                let predicted = predictedClass(probabilities + slot * classes, classes: classes)
                let truth = Int(loader.labels[slot])
                confusion[truth][predicted] += 1
                if predicted == truth {
                    correct += 1
                } else if wanted > 0 {
                    let probability = Double(probabilities[slot * classes + predicted])
                    if mistakes.count < wanted || probability > mistakes[mistakes.count - 1].probability {
                        let mistake = EvaluationResult.Mistake(index: start + slot, truth: truth, predicted: predicted, probability: probability)
                        mistakes.insert(mistake, at: mistakes.firstIndex { $0.probability < probability } ?? mistakes.count)
                        if mistakes.count > wanted { mistakes.removeLast() }
                    }
                }
            }
            start = end
        }
        return EvaluationResult(loss: dataset.count == 0 ? 0 : lossSum / Double(dataset.count),
                                correct: correct, count: dataset.count, confusion: confusion, mistakes: mistakes)
    }
}
