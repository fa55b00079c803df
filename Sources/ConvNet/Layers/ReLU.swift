/// Rectified linear unit, element-wise: `y = max(0, x)`; `dx = dy · [y > 0]`.
/// Works on any shape `[N, …]`; workers split the elements.
public final class ReLU: Layer {
    /// Output, same shape as the input.
    private let output = Tensor(shape: [0])
    /// Input gradient, same shape as the input.
    private let inputGradient = Tensor(shape: [0])
    /// The tensors of the pass in progress, for the worker jobs.
    private var input: Tensor?, outputGradient: Tensor?
    private var forwardJob: (Int) -> Void = { _ in }, backwardJob: (Int) -> Void = { _ in }

    /// True when the preceding layer applies the ReLU itself (see `Conv2D.appliesReLU`);
    /// this layer then passes values and gradients through unchanged.
    public var isFused = false

    /// Creates the activation.
    public init() {
        forwardJob = { [unowned(unsafe) self] worker in self.forwardShare(worker) }
        backwardJob = { [unowned(unsafe) self] worker in self.backwardShare(worker) }
    }

    public var summary: String { "relu" }

    public func outputShape(forInput shape: [Int]) throws(ShapeError) -> [Int] { shape }

    public func forward(_ input: Tensor, phase: Phase) -> Tensor {
        if isFused { return input }
        output.reshape(to: input.shape)
        self.input = input
        forEachWorker(forwardJob)
        return output
    }

    public func backward(_ outputGradient: Tensor) -> Tensor {
        if isFused { return outputGradient }
        precondition(outputGradient.shape == output.shape)
        inputGradient.reshape(to: output.shape)
        self.outputGradient = outputGradient
        forEachWorker(backwardJob)
        return inputGradient
    }

    private func forwardShare(_ worker: Int) {
        guard let input else { return }
        let x = input.data, y = output.data
        for i in partition(input.count, worker: worker, of: Parallelism.threads) { y[i] = max(x[i], 0) }
    }

    private func backwardShare(_ worker: Int) {
        guard let outputGradient else { return }
        let y = output.data, dy = outputGradient.data, dx = inputGradient.data
        for i in partition(output.count, worker: worker, of: Parallelism.threads) { dx[i] = y[i] > 0 ? dy[i] : 0 }
    }
}
