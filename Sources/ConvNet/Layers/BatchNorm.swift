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
///
/// Synchronised (PyTorch's `SyncBatchNorm`): when the forward context carries a process group
/// (a data-parallel run with `training.syncBatchNorm`), n, Σx and Σ(x − μ)² are summed over
/// all processes' shares of the batch before μ and σ² are formed, and Σdy and Σdy·x̂ likewise in
/// backward, so every process normalises with the whole batch's statistics, as one process would.
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

    /// μ per channel `[C]` of the last forward pass (the running mean at inference): x̂ is
    /// recomputed from the input in backward rather than stored.
    private let channelMean = Tensor(shape: [0])
    /// 1 / √(σ² + ε) `[C]` of the last forward pass (of the running variance at inference).
    private let inverseDeviation = Tensor(shape: [0])
    /// Output and input gradient, the input's shape.
    private let output = Tensor(shape: [0]), inputGradient = Tensor(shape: [0])
    /// An activation applied in the output pass, `y = f(γ·x̂ + β)`, whose derivative backward
    /// applies to dY first (see `absorb(_:)`): batch norm is usually followed by a ReLU, and
    /// this saves its two passes over the activations. Nil by default.
    public private(set) var activation: (any ActivationFunction)?
    /// dY ⊙ f′(y), the input's shape, when an activation other than ReLU is absorbed; backward
    /// reads it as dY.
    private let maskedGradient = Tensor(shape: [0])
    /// Whether the absorbed activation is a ReLU, whose derivative backward takes from
    /// γ·x̂ + β > 0 inside its own passes: three passes over the activations fewer (writing
    /// and reading `maskedGradient`, reading y).
    /// (Set with the activation: a dynamic type check per plane cost more than the plane.)
    private var masksInPlace = false
    /// The output gradient backward works from: dY, or `maskedGradient`.
    private var gradientSource: UnsafeMutablePointer<Float> {
        activation == nil || masksInPlace ? outputGradient!.data : maskedGradient.data
    }
    /// The pass in progress, for the worker jobs.
    private var input: Tensor?, outputGradient: Tensor?, phase = Phase.inference
    private var forwardJob: (Int) -> Void = { _ in }, backwardJob: (Int) -> Void = { _ in }
    /// The processes whose batch statistics are combined (synchronised batch norm), for this pass.
    private var statisticsGroup: (any ProcessGroup)?
    /// Per-channel sums `[C]` of the pass in progress (Σx and Σ(x − μ)², or Σdy and Σdy·x̂) and,
    /// for synchronised passes, in `sums`' last place this process's value count; summed over
    /// the processes between the worker jobs when synchronised (`[C + 1]` each; workers write
    /// disjoint channels, so they are raw buffers rather than arrays).
    private let sums: UnsafeMutableBufferPointer<Double>, secondSums: UnsafeMutableBufferPointer<Double>
    /// Per channel `[C]` each, for the pass in progress: the output's scale and shift
    /// (y = f(scale·x + shift)), then in backward dx = a·dy + b·x + c's coefficients. Raw
    /// buffers read through local pointers: the inner loops run once per plane, and a class
    /// property read there costs an exclusivity check each time.
    private let outputScale: UnsafeMutablePointer<Float>, outputShift: UnsafeMutablePointer<Float>
    private let gradientCoefficients: UnsafeMutablePointer<SIMD4<Float>>
    /// Synchronised passes: the whole batch's value count n.
    private var globalCount = 0.0
    private var sumJob: (Int) -> Void = { _ in }, squaresJob: (Int) -> Void = { _ in }, normalizeJob: (Int) -> Void = { _ in }
    private var gradientSumJob: (Int) -> Void = { _ in }, inputGradientJob: (Int) -> Void = { _ in }

    /// Whether the input is flat features `[N, C]` rather than images `[N, C, H, W]`.
    private let flat: Bool
    /// Values per channel per image (H·W, or 1) of the image-by-image inference in progress.
    private var imageSpatial = 1

    /// A batch norm over `channels` channels with γ = 1, β = 0 and fresh running estimates,
    /// for images or, when `flat`, for flat features.
    public init(channels: Int, momentum: Float = 0.1, epsilon: Float = 1e-5, flat: Bool = false) {
        self.flat = flat
        precondition(channels > 0 && momentum > 0 && momentum <= 1 && epsilon > 0)
        outputScale = .allocate(capacity: channels)
        outputScale.initialize(repeating: 0, count: channels)
        outputShift = .allocate(capacity: channels)
        outputShift.initialize(repeating: 0, count: channels)
        gradientCoefficients = .allocate(capacity: channels)
        gradientCoefficients.initialize(repeating: SIMD4<Float>(), count: channels)
        sums = .allocate(capacity: channels + 1)
        sums.initialize(repeating: 0)
        secondSums = .allocate(capacity: channels + 1)
        secondSums.initialize(repeating: 0)
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
        sumJob = { [unowned(unsafe) self] worker in self.sumShare(worker) }
        squaresJob = { [unowned(unsafe) self] worker in self.squaresShare(worker) }
        normalizeJob = { [unowned(unsafe) self] worker in self.normalizeShare(worker) }
        gradientSumJob = { [unowned(unsafe) self] worker in self.gradientSumShare(worker) }
        inputGradientJob = { [unowned(unsafe) self] worker in self.inputGradientShare(worker) }
    }

    deinit {
        sums.deallocate()
        secondSums.deallocate()
        outputScale.deallocate()
        outputShift.deallocate()
        gradientCoefficients.deallocate()
    }

    public var summary: String { "batchnorm" }

    public var parameters: [Parameter] { [weight, bias] }

    public var buffers: [Buffer] { [runningMean, runningVariance, batchesTracked] }

    public func absorb(_ activation: any ActivationFunction) -> Bool {
        // Over flat features (one value per channel and image) the activation would be applied
        // one value per call: the separate layer's single pass is faster there.
        guard self.activation == nil, !flat else { return false }
        self.activation = activation
        masksInPlace = activation is ReLU
        return true
    }

    /// `x [N, C, H, W]` or `[N, C]` → `y`, the same shape.
    public func forward(_ input: Tensor, context: ForwardContext) -> Tensor {
        precondition(input.shape.count >= 2 && input.shape[1] == channels, "BatchNorm expects [N, \(channels), …], got \(input.shape)")
        self.input = input
        phase = context.phase
        output.reshape(to: input.shape)
        inverseDeviation.reshape(1, channels)
        channelMean.reshape(1, channels)
        statisticsGroup = context.phase == .training ? context.statisticsGroup : nil
        if let statisticsGroup {
            // Σx over every process's share, then Σ(x − μ)² around the whole batch's mean.
            forEachWorker(sumJob)
            sums[channels] = Double(input.shape[0] * spatial)
            statisticsGroup.allReduceSum(sums)
            globalCount = sums[channels]
            forEachWorker(squaresJob)
            statisticsGroup.allReduceSum(UnsafeMutableBufferPointer(rebasing: secondSums[0..<channels]))
            forEachWorker(normalizeJob)
        } else {
            forEachWorker(forwardJob)
        }
        if phase == .training, case .int64(let count) = batchesTracked.storage { count.values[0] += 1 }
        return output
    }

    /// `dY` → `dX` (input's shape) when `needsInputGradient`; adds into dγ and dβ.
    public func backward(_ outputGradient: Tensor, needsInputGradient: Bool) -> Tensor? {
        precondition(outputGradient.shape == output.shape)
        inputGradient.reshape(to: output.shape)
        if activation != nil && !masksInPlace { maskedGradient.reshape(to: output.shape) }
        self.outputGradient = outputGradient
        if let statisticsGroup {
            // Σdy and Σdy·x̂ over every process's share (this share's go into dβ and dγ).
            forEachWorker(gradientSumJob)
            statisticsGroup.allReduceSum(UnsafeMutableBufferPointer(rebasing: sums[0..<channels]))
            statisticsGroup.allReduceSum(UnsafeMutableBufferPointer(rebasing: secondSums[0..<channels]))
            forEachWorker(inputGradientJob)
        } else {
            forEachWorker(backwardJob)
        }
        return needsInputGradient ? inputGradient : nil
    }

    /// The values per channel per image, S (H·W, or 1).
    private var spatial: Int { output.count / max(1, output.shape[0] * channels) }

    // Every pass walks image by image and, within an image, over the worker's channels: one
    // contiguous block per image. (Walking channel by channel jumped C·S floats from plane to
    // plane, 4 KB in mnist-best's second block, whose planes then fought over the same cache
    // sets: its two batch norms over 4×4 planes and flat features took 11% of a step.) Each
    // channel's totals still add the images in order, as before. Sums per plane (S values) are
    // Float with 16 partial sums; per-channel totals are Double, and so are the means of the
    // gradient sums (as synchronised batch norm always took them).

    /// One worker's forward pass over its channels: batch statistics (training) or running
    /// estimates (inference), then the output.
    private func forwardShare(_ worker: Int) {
        guard let input, case .float32(let mean) = runningMean.storage, case .float32(let variance) = runningVariance.storage else { return }
        let range = partition(channels, worker: worker, of: Parallelism.threads)
        let count = Double(input.shape[0] * spatial)
        if phase == .training && count == 0 {
            // An empty share of a batch (data-parallel): nothing to normalise or learn from.
            for channel in range { (channelMean.data[channel], inverseDeviation.data[channel]) = (0, 1) }
        } else if phase == .training {
            channelSums(range)
            for channel in range { channelMean.data[channel] = Float(sums[channel] / count) }
            channelSquares(range)
            for channel in range {
                inverseDeviation.data[channel] = updateStatistics(channel, mean: channelMean.data[channel],
                                                                  variance: secondSums[channel] / count, count: count)
            }
        } else {
            useRunningEstimates(range, mean: mean, variance: variance)
        }
        normalize(range)
    }

    /// Inference: μ and 1/√(σ² + ε) of the channels of `range` from the running estimates.
    private func useRunningEstimates(_ range: Range<Int>, mean: Tensor, variance: Tensor) {
        for channel in range {
            channelMean.data[channel] = mean.data[channel]
            inverseDeviation.data[channel] = 1 / (variance.data[channel] + epsilon).squareRoot()
        }
    }

    /// scale = γ·inverse and shift = β − μ·scale per channel of `range`, from `channelMean` and `inverseDeviation`.
    private func setScaleAndShift(_ range: Range<Int>) {
        for channel in range {
            outputScale[channel] = weight.value.data[channel] * inverseDeviation.data[channel]
            outputShift[channel] = bias.value.data[channel] - channelMean.data[channel] * outputScale[channel]
        }
    }

    /// Σx per channel of `range` into `sums`.
    private func channelSums(_ range: Range<Int>) {
        guard let input else { return }
        let (batch, spatial, x) = (input.shape[0], self.spatial, input.data)
        for channel in range { sums[channel] = 0 }
        for n in 0..<batch {
            for channel in range { sums[channel] += Double(sum(x + (n * channels + channel) * spatial, count: spatial)) }
        }
    }

    /// Σ(x − μ)² per channel of `range` into `secondSums`, around `channelMean`.
    private func channelSquares(_ range: Range<Int>) {
        guard let input else { return }
        let (batch, spatial, x) = (input.shape[0], self.spatial, input.data)
        let means = channelMean.data
        for channel in range { secondSums[channel] = 0 }
        for n in 0..<batch {
            for channel in range {
                secondSums[channel] += Double(sumOfSquares(x + (n * channels + channel) * spatial, around: means[channel], count: spatial))
            }
        }
    }

    /// For a training pass with batch mean μ and (biased) variance σ² of `count` values: moves
    /// the running estimates, and returns 1/√(σ² + ε).
    private func updateStatistics(_ channel: Int, mean average: Float, variance batchVariance: Double, count: Double) -> Float {
        guard case .float32(let mean) = runningMean.storage, case .float32(let variance) = runningVariance.storage else { return 1 }
        let unbiased = batchVariance * count / max(count - 1, 1)
        mean.data[channel] = (1 - momentum) * mean.data[channel] + momentum * average
        variance.data[channel] = (1 - momentum) * variance.data[channel] + momentum * Float(unbiased)
        return Float(1 / (batchVariance + Double(epsilon)).squareRoot())
    }

    /// y = γ·(x − μ)·inverse + β = scale·x + shift over the channels of `range`, from
    /// `channelMean` and `inverseDeviation` (kept for backward, as are scale and shift, so
    /// backward's ReLU mask is forward's exactly).
    private func normalize(_ range: Range<Int>) {
        guard let input else { return }
        let (batch, spatial, activation) = (input.shape[0], self.spatial, self.activation)
        setScaleAndShift(range)
        for n in 0..<batch {
            let offset = n * channels * spatial
            normalizePlanes(input.data + offset, into: output.data + offset, channels: range, spatial: spatial, activation: activation)
        }
    }

    /// y = f(scale·x + shift) for the planes (S values each) of `channels` in one image.
    @inline(__always)
    private func normalizePlanes(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, channels: Range<Int>,
                                 spatial: Int, activation: (any ActivationFunction)?) {
        let (scales, shifts) = (outputScale, outputShift)
        // The activation unwrapped once, not per plane: binding an existential copies it, which
        // cost 2% of a mnist-best step over its 64-value planes.
        if let activation {
            for channel in channels {
                activation.forward(x + channel * spatial, scale: scales[channel], shift: shifts[channel],
                                   into: y + channel * spatial, count: spatial)
            }
        } else {
            for channel in channels {
                scaleAndShift(x + channel * spatial, scale: scales[channel], shift: shifts[channel], into: y + channel * spatial, count: spatial)
            }
        }
    }

    /// Synchronised forward, first job: this share's Σx per channel into `sums`.
    private func sumShare(_ worker: Int) {
        channelSums(partition(channels, worker: worker, of: Parallelism.threads))
    }

    /// Synchronised forward, second job: this share's Σ(x − μ)² around the whole batch's μ into `secondSums`.
    private func squaresShare(_ worker: Int) {
        let range = partition(channels, worker: worker, of: Parallelism.threads)
        for channel in range { channelMean.data[channel] = Float(sums[channel] / max(globalCount, 1)) }
        channelSquares(range)
    }

    /// Synchronised forward, last job: the whole batch's σ², then normalise this share.
    private func normalizeShare(_ worker: Int) {
        let range = partition(channels, worker: worker, of: Parallelism.threads)
        let count = max(globalCount, 1)
        for channel in range {
            inverseDeviation.data[channel] = updateStatistics(channel, mean: channelMean.data[channel],
                                                              variance: secondSums[channel] / count, count: count)
        }
        normalize(range)
    }

    /// With x̂ = (x − μ)·inverse: dβ += Σ dy, dγ += Σ dy·x̂ = inverse·(Σ dy·x − μ·Σ dy), and in
    /// training dx = γ·inverse·(dy − mean(dy) − x̂·mean(dy·x̂)), linear in dy and x.
    private func backwardShare(_ worker: Int) {
        guard let input, outputGradient != nil else { return }
        let range = partition(channels, worker: worker, of: Parallelism.threads)
        gradientSums(range)
        inputGradient(range, count: Double(input.shape[0] * spatial))
    }

    /// Over the channels of `range` (after applying an absorbed activation's derivative to dY):
    /// Σdy into `sums` and Σdy·x̂ = inverse·(Σdy·x − μ·Σdy) into `secondSums`, both also added
    /// into dβ and dγ.
    private func gradientSums(_ range: Range<Int>) {
        guard let input, let outputGradient else { return }
        let (batch, spatial, activation, masksInPlace) = (input.shape[0], self.spatial, self.activation, self.masksInPlace)
        let (x, dy, y, outputDY, scales, shifts) = (input.data, gradientSource, output.data, outputGradient.data, outputScale, outputShift)
        for channel in range { (sums[channel], secondSums[channel]) = (0, 0) }
        for n in 0..<batch {
            for channel in range {
                let offset = (n * channels + channel) * spatial
                if masksInPlace {
                    let planeSums = sumsMaskedByPositive(dy + offset, x + offset, scale: scales[channel], shift: shifts[channel], count: spatial)
                    sums[channel] += Double(planeSums.gradient)
                    secondSums[channel] += Double(planeSums.gradientInput)
                } else {
                    // dY ⊙ f′(y) into `maskedGradient` first, when an activation is absorbed.
                    activation?.backward(outputDY + offset, output: y + offset, into: dy + offset, count: spatial)
                    sums[channel] += Double(sum(dy + offset, count: spatial))
                    secondSums[channel] += Double(dot(dy + offset, x + offset, count: spatial))
                }
            }
        }
        for channel in range {
            let (inverse, channelMean) = (inverseDeviation.data[channel], self.channelMean.data[channel])
            let sumGradientNormal = (secondSums[channel] - Double(channelMean) * sums[channel]) * Double(inverse)
            secondSums[channel] = sumGradientNormal
            bias.gradient.data[channel] += Float(sums[channel])
            weight.gradient.data[channel] += Float(sumGradientNormal)
        }
    }

    /// dx over the channels of `range` from mean(dy) = Σdy / count and mean(dy·x̂) (the whole
    /// batch's, in `sums` and `secondSums`): training dx = scale·dy − scale·mean(dy) −
    /// scale·inverse·mean(dy·x̂)·(x − μ) = a·dy + b·x + c with scale = γ·inverse; inference dx = scale·dy.
    private func inputGradient(_ range: Range<Int>, count: Double) {
        guard let input, outputGradient != nil else { return }
        let (batch, spatial, masksInPlace, training) = (input.shape[0], self.spatial, self.masksInPlace, phase == .training)
        let (x, dy, dx, scales, shifts, coefficients) = (input.data, gradientSource, inputGradient.data, outputScale, outputShift, gradientCoefficients)
        for channel in range {
            let (inverse, channelMean) = (inverseDeviation.data[channel], self.channelMean.data[channel])
            let scale = scales[channel]  // γ·inverse, as forward computed it
            let (meanGradient, meanGradientNormal) = (Float(sums[channel] / count), Float(secondSums[channel] / count))
            let b = training ? -scale * inverse * meanGradientNormal : 0
            let c = training ? -scale * meanGradient - b * channelMean : 0
            coefficients[channel] = SIMD4(scale, b, c, 0)
        }
        for n in 0..<batch {
            for channel in range {
                let (a, b, c) = (coefficients[channel][0], coefficients[channel][1], coefficients[channel][2])
                let offset = (n * channels + channel) * spatial
                let (gradient, source, target) = (dy + offset, x + offset, dx + offset)
                if masksInPlace {
                    linearCombinationMaskedByPositive(a, gradient, b, source, c, scale: scales[channel], shift: shifts[channel],
                                                      into: target, count: spatial)
                } else {
                    linearCombination(a, gradient, b, source, c, into: target, count: spatial)
                }
            }
        }
    }

    /// Synchronised backward, first job: this share's Σdy and Σdy·x̂ per channel into `sums` and
    /// `secondSums`, and into dβ and dγ (the gradient all-reduce adds the other shares' there).
    private func gradientSumShare(_ worker: Int) {
        guard input != nil, outputGradient != nil else { return }
        gradientSums(partition(channels, worker: worker, of: Parallelism.threads))
    }

    /// Synchronised backward, second job: dx of this share from the whole batch's means.
    private func inputGradientShare(_ worker: Int) {
        inputGradient(partition(channels, worker: worker, of: Parallelism.threads), count: max(globalCount, 1))
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
            momentum = Float(try container.decode(.momentum, default: 0.1, mustBeAsFloat: "in (0, 1]") { $0 > 0 && $0 <= 1 })
            epsilon = Float(try container.decode(.epsilon, default: 1e-5, mustBeAsFloat: "in (0, 1]") { $0 > 0 && $0 <= 1 })
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

        /// ONNX `BatchNormalization` in inference form: scale γ, bias β, the running mean and variance.
        public func exportONNX(to graph: inout ONNXGraph, input: String, inputShape: [Int], layer: ONNXLayerContext) throws(ExportError) -> String {
            let channels = inputShape[0]
            let inputs = [input] + (try ["weight", "bias", "running_mean", "running_var"].map { (name: String) throws(ExportError) -> String in
                graph.initializer("\(layer.index).\(name)", shape: [channels], values: try layer.floats(name))
            })
            return graph.node("BatchNormalization", inputs: inputs, output: "\(layer.index)_batchnorm",
                              attributes: [.float("epsilon", epsilon), .float("momentum", 1 - momentum)])
        }

        public func makeLayer(inputShape: [Int], random: inout SeededRandom) -> any Layer {
            BatchNorm(channels: inputShape[0], momentum: momentum, epsilon: epsilon, flat: inputShape.count == 1)
        }
    }
}

extension BatchNorm: ImageWiseInference {
    /// Scale and shift from the running estimates, as `forward` computes them at inference.
    public func prepareImageInference(batch: Int, inputShape: [Int]) {
        guard case .float32(let mean) = runningMean.storage, case .float32(let variance) = runningVariance.storage else { return }
        phase = .inference
        imageSpatial = inputShape.dropFirst().reduce(1, *)
        channelMean.reshape(1, channels)
        inverseDeviation.reshape(1, channels)
        useRunningEstimates(0..<channels, mean: mean, variance: variance)
        setScaleAndShift(0..<channels)
    }

    /// y = f(scale·x + shift), channel by channel, for one image.
    public func inferImage(_ image: Int, from x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, worker: Int) {
        normalizePlanes(x, into: y, channels: 0..<channels, spatial: imageSpatial, activation: activation)
    }
}
