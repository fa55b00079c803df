/// Whether a forward pass is part of training (dropout active, batch statistics used,
/// state kept for backward) or inference.
public enum Phase: Sendable {
    case training
    case inference
}

/// What a forward pass needs besides its input: the phase, and where its random draws come from.
///
/// Random draws inside a layer (dropout masks) are a pure function of (`randomKey`, the
/// layer's own stream, the image's position in the whole batch, the element), never of a
/// generator's running state: so they do not depend on the thread count, a run resumed at
/// any step draws exactly what it would have, and a share of a batch (one process of a
/// data-parallel run) draws what the whole batch would for those images.
public struct ForwardContext: Sendable {
    /// Training or inference.
    public var phase: Phase
    /// This pass's random key; the trainer derives it from the run's seed, the epoch and the step.
    public var randomKey: UInt64
    /// The position in the whole batch of the first image of the tensor passed forward.
    public var firstImage: Int
    /// In a data-parallel run with synchronised batch norm, the processes whose shares of the
    /// batch make up the whole batch: batch norm sums its statistics over them. Nil otherwise.
    public var statisticsGroup: (any ProcessGroup)?

    /// A context for `phase` with the given random key, first image and statistics group.
    public init(phase: Phase, randomKey: UInt64 = 0, firstImage: Int = 0, statisticsGroup: (any ProcessGroup)? = nil) {
        self.phase = phase
        self.randomKey = randomKey
        self.firstImage = firstImage
        self.statisticsGroup = statisticsGroup
    }

    /// Inference: no random draws, running statistics.
    public static let inference = ForwardContext(phase: .inference)
}

/// A learnable tensor and its gradient, side by side, with the same shape.
///
/// Backward passes *add* into `gradient`; `Sequential.zeroGradients()` is the one
/// place that clears it. In a model both are views into the model's `ParameterArena`.
public final class Parameter {
    /// The name in checkpoints, PyTorch style: `"weight"` inside its layer, then
    /// `"<layer index>.weight"` once the model has named it.
    public var name: String
    /// The values, e.g. `[F, C, KH, KW]` for a convolution kernel.
    public let value: Tensor
    /// ∂loss/∂value, same shape as `value`.
    public let gradient: Tensor

    /// A zero-filled parameter of the given shape.
    public init(name: String, shape: [Int]) {
        self.name = name
        self.value = Tensor(shape: shape)
        self.gradient = Tensor(shape: shape)
    }
}

/// Non-learnable state of a layer that is saved and loaded with its parameters but not
/// optimised, as PyTorch's `register_buffer` (batch norm's running statistics).
public final class Buffer {
    /// The name in checkpoints: `"running_mean"` inside its layer, then `"<layer index>.running_mean"`.
    public var name: String
    /// The values: a Float32 tensor, or 64-bit integers with a shape (`num_batches_tracked`, shape `[]`).
    public let storage: Storage

    /// How a buffer stores its values.
    public enum Storage {
        /// Float32 values, e.g. a running mean `[C]`.
        case float32(Tensor)
        /// Int64 values with their shape; PyTorch stores counters this way.
        case int64(IntegerValues)
    }

    /// Int64 values and their shape, shared by reference so the layer can update them in place.
    public final class IntegerValues {
        /// The dimensions (`[]` for a scalar).
        public let shape: [Int]
        /// The values, row-major.
        public var values: [Int64]
        /// Zero-filled values of `shape`.
        public init(shape: [Int]) {
            self.shape = shape
            self.values = [Int64](repeating: 0, count: Tensor.elementCount(shape))
        }
    }

    /// A zero-filled Float32 buffer.
    public init(name: String, floatShape shape: [Int]) {
        self.name = name
        self.storage = .float32(Tensor(shape: shape))
    }

    /// A zero-filled Int64 buffer.
    public init(name: String, integerShape shape: [Int]) {
        self.name = name
        self.storage = .int64(IntegerValues(shape: shape))
    }

    /// The dimensions.
    public var shape: [Int] {
        switch storage {
        case .float32(let tensor): return tensor.shape
        case .int64(let integers): return integers.shape
        }
    }
}

/// One step of a network: a hand-written forward and backward pass over a batch.
///
/// A layer is built by its `LayerSpecification` for one per-image input shape
/// (`[C, H, W]` or `[D]`); tensors passed to `forward` carry N first. The file that
/// defines a layer holds its specification too, and one line in `LayerRegistry`
/// makes it available to configs and checkpoints.
public protocol Layer: AnyObject {
    /// A short human description, e.g. `"conv 20@5×5"` or `"maxpool 2"`.
    var summary: String { get }

    /// The layer's learnable parameters, each value beside its gradient.
    var parameters: [Parameter] { get }

    /// Non-learnable state saved with the model (running statistics).
    var buffers: [Buffer] { get }

    /// Computes the output for `input` `[N, …]` and keeps what `backward` needs.
    /// The returned tensor is owned by the layer and overwritten by the next call.
    func forward(_ input: Tensor, context: ForwardContext) -> Tensor

    /// Given ∂loss/∂output, adds ∂loss/∂parameters into the parameters' gradients and,
    /// when `needsInputGradient` (Caffe's `propagate_down`), returns ∂loss/∂input (owned by
    /// the layer, the last input's shape); otherwise skips that work and returns nil.
    func backward(_ outputGradient: Tensor, needsInputGradient: Bool) -> Tensor?

    /// The element-wise activation this layer is, if it is one a preceding layer may apply
    /// in its own output pass instead (see `absorb(_:)`).
    var fusibleActivation: (any ActivationFunction)? { get }

    /// Asks this layer to apply `activation` to its output itself, y = f(own output), and to
    /// take its derivative in backward. Returns true if it will; the model then skips the
    /// activation layer. Results are bit-identical to running the two layers apart.
    func absorb(_ activation: any ActivationFunction) -> Bool
}

extension Layer {
    /// Layers without learnable parameters.
    public var parameters: [Parameter] { [] }
    /// Layers without buffers.
    public var buffers: [Buffer] { [] }
    /// Layers that are not activations.
    public var fusibleActivation: (any ActivationFunction)? { nil }
    /// Layers that cannot apply an activation themselves.
    public func absorb(_ activation: any ActivationFunction) -> Bool { false }

    /// `forward` in `phase` with random key 0 (tests, evaluation).
    public func forward(_ input: Tensor, phase: Phase) -> Tensor {
        forward(input, context: ForwardContext(phase: phase))
    }

    /// `backward` returning the input gradient.
    public func backward(_ outputGradient: Tensor) -> Tensor {
        backward(outputGradient, needsInputGradient: true)!
    }
}

/// Why a layer cannot accept an input shape; the model builder adds which layer.
public struct ShapeError: Error, Equatable, Sendable {
    /// What is wrong, e.g. "input 1×1 is smaller than the window".
    public var message: String
    /// Creates the error with a message naming the shapes involved.
    public init(_ message: String) { self.message = message }
}
