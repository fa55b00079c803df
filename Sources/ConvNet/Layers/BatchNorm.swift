import Foundation

/// Batch normalisation, as PyTorch's `nn.BatchNorm2d` after a convolution (input
/// `[N, C, H, W]`, statistics per channel over N·H·W) and `nn.BatchNorm1d` after a dense
/// layer (input `[N, D]`, statistics per feature over N). With n values per channel:
///
/// - training: μ = Σx / n, σ² = Σ(x − μ)² / n, x̂ = (x − μ) / √(σ² + ε), y = γ·x̂ + β; the running
///   estimates move by the momentum m: `running_mean ← (1 − m)·running_mean + m·μ`,
///   `running_var ← (1 − m)·running_var + m·σ²·n / (n − 1)` (the unbiased variance), and
///   `num_batches_tracked` counts the steps;
/// - inference: y = γ·(x − running_mean) / √(running_var + ε) + β;
/// - backward (training): dβ += Σ dy, dγ += Σ dy·x̂,
///   dx = γ / (n·√(σ² + ε)) · (n·dy − Σ dy − x̂·Σ dy·x̂).
///
/// JSON: `{"type": "batchnorm", "momentum": 0.1, "epsilon": 1e-5}` (PyTorch's defaults).
/// State: `weight` γ and `bias` β `[C]` (learned, from 1 and 0), buffers `running_mean` `[C]`
/// (from 0), `running_var` `[C]` (from 1) and `num_batches_tracked` (I64, shape `[]`): the names
/// and dtypes PyTorch uses, so its `load_state_dict` takes the layer as it is. Sums are
/// accumulated in Double. Workers split the channels.
public final class BatchNorm: Layer {
    /// Channels (or features) C.
    public let channels: Int
    /// m in (0, 1]: how far each training step moves the running estimates.
    public let momentum: Float
    /// ε > 0, added to the variance.
    public let epsilon: Float
    /// γ `[C]`.
    public let weight: Parameter
    /// β `[C]`.
    public let bias: Parameter
    /// The running mean `[C]` used at inference.
    public let runningMean: Buffer
    /// The running (unbiased) variance `[C]` used at inference.
    public let runningVariance: Buffer
    /// Training steps taken, I64 `[]`.
    public let batchesTracked: Buffer

    /// x̂ `[N, C, S]` (S = H·W, or 1 after a dense layer) of the last forward pass.
    private let normalized = Tensor(shape: [0])
    /// 1 / √(σ² + ε) `[C]` of the last forward pass (of the running variance at inference).
    private let inverseDeviation = Tensor(shape: [0])
    /// Output and input gradient, the input's shape.
    private let output = Tensor(shape: [0]), inputGradient = Tensor(shape: [0])
    /// The pass in progress, for the worker jobs.
    private var input: Tensor?, outputGradient: Tensor?, phase = Phase.inference
    private var forwardJob: (Int) -> Void = { _ in }, backwardJob: (Int) -> Void = { _ in }

    /// A batch norm over `channels` channels with γ = 1, β = 0 and fresh running estimates.
    public init(channels: Int, momentum: Float = 0.1, epsilon: Float = 1e-5) {
        precondition(channels > 0 && momentum > 0 && momentum <= 1 && epsilon > 0)
        self.channels = channels
        self.momentum = momentum
        self.epsilon = epsilon
        weight = Parameter(name: "weight", shape: [channels])
        weight.value.fill(1)
        bias = Parameter(name: "bias", shape: [channels])
        runningMean = Buffer(name: "running_mean", floatShape: [channels])
        runningVariance = Buffer(name: "running_var", floatShape: [channels])
        if case .float32(let variance) = runningVariance.storage { variance.fill(1) }
        batchesTracked = Buffer(name: "num_batches_tracked", integerShape: [])
        forwardJob = { [unowned(unsafe) self] worker in self.forwardShare(worker) }
        backwardJob = { [unowned(unsafe) self] worker in self.backwardShare(worker) }
    }

    public var summary: String { "batchnorm" }

    public var parameters: [Parameter] { [weight, bias] }

    public var buffers: [Buffer] { [runningMean, runningVariance, batchesTracked] }

    /// `x [N, C, H, W]` or `[N, C]` → `y`, the same shape.
    public func forward(_ input: Tensor, context: ForwardContext) -> Tensor {
        precondition(input.shape.count >= 2 && input.shape[1] == channels, "BatchNorm expects [N, \(channels), …], got \(input.shape)")
        self.input = input
        phase = context.phase
        output.reshape(to: input.shape)
        inverseDeviation.reshape(1, channels)
        if phase == .training { normalized.reshape(to: input.shape) }
        forEachWorker(forwardJob)
        if phase == .training, case .int64(let count) = batchesTracked.storage { count.values[0] += 1 }
        return output
    }

    /// `dY` → `dX` (input's shape) when `needsInputGradient`; adds into dγ and dβ.
    public func backward(_ outputGradient: Tensor, needsInputGradient: Bool) -> Tensor? {
        precondition(outputGradient.shape == output.shape)
        inputGradient.reshape(to: output.shape)
        self.outputGradient = outputGradient
        forEachWorker(backwardJob)
        return needsInputGradient ? inputGradient : nil
    }

    /// The values per channel per image, S (H·W, or 1).
    private var spatial: Int { output.count / max(1, output.shape[0] * channels) }

    private func forwardShare(_ worker: Int) {
        guard let input, case .float32(let mean) = runningMean.storage, case .float32(let variance) = runningVariance.storage else { return }
        let (batch, spatial) = (input.shape[0], self.spatial)
        let count = Double(batch * spatial)
        let (x, y, xHat, gamma, beta) = (input.data, output.data, normalized.data, weight.value.data, bias.value.data)
        for channel in partition(channels, worker: worker, of: Parallelism.threads) {
            let planes = (0..<batch).lazy.map { x + ($0 * self.channels + channel) * spatial }
            let channelMean: Float, inverse: Float
            if phase == .training {
                var total = 0.0
                for plane in planes { for s in 0..<spatial { total += Double(plane[s]) } }
                let average = total / count
                var squares = 0.0
                for plane in planes { for s in 0..<spatial { let d = Double(plane[s]) - average; squares += d * d } }
                let batchVariance = squares / count
                channelMean = Float(average)
                inverse = Float(1 / (batchVariance + Double(epsilon)).squareRoot())
                let unbiased = batchVariance * count / max(count - 1, 1)
                mean.data[channel] = (1 - momentum) * mean.data[channel] + momentum * Float(average)
                variance.data[channel] = (1 - momentum) * variance.data[channel] + momentum * Float(unbiased)
            } else {
                channelMean = mean.data[channel]
                inverse = 1 / (variance.data[channel] + epsilon).squareRoot()
            }
            inverseDeviation.data[channel] = inverse
            let (scale, shift) = (gamma[channel], beta[channel])
            for n in 0..<batch {
                let offset = (n * channels + channel) * spatial
                for s in 0..<spatial {
                    let normal = (x[offset + s] - channelMean) * inverse
                    if phase == .training { xHat[offset + s] = normal }
                    y[offset + s] = scale * normal + shift
                }
            }
        }
    }

    private func backwardShare(_ worker: Int) {
        guard let input, let outputGradient else { return }
        let (batch, spatial) = (input.shape[0], self.spatial)
        let count = Float(batch * spatial)
        let (x, dy, dx) = (input.data, outputGradient.data, inputGradient.data)
        let (gamma, dGamma, dBeta) = (weight.value.data, weight.gradient.data, bias.gradient.data)
        for channel in partition(channels, worker: worker, of: Parallelism.threads) {
            let inverse = inverseDeviation.data[channel]
            // x̂ was kept in training; at inference it is recomputed from the running mean.
            let runningMeanValue: Float
            if case .float32(let mean) = runningMean.storage { runningMeanValue = mean.data[channel] } else { runningMeanValue = 0 }
            func normal(_ index: Int) -> Float {
                phase == .training ? normalized.data[index] : (x[index] - runningMeanValue) * inverse
            }
            var sumGradient = 0.0, sumGradientNormal = 0.0
            for n in 0..<batch {
                let offset = (n * channels + channel) * spatial
                for s in 0..<spatial {
                    sumGradient += Double(dy[offset + s])
                    sumGradientNormal += Double(dy[offset + s]) * Double(normal(offset + s))
                }
            }
            dBeta[channel] += Float(sumGradient)
            dGamma[channel] += Float(sumGradientNormal)
            let scale = gamma[channel] * inverse
            let (meanGradient, meanGradientNormal) = (Float(sumGradient) / count, Float(sumGradientNormal) / count)
            for n in 0..<batch {
                let offset = (n * channels + channel) * spatial
                for s in 0..<spatial {
                    let index = offset + s
                    // Training: the batch statistics depend on x too; inference: they are constants.
                    dx[index] = phase == .training
                        ? scale * (dy[index] - meanGradient - normal(index) * meanGradientNormal)
                        : scale * dy[index]
                }
            }
        }
    }

    /// `{"type": "batchnorm", "momentum": [0.1], "epsilon": [1e-5]}`.
    public struct Specification: LayerSpecification {
        public static let typeName = "batchnorm"
        /// m in (0, 1].
        public var momentum: Float
        /// ε > 0.
        public var epsilon: Float

        /// PyTorch's defaults: momentum 0.1, ε = 1e-5.
        public init(momentum: Float = 0.1, epsilon: Float = 1e-5) { self.momentum = momentum; self.epsilon = epsilon }

        private enum Keys: String, CodingKey { case momentum, epsilon }

        public init(from decoder: Decoder) throws {
            try decoder.rejectUnknownLayerKeys(["momentum", "epsilon"])
            let container = try decoder.container(keyedBy: Keys.self)
            momentum = try container.decode(.momentum, default: 0.1, mustBe: "in (0, 1]") { (value: Float) in value > 0 && value <= 1 }
            epsilon = try container.decode(.epsilon, default: 1e-5, mustBe: "in (0, 1]") { (value: Float) in value > 0 && value <= 1 }
        }

        public func encode(to encoder: Encoder) throws {
            var container = encoder.container(keyedBy: Keys.self)
            if momentum != 0.1 { try container.encode(momentum, forKey: .momentum) }
            if epsilon != 1e-5 { try container.encode(epsilon, forKey: .epsilon) }
        }

        public var summary: String { "batchnorm" }

        public func outputShape(forInput shape: [Int]) throws(ShapeError) -> [Int] {
            guard shape.count == 3 || shape.count == 1 else {
                throw ShapeError("expects an image C×H×W or flat features, found \(shape.shapeDescription)")
            }
            return shape
        }

        public func parameterCount(forInput shape: [Int]) -> Int? { 2 * shape[0] }

        public func makeLayer(inputShape: [Int], random: inout SeededRandom) -> any Layer {
            BatchNorm(channels: inputShape[0], momentum: momentum, epsilon: epsilon)
        }
    }
}
