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
    private var forwardJob: (Int) -> Void = { _ in }, backwardJob: (Int) -> Void = { _ in }

    init(window: PoolingWindow) {
        precondition(window.size.height > 0 && window.size.width > 0 && window.stride.height > 0 && window.stride.width > 0)
        self.window = window
        forwardJob = { [unowned(unsafe) self] worker in self.forwardShare(worker) }
        backwardJob = { [unowned(unsafe) self] worker in self.backwardShare(worker) }
    }

    public var summary: String { window.summary }

    public func outputShape(forInput shape: [Int]) throws(ShapeError) -> [Int] {
        try window.outputShape(forInput: shape)
    }

    /// `x [N, C, H, W]` → `y [N, C, OH, OW]`.
    public func forward(_ input: Tensor, phase: Phase) -> Tensor {
        let (height, width) = (input.shape[2], input.shape[3])
        output.reshape(input.shape[0], input.shape[1],
                       (height - window.size.height) / window.stride.height + 1,
                       (width - window.size.width) / window.stride.width + 1)
        prepareForward()
        self.input = input
        inputShape = input.shape
        forEachWorker(forwardJob)
        return output
    }

    /// `dY [N, C, OH, OW]` → `dX [N, C, H, W]`.
    public func backward(_ outputGradient: Tensor) -> Tensor {
        precondition(outputGradient.shape == output.shape)
        inputGradient.reshape(to: inputShape)
        self.outputGradient = outputGradient
        forEachWorker(backwardJob)
        return inputGradient
    }

    /// Called before each forward pass, after `output` has its shape.
    func prepareForward() {}
    /// One worker's share of the forward pass (a contiguous range of planes).
    func forwardShare(_ worker: Int) { preconditionFailure("Pool2D subclasses implement forwardShare") }
    /// One worker's share of the backward pass.
    func backwardShare(_ worker: Int) { preconditionFailure("Pool2D subclasses implement backwardShare") }

    /// This worker's planes (image, channel pairs).
    func planes(of worker: Int) -> Range<Int> {
        partition(output.shape[0] * output.shape[1], worker: worker, of: Parallelism.threads)
    }
}

/// Max pooling: `y[n, c, oh, ow] = max over the window at (oh·SH, ow·SW) of x[n, c, ·, ·]`.
///
/// Forward remembers, for each output, the index of its maximum in the input
/// plane (the first one on ties); backward routes each output gradient there,
/// adding when overlapping windows (e.g. 3×3 stride 2) share a maximum.
/// Workers split the (image, channel) planes.
public final class MaxPool2D: Pool2D {
    /// For each output element `[N, C, OH, OW]`, the offset of its maximum within its input plane `[H, W]`.
    private var argmax = UnsafeMutablePointer<Int32>.allocate(capacity: 1)
    private var argmaxCapacity = 1

    /// Windows of `size` every `stride` pixels (stride defaults to the size).
    public init(size: (height: Int, width: Int), stride: (height: Int, width: Int)? = nil) {
        super.init(window: PoolingWindow(size: size, stride: stride ?? size))
    }

    /// Square windows of `size` every `stride` pixels (stride defaults to the size).
    public convenience init(size: Int, stride: Int? = nil) {
        self.init(size: (size, size), stride: stride.map { ($0, $0) })
    }

    deinit { argmax.deallocate() }

    public override var summary: String { "maxpool \(window.summary)" }

    override func prepareForward() {
        if argmaxCapacity < output.count {
            argmax.deallocate()
            argmax = .allocate(capacity: output.count)
            argmaxCapacity = output.count
        }
    }

    override func forwardShare(_ worker: Int) {
        guard let input else { return }
        let (height, width) = (input.shape[2], input.shape[3])
        let (outputHeight, outputWidth) = (output.shape[2], output.shape[3])
        let window = self.window, square2 = window.size == (2, 2)
        let (x, y, argmax) = (input.data, output.data, self.argmax)
        for plane in planes(of: worker) {
            let source = x + plane * height * width
            let outputOffset = plane * outputHeight * outputWidth
            for outputRow in 0..<outputHeight {
                for outputColumn in 0..<outputWidth {
                    let top = outputRow * window.stride.height, left = outputColumn * window.stride.width
                    var best = top * width + left
                    var bestValue = source[best]
                    if square2 {
                        // The common 2×2 window, unrolled: the first maximum in row-major order wins.
                        let corner = best
                        if source[corner + 1] > bestValue { best = corner + 1; bestValue = source[best] }
                        if source[corner + width] > bestValue { best = corner + width; bestValue = source[best] }
                        if source[corner + width + 1] > bestValue { best = corner + width + 1; bestValue = source[best] }
                    } else {
                        for row in top..<(top + window.size.height) {
                            for column in left..<(left + window.size.width) where source[row * width + column] > bestValue {
                                best = row * width + column
                                bestValue = source[best]
                            }
                        }
                    }
                    let o = outputOffset + outputRow * outputWidth + outputColumn
                    y[o] = bestValue
                    argmax[o] = Int32(best)
                }
            }
        }
    }

    override func backwardShare(_ worker: Int) {
        guard let outputGradient else { return }
        let planeSize = inputShape[2] * inputShape[3], outputPlane = output.shape[2] * output.shape[3]
        let (dy, dx, argmax) = (outputGradient.data, inputGradient.data, self.argmax)
        for plane in planes(of: worker) {
            // Zero this plane, then add each output's gradient at its maximum
            // (adding, so overlapping windows that share a maximum both count).
            let destination = dx + plane * planeSize
            destination.update(repeating: 0, count: planeSize)
            for o in (plane * outputPlane)..<((plane + 1) * outputPlane) {
                destination[Int(argmax[o])] += dy[o]
            }
        }
    }
}

/// Average pooling: `y[n, c, oh, ow] = mean over the window at (oh·SH, ow·SW) of x[n, c, ·, ·]`;
/// backward spreads each output gradient evenly, `dy / (KH·KW)`, over its window.
/// Workers split the (image, channel) planes.
public final class AvgPool2D: Pool2D {
    /// Windows of `size` every `stride` pixels (stride defaults to the size).
    public init(size: (height: Int, width: Int), stride: (height: Int, width: Int)? = nil) {
        super.init(window: PoolingWindow(size: size, stride: stride ?? size))
    }

    /// Square windows of `size` every `stride` pixels (stride defaults to the size).
    public convenience init(size: Int, stride: Int? = nil) {
        self.init(size: (size, size), stride: stride.map { ($0, $0) })
    }

    public override var summary: String { "avgpool \(window.summary)" }

    override func forwardShare(_ worker: Int) {
        guard let input else { return }
        let (height, width) = (input.shape[2], input.shape[3])
        let (outputHeight, outputWidth) = (output.shape[2], output.shape[3])
        let window = self.window
        let scale = 1 / Float(window.size.height * window.size.width)
        let (x, y) = (input.data, output.data)
        for plane in planes(of: worker) {
            let source = x + plane * height * width
            let destination = y + plane * outputHeight * outputWidth
            for outputRow in 0..<outputHeight {
                for outputColumn in 0..<outputWidth {
                    let top = outputRow * window.stride.height, left = outputColumn * window.stride.width
                    var total: Float = 0
                    for row in top..<(top + window.size.height) {
                        for column in left..<(left + window.size.width) { total += source[row * width + column] }
                    }
                    destination[outputRow * outputWidth + outputColumn] = total * scale
                }
            }
        }
    }

    override func backwardShare(_ worker: Int) {
        guard let outputGradient else { return }
        let (height, width) = (inputShape[2], inputShape[3])
        let (outputHeight, outputWidth) = (output.shape[2], output.shape[3])
        let window = self.window
        let scale = 1 / Float(window.size.height * window.size.width)
        let (dy, dx) = (outputGradient.data, inputGradient.data)
        for plane in planes(of: worker) {
            let source = dy + plane * outputHeight * outputWidth
            let destination = dx + plane * height * width
            destination.update(repeating: 0, count: height * width)
            for outputRow in 0..<outputHeight {
                for outputColumn in 0..<outputWidth {
                    let share = source[outputRow * outputWidth + outputColumn] * scale
                    let top = outputRow * window.stride.height, left = outputColumn * window.stride.width
                    for row in top..<(top + window.size.height) {
                        for column in left..<(left + window.size.width) { destination[row * width + column] += share }
                    }
                }
            }
        }
    }
}
