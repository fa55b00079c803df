/// An element-wise function y = f(x) whose derivative can be written from its output y
/// alone (ReLU: [y > 0]; tanh: 1 − y²; sigmoid: y·(1 − y)), so backward needs only the
/// output and a layer that computes x (a convolution) can apply f in its own output pass.
///
/// Both the activation layer and a layer that absorbed the activation call these same
/// functions, so fused and separate results are bit-identical.
public protocol ActivationFunction: Sendable {
    /// A short name with its settings, e.g. `"relu"`, `"leakyrelu 0.01"`.
    var summary: String { get }

    /// The ONNX operator and its attributes, e.g. `("LeakyRelu", [.float("alpha", 0.01)])`.
    var onnxOperator: (type: String, attributes: [ONNX.Attribute]) { get }

    /// `output[i] = f(input[i] + bias)` for `i < count`; `input` and `output` may be the same memory.
    /// Each value must not depend on where `i` falls in the span (a vector body and a scalar tail
    /// give the same bits, as in the built-in functions): the layer splits a batch among workers
    /// at any element, and inference image by image (`InferencePipeline`) at images.
    func forward(_ input: UnsafePointer<Float>, adding bias: Float, into output: UnsafeMutablePointer<Float>, count: Int)

    /// `output[i] = f(scale·input[i] + shift)` for `i < count` (batch norm's output pass); the same
    /// values as `scaleAndShift` and then `forward(adding: 0)`, which is what the default does.
    func forward(_ input: UnsafePointer<Float>, scale: Float, shift: Float, into output: UnsafeMutablePointer<Float>, count: Int)

    /// `inputGradient[i] = outputGradient[i] · f′(x[i])`, with f′ written through `output[i]` = f(x[i]).
    func backward(_ outputGradient: UnsafePointer<Float>, output: UnsafePointer<Float>,
                  into inputGradient: UnsafeMutablePointer<Float>, count: Int)
}

extension ActivationFunction {
    /// The affine map, then the function: two passes.
    public func forward(_ input: UnsafePointer<Float>, scale: Float, shift: Float, into output: UnsafeMutablePointer<Float>, count: Int) {
        scaleAndShift(input, scale: scale, shift: shift, into: output, count: count)
        forward(output, adding: 0, into: output, count: count)
    }
}

/// A layer applying an `ActivationFunction` element-wise to any shape `[N, …]`; workers
/// split the elements. Each activation's file defines its function and its specification,
/// which builds this layer.
public final class ActivationLayer: Layer {
    /// The function applied.
    public let function: any ActivationFunction

    /// Output, the input's shape.
    private let output = Tensor(shape: [0])
    /// Input gradient, the input's shape.
    private let inputGradient = Tensor(shape: [0])
    /// The tensors of the pass in progress, for the worker jobs.
    private var input: Tensor?, outputGradient: Tensor?
    private var forwardJob: (Int) -> Void = { _ in }, backwardJob: (Int) -> Void = { _ in }
    /// Values per image of the image-by-image inference in progress.
    fileprivate var imageCount = 0

    /// The layer for `function`.
    public init(_ function: any ActivationFunction) {
        self.function = function
        forwardJob = { [unowned(unsafe) self] worker in self.forwardShare(worker) }
        backwardJob = { [unowned(unsafe) self] worker in self.backwardShare(worker) }
    }

    public var summary: String { function.summary }

    public var fusibleActivation: (any ActivationFunction)? { function }

    public func forward(_ input: Tensor, context: ForwardContext) -> Tensor {
        output.reshape(to: input.shape)
        self.input = input
        forEachWorker(forwardJob)
        return output
    }

    public func backward(_ outputGradient: Tensor, needsInputGradient: Bool) -> Tensor? {
        guard needsInputGradient else { return nil }
        precondition(outputGradient.shape == output.shape)
        inputGradient.reshape(to: output.shape)
        self.outputGradient = outputGradient
        forEachWorker(backwardJob)
        return inputGradient
    }

    private func forwardShare(_ worker: Int) {
        guard let input else { return }
        let range = partition(input.count, worker: worker, of: Parallelism.threads)
        guard !range.isEmpty else { return }
        function.forward(input.data + range.lowerBound, adding: 0, into: output.data + range.lowerBound, count: range.count)
    }

    private func backwardShare(_ worker: Int) {
        guard let outputGradient else { return }
        let range = partition(output.count, worker: worker, of: Parallelism.threads)
        guard !range.isEmpty else { return }
        function.backward(outputGradient.data + range.lowerBound, output: output.data + range.lowerBound,
                          into: inputGradient.data + range.lowerBound, count: range.count)
    }
}

extension ActivationLayer: ImageWiseInference {
    public func prepareImageInference(batch: Int, inputShape: [Int]) {
        imageCount = Tensor.elementCount(inputShape)
    }

    /// y = f(x) over the image's values.
    public func inferImage(_ image: Int, from x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, worker: Int) {
        function.forward(x, adding: 0, into: y, count: imageCount)
    }
}

/// The specification of an activation without settings: `{"type": "<name>"}`.
protocol PlainActivationSpecification: LayerSpecification {
    /// The function the layer applies.
    static var function: any ActivationFunction { get }
    init()
}

extension PlainActivationSpecification {
    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownLayerKeys([])
        self.init()
    }

    public func encode(to encoder: Encoder) throws {}

    public var summary: String { Self.typeName }

    public func outputShape(forInput inputShape: [Int]) throws(ShapeError) -> [Int] { inputShape }

    public func makeLayer(inputShape: [Int], random: inout SeededRandom) -> any Layer {
        ActivationLayer(Self.function)
    }

    public func exportONNX(to graph: inout ONNXGraph, input: String, inputShape: [Int], layer: ONNXLayerContext) throws(ExportError) -> String {
        Self.function.exportONNX(to: &graph, input: input, index: layer.index)
    }
}

extension ActivationFunction {
    /// The function's ONNX node on `input`, for the layer at `index`.
    func exportONNX(to graph: inout ONNXGraph, input: String, index: Int) -> String {
        let (type, attributes) = onnxOperator
        return graph.node(type, inputs: [input], output: "\(index)_\(type.lowercased())", attributes: attributes)
    }
}
