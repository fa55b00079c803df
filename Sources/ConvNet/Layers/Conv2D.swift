/// 2-D convolution (cross-correlation, as in Caffe and PyTorch) with zero padding and bias.
///
/// JSON: `{"type": "conv", "filters": 20, "kernel": 5, "stride": 1, "padding": 0, "bias": true}`;
/// `kernel`, `stride` and `padding` take a number or `[height, width]`, and `padding` also
/// `"same"` (odd kernels at stride 1: the output keeps the input's height and width).
/// As PyTorch's `nn.Conv2d`.
///
/// `y[n, f, oh, ow] = b[f] + Σ_{c,kh,kw} W[f, c, kh, kw] · x[n, c, oh·SH − PH + kh, ow·SW − PW + kw]`
///
/// Forward unfolds each image with `im2col` into a column matrix `[C·KH·KW, OH·OW]`
/// and multiplies it by the kernel viewed as `[F, C·KH·KW]` in one SGEMM whose result
/// `[F, OH·OW]` already is the image's NCHW output. Backward, per image:
/// dW += dY·colsᵀ (SGEMM with beta = 1), db += Σ dY, dCols = Wᵀ·dY, then `col2im`
/// sums dCols back into dX.
///
/// One image at a time keeps each column matrix in cache between im2col and its GEMM
/// and needs no transposes of the columns (measured on LeNet's shapes: per-image SGEMMs run as fast as
/// batched ones). The products run on `MatrixKernels` (ConvNet's own AVX-512 SGEMM, which
/// reads W, Wᵀ and the columns where they lie instead of copying them for every image) where
/// the CPU has it, else on OpenBLAS. The kernel wants its right operand row-major, and colsᵀ is
/// not, so with `MatrixKernels` the weight gradient takes one of three forms
/// (`WeightGradientForm`): for a deep enough layer (C·KH·KW ≥ 128), dWᵀ += cols·dYᵀ (dY
/// transposed per image, dWᵀ transposed back once per pass) when F fills the kernel's 16-float
/// vectors, or else, when it would leave them partly empty (LeNet's 50 filters: 78% full),
/// backward unfolds the image with `im2row`, the columns' transpose `[OH·OW, C·KH·KW]`, and
/// dW += dY·rows is a plain product C·KH·KW wide; for a shallower layer (LeNet's conv1: 25 rows
/// of columns, 576 output positions) dW = dY·colsᵀ as it is, each element a dot product of two
/// rows (`MatrixKernels.multiplyTransposedB`).
///
/// The batch is split into contiguous shares, one per worker thread; with fewer images than
/// workers, each image's output rows are split instead.
///
/// The column workspace is bounded: each worker keeps the columns of as many of its
/// images as fit in its share of `workspaceLimit` bytes (at least one image). If all of
/// its images fit and backward uses columns (not rows), backward reuses them from forward;
/// otherwise it unfolds each image again. Workers other than the first accumulate dW and db
/// privately (every worker its dWᵀ, when dW is accumulated transposed); the shares are summed at
/// the end in a fixed order, so results depend only on the thread count.
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
    /// Which SGEMM runs the products: `MatrixKernels` where the CPU has AVX-512, else OpenBLAS.
    public var backend = GEMMBackend.preferred

    /// 1 MB: on LeNet, recomputing each image's columns in backward while they are hot
    /// in cache beats keeping the whole batch's (8 MB) from forward, by about 10%.
    public static let defaultWorkspaceLimit = 1 << 20
    /// An activation applied in the output pass, `y = f(conv + b)`, whose derivative backward
    /// applies to dY first: the model gives a following activation layer to the convolution
    /// this way (`absorb(_:)`), saving a pass over the largest activations. Nil by default.
    public private(set) var activation: (any ActivationFunction)?

    /// Input `[N, C, H, W]` of the last forward pass (kept for backward).
    private var input: Tensor?
    private var geometry: ConvolutionGeometry?
    /// The pass in progress, for the worker jobs: phase, the image whose rows are split,
    /// ∂loss/∂y, whether dX is wanted, how many workers share the backward pass, and the form
    /// of its weight gradient.
    private var phase = Phase.inference, splitImage = 0, outputGradient: Tensor?, backwardWorkers = 1
    private var weightGradientForm = WeightGradientForm.dotProducts
    private var needsInputGradient = true
    private var forwardJob: (Int) -> Void = { _ in }, splitRowsJob: (Int) -> Void = { _ in }
    private var backwardJob: (Int) -> Void = { _ in }, sumGradientsJob: (Int) -> Void = { _ in }
    /// Output `[N, F, OH, OW]`.
    private let output = Tensor(shape: [0])
    /// Input gradient `[N, C, H, W]`.
    private let inputGradient = Tensor(shape: [0])
    /// One workspace per worker thread; each worker takes a contiguous share of the images.
    private var workspaces: [Workspace] = []

    /// A worker's buffers.
    private final class Workspace {
        /// Column matrices `[slots, C·KH·KW, OH·OW]`, one slot per retained image.
        let columns = Tensor(shape: [0])
        /// This worker's share of dW `[F, C·KH·KW]` (dWᵀ `[C·KH·KW, F]` when accumulated transposed)
        /// and db `[F]`; worker 0 adds db, and dW when not transposed, into the parameters directly.
        let weightGradient = Tensor(shape: [0])
        let biasGradient = Tensor(shape: [0])
        /// dY ⊙ f′ of one image `[F, OH·OW]`, when an activation is absorbed.
        let maskedGradient = Tensor(shape: [0])
        /// dYᵀ of one image `[OH·OW, F]`, for dWᵀ.
        let transposedGradient = Tensor(shape: [0])
        /// The images whose columns `columns` holds from forward, in slot order (empty when none).
        var imagesInColumns = 0..<0
    }

    /// A convolution with He-normal weights N(0, 2 / (C·KH·KW)) and zero bias.
    public init(inputChannels: Int, filters: Int,
                kernelHeight: Int, kernelWidth: Int,
                strideHeight: Int = 1, strideWidth: Int = 1,
                paddingHeight: Int = 0, paddingWidth: Int = 0,
                bias: Bool = true, workspaceLimit: Int = Conv2D.defaultWorkspaceLimit,
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
        forwardJob = { [unowned(unsafe) self] worker in self.forwardShare(worker) }
        splitRowsJob = { [unowned(unsafe) self] worker in self.forwardRowsShare(worker) }
        backwardJob = { [unowned(unsafe) self] worker in self.backwardShare(worker) }
        sumGradientsJob = { [unowned(unsafe) self] worker in self.sumGradientsShare(worker) }
    }

    public var summary: String {
        Conv2D.summary(filters: filters, kernel: SizePair(kernelHeight, kernelWidth),
                       stride: SizePair(strideHeight, strideWidth), padding: SizePair(paddingHeight, paddingWidth))
    }

    /// `conv 20@5×5`, with ` stride 2` and ` pad 1` when they are not 1 and 0.
    static func summary(filters: Int, kernel: SizePair, stride: SizePair, padding: SizePair) -> String {
        var text = "conv \(filters)@\(kernel.height)×\(kernel.width)"
        if stride != SizePair(1) { text += " stride \(stride.height == stride.width ? "\(stride.height)" : "\(stride.height)×\(stride.width)")" }
        if padding != SizePair(0) { text += " pad \(padding.height == padding.width ? "\(padding.height)" : "\(padding.height)×\(padding.width)")" }
        return text
    }

    public var parameters: [Parameter] { bias.map { [weight, $0] } ?? [weight] }

    public func absorb(_ activation: any ActivationFunction) -> Bool {
        guard self.activation == nil else { return false }
        self.activation = activation
        return true
    }

    /// How many images' columns one worker keeps: as many as fit in its share of `workspaceLimit`.
    public func retainedImages(for g: ConvolutionGeometry, share: Int) -> Int {
        let bytesPerImage = g.columnRows * g.columnsPerImage * MemoryLayout<Float>.stride
        let bytes = workspaceLimit / max(1, Parallelism.threads)
        return max(1, min(share, bytes / max(1, bytesPerImage)))
    }

    /// `x [N, C, H, W]` → `y [N, F, OH, OW]`.
    public func forward(_ input: Tensor, context: ForwardContext) -> Tensor {
        let phase = context.phase
        precondition(input.shape.count == 4 && input.shape[1] == inputChannels,
                     "Conv2D expects [N, \(inputChannels), H, W], got \(input.shape)")
        let batch = input.shape[0]
        let g = geometry(channels: input.shape[1], height: input.shape[2], width: input.shape[3])
        self.input = input
        self.geometry = g
        self.phase = phase
        output.reshape(batch, filters, g.outputHeight, g.outputWidth)
        while workspaces.count < Parallelism.threads { workspaces.append(Workspace()) }
        if batch < Parallelism.threads {
            // Fewer images than workers: split each image's output rows instead.
            for image in 0..<batch {
                splitImage = image
                forEachWorker(splitRowsJob)
            }
            for workspace in workspaces { workspace.imagesInColumns = 0..<0 }
        } else {
            forEachWorker(forwardJob)
        }
        return output
    }

    /// One worker's share of forward: for each of its images, im2col then one SGEMM.
    private func forwardShare(_ worker: Int) {
        guard let input, let g = geometry else { return }
        let workspace = workspaces[worker]
        let images = partition(input.shape[0], worker: worker, of: Parallelism.threads)
        // Keep every image's columns for backward if it uses them and they all fit; otherwise one slot, reused.
        let retain = phase == .training && weightGradientForm(for: g) != .rows && retainedImages(for: g, share: images.count) == images.count
        let matrixSize = g.columnRows * g.columnsPerImage
        workspace.columns.reshape(retain ? images.count : 1, g.columnRows, g.columnsPerImage)
        for (index, image) in images.enumerated() {
            forwardImage(input.data + image * g.inputCount, geometry: g,
                         columns: workspace.columns.data + (retain ? index * matrixSize : 0),
                         into: output.data + image * filters * g.columnsPerImage)
        }
        workspace.imagesInColumns = retain ? images : 0..<0
    }

    /// One image: columns = im2col(x), then y [F, OH·OW] = W [F, C·KH·KW] · columns [C·KH·KW, OH·OW]
    /// (+ b, activation).
    @inline(__always)
    private func forwardImage(_ x: UnsafePointer<Float>, geometry g: ConvolutionGeometry,
                              columns: UnsafeMutablePointer<Float>, into y: UnsafeMutablePointer<Float>) {
        im2col(x, geometry: g, into: columns, rowStride: g.columnsPerImage)
        backend.multiply(m: filters, n: g.columnsPerImage, k: g.columnRows, a: weight.value.data, lda: g.columnRows,
                         b: columns, ldb: g.columnsPerImage, c: y, ldc: g.columnsPerImage)
        finishOutput(y, spatial: g.columnsPerImage, rowStride: g.columnsPerImage)
    }

    /// One worker's share of the forward pass of image `splitImage`: a band of its output rows.
    private func forwardRowsShare(_ worker: Int) {
        guard let input, let g = geometry else { return }
        let outputRows = partition(g.outputHeight, worker: worker, of: Parallelism.threads)
        guard !outputRows.isEmpty else { return }
        let workspace = workspaces[worker]
        let (spatial, rows, width) = (g.columnsPerImage, g.columnRows, outputRows.count * g.outputWidth)
        workspace.columns.reshape(1, rows, width)
        im2col(input.data + splitImage * g.inputCount, geometry: g, outputRows: outputRows,
               into: workspace.columns.data, rowStride: width)
        let y = output.data + splitImage * filters * spatial + outputRows.lowerBound * g.outputWidth
        backend.multiply(m: filters, n: width, k: rows, a: weight.value.data, lda: rows,
                         b: workspace.columns.data, ldb: width, c: y, ldc: spatial)
        finishOutput(y, spatial: width, rowStride: spatial)
    }

    /// y[f, s] = f(y[f, s] + b[f]) for `s < spatial` in an output `[F, rowStride]`, with
    /// f the absorbed activation (the identity when there is none).
    @inline(__always)
    private func finishOutput(_ y: UnsafeMutablePointer<Float>, spatial: Int, rowStride: Int) {
        let biasValues = bias?.value.data
        if let activation {  // unwrapped once: binding an existential copies it
            for filter in 0..<filters {
                let row = y + filter * rowStride
                activation.forward(row, adding: biasValues?[filter] ?? 0, into: row, count: spatial)
            }
        } else if let biasValues {
            for filter in 0..<filters {
                let row = y + filter * rowStride, b = biasValues[filter]
                for i in 0..<spatial { row[i] += b }
            }
        }
    }

    /// `dY [N, F, OH, OW]` → `dX [N, C, H, W]` when `needsInputGradient`; adds into dW and db.
    public func backward(_ outputGradient: Tensor, needsInputGradient: Bool) -> Tensor? {
        guard let input else { preconditionFailure("Conv2D.backward before forward") }
        precondition(outputGradient.shape == output.shape,
                     "Conv2D.backward: gradient \(outputGradient.shape) does not match output \(output.shape)")
        if needsInputGradient { inputGradient.reshape(to: input.shape) }
        self.needsInputGradient = needsInputGradient
        self.outputGradient = outputGradient
        backwardWorkers = min(Parallelism.threads, input.shape[0])
        weightGradientForm = geometry.map { weightGradientForm(for: $0) } ?? .dotProducts
        while workspaces.count < Parallelism.threads { workspaces.append(Workspace()) }
        forEachWorker(backwardJob)
        // Accumulating dWᵀ, every worker holds its own, transposed back in the sum (none for an
        // empty batch, which has no workers).
        if backwardWorkers > 1 || (backwardWorkers == 1 && weightGradientForm == .transposed) { forEachWorker(sumGradientsJob) }
        return needsInputGradient ? inputGradient : nil
    }

    /// How backward computes dW: the same sums, in the form that suits the kernel and the shape.
    enum WeightGradientForm {
        /// dW = dY·colsᵀ, each element a dot product (OpenBLAS: one SGEMM with Bᵀ; shallow layers).
        case dotProducts
        /// dWᵀ += cols·dYᵀ, dY transposed per image.
        case transposed
        /// dW += dY·rows, the image unfolded with `im2row`.
        case rows
    }

    /// With `MatrixKernels` and C·KH·KW ≥ 128: `transposed` when F is a multiple of 16, else
    /// `rows`. Measured: with LeNet's 50 filters, `rows` trained LeNet 1.01–1.09× (median 1.05)
    /// and the colour model 1.05–1.06× as fast (its product is 500 wide, 98% of the vectors
    /// full, against 50 wide, 78%); with fashion-mnist's 32 and 64 filters and 3×3 kernels,
    /// `transposed` was 1.11–1.16× as fast (its product as full, and im2row moves KW = 3 floats
    /// at a time); with the batch-norm model's 64 filters the two were even.
    func weightGradientForm(for g: ConvolutionGeometry) -> WeightGradientForm {
        guard backend == .matrixKernels && g.columnRows >= 128 else { return .dotProducts }
        return filters % 16 == 0 ? .transposed : .rows
    }

    /// One worker's share of backward: for each of its images, dW += dY·colsᵀ (or dY·rows),
    /// db += Σ dY, dCols = Wᵀ·dY and dX = col2im(dCols).
    private func backwardShare(_ worker: Int) {
        guard worker < backwardWorkers, let input, let g = geometry, let outputGradient else { return }
        let workspace = workspaces[worker]
        let images = partition(input.shape[0], worker: worker, of: backwardWorkers)
        let (spatial, rows, matrixSize) = (g.columnsPerImage, g.columnRows, g.columnRows * g.columnsPerImage)
        // Worker 0 adds into the parameters' gradients; the others into their own, summed afterwards.
        // Accumulating dWᵀ [C·KH·KW, F], worker 0 too keeps its own.
        let form = weightGradientForm
        let weightGradient: UnsafeMutablePointer<Float>, biasGradient: UnsafeMutablePointer<Float>?
        if worker == 0 && form != .transposed {
            weightGradient = weight.gradient.data
        } else {
            if form == .transposed {
                workspace.weightGradient.reshape(rows, filters)
            } else {
                workspace.weightGradient.reshape(to: weight.value.shape)
            }
            workspace.weightGradient.fill(0)
            weightGradient = workspace.weightGradient.data
        }
        if worker == 0 {
            biasGradient = bias?.gradient.data
        } else {
            workspace.biasGradient.reshape(1, filters)
            workspace.biasGradient.fill(0)
            biasGradient = bias == nil ? nil : workspace.biasGradient.data
        }
        if form == .transposed { workspace.transposedGradient.reshape(spatial, filters) }
        let retained = workspace.imagesInColumns == images
        if !retained { workspace.columns.reshape(1, rows, spatial) }  // the rows' [OH·OW, C·KH·KW] alike
        if activation != nil { workspace.maskedGradient.reshape(filters, spatial) }
        for (index, image) in images.enumerated() {
            let columns = workspace.columns.data + (retained ? index * matrixSize : 0)
            if form == .rows {
                im2row(input.data + image * g.inputCount, geometry: g, into: columns, rowStride: rows)
            } else if !retained {
                im2col(input.data + image * g.inputCount, geometry: g, into: columns, rowStride: spatial)
            }
            var gradient = UnsafePointer(outputGradient.data + image * filters * spatial)
            if let activation {
                // The absorbed activation's backward, dY ⊙ f′(y), then db += Σ of each row.
                let y = output.data + image * filters * spatial, masked = workspace.maskedGradient.data
                activation.backward(gradient, output: y, into: masked, count: filters * spatial)
                gradient = UnsafePointer(masked)
            }
            if let biasGradient {
                addRowSums(of: gradient, rows: filters, columns: spatial, into: biasGradient)
            }
            switch form {
            case .rows:
                // dW [F, C·KH·KW] += dY [F, OH·OW] · rows [OH·OW, C·KH·KW]
                backend.multiply(m: filters, n: rows, k: spatial, a: gradient, lda: spatial,
                                 b: columns, ldb: rows, c: weightGradient, ldc: rows, accumulate: true)
            case .transposed:
                // dWᵀ [C·KH·KW, F] += cols [C·KH·KW, OH·OW] · dYᵀ [OH·OW, F]
                let gradientTransposed = workspace.transposedGradient.data
                transpose(gradient, rows: filters, columns: spatial, into: gradientTransposed)
                backend.multiply(m: rows, n: filters, k: spatial, a: columns, lda: spatial,
                                 b: gradientTransposed, ldb: filters, c: weightGradient, ldc: filters, accumulate: true)
            case .dotProducts:
                // dW [F, C·KH·KW] += dY [F, OH·OW] · colsᵀ
                backend.multiplyTransposedB(m: filters, n: rows, k: spatial, a: gradient, lda: spatial, b: columns, ldb: spatial,
                                            c: weightGradient, ldc: rows, accumulate: true)
            }
            guard needsInputGradient else { continue }
            // dCols [C·KH·KW, OH·OW] = Wᵀ · dY, written over the columns or rows (no longer needed).
            backend.multiply(transposeA: true, m: rows, n: spatial, k: filters, a: weight.value.data, lda: rows,
                             b: gradient, ldb: spatial, c: columns, ldc: spatial)
            let imageGradient = inputGradient.data + image * g.inputCount
            imageGradient.update(repeating: 0, count: g.inputCount)
            col2im(columns, rowStride: spatial, geometry: g, addingInto: imageGradient)
        }
        workspace.imagesInColumns = 0..<0
    }

    /// One worker's share of adding the workers' partial dW (and, on worker 0, db) into the
    /// gradients: workers 1…, or every worker's dWᵀ transposed when they accumulated dWᵀ.
    private func sumGradientsShare(_ worker: Int) {
        let destination = weight.gradient.data
        if weightGradientForm == .transposed {
            // dW[f, r] += Σ_w dWᵀ_w[r, f], over this worker's filters.
            let depth = weight.gradient.count / filters
            for filter in partition(filters, worker: worker, of: Parallelism.threads) {
                let row = destination + filter * depth
                for other in 0..<backwardWorkers {
                    let source = workspaces[other].weightGradient.data + filter
                    for index in 0..<depth { row[index] += source[index * filters] }
                }
            }
        } else {
            let range = partition(weight.gradient.count, worker: worker, of: Parallelism.threads)
            for other in 1..<backwardWorkers {
                let source = workspaces[other].weightGradient.data
                addFloats(from: source + range.lowerBound, into: destination + range.lowerBound, count: range.count)
            }
        }
        if worker == 0, let bias {
            for other in 1..<backwardWorkers {
                let source = workspaces[other].biasGradient.data
                for f in 0..<filters { bias.gradient.data[f] += source[f] }
            }
        }
    }

    private func geometry(channels: Int, height: Int, width: Int) -> ConvolutionGeometry {
        ConvolutionGeometry(channels: channels, height: height, width: width,
                            kernelHeight: kernelHeight, kernelWidth: kernelWidth,
                            strideHeight: strideHeight, strideWidth: strideWidth,
                            paddingHeight: paddingHeight, paddingWidth: paddingWidth)
    }

}

extension Conv2D: ImageWiseInference {
    /// Sets the geometry and gives every worker one image's column slot.
    public func prepareImageInference(batch: Int, inputShape: [Int]) {
        let g = geometry(channels: inputShape[0], height: inputShape[1], width: inputShape[2])
        geometry = g
        phase = .inference
        while workspaces.count < Parallelism.threads { workspaces.append(Workspace()) }
        for workspace in workspaces {
            workspace.columns.reshape(1, g.columnRows, g.columnsPerImage)
            workspace.imagesInColumns = 0..<0
        }
    }

    /// im2col and one SGEMM into the worker's column slot, as `forward` does per image.
    public func inferImage(_ image: Int, from x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, worker: Int) {
        guard let g = geometry else { return }
        forwardImage(x, geometry: g, columns: workspaces[worker].columns.data, into: y)
    }
}

/// sums[r] += Σ_c matrix[r, c] for a row-major `[rows, columns]` matrix.
@inline(__always)
func addRowSums(of matrix: UnsafePointer<Float>, rows: Int, columns: Int, into sums: UnsafeMutablePointer<Float>) {
    for row in 0..<rows { sums[row] += sum(matrix + row * columns, count: columns) }
}

extension Conv2D {
    /// `{"type": "conv", "filters": F, "kernel": K, "stride": [1], "padding": [0], "bias": [true]}`.
    public struct Specification: LayerSpecification {
        public static let typeName = "conv"
        /// Output channels F.
        public var filters: Int
        /// Kernel KH × KW.
        public var kernel: SizePair
        /// Strides SH × SW.
        public var stride: SizePair
        /// Zero padding PH × PW, or "same".
        public var padding: Padding
        /// Whether the convolution adds a bias per filter.
        public var bias: Bool

        /// Zero padding as a size, or `"same"`: (K − 1)/2 on each side, so an odd kernel at
        /// stride 1 keeps the input's height and width (PyTorch's `padding="same"`).
        public enum Padding: Codable, Equatable, Sendable {
            case size(SizePair)
            case same

            public init(from decoder: Decoder) throws {
                if let text = try? decoder.singleValueContainer().decode(String.self) {
                    guard text == "same" else {
                        throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                            debugDescription: "must be a number, [height, width] or \"same\", found \(formatFound(text))"))
                    }
                    self = .same
                } else {
                    self = .size(try SizePair(from: decoder))
                }
            }

            public func encode(to encoder: Encoder) throws {
                switch self {
                case .size(let size): try size.encode(to: encoder)
                case .same:
                    var container = encoder.singleValueContainer()
                    try container.encode("same")
                }
            }
        }

        /// A specification from its values.
        public init(filters: Int, kernel: SizePair, stride: SizePair = SizePair(1), padding: Padding = .size(SizePair(0)), bias: Bool = true) {
            self.filters = filters; self.kernel = kernel; self.stride = stride; self.padding = padding; self.bias = bias
        }

        private enum Keys: String, CodingKey { case filters, kernel, stride, padding, bias }

        public init(from decoder: Decoder) throws {
            try decoder.rejectUnknownLayerKeys(["filters", "kernel", "stride", "padding", "bias"])
            let container = try decoder.container(keyedBy: Keys.self)
            let sizes = 1...LayerSpecificationLimits.size
            filters = try container.decode(.filters, mustBe: "in 1...\(LayerSpecificationLimits.count)") { (value: Int) in
                value > 0 && value <= LayerSpecificationLimits.count
            }
            kernel = try container.decode(.kernel, mustBe: "in \(sizes)") { (value: SizePair) in value.within(sizes) }
            stride = try container.decode(.stride, default: SizePair(1), mustBe: "in \(sizes)") { $0.within(sizes) }
            padding = try container.decode(.padding, default: .size(SizePair(0)), mustBe: "in 0...\(LayerSpecificationLimits.size)") {
                if case .size(let size) = $0 { return size.within(0...LayerSpecificationLimits.size) }
                return true
            }
            if padding == .same && !(kernel.height % 2 == 1 && kernel.width % 2 == 1 && stride == SizePair(1)) {
                throw DecodingError.dataCorruptedError(forKey: .padding, in: container,
                    debugDescription: "\"same\" needs an odd kernel and stride 1, found kernel \(kernel) and stride \(stride)")
            }
            bias = try container.decodeIfPresent(Bool.self, forKey: .bias) ?? true
        }

        public func encode(to encoder: Encoder) throws {
            var container = encoder.container(keyedBy: Keys.self)
            try container.encode(filters, forKey: .filters)
            try container.encode(kernel, forKey: .kernel)
            if stride != SizePair(1) { try container.encode(stride, forKey: .stride) }
            if padding != .size(SizePair(0)) { try container.encode(padding, forKey: .padding) }
            if !bias { try container.encode(bias, forKey: .bias) }
        }

        /// The padding in pixels: "same" is (K − 1)/2.
        public var paddingSize: SizePair {
            switch padding {
            case .size(let size): return size
            case .same: return SizePair((kernel.height - 1) / 2, (kernel.width - 1) / 2)
            }
        }

        public var summary: String { Conv2D.summary(filters: filters, kernel: kernel, stride: stride, padding: paddingSize) }

        public func outputShape(forInput shape: [Int]) throws(ShapeError) -> [Int] {
            guard shape.count == 3 else {
                throw ShapeError("expects an image input C×H×W, found \(shape.shapeDescription)")
            }
            let padding = paddingSize
            let (height, width) = (shape[1] + 2 * padding.height, shape[2] + 2 * padding.width)
            guard height >= kernel.height, width >= kernel.width else {
                throw ShapeError("input \(shape[1])×\(shape[2]) (padded \(height)×\(width)) is smaller than the kernel \(kernel.height)×\(kernel.width)")
            }
            return [filters, (height - kernel.height) / stride.height + 1, (width - kernel.width) / stride.width + 1]
        }

        public func parameterCount(forInput shape: [Int]) -> Int? {
            checkedProduct([filters, shape[0], kernel.height, kernel.width]).map { $0 + (bias ? filters : 0) }
        }

        public func multiplyAccumulates(forInput shape: [Int]) -> Int {
            guard let output = try? outputShape(forInput: shape) else { return 0 }
            return checkedProduct([filters, shape[0], kernel.height, kernel.width, output[1], output[2]]) ?? Int.max
        }

        /// One image's columns: `[C·KH·KW, OH·OW]`.
        public func scratchValues(forInput shape: [Int]) -> Int {
            guard let output = try? outputShape(forInput: shape) else { return 0 }
            return checkedProduct([shape[0], kernel.height, kernel.width, output[1], output[2]]) ?? Int.max
        }

        /// ONNX `Conv` (weights `[F, C, KH, KW]`, bias, strides, pads as begin and end of each axis).
        public func exportONNX(to graph: inout ONNXGraph, input: String, inputShape: [Int], layer: ONNXLayerContext) throws(ExportError) -> String {
            let weight = try layer.tensor("weight")
            var inputs = [input, graph.initializer("\(layer.index).weight", shape: weight.shape, values: try layer.floats("weight"))]
            if bias { inputs.append(graph.initializer("\(layer.index).bias", shape: [filters], values: try layer.floats("bias"))) }
            let padding = paddingSize
            return graph.node("Conv", inputs: inputs, output: "\(layer.index)_conv", attributes: [
                .ints("kernel_shape", [kernel.height, kernel.width]), .ints("strides", [stride.height, stride.width]),
                .ints("pads", [padding.height, padding.width, padding.height, padding.width]),
            ])
        }

        public func makeLayer(inputShape: [Int], random: inout SeededRandom) -> any Layer {
            let padding = paddingSize
            return Conv2D(inputChannels: inputShape[0], filters: filters,
                          kernelHeight: kernel.height, kernelWidth: kernel.width,
                          strideHeight: stride.height, strideWidth: stride.width,
                          paddingHeight: padding.height, paddingWidth: padding.width,
                          bias: bias, random: &random)
        }
    }
}
