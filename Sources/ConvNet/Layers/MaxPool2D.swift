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

    override func prepareForward(outputCount: Int) {
        if argmaxCapacity < outputCount {
            argmax.deallocate()
            argmax = .allocate(capacity: outputCount)
            argmaxCapacity = outputCount
        }
    }

    override func pool(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, planes: Range<Int>, firstOutput: Int,
                       keepsForBackward: Bool) {
        let (height, width, outputHeight, outputWidth) = planeSize
        let window = self.window, square2 = window.size == (2, 2)
        if !keepsForBackward && square2 && window.stride == (2, 2) { return poolTwoByTwo(x, into: y, planes: planes) }
        let argmax = self.argmax + firstOutput
        for plane in planes {
            let source = x + plane * height * width
            let outputOffset = plane * outputHeight * outputWidth
            for outputRow in 0..<outputHeight {
                var firstScalarColumn = 0
                if square2 && window.stride == (2, 2) {
                    // 2×2 windows at stride 2, 8 then 4 outputs at a time (the same comparisons in the same order).
                    let top = source + 2 * outputRow * width, o = outputOffset + outputRow * outputWidth
                    while firstScalarColumn + 8 <= outputWidth {
                        let column = firstScalarColumn
                        maximaOfPairs(top + 2 * column, width: width, firstOffset: 2 * outputRow * width + 2 * column,
                                      into: y + o + column, argmax: argmax + o + column, as: SIMD16<Float>.self)
                        firstScalarColumn += 8
                    }
                    if firstScalarColumn + 4 <= outputWidth {
                        let column = firstScalarColumn
                        maximaOfPairs(top + 2 * column, width: width, firstOffset: 2 * outputRow * width + 2 * column,
                                      into: y + o + column, argmax: argmax + o + column, as: SIMD8<Float>.self)
                        firstScalarColumn += 4
                    }
                }
                for outputColumn in firstScalarColumn..<outputWidth {
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

    /// 2×2 windows at stride 2 without the argmax (inference image by image): y = the maximum of
    /// each window, as `pool` finds it (the same comparisons in the same order, so the same
    /// value for NaN and ties), eight windows at a time, then one by one.
    private func poolTwoByTwo(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, planes: Range<Int>) {
        let (height, width, outputHeight, outputWidth) = planeSize
        for plane in planes {
            let source = x + plane * height * width
            let target = y + plane * outputHeight * outputWidth
            for outputRow in 0..<outputHeight {
                let top = source + 2 * outputRow * width, row = target + outputRow * outputWidth
                var column = 0
                while column + 8 <= outputWidth {
                    let upper = UnsafeRawPointer(top + 2 * column).loadUnaligned(as: SIMD16<Float>.self)
                    let lower = UnsafeRawPointer(top + width + 2 * column).loadUnaligned(as: SIMD16<Float>.self)
                    let maxima = Self.firstMaxima(upper.evenHalf, upper.oddHalf, lower.evenHalf, lower.oddHalf)
                    UnsafeMutableRawPointer(row + column).storeBytes(of: maxima, as: SIMD8<Float>.self)
                    column += 8
                }
                while column < outputWidth {
                    let corner = top + 2 * column
                    var best = corner[0]
                    if corner[1] > best { best = corner[1] }
                    if corner[width] > best { best = corner[width] }
                    if corner[width + 1] > best { best = corner[width + 1] }
                    row[column] = best
                    column += 1
                }
            }
        }
    }

    /// Per lane, the maximum `maxima` picks (a, then b, c, d where greater), without its offset.
    @inline(__always)
    private static func firstMaxima(_ a: SIMD8<Float>, _ b: SIMD8<Float>, _ c: SIMD8<Float>, _ d: SIMD8<Float>) -> SIMD8<Float> {
        var best = a
        best.replace(with: b, where: b .> best)
        best.replace(with: c, where: c .> best)
        best.replace(with: d, where: d .> best)
        return best
    }

    /// 2×2 windows side by side, eight (`SIMD16` rows) or four (`SIMD8` rows): `top` is their
    /// first row and `top + width` their second. y = the maximum of each window, the first in
    /// row-major order on ties, and argmax its offset in the plane (`firstOffset` being the
    /// first window's). Concrete types, not generics: the generic form was not specialised and
    /// ran 5× slower.
    @inline(__always)
    private func maximaOfPairs(_ top: UnsafePointer<Float>, width: Int, firstOffset: Int,
                               into y: UnsafeMutablePointer<Float>, argmax: UnsafeMutablePointer<Int32>, as _: SIMD16<Float>.Type) {
        let upper = UnsafeRawPointer(top).loadUnaligned(as: SIMD16<Float>.self)
        let lower = UnsafeRawPointer(top + width).loadUnaligned(as: SIMD16<Float>.self)
        let (maxima, offsets) = maxima(upper.evenHalf, upper.oddHalf, lower.evenHalf, lower.oddHalf, width: Int32(width))
        UnsafeMutableRawPointer(y).storeBytes(of: maxima, as: SIMD8<Float>.self)
        let base = SIMD8<Int32>(repeating: Int32(firstOffset)) &+ SIMD8<Int32>(0, 2, 4, 6, 8, 10, 12, 14)
        UnsafeMutableRawPointer(argmax).storeBytes(of: base &+ offsets, as: SIMD8<Int32>.self)
    }

    @inline(__always)
    private func maximaOfPairs(_ top: UnsafePointer<Float>, width: Int, firstOffset: Int,
                               into y: UnsafeMutablePointer<Float>, argmax: UnsafeMutablePointer<Int32>, as _: SIMD8<Float>.Type) {
        let upper = UnsafeRawPointer(top).loadUnaligned(as: SIMD8<Float>.self)
        let lower = UnsafeRawPointer(top + width).loadUnaligned(as: SIMD8<Float>.self)
        let (maxima8, offsets8) = maxima(SIMD8(lowHalf: upper.evenHalf, highHalf: .zero), SIMD8(lowHalf: upper.oddHalf, highHalf: .zero),
                                         SIMD8(lowHalf: lower.evenHalf, highHalf: .zero), SIMD8(lowHalf: lower.oddHalf, highHalf: .zero),
                                         width: Int32(width))
        UnsafeMutableRawPointer(y).storeBytes(of: maxima8.lowHalf, as: SIMD4<Float>.self)
        let base = SIMD4<Int32>(repeating: Int32(firstOffset)) &+ SIMD4<Int32>(0, 2, 4, 6)
        UnsafeMutableRawPointer(argmax).storeBytes(of: base &+ offsets8.lowHalf, as: SIMD4<Int32>.self)
    }

    /// Per lane: the maximum of a (top left), b (top right), c (bottom left), d (bottom right),
    /// the first on ties, and its offset in the window (0, 1, width, width + 1).
    @inline(__always)
    private func maxima(_ a: SIMD8<Float>, _ b: SIMD8<Float>, _ c: SIMD8<Float>, _ d: SIMD8<Float>,
                        width: Int32) -> (SIMD8<Float>, SIMD8<Int32>) {
        var best = a, offset = SIMD8<Int32>(repeating: 0)
        var better = b .> best  // a Float mask is an Int32 mask
        best.replace(with: b, where: better)
        offset.replace(with: 1, where: better)
        better = c .> best
        best.replace(with: c, where: better)
        offset.replace(with: width, where: better)
        better = d .> best
        best.replace(with: d, where: better)
        offset.replace(with: width + 1, where: better)
        return (best, offset)
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


