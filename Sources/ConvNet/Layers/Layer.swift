/// Whether a forward pass is part of training (dropout active, state kept for
/// backward) or inference.
public enum Phase: Sendable {
    case training
    case inference
}

/// A learnable tensor and its gradient, side by side, with the same shape.
///
/// Backward passes *add* into `gradient`; `Sequential.zeroGradients()` is the one
/// place that clears it. The optimizer walks `Sequential.parameters`.
public final class Parameter {
    /// The name in checkpoints, PyTorch style: `"<layer index>.weight"` or `".bias"`.
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

/// One step of a network: a hand-written forward and backward pass.
///
/// Shapes passed to `outputShape(forInput:)` are per-image, without the batch
/// dimension (`[C, H, W]` or `[D]`); tensors passed to `forward` carry N first.
public protocol Layer: AnyObject {
    /// A short human description, e.g. `"conv 20@5×5"` or `"maxpool 2"`.
    var summary: String { get }

    /// The layer's learnable parameters, each value beside its gradient.
    var parameters: [Parameter] { get }

    /// The per-image output shape for a per-image input shape, or a `ShapeError`
    /// explaining why this input does not fit. Lets a model be checked before it runs.
    func outputShape(forInput inputShape: [Int]) throws(ShapeError) -> [Int]

    /// Computes the output for `input` `[N, …]` and keeps what `backward` needs.
    /// The returned tensor is owned by the layer and overwritten by the next call.
    func forward(_ input: Tensor, phase: Phase) -> Tensor

    /// Given ∂loss/∂output, adds ∂loss/∂parameters into the parameters' gradients
    /// and returns ∂loss/∂input (owned by the layer, same shape as the last input).
    func backward(_ outputGradient: Tensor) -> Tensor
}

extension Layer {
    /// Layers without learnable parameters.
    public var parameters: [Parameter] { [] }
}

/// Why a layer cannot accept an input shape; the model builder adds which layer.
public struct ShapeError: Error, Equatable, Sendable {
    /// What is wrong, e.g. "input 1×1 is smaller than the window".
    public var message: String
    /// Creates the error with a message naming the shapes involved.
    public init(_ message: String) { self.message = message }
}
