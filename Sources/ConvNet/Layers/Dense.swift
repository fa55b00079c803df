/// Fully connected layer, as PyTorch's `nn.Linear`: `y = x · Wᵀ + b`.
///
/// JSON: `{"type": "dense", "units": 500}` (O = units).
///
/// x `[N, I]`, W `[O, I]`, b `[O]`, y `[N, O]`. Backward: dW += dYᵀ · x,
/// db += Σ_n dY, dx = dY · W: one SGEMM each per worker, on `MatrixKernels` where the CPU has
/// AVX-512 (else OpenBLAS). That kernel reads B row by row, so forward computes yᵀ = W · xᵀ
/// between two transposes of a worker's rows (LeNet's dense 500 forward, transposes included:
/// 6.0% → 4.6% of a step); a forward share of fewer than 16 rows (one image's inference) is
/// y = x · Wᵀ as it stands, each value a dot product of two rows (`multiplyTransposedB`).
public final class Dense: Layer {
    /// Input features I.
    public let inputFeatures: Int
    /// Output features O.
    public let outputFeatures: Int
    /// Weights `[O, I]`.
    public let weight: Parameter
    /// Bias `[O]`.
    public let bias: Parameter
    /// Input `[N, I]` of the last forward pass.
    private var input: Tensor?
    /// ∂loss/∂y `[N, O]` of the backward pass in progress, and whether dx is wanted, for the worker jobs.
    private var outputGradient: Tensor?, needsInputGradient = true
    private var forwardJob: (Int) -> Void = { _ in }, backwardJob: (Int) -> Void = { _ in }
    /// Output `[N, O]`.
    private let output = Tensor(shape: [0])
    /// Input gradient `[N, I]`.
    private let inputGradient = Tensor(shape: [0])
    /// Which SGEMM runs the products.
    public var backend = GEMMBackend.preferred
    /// Per worker, with `MatrixKernels`: xᵀ `[I, rows]` and yᵀ `[O, rows]` of its rows.
    private var transposedInputs: [Tensor] = [], transposedOutputs: [Tensor] = []

    /// A dense layer with LeCun-normal weights N(0, 1 / I) and zero bias. (Half He's variance:
    /// with He's, the first steps of LeNet at η = 0.01, μ = 0.9 sometimes blow up and kill the ReLUs.)
    public init(inputFeatures: Int, outputFeatures: Int, random: inout SeededRandom) {
        precondition(inputFeatures > 0 && outputFeatures > 0)
        self.inputFeatures = inputFeatures
        self.outputFeatures = outputFeatures
        weight = Parameter(name: "weight", shape: [outputFeatures, inputFeatures])
        bias = Parameter(name: "bias", shape: [outputFeatures])
        let standardDeviation = (1.0 / Float(inputFeatures)).squareRoot()
        for i in 0..<weight.value.count { weight.value.data[i] = random.nextGaussian() * standardDeviation }
        forwardJob = { [unowned(unsafe) self] worker in self.forwardShare(worker) }
        backwardJob = { [unowned(unsafe) self] worker in self.backwardShare(worker) }
    }

    public var summary: String { "dense \(outputFeatures)" }

    public var parameters: [Parameter] { [weight, bias] }

    /// `x [N, I]` → `y [N, O]`. Workers split the batch rows.
    public func forward(_ input: Tensor, context: ForwardContext) -> Tensor {
        precondition(input.shape.count == 2 && input.shape[1] == inputFeatures,
                     "Dense expects [N, \(inputFeatures)], got \(input.shape)")
        self.input = input
        output.reshape(input.shape[0], outputFeatures)
        while transposedInputs.count < Parallelism.threads {
            transposedInputs.append(Tensor(shape: [0]))
            transposedOutputs.append(Tensor(shape: [0]))
        }
        forEachWorker(forwardJob)
        return output
    }

    /// `dY [N, O]` → `dx [N, I]` when `needsInputGradient`; adds into dW and db. Workers
    /// split dW's rows (output features) and dx's rows (images), so no two write the same memory.
    public func backward(_ outputGradient: Tensor, needsInputGradient: Bool) -> Tensor? {
        guard let input else { preconditionFailure("Dense.backward before forward") }
        precondition(outputGradient.shape == output.shape)
        if needsInputGradient { inputGradient.reshape(to: input.shape) }
        self.outputGradient = outputGradient
        self.needsInputGradient = needsInputGradient
        forEachWorker(backwardJob)
        return needsInputGradient ? inputGradient : nil
    }

    private func forwardShare(_ worker: Int) {
        guard let input else { return }
        let rows = partition(input.shape[0], worker: worker, of: Parallelism.threads)
        guard !rows.isEmpty else { return }
        let (x, y, w, b) = (input.data, output.data, weight.value.data, bias.value.data)
        if backend == .matrixKernels && rows.count >= 16 {
            // yᵀ [O, rows] = W [O, I] · xᵀ [I, rows]; y = (yᵀ)ᵀ + b
            let (transposedInput, transposedOutput) = (transposedInputs[worker], transposedOutputs[worker])
            transposedInput.reshape(inputFeatures, rows.count)
            transposedOutput.reshape(outputFeatures, rows.count)
            transpose(x + rows.lowerBound * inputFeatures, rows: rows.count, columns: inputFeatures, into: transposedInput.data)
            backend.multiply(m: outputFeatures, n: rows.count, k: inputFeatures, a: w, lda: inputFeatures,
                             b: transposedInput.data, ldb: rows.count, c: transposedOutput.data, ldc: rows.count)
            transpose(transposedOutput.data, rows: outputFeatures, columns: rows.count, into: y + rows.lowerBound * outputFeatures)
            for n in rows { addFloats(from: b, into: y + n * outputFeatures, count: outputFeatures) }
            return
        }
        for n in rows { (y + n * outputFeatures).update(from: b, count: outputFeatures) }
        // y [rows, O] = x [rows, I] · Wᵀ [I, O] + y: each value a dot product of an input row and a weight row
        backend.multiplyTransposedB(m: rows.count, n: outputFeatures, k: inputFeatures, a: x + rows.lowerBound * inputFeatures,
                                    lda: inputFeatures, b: w, ldb: inputFeatures, c: y + rows.lowerBound * outputFeatures,
                                    ldc: outputFeatures, accumulate: true)
    }

    private func backwardShare(_ worker: Int) {
        guard let input, let outputGradient else { return }
        let batch = input.shape[0], workers = Parallelism.threads
        let (x, dy, dx) = (input.data, outputGradient.data, inputGradient.data)
        let (w, dw, db) = (weight.value.data, weight.gradient.data, bias.gradient.data)
        let features = partition(outputFeatures, worker: worker, of: workers)
        if !features.isEmpty {
            // dW [features, I] += dY[:, features]ᵀ · x [N, I]
            backend.multiply(transposeA: true, m: features.count, n: inputFeatures, k: batch, a: dy + features.lowerBound, lda: outputFeatures,
                             b: x, ldb: inputFeatures, c: dw + features.lowerBound * inputFeatures, ldc: inputFeatures, accumulate: true)
            for n in 0..<batch {
                let row = dy + n * outputFeatures
                for o in features { db[o] += row[o] }
            }
        }
        let rows = partition(batch, worker: worker, of: workers)
        if needsInputGradient && !rows.isEmpty {
            // dx [rows, I] = dY [rows, O] · W [O, I]
            backend.multiply(m: rows.count, n: inputFeatures, k: outputFeatures, a: dy + rows.lowerBound * outputFeatures, lda: outputFeatures,
                             b: w, ldb: inputFeatures, c: dx + rows.lowerBound * inputFeatures, ldc: inputFeatures)
        }
    }

    /// `{"type": "dense", "units": O}`.
    public struct Specification: LayerSpecification {
        public static let typeName = "dense"
        /// Output features O.
        public var units: Int

        /// A dense layer of `units` outputs.
        public init(units: Int) { self.units = units }

        private enum Keys: String, CodingKey { case units }

        public init(from decoder: Decoder) throws {
            try decoder.rejectUnknownLayerKeys(["units"])
            let container = try decoder.container(keyedBy: Keys.self)
            units = try container.decode(.units, mustBe: "in 1...\(LayerSpecificationLimits.count)") { (value: Int) in
                value > 0 && value <= LayerSpecificationLimits.count
            }
        }

        public func encode(to encoder: Encoder) throws {
            var container = encoder.container(keyedBy: Keys.self)
            try container.encode(units, forKey: .units)
        }

        public var summary: String { "dense \(units)" }

        public func outputShape(forInput shape: [Int]) throws(ShapeError) -> [Int] {
            guard shape.count == 1 else {
                throw ShapeError("input \(shape.shapeDescription) is not flat; add {\"type\": \"flatten\"} before it")
            }
            return [units]
        }

        public func parameterCount(forInput shape: [Int]) -> Int? { checkedProduct([units, shape[0] + 1]) }

        public func multiplyAccumulates(forInput shape: [Int]) -> Int { checkedProduct([units, shape[0]]) ?? Int.max }

        /// ONNX `Gemm`: y = x · Wᵀ + b (transB = 1, weights `[O, I]` as stored).
        public func exportONNX(to graph: inout ONNXGraph, input: String, inputShape: [Int], layer: ONNXLayerContext) throws(ExportError) -> String {
            let weight = graph.initializer("\(layer.index).weight", shape: [units, inputShape[0]], values: try layer.floats("weight"))
            let bias = graph.initializer("\(layer.index).bias", shape: [units], values: try layer.floats("bias"))
            return graph.node("Gemm", inputs: [input, weight, bias], output: "\(layer.index)_dense", attributes: [.int("transB", 1)])
        }

        public func makeLayer(inputShape: [Int], random: inout SeededRandom) -> any Layer {
            Dense(inputFeatures: inputShape[0], outputFeatures: units, random: &random)
        }
    }
}
