/// Rectified linear unit, element-wise: `y = max(0, x)`; `dx = dy · [y > 0]`.
/// Works on any shape `[N, …]`.
public final class ReLU: Layer {
    /// Output, same shape as the input.
    private let output = Tensor(shape: [0])
    /// Input gradient, same shape as the input.
    private let inputGradient = Tensor(shape: [0])

    /// Creates the activation.
    public init() {}

    public var summary: String { "relu" }

    public func outputShape(forInput shape: [Int]) throws(ShapeError) -> [Int] { shape }

    public func forward(_ input: Tensor, phase: Phase) -> Tensor {
        output.reshape(to: input.shape)
        let x = input.data, y = output.data
        for i in 0..<input.count { y[i] = max(x[i], 0) }
        return output
    }

    public func backward(_ outputGradient: Tensor) -> Tensor {
        precondition(outputGradient.shape == output.shape)
        inputGradient.reshape(to: output.shape)
        let y = output.data, dy = outputGradient.data, dx = inputGradient.data
        for i in 0..<output.count { dx[i] = y[i] > 0 ? dy[i] : 0 }
        return inputGradient
    }
}
