/// Stochastic gradient descent with momentum and weight decay, as PyTorch's `torch.optim.SGD`.
///
/// For each parameter w with gradient g and velocity v (zero at the start):
/// `d = g + λ·w`, `v = μ·v + d`, then `w −= η·v` (classic) or `w −= η·(d + μ·v)` (Nesterov),
/// with learning rate η, momentum μ and weight decay λ.
///
/// JSON: `{"type": "sgd", "learningRate": 0.01, "momentum": 0.9, "weightDecay": 0.0005, "nesterov": false}`.
/// State: `"<parameter>.momentum_buffer"` (v), PyTorch's name.
public final class SGD: Optimizer {
    /// The parameters updated.
    public let arena: ParameterArena
    /// μ in [0, 1).
    public let momentum: Float
    /// λ ≥ 0 (L2 penalty λ/2·‖w‖²).
    public let weightDecay: Float
    /// Use Nesterov momentum.
    public let nesterov: Bool
    /// The velocities v, laid out like the arena.
    public let velocity: Tensor

    /// The step in progress, for the worker jobs.
    private var learningRate: Float = 0
    private var stepJob: (Int) -> Void = { _ in }

    /// An optimizer over `arena` with zero velocities.
    public init(arena: ParameterArena, momentum: Float = 0, weightDecay: Float = 0, nesterov: Bool = false) {
        self.arena = arena
        self.momentum = momentum
        self.weightDecay = weightDecay
        self.nesterov = nesterov
        velocity = arena.makeStateBlock()
        stepJob = { [unowned(unsafe) self] worker in self.stepShare(worker) }
    }

    /// Updates every parameter: one pass over the arena, split over the workers.
    public func step(learningRate: Float) {
        self.learningRate = learningRate
        forEachWorker(stepJob)
    }

    /// One worker's share of the arena, 16 values at a time (a plain loop over these pointers
    /// stays scalar: the compiler cannot rule out aliasing), the last group in part (see `lanes`).
    private func stepShare(_ worker: Int) {
        let range = partition(arena.count, worker: worker, of: Parallelism.threads)
        let w = arena.values.data, g = arena.gradients.data, v = velocity.data
        // The step's constants, taken once rather than read from the optimizer for every 16 values.
        let (rate, momentum, decay, nesterov) = (learningRate, self.momentum, weightDecay, self.nesterov)
        var i = range.lowerBound
        while i + 16 <= range.upperBound {
            var (weight, speed) = (load16(w + i), load16(v + i))
            Self.update(&weight, gradient: load16(g + i), velocity: &speed, rate: rate, momentum: momentum, decay: decay, nesterov: nesterov)
            store16(weight, w + i); store16(speed, v + i)
            i += 16
        }
        if i < range.upperBound {
            let count = range.upperBound - i
            var (weight, speed) = (lanes(w + i, count), lanes(v + i, count))
            Self.update(&weight, gradient: lanes(g + i, count), velocity: &speed, rate: rate, momentum: momentum, decay: decay, nesterov: nesterov)
            storeLanes(weight, w + i, count); storeLanes(speed, v + i, count)
        }
    }

    /// One update of 16 weights and their velocities.
    @inline(__always)
    private static func update(_ weight: inout SIMD16<Float>, gradient: SIMD16<Float>, velocity: inout SIMD16<Float>,
                               rate: Float, momentum: Float, decay: Float, nesterov: Bool) {
        let (rate, momentum, decay) = (SIMD16<Float>(repeating: rate), SIMD16<Float>(repeating: momentum), SIMD16<Float>(repeating: decay))
        if nesterov {
            let d = gradient + decay * weight
            velocity = momentum * velocity + d
            weight -= rate * (d + momentum * velocity)
        } else {
            velocity = momentum * velocity + gradient + decay * weight
            weight -= rate * velocity
        }
    }

    public var state: [NamedTensor] { arena.namedSlices(of: velocity, entry: "momentum_buffer") }

    public var stateEntries: [StateEntry] { arena.sliceEntries(entry: "momentum_buffer") }

    public func load(state tensors: [String: NamedTensor]) {
        arena.loadSlices(of: velocity, entry: "momentum_buffer", from: tensors)
    }

    /// `{"type": "sgd", "learningRate": η, "momentum": [0], "weightDecay": [0], "nesterov": [false]}`.
    public struct Specification: OptimizerSpecification {
        public static let typeName = "sgd"
        /// Base learning rate η₀ > 0.
        public var learningRate: Double
        /// Momentum μ in [0, 1).
        public var momentum: Double
        /// Weight decay λ ≥ 0.
        public var weightDecay: Double
        /// Nesterov momentum.
        public var nesterov: Bool

        /// A specification from its values.
        public init(learningRate: Double, momentum: Double = 0, weightDecay: Double = 0, nesterov: Bool = false) {
            self.learningRate = learningRate; self.momentum = momentum; self.weightDecay = weightDecay; self.nesterov = nesterov
        }

        private enum Keys: String, CodingKey { case learningRate, momentum, weightDecay, nesterov }

        public init(from decoder: Decoder) throws {
            try decoder.rejectUnknownKeys(allowed: ["type", "learningRate", "momentum", "weightDecay", "nesterov"])
            let container = try decoder.container(keyedBy: Keys.self)
            learningRate = try container.decode(.learningRate, mustBeAsFloat: "> 0") { $0 > 0 }
            momentum = try container.decode(.momentum, default: 0, mustBeAsFloat: "in [0, 1)") { $0 >= 0 && $0 < 1 }
            weightDecay = try container.decode(.weightDecay, default: 0, mustBeAsFloat: "in [0, 10]") { $0 >= 0 && $0 <= 10 }
            nesterov = try container.decodeIfPresent(Bool.self, forKey: .nesterov) ?? false
        }

        public func encode(to encoder: Encoder) throws {
            var container = encoder.container(keyedBy: Keys.self)
            try container.encode(learningRate, forKey: .learningRate)
            try container.encode(momentum, forKey: .momentum)
            try container.encode(weightDecay, forKey: .weightDecay)
            try container.encode(nesterov, forKey: .nesterov)
        }

        public func makeOptimizer(for arena: ParameterArena) -> any Optimizer {
            SGD(arena: arena, momentum: Float(momentum), weightDecay: Float(weightDecay), nesterov: nesterov)
        }
    }
}
