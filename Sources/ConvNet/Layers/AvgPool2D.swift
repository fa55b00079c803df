/// Average pooling: `y[n, c, oh, ow] = mean over the window at (oh·SH, ow·SW) of x[n, c, ·, ·]`;
/// backward spreads each output gradient evenly, `dy / (KH·KW)`, over its window.
/// Workers split the (image, channel) planes.
///
/// JSON: `{"type": "avgpool", "size": 2, "stride": [size]}`; as PyTorch's `nn.AvgPool2d`.
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

    /// `{"type": "avgpool", "size": 2, "stride": [size]}`.
    public struct Specification: PoolingSpecification {
        public static let typeName = "avgpool"
        public var size: SizePair
        public var stride: SizePair?
        public init(size: SizePair, stride: SizePair? = nil) { self.size = size; self.stride = stride }

        public func makeLayer(inputShape: [Int], random: inout SeededRandom) -> any Layer {
            AvgPool2D(size: window.size, stride: window.stride)
        }
    }

    override func pool(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, planes: Range<Int>, firstOutput: Int,
                       keepsForBackward: Bool) {
        let (height, width, outputHeight, outputWidth) = planeSize
        let window = self.window
        let scale = 1 / Float(window.size.height * window.size.width)
        for plane in planes {
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
