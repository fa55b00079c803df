/// Inverted dropout: in training, `y = x · m / (1 − p)` with `m ~ Bernoulli(1 − p)`
/// drawn per element from the layer's seeded generator; at inference `y = x`.
/// Backward: `dx = dy · m / (1 − p)`. Works on any shape `[N, …]`.
public final class Dropout: Layer {
    /// Probability p of zeroing an element, in [0, 1).
    public let rate: Float
    /// The generator for masks; its state is saved in training checkpoints.
    public var random: SeededRandom

    /// The scaled mask m / (1 − p) of the last training forward pass, the input's shape.
    private let mask = Tensor(shape: [0])
    /// Output, the input's shape.
    private let output = Tensor(shape: [0])
    /// Input gradient, the input's shape.
    private let inputGradient = Tensor(shape: [0])
    private var lastPhase = Phase.inference

    /// Dropout with drop probability `rate`, masks drawn from `random`.
    public init(rate: Float, random: SeededRandom) {
        precondition(rate >= 0 && rate < 1)
        self.rate = rate
        self.random = random
    }

    public var summary: String { "dropout \(rate)" }

    public func outputShape(forInput shape: [Int]) throws(ShapeError) -> [Int] { shape }

    public func forward(_ input: Tensor, phase: Phase) -> Tensor {
        lastPhase = phase
        output.reshape(to: input.shape)
        guard phase == .training, rate > 0 else {
            output.data.update(from: input.data, count: input.count)
            return output
        }
        mask.reshape(to: input.shape)
        let keep = 1 / (1 - rate)
        let x = input.data, y = output.data, m = mask.data
        for i in 0..<input.count {
            m[i] = random.nextUniform() >= rate ? keep : 0
            y[i] = x[i] * m[i]
        }
        return output
    }

    public func backward(_ outputGradient: Tensor) -> Tensor {
        precondition(outputGradient.shape == output.shape)
        inputGradient.reshape(to: outputGradient.shape)
        let dy = outputGradient.data, dx = inputGradient.data
        if lastPhase == .training && rate > 0 {
            let m = mask.data
            for i in 0..<outputGradient.count { dx[i] = dy[i] * m[i] }
        } else {
            dx.update(from: dy, count: outputGradient.count)
        }
        return inputGradient
    }
}
