/// The window sweep shared by `MaxPool2D` and `AvgPool2D`: windows of KH × KW
/// every SH, SW pixels, no padding, so OH = ⌊(H − KH) / SH⌋ + 1 (PyTorch's default).
struct PoolingWindow {
    let size: (height: Int, width: Int)
    let stride: (height: Int, width: Int)

    func outputShape(forInput shape: [Int]) throws(ShapeError) -> [Int] {
        guard shape.count == 3 else {
            throw ShapeError("expects an image input C×H×W, found \(shape.shapeDescription)")
        }
        guard shape[1] >= size.height, shape[2] >= size.width else {
            throw ShapeError("input \(shape[1])×\(shape[2]) is smaller than the window \(size.height)×\(size.width)")
        }
        return [shape[0], (shape[1] - size.height) / stride.height + 1, (shape[2] - size.width) / stride.width + 1]
    }

    var summary: String {
        var text = size.height == size.width ? "\(size.height)" : "\(size.height)×\(size.width)"
        if stride != size { text += " stride \(stride.height == stride.width ? "\(stride.height)" : "\(stride.height)×\(stride.width)")" }
        return text
    }
}

/// What `MaxPool2D` and `AvgPool2D` share: the window, the buffers, and the forward and
/// backward passes split over the (image, channel) planes; subclasses supply one worker's
/// share of each pass.
public class Pool2D: Layer {
    let window: PoolingWindow
    /// Output `[N, C, OH, OW]`.
    let output = Tensor(shape: [0])
    /// Input gradient `[N, C, H, W]`.
    let inputGradient = Tensor(shape: [0])
    /// The tensors of the pass in progress, for the worker jobs.
    var input: Tensor?, outputGradient: Tensor?
    var inputShape: [Int] = []
    /// One plane's input H × W and output OH × OW, for the pass in progress.
    var planeSize = (height: 0, width: 0, outputHeight: 0, outputWidth: 0)
    /// Channels C of the image-by-image inference in progress.
    private var imageChannels = 0
    private var forwardJob: (Int) -> Void = { _ in }, backwardJob: (Int) -> Void = { _ in }

    init(window: PoolingWindow) {
        precondition(window.size.height > 0 && window.size.width > 0 && window.stride.height > 0 && window.stride.width > 0)
        self.window = window
        forwardJob = { [unowned(unsafe) self] worker in self.forwardShare(worker) }
        backwardJob = { [unowned(unsafe) self] worker in self.backwardShare(worker) }
    }

    public var summary: String { window.summary }

    /// `x [N, C, H, W]` → `y [N, C, OH, OW]`.
    public func forward(_ input: Tensor, context: ForwardContext) -> Tensor {
        setPlaneSize(height: input.shape[2], width: input.shape[3])
        output.reshape(input.shape[0], input.shape[1], planeSize.outputHeight, planeSize.outputWidth)
        prepareForward(outputCount: output.count)
        self.input = input
        inputShape = input.shape
        forEachWorker(forwardJob)
        return output
    }

    private func setPlaneSize(height: Int, width: Int) {
        planeSize = (height, width, (height - window.size.height) / window.stride.height + 1,
                     (width - window.size.width) / window.stride.width + 1)
    }

    /// `dY [N, C, OH, OW]` → `dX [N, C, H, W]` (nothing when no input gradient is wanted).
    public func backward(_ outputGradient: Tensor, needsInputGradient: Bool) -> Tensor? {
        guard needsInputGradient else { return nil }
        precondition(outputGradient.shape == output.shape)
        inputGradient.reshape(to: inputShape)
        self.outputGradient = outputGradient
        forEachWorker(backwardJob)
        return inputGradient
    }

    /// Called before each forward pass over a batch whose output has `outputCount` values.
    func prepareForward(outputCount: Int) {}
    /// Pools the planes `planes` (image and channel pairs, counted from `x` and `y`) of `x`
    /// into `y`, of `planeSize`; `firstOutput` is the offset of `y` in the batch's output, where
    /// a subclass keeps what backward needs at the same offsets (max pooling's argmax). Without
    /// `keepsForBackward` (inference image by image, which no backward follows), it may skip that.
    func pool(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, planes: Range<Int>, firstOutput: Int,
              keepsForBackward: Bool) {
        preconditionFailure("Pool2D subclasses implement pool")
    }
    /// One worker's share of the forward pass: a contiguous range of the batch's planes.
    private func forwardShare(_ worker: Int) {
        guard let input else { return }
        pool(input.data, into: output.data, planes: planes(of: worker), firstOutput: 0, keepsForBackward: true)
    }
    /// One worker's share of the backward pass.
    func backwardShare(_ worker: Int) { preconditionFailure("Pool2D subclasses implement backwardShare") }

    /// This worker's planes (image, channel pairs).
    func planes(of worker: Int) -> Range<Int> {
        partition(output.shape[0] * output.shape[1], worker: worker, of: Parallelism.threads)
    }
}

extension Pool2D: ImageWiseInference {
    public func prepareImageInference(batch: Int, inputShape: [Int]) {
        setPlaneSize(height: inputShape[1], width: inputShape[2])
        imageChannels = inputShape[0]
        prepareForward(outputCount: batch * imageChannels * planeSize.outputHeight * planeSize.outputWidth)
    }

    /// The image's C planes, as `forward` pools them, keeping nothing for backward where it can
    /// (max pooling's argmax for 2×2 windows: finding and storing it took a third of the time).
    public func inferImage(_ image: Int, from x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, worker: Int) {
        pool(x, into: y, planes: 0..<imageChannels, firstOutput: image * imageChannels * planeSize.outputHeight * planeSize.outputWidth,
             keepsForBackward: false)
    }
}

/// What the `maxpool` and `avgpool` specifications share:
/// `{"type": "maxpool", "size": 2, "stride": [size]}`, size and stride a number or `[height, width]`.
protocol PoolingSpecification: LayerSpecification {
    /// Window KH × KW.
    var size: SizePair { get }
    /// Step SH × SW; nil means the window size.
    var stride: SizePair? { get }
    init(size: SizePair, stride: SizePair?)
}

private enum PoolingKeys: String, CodingKey { case size, stride }

extension PoolingSpecification {
    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownLayerKeys(["size", "stride"])
        let container = try decoder.container(keyedBy: PoolingKeys.self)
        let sizes = 1...LayerSpecificationLimits.size
        let size = try container.decode(.size, mustBe: "in \(sizes)") { (value: SizePair) in value.within(sizes) }
        let stride = try container.decodeIfPresent(SizePair.self, forKey: .stride)
        if let stride, !stride.within(sizes) {
            throw DecodingError.dataCorruptedError(forKey: .stride, in: container, debugDescription: "must be in \(sizes), found \(stride)")
        }
        self.init(size: size, stride: stride)
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: PoolingKeys.self)
        try container.encode(size, forKey: .size)
        try container.encodeIfPresent(stride, forKey: .stride)
    }

    /// The window sweep.
    var window: PoolingWindow {
        PoolingWindow(size: (size.height, size.width), stride: stride.map { ($0.height, $0.width) } ?? (size.height, size.width))
    }

    public var summary: String { "\(Self.typeName) \(window.summary)" }

    public func outputShape(forInput shape: [Int]) throws(ShapeError) -> [Int] {
        try window.outputShape(forInput: shape)
    }

    /// ONNX `MaxPool` or `AveragePool` (no padding).
    public func exportONNX(to graph: inout ONNXGraph, input: String, inputShape: [Int], layer: ONNXLayerContext) throws(ExportError) -> String {
        let window = self.window
        return graph.node(Self.typeName == "maxpool" ? "MaxPool" : "AveragePool", inputs: [input], output: "\(layer.index)_\(Self.typeName)",
                          attributes: [.ints("kernel_shape", [window.size.height, window.size.width]),
                                       .ints("strides", [window.stride.height, window.stride.width])])
    }
}
