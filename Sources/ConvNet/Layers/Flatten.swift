/// Flattens each image: `[N, C, H, W]` → `[N, C·H·W]`, in the same (C, H, W)
/// order as PyTorch's `nn.Flatten`, so dense weights are interchangeable.
///
/// JSON: `{"type": "flatten"}`.
public final class Flatten: Layer {
    /// Output `[N, C·H·W]`.
    private let output = Tensor(shape: [0])
    /// Input gradient, the input's shape.
    private let inputGradient = Tensor(shape: [0])
    private var inputShape: [Int] = []
    /// Values per image of the image-by-image inference in progress.
    fileprivate var imageCount = 0

    /// Creates the layer.
    public init() {}

    public var summary: String { "flatten" }

    public func forward(_ input: Tensor, context: ForwardContext) -> Tensor {
        inputShape = input.shape
        output.reshape(input.shape[0], input.shape.dropFirst().reduce(1, *))  // [0, C·H·W] for an empty batch too
        output.data.update(from: input.data, count: input.count)
        return output
    }

    public func backward(_ outputGradient: Tensor, needsInputGradient: Bool) -> Tensor? {
        guard needsInputGradient else { return nil }
        precondition(outputGradient.count == Tensor.elementCount(inputShape))
        inputGradient.reshape(to: inputShape)
        inputGradient.data.update(from: outputGradient.data, count: outputGradient.count)
        return inputGradient
    }

    /// `{"type": "flatten"}`.
    public struct Specification: LayerSpecification {
        public static let typeName = "flatten"
        public init() {}
        public init(from decoder: Decoder) throws { try decoder.rejectUnknownLayerKeys([]) }
        public func encode(to encoder: Encoder) throws {}
        public var summary: String { "flatten" }
        public func outputShape(forInput shape: [Int]) throws(ShapeError) -> [Int] { [Tensor.elementCount(shape)] }
        public func makeLayer(inputShape: [Int], random: inout SeededRandom) -> any Layer { Flatten() }
        /// ONNX `Flatten` (axis 1).
        public func exportONNX(to graph: inout ONNXGraph, input: String, inputShape: [Int], layer: ONNXLayerContext) throws(ExportError) -> String {
            graph.node("Flatten", inputs: [input], output: "\(layer.index)_flatten", attributes: [.int("axis", 1)])
        }
    }
}

extension Flatten: ImageWiseInference {
    public func prepareImageInference(batch: Int, inputShape: [Int]) {
        imageCount = Tensor.elementCount(inputShape)
    }

    /// A copy: the image's values in the same order.
    public func inferImage(_ image: Int, from x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, worker: Int) {
        y.update(from: x, count: imageCount)
    }
}
