/// Stochastic gradient descent with momentum and weight decay, as PyTorch's `torch.optim.SGD`.
///
/// For each parameter w with gradient g and velocity v (zero at the start):
/// `d = g + λ·w`, `v = μ·v + d`, then `w −= η·v` (classic) or `w −= η·(d + μ·v)` (Nesterov),
/// with learning rate η, momentum μ and weight decay λ.
public final class SGD {
    /// η; the trainer sets it from the schedule before each step.
    public var learningRate: Float
    /// μ in [0, 1).
    public let momentum: Float
    /// λ ≥ 0 (L2 penalty λ/2·‖w‖²).
    public let weightDecay: Float
    /// Use Nesterov momentum.
    public let nesterov: Bool
    /// The parameters updated, in model order.
    public let parameters: [Parameter]
    /// One velocity per parameter, same shapes; saved in training checkpoints.
    public let velocities: [Tensor]

    /// An optimizer over `parameters` with zero velocities.
    public init(parameters: [Parameter], learningRate: Float, momentum: Float = 0,
                weightDecay: Float = 0, nesterov: Bool = false) {
        self.parameters = parameters
        self.learningRate = learningRate
        self.momentum = momentum
        self.weightDecay = weightDecay
        self.nesterov = nesterov
        velocities = parameters.map { Tensor(shape: $0.value.shape) }
        stepJob = { [unowned(unsafe) self] worker in self.stepShare(worker) }
    }

    private var stepJob: (Int) -> Void = { _ in }

    /// Updates every parameter from its gradient (gradients are left as they are).
    /// Workers split each parameter's elements.
    public func step() {
        forEachWorker(stepJob)
    }

    private func stepShare(_ worker: Int) {
        let (rate, momentum, decay) = (learningRate, self.momentum, weightDecay)
        for (parameter, velocity) in zip(parameters, velocities) {
            let range = partition(parameter.value.count, worker: worker, of: Parallelism.threads)
            let w = parameter.value.data, g = parameter.gradient.data, v = velocity.data
            // Two loops rather than a branch inside one, so each vectorises.
            if nesterov {
                for i in range {
                    let d = g[i] + decay * w[i]
                    v[i] = momentum * v[i] + d
                    w[i] -= rate * (d + momentum * v[i])
                }
            } else {
                for i in range {
                    v[i] = momentum * v[i] + g[i] + decay * w[i]
                    w[i] -= rate * v[i]
                }
            }
        }
    }
}
