/// 2-D convolution (cross-correlation, as in Caffe and PyTorch) with zero padding and bias.
///
/// `y[n, f, oh, ow] = b[f] + Σ_{c,kh,kw} W[f, c, kh, kw] · x[n, c, oh·SH − PH + kh, ow·SW − PW + kw]`
///
/// Forward unfolds a chunk of B images with `im2col` into one column matrix
/// `[C·KH·KW, B·OH·OW]` and multiplies it by the kernel viewed as `[F, C·KH·KW]`
/// in a single SGEMM. Backward, per chunk: dW += dY·colsᵀ, db += Σ dY,
/// dCols = Wᵀ·dY, then `col2im` sums dCols back into dX.
///
/// The column matrix is a workspace bounded by `workspaceLimit` bytes: a batch is
/// processed in chunks of as many images as fit (at least one). When the whole
/// batch fits in one chunk, backward reuses the columns from forward; otherwise it
/// recomputes them chunk by chunk.
public final class Conv2D: Layer {
    /// Input channels C.
    public let inputChannels: Int
    /// Output channels (filters) F.
    public let filters: Int
    /// Kernel size KH × KW.
    public let kernelHeight: Int, kernelWidth: Int
    /// Strides SH, SW and zero padding PH, PW.
    public let strideHeight: Int, strideWidth: Int, paddingHeight: Int, paddingWidth: Int
    /// Kernel `[F, C, KH, KW]`.
    public let weight: Parameter
    /// Bias `[F]`, or nil for a convolution without bias.
    public let bias: Parameter?
    /// Upper bound in bytes on the column workspace (one image's columns always fit).
    public var workspaceLimit: Int
    /// When false, backward skips dX (the first layer of a network needs no input gradient).
    public var computesInputGradient = true

    /// Input `[N, C, H, W]` of the last forward pass (kept for backward).
    private var input: Tensor?
    private var geometry: ConvolutionGeometry?
    /// Output `[N, F, OH, OW]`.
    private let output = Tensor(shape: [0])
    /// Column workspace `[C·KH·KW, B·OH·OW]`, reused as dCols in backward.
    private let columns = Tensor(shape: [0])
    /// GEMM result `[F, B·OH·OW]` before it is permuted into NCHW (only when B > 1).
    private let product = Tensor(shape: [0])
    /// Input gradient `[N, C, H, W]`.
    private let inputGradient = Tensor(shape: [0])
    /// True when `columns` still holds the whole batch's columns from forward.
    private var columnsHoldBatch = false

    /// A convolution with He-normal weights N(0, 2 / (C·KH·KW)) and zero bias.
    public init(inputChannels: Int, filters: Int,
                kernelHeight: Int, kernelWidth: Int,
                strideHeight: Int = 1, strideWidth: Int = 1,
                paddingHeight: Int = 0, paddingWidth: Int = 0,
                bias: Bool = true, workspaceLimit: Int = 32 << 20,
                random: inout SeededRandom) {
        precondition(inputChannels > 0 && filters > 0 && kernelHeight > 0 && kernelWidth > 0
                     && strideHeight > 0 && strideWidth > 0 && paddingHeight >= 0 && paddingWidth >= 0)
        self.inputChannels = inputChannels
        self.filters = filters
        self.kernelHeight = kernelHeight; self.kernelWidth = kernelWidth
        self.strideHeight = strideHeight; self.strideWidth = strideWidth
        self.paddingHeight = paddingHeight; self.paddingWidth = paddingWidth
        self.workspaceLimit = workspaceLimit
        weight = Parameter(name: "weight", shape: [filters, inputChannels, kernelHeight, kernelWidth])
        self.bias = bias ? Parameter(name: "bias", shape: [filters]) : nil
        let standardDeviation = (2.0 / Float(inputChannels * kernelHeight * kernelWidth)).squareRoot()
        for i in 0..<weight.value.count { weight.value.data[i] = random.nextGaussian() * standardDeviation }
    }

    public var summary: String {
        var text = "conv \(filters)@\(kernelHeight)×\(kernelWidth)"
        if strideHeight != 1 || strideWidth != 1 { text += " stride \(strideHeight == strideWidth ? "\(strideHeight)" : "\(strideHeight)×\(strideWidth)")" }
        if paddingHeight != 0 || paddingWidth != 0 { text += " pad \(paddingHeight == paddingWidth ? "\(paddingHeight)" : "\(paddingHeight)×\(paddingWidth)")" }
        return text
    }

    public var parameters: [Parameter] { bias.map { [weight, $0] } ?? [weight] }

    public func outputShape(forInput shape: [Int]) throws(ShapeError) -> [Int] {
        guard shape.count == 3 else {
            throw ShapeError("expects an image input C×H×W, found \(shape.shapeDescription)")
        }
        guard shape[0] == inputChannels else {
            throw ShapeError("expects \(inputChannels) input channels, found \(shape[0]) (input \(shape.shapeDescription))")
        }
        let g = geometry(for: shape)
        guard shape[1] + 2 * paddingHeight >= kernelHeight, shape[2] + 2 * paddingWidth >= kernelWidth else {
            throw ShapeError("input \(shape[1])×\(shape[2]) (padded \(shape[1] + 2 * paddingHeight)×\(shape[2] + 2 * paddingWidth)) is smaller than the kernel \(kernelHeight)×\(kernelWidth)")
        }
        return [filters, g.outputHeight, g.outputWidth]
    }

    /// Images per chunk for this geometry and batch size: as many as fit in `workspaceLimit`.
    public func chunkSize(for g: ConvolutionGeometry, batch: Int) -> Int {
        let bytesPerImage = g.columnRows * g.columnsPerImage * MemoryLayout<Float>.stride
        return max(1, min(batch, workspaceLimit / max(1, bytesPerImage)))
    }

    /// `x [N, C, H, W]` → `y [N, F, OH, OW]`.
    public func forward(_ input: Tensor, phase: Phase) -> Tensor {
        precondition(input.shape.count == 4 && input.shape[1] == inputChannels,
                     "Conv2D expects [N, \(inputChannels), H, W], got \(input.shape)")
        let batch = input.shape[0]
        let g = geometry(for: Array(input.shape[1...]))
        self.input = input
        self.geometry = g
        let spatial = g.columnsPerImage, rows = g.columnRows
        output.reshape(to: [batch, filters, g.outputHeight, g.outputWidth])
        let chunk = chunkSize(for: g, batch: batch)
        columns.reshape(to: [rows, chunk * spatial])
        if chunk > 1 { product.reshape(to: [filters, chunk * spatial]) }

        var start = 0
        while start < batch {
            let count = min(chunk, batch - start)
            let width = count * spatial
            fillColumns(g, from: start, count: count)
            if count == 1 {
                // One image: the GEMM result [F, OH·OW] already is the image's NCHW output.
                let y = output.data + start * filters * spatial
                BLAS.gemm(m: filters, n: spatial, k: rows,
                          a: weight.value.data, b: columns.data, ldb: width, c: y)
                if let bias { addBias(bias.value.data, to: y, filters: filters, spatial: spatial) }
            } else {
                BLAS.gemm(m: filters, n: width, k: rows,
                          a: weight.value.data, b: columns.data, ldb: width, c: product.data)
                scatterProduct(toOutputFrom: start, count: count, spatial: spatial)
            }
            start += count
        }
        columnsHoldBatch = (phase == .training && chunk >= batch)
        return output
    }

    /// `dY [N, F, OH, OW]` → `dX [N, C, H, W]`; adds into dW and db.
    public func backward(_ outputGradient: Tensor) -> Tensor {
        guard let input, let g = geometry else { preconditionFailure("Conv2D.backward before forward") }
        precondition(outputGradient.shape == output.shape,
                     "Conv2D.backward: gradient \(outputGradient.shape) does not match output \(output.shape)")
        let batch = input.shape[0]
        let spatial = g.columnsPerImage, rows = g.columnRows
        let chunk = chunkSize(for: g, batch: batch)
        if computesInputGradient {
            inputGradient.reshape(to: input.shape)
            inputGradient.fill(0)
        }
        if chunk > 1 { product.reshape(to: [filters, chunk * spatial]) }

        var start = 0
        while start < batch {
            let count = min(chunk, batch - start)
            let width = count * spatial
            if !columnsHoldBatch { fillColumns(g, from: start, count: count) }
            // dY for the chunk as a matrix [F, B·OH·OW].
            let gradientMatrix: UnsafePointer<Float>
            if count == 1 {
                gradientMatrix = UnsafePointer(outputGradient.data + start * filters * spatial)
            } else {
                gatherGradient(outputGradient, from: start, count: count, spatial: spatial)
                gradientMatrix = UnsafePointer(product.data)
            }
            // dW [F, C·KH·KW] += dY [F, B·OH·OW] · colsᵀ
            BLAS.gemm(transposeB: true, m: filters, n: rows, k: width,
                      a: gradientMatrix, b: columns.data, ldb: width,
                      beta: 1, c: weight.gradient.data)
            if let bias { addRowSums(of: gradientMatrix, rows: filters, columns: width, into: bias.gradient.data) }
            if computesInputGradient {
                // dCols [C·KH·KW, B·OH·OW] = Wᵀ · dY, written over the columns (no longer needed).
                BLAS.gemm(transposeA: true, m: rows, n: width, k: filters,
                          a: weight.value.data, b: gradientMatrix, c: columns.data, ldc: width)
                for image in 0..<count {
                    col2im(columns.data + image * spatial, rowStride: width, geometry: g,
                           addingInto: inputGradient.data + (start + image) * g.inputCount)
                }
            }
            start += count
        }
        columnsHoldBatch = false
        return inputGradient
    }

    private func geometry(for shape: [Int]) -> ConvolutionGeometry {
        ConvolutionGeometry(channels: shape[0], height: shape[1], width: shape[2],
                            kernelHeight: kernelHeight, kernelWidth: kernelWidth,
                            strideHeight: strideHeight, strideWidth: strideWidth,
                            paddingHeight: paddingHeight, paddingWidth: paddingWidth)
    }

    /// im2col of images `start..<start+count` side by side into `columns` `[C·KH·KW, count·OH·OW]`.
    private func fillColumns(_ g: ConvolutionGeometry, from start: Int, count: Int) {
        guard let input else { return }
        let spatial = g.columnsPerImage
        let width = count * spatial
        let source = input.data, destination = columns.data
        parallelFor(count) { image in
            im2col(source + (start + image) * g.inputCount, geometry: g,
                   into: destination + image * spatial, rowStride: width)
        }
    }

    /// product `[F, B·S]` + bias → output images `start..<start+B` `[B, F, S]`.
    private func scatterProduct(toOutputFrom start: Int, count: Int, spatial: Int) {
        let filters = self.filters, width = count * spatial
        let source = product.data, destination = output.data + start * filters * spatial
        let biasValues = bias?.value.data
        parallelFor(count) { image in
            for filter in 0..<filters {
                let from = source + filter * width + image * spatial
                let to = destination + (image * filters + filter) * spatial
                let b = biasValues?[filter] ?? 0
                for i in 0..<spatial { to[i] = from[i] + b }
            }
        }
    }

    /// dY images `start..<start+B` `[B, F, S]` → `product` `[F, B·S]`.
    private func gatherGradient(_ gradient: Tensor, from start: Int, count: Int, spatial: Int) {
        let filters = self.filters, width = count * spatial
        let source = gradient.data + start * filters * spatial, destination = product.data
        parallelFor(count) { image in
            for filter in 0..<filters {
                (destination + filter * width + image * spatial)
                    .update(from: source + (image * filters + filter) * spatial, count: spatial)
            }
        }
    }
}

/// y[f, s] += b[f] for one output image `[F, S]`.
@inline(__always)
func addBias(_ bias: UnsafePointer<Float>, to y: UnsafeMutablePointer<Float>, filters: Int, spatial: Int) {
    for filter in 0..<filters {
        let row = y + filter * spatial, b = bias[filter]
        for i in 0..<spatial { row[i] += b }
    }
}

/// sums[r] += Σ_c matrix[r, c] for a row-major `[rows, columns]` matrix.
@inline(__always)
func addRowSums(of matrix: UnsafePointer<Float>, rows: Int, columns: Int, into sums: UnsafeMutablePointer<Float>) {
    for row in 0..<rows {
        let values = matrix + row * columns
        var total: Float = 0
        for i in 0..<columns { total += values[i] }
        sums[row] += total
    }
}
