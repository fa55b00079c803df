/// Softmax followed by cross-entropy, fused and numerically stable.
///
/// For logits z `[N, K]` and labels t `[N]` (0 ≤ t < K):
/// `p[n, k] = exp(z[n, k] − m_n) / Σ_j exp(z[n, j] − m_n)` with `m_n = max_j z[n, j]`,
/// `loss = (1/N) Σ_n (log Σ_j exp(z[n, j] − m_n) + m_n − z[n, t_n])`,
/// and `∂loss/∂z = (p − onehot(t)) / N`.
///
/// With label smoothing ε (PyTorch's `CrossEntropyLoss(label_smoothing=ε)`) the target is
/// q = (1 − ε)·onehot(t) + ε/K, the loss −Σ_k q_k log p_k = log Σ exp(z − m) + m − (1 − ε)·z_t − ε/K·Σ_k z_k,
/// and the gradient (p − q) / N.
public final class SoftmaxCrossEntropy {
    /// Probabilities p `[N, K]` of the last forward pass.
    public let probabilities = Tensor(shape: [0])
    /// ∂loss/∂logits `[N, K]`.
    private let logitGradient = Tensor(shape: [0])
    private var labels: [Int32] = []
    /// Each image's loss in the last forward pass, `[N]` (the first N entries).
    public private(set) var imageLosses: [Float] = []
    /// ε in [0, 1).
    public let labelSmoothing: Float

    /// Creates the loss, with label smoothing ε (default none).
    public init(labelSmoothing: Float = 0) {
        precondition(labelSmoothing >= 0 && labelSmoothing < 1)
        self.labelSmoothing = labelSmoothing
    }

    /// The mean loss over the batch for logits `[N, K]` and labels `N` (each in `0..<K`).
    /// Keeps the probabilities for `backward()` and for accuracy.
    @discardableResult
    public func forward(logits: Tensor, labels: UnsafeBufferPointer<Int32>) -> Float {
        precondition(logits.shape.count == 2 && logits.shape[0] == labels.count,
                     "logits \(logits.shape) do not match \(labels.count) labels")
        let (batch, classes) = (logits.shape[0], logits.shape[1])
        if self.labels.count < batch {
            self.labels = [Int32](repeating: 0, count: batch)
            imageLosses = [Float](repeating: 0, count: batch)
        }
        SoftmaxCrossEntropy.softmax(logits, into: probabilities)
        var total: Double = 0
        for n in 0..<batch {
            let label = Int(labels[n])
            precondition(label >= 0 && label < classes, "label \(label) outside 0..<\(classes)")
            self.labels[n] = labels[n]
            // −log p[label], from the probability's own terms: log Σ exp(z − m) + m − z[label].
            let z = logits.data + n * classes
            var maximum = z[0]
            for k in 1..<classes { maximum = max(maximum, z[k]) }
            var sum: Float = 0
            for k in 0..<classes { sum += exp(z[k] - maximum) }
            let imageLoss: Float
            if labelSmoothing == 0 {
                imageLoss = log(sum) + maximum - z[label]
            } else {
                var logitSum: Float = 0
                for k in 0..<classes { logitSum += z[k] }
                imageLoss = log(sum) + maximum - (1 - labelSmoothing) * z[label] - labelSmoothing / Float(classes) * logitSum
            }
            imageLosses[n] = imageLoss
            total += Double(imageLoss)
        }
        return Float(total / Double(max(batch, 1)))
    }

    /// Row-wise softmax of logits `[N, K]` into `probabilities` (reshaped to `[N, K]`),
    /// shifting each row by its maximum so no exponential overflows.
    public static func softmax(_ logits: Tensor, into probabilities: Tensor) {
        let (batch, classes) = (logits.shape[0], logits.shape[1])
        probabilities.reshape(batch, classes)
        for n in 0..<batch {
            let z = logits.data + n * classes, p = probabilities.data + n * classes
            var maximum = z[0]
            for k in 1..<classes { maximum = max(maximum, z[k]) }
            var sum: Float = 0
            for k in 0..<classes {
                p[k] = exp(z[k] - maximum)
                sum += p[k]
            }
            let inverse = 1 / sum
            for k in 0..<classes { p[k] *= inverse }
        }
    }

    /// Convenience for arrays of labels.
    @discardableResult
    public func forward(logits: Tensor, labels: [Int32]) -> Float {
        labels.withUnsafeBufferPointer { forward(logits: logits, labels: $0) }
    }

    /// ∂loss/∂logits `[N, K]` = (p − onehot) / N for the last forward pass. A process of a
    /// data-parallel run holds a share of the batch: `meanOver` is then the whole batch's size
    /// B, giving (p − onehot) / B, so the gradients summed over the processes are the batch mean's.
    public func backward(meanOver total: Int? = nil) -> Tensor {
        let (batch, classes) = (probabilities.shape[0], probabilities.shape[1])
        logitGradient.reshape(to: probabilities.shape)
        let scale = 1 / Float(max(total ?? batch, 1))
        let p = probabilities.data, gradient = logitGradient.data
        let spread = labelSmoothing / Float(classes) * scale
        for i in 0..<probabilities.count { gradient[i] = p[i] * scale - spread }
        for n in 0..<batch { gradient[n * classes + Int(labels[n])] -= (1 - labelSmoothing) * scale }
        return logitGradient
    }

    /// How many of the last batch's predictions (arg-max of p) equal their label.
    public func correctCount() -> Int {
        let (batch, classes) = (probabilities.shape[0], probabilities.shape[1])
        var correct = 0
        for n in 0..<batch where predictedClass(probabilities.data + n * classes, classes: classes) == Int(labels[n]) {
            correct += 1
        }
        return correct
    }
}

/// The index of the largest of `count` values (the first on ties).
@inline(__always)
func predictedClass(_ values: UnsafePointer<Float>, classes count: Int) -> Int {
    var best = 0
    for k in 1..<count where values[k] > values[best] { best = k }
    return best
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
