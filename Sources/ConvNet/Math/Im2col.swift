/// The sizes of one 2-D convolution or pooling window sweep over one image.
///
/// OH = ⌊(H + 2·PH − KH) / SH⌋ + 1 and OW = ⌊(W + 2·PW − KW) / SW⌋ + 1.
public struct ConvolutionGeometry: Equatable, Sendable {
    /// Input channels C, height H and width W of one image.
    public var channels: Int, height: Int, width: Int
    /// Kernel (window) height KH and width KW.
    public var kernelHeight: Int, kernelWidth: Int
    /// Step between windows, vertically (SH) and horizontally (SW).
    public var strideHeight: Int, strideWidth: Int
    /// Zero padding added above and below (PH) and left and right (PW).
    public var paddingHeight: Int, paddingWidth: Int

    /// Creates the geometry; sizes must be positive and padding non-negative.
    public init(channels: Int, height: Int, width: Int,
                kernelHeight: Int, kernelWidth: Int,
                strideHeight: Int = 1, strideWidth: Int = 1,
                paddingHeight: Int = 0, paddingWidth: Int = 0) {
        self.channels = channels; self.height = height; self.width = width
        self.kernelHeight = kernelHeight; self.kernelWidth = kernelWidth
        self.strideHeight = strideHeight; self.strideWidth = strideWidth
        self.paddingHeight = paddingHeight; self.paddingWidth = paddingWidth
    }

    /// OH = ⌊(H + 2·PH − KH) / SH⌋ + 1.
    public var outputHeight: Int { (height + 2 * paddingHeight - kernelHeight) / strideHeight + 1 }
    /// OW = ⌊(W + 2·PW − KW) / SW⌋ + 1.
    public var outputWidth: Int { (width + 2 * paddingWidth - kernelWidth) / strideWidth + 1 }
    /// Rows of the column matrix: C·KH·KW.
    public var columnRows: Int { channels * kernelHeight * kernelWidth }
    /// Columns of the column matrix per image: OH·OW.
    public var columnsPerImage: Int { outputHeight * outputWidth }
    /// Elements of one input image: C·H·W.
    public var inputCount: Int { channels * height * width }
    /// Stride 1 and no padding: every window lies inside the image.
    public var isUnpaddedStrideOne: Bool {
        strideHeight == 1 && strideWidth == 1 && paddingHeight == 0 && paddingWidth == 0
    }
}

/// Unfolds one image `[C, H, W]` into its column matrix `[C·KH·KW, OH·OW]`.
///
/// Row (c, kh, kw), column (oh, ow) holds
/// `input[c, oh·SH − PH + kh, ow·SW − PW + kw]`, or 0 where that falls in the
/// padding. The matrix is written with row stride `rowStride` (≥ OH·OW), so the
/// columns of several images can sit side by side in one matrix for one GEMM.
/// With `outputRows`, only the columns of those output rows are written,
/// `[C·KH·KW, outputRows.count·OW]`, so workers can split one image.
public func im2col(_ input: UnsafePointer<Float>, geometry g: ConvolutionGeometry, outputRows: Range<Int>? = nil,
                   into columns: UnsafeMutablePointer<Float>, rowStride: Int) {
    let outputWidth = g.outputWidth
    let rows = outputRows ?? 0..<g.outputHeight
    if g.isUnpaddedStrideOne {
        im2colUnpaddedStrideOne(input, geometry: g, outputRows: rows, into: columns, rowStride: rowStride)
        return
    }
    var row = 0
    for channel in 0..<g.channels {
        let plane = input + channel * g.height * g.width
        for kernelRow in 0..<g.kernelHeight {
            for kernelColumn in 0..<g.kernelWidth {
                let destinationRow = columns + row * rowStride
                let (first, end) = validOutputRange(offset: kernelColumn - g.paddingWidth,
                                                    stride: g.strideWidth, size: g.width,
                                                    outputs: outputWidth)
                for outputRow in rows {
                    let destination = destinationRow + (outputRow - rows.lowerBound) * outputWidth
                    let inputRow = outputRow * g.strideHeight - g.paddingHeight + kernelRow
                    // Inline copies, not memcpy/memset: rows are often a few floats long (8 in LeNet's conv2).
                    guard inputRow >= 0 && inputRow < g.height, first < end else {
                        for outputColumn in 0..<outputWidth { destination[outputColumn] = 0 }
                        continue
                    }
                    for outputColumn in 0..<first { destination[outputColumn] = 0 }
                    for outputColumn in end..<outputWidth { destination[outputColumn] = 0 }
                    let source = plane + inputRow * g.width + kernelColumn - g.paddingWidth
                    if g.strideWidth == 1 {
                        copyFloats(from: source + first, to: destination + first, count: end - first)
                    } else {
                        let step = g.strideWidth
                        for outputColumn in first..<end {
                            destination[outputColumn] = source[outputColumn * step]
                        }
                    }
                }
                row += 1
            }
        }
    }
}

/// Unfolds one image `[C, H, W]` into its row matrix `[OH·OW, C·KH·KW]`, the transpose of
/// `im2col`'s: row (oh, ow) is the window at (oh, ow), column (c, kh, kw) holds
/// `input[c, oh·SH − PH + kh, ow·SW − PW + kw]`, or 0 where that falls in the padding. Rows are
/// `rowStride` (≥ C·KH·KW) apart.
///
/// A convolution's weight gradient dW `[F, C·KH·KW]` = dY `[F, OH·OW]` · rows is then a plain
/// product whose result has C·KH·KW columns, rather than F (LeNet's conv2: 500 rather than 50,
/// which fill 16-float vectors 98% rather than 78%).
public func im2row(_ input: UnsafePointer<Float>, geometry g: ConvolutionGeometry,
                   into rows: UnsafeMutablePointer<Float>, rowStride: Int) {
    if g.isUnpaddedStrideOne && g.kernelWidth <= 8 && g.width >= 8 {
        im2rowUnpaddedStrideOne(input, geometry: g, into: rows, rowStride: rowStride)
        return
    }
    let kernelWidth = g.kernelWidth
    for outputRow in 0..<g.outputHeight {
        for outputColumn in 0..<g.outputWidth {
            var destination = rows + (outputRow * g.outputWidth + outputColumn) * rowStride
            // The window's kernel columns that fall inside the image: first..<end (the rest padding).
            let left = outputColumn * g.strideWidth - g.paddingWidth
            let first = min(kernelWidth, max(0, -left)), end = max(first, min(kernelWidth, g.width - left))
            for channel in 0..<g.channels {
                let plane = input + channel * g.height * g.width
                for kernelRow in 0..<g.kernelHeight {
                    let inputRow = outputRow * g.strideHeight - g.paddingHeight + kernelRow
                    if inputRow >= 0 && inputRow < g.height {
                        let source = plane + inputRow * g.width
                        for kernelColumn in 0..<first { destination[kernelColumn] = 0 }
                        for kernelColumn in first..<end { destination[kernelColumn] = source[left + kernelColumn] }
                        for kernelColumn in end..<kernelWidth { destination[kernelColumn] = 0 }
                    } else {
                        for kernelColumn in 0..<kernelWidth { destination[kernelColumn] = 0 }
                    }
                    destination += kernelWidth
                }
            }
        }
    }
}

/// `im2row` for stride 1 without padding, KW ≤ 8 and W ≥ 8: each row is C·KH runs of KW floats,
/// input row oh + kh from column ow on. A run with at least 8 floats of its row left from its
/// start is moved as 8 floats, the extra ones written over by the runs after it (no masks, no
/// per-element loop); the last one or few are copied exactly. Reading 8 floats stays inside the
/// image: such a run is the last one only when KW = 8, and any other starts at least one input
/// row (W ≥ 8 floats) before the image's end.
private func im2rowUnpaddedStrideOne(_ input: UnsafePointer<Float>, geometry g: ConvolutionGeometry,
                                     into rows: UnsafeMutablePointer<Float>, rowStride: Int) {
    let (width, kernelWidth, planeSize) = (g.width, g.kernelWidth, g.height * g.width)
    // The runs r (of C·KH) with (C·KH − r)·KW ≥ 8 floats of the row left.
    let movedRuns = max(0, g.channels * g.kernelHeight - (8 + kernelWidth - 1) / kernelWidth + 1)
    for outputRow in 0..<g.outputHeight {
        for outputColumn in 0..<g.outputWidth {
            var target = rows + (outputRow * g.outputWidth + outputColumn) * rowStride
            let corner = input + outputRow * width + outputColumn
            var run = 0
            for channel in 0..<g.channels {
                var source = corner + channel &* planeSize
                for _ in 0..<g.kernelHeight {
                    if run < movedRuns {
                        UnsafeMutableRawPointer(target).storeBytes(
                            of: UnsafeRawPointer(source).loadUnaligned(as: SIMD8<Float>.self), as: SIMD8<Float>.self)
                    } else {
                        for i in 0..<kernelWidth { target[i] = source[i] }
                    }
                    run &+= 1
                    source += width
                    target += kernelWidth
                }
            }
        }
    }
}

/// Folds a column matrix `[C·KH·KW, OH·OW]` (row stride `rowStride`) back into an
/// image `[C, H, W]`, *adding* every entry to the pixel it was copied from.
///
/// This is the adjoint of `im2col`: where windows overlap, a pixel receives the
/// sum of the gradients of every patch that contains it. `image` is not zeroed
/// here; the caller zeroes it once before folding.
public func col2im(_ columns: UnsafePointer<Float>, rowStride: Int, geometry g: ConvolutionGeometry,
                   addingInto image: UnsafeMutablePointer<Float>) {
    let outputHeight = g.outputHeight, outputWidth = g.outputWidth
    if g.isUnpaddedStrideOne {
        col2imUnpaddedStrideOne(columns, rowStride: rowStride, geometry: g, addingInto: image)
        return
    }
    var row = 0
    for channel in 0..<g.channels {
        let plane = image + channel * g.height * g.width
        for kernelRow in 0..<g.kernelHeight {
            for kernelColumn in 0..<g.kernelWidth {
                let sourceRow = columns + row * rowStride
                let (first, end) = validOutputRange(offset: kernelColumn - g.paddingWidth,
                                                    stride: g.strideWidth, size: g.width,
                                                    outputs: outputWidth)
                if first < end {
                    for outputRow in 0..<outputHeight {
                        let inputRow = outputRow * g.strideHeight - g.paddingHeight + kernelRow
                        guard inputRow >= 0 && inputRow < g.height else { continue }
                        let source = sourceRow + outputRow * outputWidth
                        let destination = plane + inputRow * g.width + kernelColumn - g.paddingWidth
                        if g.strideWidth == 1 {
                            addFloats(from: source + first, into: destination + first, count: end - first)
                        } else {
                            let step = g.strideWidth
                            for outputColumn in first..<end { destination[outputColumn * step] += source[outputColumn] }
                        }
                    }
                }
                row += 1
            }
        }
    }
}

/// `im2col` for stride 1 without padding (LeNet's and most small CNNs' convolutions): every
/// window lies inside the image, so each column-matrix row (c, kh, kw) is OH plain copies of
/// OW floats, input row oh + kh from column kw on: no bounds, no zero fill, no index arithmetic
/// per element. (The general loop spent more time on its bookkeeping than on LeNet's 8-float
/// copies.)
private func im2colUnpaddedStrideOne(_ input: UnsafePointer<Float>, geometry g: ConvolutionGeometry, outputRows rows: Range<Int>,
                                     into columns: UnsafeMutablePointer<Float>, rowStride: Int) {
    let (width, outputWidth, planeSize) = (g.width, g.outputWidth, g.height * g.width)
    var destination = columns
    for channel in 0..<g.channels {
        let plane = input + channel &* planeSize
        for kernelRow in 0..<g.kernelHeight {
            let firstInputRow = plane + (rows.lowerBound &+ kernelRow) &* width
            for kernelColumn in 0..<g.kernelWidth {
                var source = firstInputRow + kernelColumn, target = destination
                // Runs of a multiple of 8 floats (LeNet's 24 and 8) as whole 8-float moves, with no
                // tail loop: 30% less time in im2col than `copyFloats` per run.
                if outputWidth & 7 == 0 && outputWidth > 0 {
                    for _ in rows {
                        var chunk = 0
                        repeat {
                            UnsafeMutableRawPointer(target + chunk).storeBytes(
                                of: UnsafeRawPointer(source + chunk).loadUnaligned(as: SIMD8<Float>.self), as: SIMD8<Float>.self)
                            chunk &+= 8
                        } while chunk < outputWidth
                        source += width
                        target += outputWidth
                    }
                } else {
                    for _ in rows {
                        copyFloats(from: source, to: target, count: outputWidth)
                        source += width
                        target += outputWidth
                    }
                }
                destination += rowStride
            }
        }
    }
}

/// `col2im` for stride 1 without padding: each column-matrix row adds OH runs of OW floats
/// into input rows oh + kh from column kw on (the adjoint of `im2colUnpaddedStrideOne`).
private func col2imUnpaddedStrideOne(_ columns: UnsafePointer<Float>, rowStride: Int, geometry g: ConvolutionGeometry,
                                     addingInto image: UnsafeMutablePointer<Float>) {
    let (width, outputHeight, outputWidth, planeSize) = (g.width, g.outputHeight, g.outputWidth, g.height * g.width)
    var sourceRow = columns
    for channel in 0..<g.channels {
        let plane = image + channel &* planeSize
        for kernelRow in 0..<g.kernelHeight {
            for kernelColumn in 0..<g.kernelWidth {
                var source = sourceRow, target = plane + (kernelRow &* width &+ kernelColumn)
                for _ in 0..<outputHeight {
                    addFloats(from: source, into: target, count: outputWidth)
                    source += outputWidth
                    target += width
                }
                sourceRow += rowStride
            }
        }
    }
}

/// The output columns `first..<end` whose input column `o·stride + offset` lies in `0..<size`.
@inline(__always)
private func validOutputRange(offset: Int, stride: Int, size: Int, outputs: Int) -> (Int, Int) {
    // first: smallest o with o·stride + offset ≥ 0.
    let first = offset >= 0 ? 0 : min(outputs, (-offset + stride - 1) / stride)
    // end: smallest o with o·stride + offset ≥ size.
    let remaining = size - offset
    let end = remaining <= 0 ? 0 : min(outputs, (remaining + stride - 1) / stride)
    return (first, max(first, end))
}
