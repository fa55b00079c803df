/// Fully connected layer, as PyTorch's `nn.Linear`: `y = x · Wᵀ + b`.
///
/// x `[N, I]`, W `[O, I]`, b `[O]`, y `[N, O]`. Backward: dW += dYᵀ · x,
/// db += Σ_n dY, dx = dY · W. All three products are single SGEMMs.
public final class Dense: Layer {
    /// Input features I.
    public let inputFeatures: Int
    /// Output features O.
    public let outputFeatures: Int
    /// Weights `[O, I]`.
    public let weight: Parameter
    /// Bias `[O]`.
    public let bias: Parameter
    /// When false, backward skips dx (the first layer of a network needs none).
    public var computesInputGradient = true

    /// Input `[N, I]` of the last forward pass.
    private var input: Tensor?
    /// Output `[N, O]`.
    private let output = Tensor(shape: [0])
    /// Input gradient `[N, I]`.
    private let inputGradient = Tensor(shape: [0])

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
    }

    public var summary: String { "dense \(outputFeatures)" }

    public var parameters: [Parameter] { [weight, bias] }

    public func outputShape(forInput shape: [Int]) throws(ShapeError) -> [Int] {
        guard shape.count == 1 else {
            throw ShapeError("input \(shape.shapeDescription) is not flat; add {\"type\": \"flatten\"} before it")
        }
        guard shape[0] == inputFeatures else {
            throw ShapeError("expects \(inputFeatures) input features, found \(shape[0])")
        }
        return [outputFeatures]
    }

    /// `x [N, I]` → `y [N, O]`.
    public func forward(_ input: Tensor, phase: Phase) -> Tensor {
        precondition(input.shape.count == 2 && input.shape[1] == inputFeatures,
                     "Dense expects [N, \(inputFeatures)], got \(input.shape)")
        let batch = input.shape[0]
        self.input = input
        output.reshape(to: [batch, outputFeatures])
        let y = output.data, b = bias.value.data, features = outputFeatures
        for n in 0..<batch { (y + n * features).update(from: b, count: features) }
        // y [N, O] = x [N, I] · Wᵀ [I, O] + y
        BLAS.gemm(transposeB: true, m: batch, n: features, k: inputFeatures,
                  a: input.data, b: weight.value.data, beta: 1, c: y)
        return output
    }

    /// `dY [N, O]` → `dx [N, I]`; adds into dW and db.
    public func backward(_ outputGradient: Tensor) -> Tensor {
        guard let input else { preconditionFailure("Dense.backward before forward") }
        precondition(outputGradient.shape == output.shape)
        let batch = input.shape[0]
        // dW [O, I] += dYᵀ [O, N] · x [N, I]
        BLAS.gemm(transposeA: true, m: outputFeatures, n: inputFeatures, k: batch,
                  a: outputGradient.data, b: input.data, beta: 1, c: weight.gradient.data)
        let dy = outputGradient.data, db = bias.gradient.data, features = outputFeatures
        for n in 0..<batch {
            let row = dy + n * features
            for o in 0..<features { db[o] += row[o] }
        }
        inputGradient.reshape(to: input.shape)
        if computesInputGradient {
            // dx [N, I] = dY [N, O] · W [O, I]
            BLAS.gemm(m: batch, n: inputFeatures, k: outputFeatures,
                      a: outputGradient.data, b: weight.value.data, c: inputGradient.data)
        }
        return inputGradient
    }
}
