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
    ///
    /// In a data-parallel run (`processes` of more than one) each process evaluates its
    /// contiguous share of the images; each image's loss, predicted class and probability are
    /// then summed over the processes into one table (zeros elsewhere), and every process derives
    /// the same result from it, in image order, exactly as one process would.
    public func evaluate(_ model: Sequential, on dataset: Dataset, mistakes wanted: Int = 0,
                         processes: any ProcessGroup = SingleProcess()) -> EvaluationResult {
        let count = dataset.count, classes = model.outputCount
        // Per image: loss, predicted class, its probability.
        var records = [Double](repeating: 0, count: 3 * count)
        let share = processes.share(of: count)
        var start = share.lowerBound
        while start < share.upperBound {
            let end = min(start + batchSize, share.upperBound)
            loader.load(dataset, range: start..<end)
            let logits = model.forward(loader.images, phase: .inference)
            loss.forward(logits: logits, labels: loader.labels)
            let probabilities = loss.probabilities.data
            for slot in 0..<(end - start) {
                let predicted = predictedClass(probabilities + slot * classes, classes: classes)
                let image = start + slot
                records[3 * image] = Double(loss.imageLosses[slot])
                records[3 * image + 1] = Double(predicted)
                records[3 * image + 2] = Double(probabilities[slot * classes + predicted])
            }
            start = end
        }
        if processes.size > 1 { records.withUnsafeMutableBufferPointer { processes.allReduceSum($0) } }

        var mistakes: [EvaluationResult.Mistake] = []
        var confusion = [[Int]](repeating: [Int](repeating: 0, count: classes), count: classes)
        var lossSum = 0.0, correct = 0
        for image in 0..<count {
            let predicted = Int(records[3 * image + 1]), truth = Int(dataset.labels[image])
            lossSum += records[3 * image]
            confusion[truth][predicted] += 1
            if predicted == truth {
                correct += 1
            } else if wanted > 0 {
                let probability = records[3 * image + 2]
                if mistakes.count < wanted || probability > mistakes[mistakes.count - 1].probability {
                    let mistake = EvaluationResult.Mistake(index: image, truth: truth, predicted: predicted, probability: probability)
                    mistakes.insert(mistake, at: mistakes.firstIndex { $0.probability < probability } ?? mistakes.count)
                    if mistakes.count > wanted { mistakes.removeLast() }
                }
            }
        }
        return EvaluationResult(loss: count == 0 ? 0 : lossSum / Double(count),
                                correct: correct, count: count, confusion: confusion, mistakes: mistakes)
    }
}
