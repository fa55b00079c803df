/// Max pooling: `y[n, c, oh, ow] = max over the window at (oh·SH, ow·SW) of x[n, c, ·, ·]`.
///
/// JSON: `{"type": "maxpool", "size": 2, "stride": [size]}`; as PyTorch's `nn.MaxPool2d`.
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

    /// `{"type": "maxpool", "size": 2, "stride": [size]}`.
    public struct Specification: PoolingSpecification {
        public static let typeName = "maxpool"
        public var size: SizePair
        public var stride: SizePair?
        public init(size: SizePair, stride: SizePair? = nil) { self.size = size; self.stride = stride }

        public func makeLayer(inputShape: [Int], random: inout SeededRandom) -> any Layer {
            MaxPool2D(size: window.size, stride: window.stride)
        }
    }

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

