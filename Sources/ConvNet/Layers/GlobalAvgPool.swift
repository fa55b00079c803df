/// Global average pooling: the mean of each channel over the whole image,
/// `y[n, c] = Σ_{h,w} x[n, c, h, w] / (H·W)`, `[N, C, H, W]` → `[N, C]`; backward spreads each
/// gradient evenly, `dx[n, c, h, w] = dy[n, c] / (H·W)`. Workers split the (image, channel) planes.
///
/// JSON: `{"type": "globalavgpool"}`. Its output is flat, so a dense layer can follow directly.
/// In PyTorch it is `nn.AdaptiveAvgPool2d(1)` then `nn.Flatten()`; wrap the two in one
/// `nn.Sequential` so the layers after it keep their indices in the state dict.
public final class GlobalAvgPool: Layer {
    /// Output `[N, C]`.
    private let output = Tensor(shape: [0])
    /// Input gradient `[N, C, H, W]`.
    private let inputGradient = Tensor(shape: [0])
    /// The pass in progress, for the worker jobs.
    private var input: Tensor?, outputGradient: Tensor?, inputShape: [Int] = []
    private var forwardJob: (Int) -> Void = { _ in }, backwardJob: (Int) -> Void = { _ in }

    /// Creates the layer.
    public init() {
        forwardJob = { [unowned(unsafe) self] worker in self.forwardShare(worker) }
        backwardJob = { [unowned(unsafe) self] worker in self.backwardShare(worker) }
    }

    public var summary: String { "globalavgpool" }

    /// `x [N, C, H, W]` → `y [N, C]`.
    public func forward(_ input: Tensor, context: ForwardContext) -> Tensor {
        precondition(input.shape.count == 4, "GlobalAvgPool expects [N, C, H, W], got \(input.shape)")
        self.input = input
        inputShape = input.shape
        output.reshape(input.shape[0], input.shape[1])
        forEachWorker(forwardJob)
        return output
    }

    /// `dY [N, C]` → `dX [N, C, H, W]`.
    public func backward(_ outputGradient: Tensor, needsInputGradient: Bool) -> Tensor? {
        guard needsInputGradient else { return nil }
        precondition(outputGradient.shape == output.shape)
        inputGradient.reshape(to: inputShape)
        self.outputGradient = outputGradient
        forEachWorker(backwardJob)
        return inputGradient
    }

    private func forwardShare(_ worker: Int) {
        guard let input else { return }
        let planeSize = inputShape[2] * inputShape[3]
        let scale = 1 / Float(planeSize)
        for plane in partition(output.count, worker: worker, of: Parallelism.threads) {
            output.data[plane] = sum(input.data + plane * planeSize, count: planeSize) * scale
        }
    }

    private func backwardShare(_ worker: Int) {
        guard let outputGradient else { return }
        let planeSize = inputShape[2] * inputShape[3]
        let scale = 1 / Float(planeSize)
        for plane in partition(output.count, worker: worker, of: Parallelism.threads) {
            (inputGradient.data + plane * planeSize).update(repeating: outputGradient.data[plane] * scale, count: planeSize)
        }
    }

    /// `{"type": "globalavgpool"}`.
    public struct Specification: LayerSpecification {
        public static let typeName = "globalavgpool"
        public init() {}
        public init(from decoder: Decoder) throws { try decoder.rejectUnknownLayerKeys([]) }
        public func encode(to encoder: Encoder) throws {}
        public var summary: String { "globalavgpool" }

        public func outputShape(forInput shape: [Int]) throws(ShapeError) -> [Int] {
            guard shape.count == 3 else {
                throw ShapeError("expects an image input C×H×W, found \(shape.shapeDescription)")
            }
            return [shape[0]]
        }

        public func makeLayer(inputShape: [Int], random: inout SeededRandom) -> any Layer { GlobalAvgPool() }

        /// ONNX `GlobalAveragePool` (to `[N, C, 1, 1]`) then `Flatten`.
        public func exportONNX(to graph: inout ONNXGraph, input: String, inputShape: [Int], layer: ONNXLayerContext) throws(ExportError) -> String {
            let pooled = graph.node("GlobalAveragePool", inputs: [input], output: "\(layer.index)_globalavgpool")
            return graph.node("Flatten", inputs: [pooled], output: "\(layer.index)_flatten", attributes: [.int("axis", 1)])
        }
    }
}
