import CVectorMath
import Foundation

/// Adam and AdamW, as PyTorch's `torch.optim.Adam` and `torch.optim.AdamW` with their
/// defaults (no AMSGrad). For each parameter w with gradient g, at step t = 1, 2, …:
///
/// - Adam: `g ← g + λ·w` (L2 weight decay, added to the gradient);
/// - AdamW: `w ← w·(1 − η·λ)` (decoupled weight decay), gradient unchanged;
/// - then `m ← β₁·m + (1 − β₁)·g`, `v ← β₂·v + (1 − β₂)·g²`, and
///   `w ← w − η / (1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + ε)` (bias-corrected moments).
///
/// JSON: `{"type": "adam", "learningRate": 0.001, "betas": [0.9, 0.999], "epsilon": 1e-8, "weightDecay": 0}`,
/// and `"type": "adamw"` (weight decay 0.01 by default, as PyTorch's). State, PyTorch's names:
/// `"<parameter>.exp_avg"` (m), `"<parameter>.exp_avg_sq"` (v) and `"step"` (t, I64).
public final class Adam: Optimizer {
    /// The parameters updated.
    public let arena: ParameterArena
    /// β₁, β₂ in [0, 1).
    public let betas: (Float, Float)
    /// ε > 0.
    public let epsilon: Float
    /// λ ≥ 0.
    public let weightDecay: Float
    /// True for AdamW: weight decay multiplies the weights instead of adding to the gradient.
    public let decoupledWeightDecay: Bool
    /// First moments m, laid out like the arena.
    public let firstMoment: Tensor
    /// Second moments v, laid out like the arena.
    public let secondMoment: Tensor
    /// Steps taken, t.
    public private(set) var stepCount: Int64 = 0

    /// The step in progress, for the worker jobs: η, η / (1 − β₁ᵗ), √(1 − β₂ᵗ).
    private var learningRate: Float = 0, stepSize: Float = 0, secondCorrectionRoot: Float = 1
    private var stepJob: (Int) -> Void = { _ in }

    /// An optimizer over `arena` with zero moments.
    public init(arena: ParameterArena, betas: (Float, Float) = (0.9, 0.999), epsilon: Float = 1e-8,
                weightDecay: Float = 0, decoupledWeightDecay: Bool = false) {
        self.arena = arena
        self.betas = betas
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        self.decoupledWeightDecay = decoupledWeightDecay
        firstMoment = arena.makeStateBlock()
        secondMoment = arena.makeStateBlock()
        stepJob = { [unowned(unsafe) self] worker in self.stepShare(worker) }
    }

    /// One update of every parameter: one pass over the arena, split over the workers.
    public func step(learningRate: Float) {
        stepCount += 1
        let t = Double(stepCount)
        self.learningRate = learningRate
        stepSize = Float(Double(learningRate) / (1 - pow(Double(betas.0), t)))
        secondCorrectionRoot = Float((1 - pow(Double(betas.1), t)).squareRoot())
        forEachWorker(stepJob)
    }

    /// One worker's share of the arena, 16 values at a time (the pointers may alias as far as the
    /// compiler knows, so a plain loop stays scalar), the last group in part (see `lanes`).
    /// Each lane computes exactly what the scalar formula does, in the same order.
    private func stepShare(_ worker: Int) {
        let range = partition(arena.count, worker: worker, of: Parallelism.threads)
        let (w, g, m, v) = (arena.values.data, arena.gradients.data, firstMoment.data, secondMoment.data)
        let step = StepConstants(beta1: betas.0, beta2: betas.1, epsilon: epsilon, stepSize: stepSize,
                                 secondCorrectionRoot: secondCorrectionRoot, shrink: 1 - learningRate * weightDecay,
                                 weightDecay: weightDecay, decoupled: decoupledWeightDecay)
        var i = range.lowerBound
        while i + 16 <= range.upperBound {
            var (weight, first, second) = (load16(w + i), load16(m + i), load16(v + i))
            Self.update(&weight, gradient: load16(g + i), first: &first, second: &second, step)
            store16(weight, w + i); store16(first, m + i); store16(second, v + i)
            i += 16
        }
        if i < range.upperBound {
            let count = range.upperBound - i
            var (weight, first, second) = (lanes(w + i, count), lanes(m + i, count), lanes(v + i, count))
            Self.update(&weight, gradient: lanes(g + i, count), first: &first, second: &second, step)
            storeLanes(weight, w + i, count); storeLanes(first, m + i, count); storeLanes(second, v + i, count)
        }
    }

    /// A step's constants, taken once per worker share rather than read from the optimizer for
    /// every 16 values: β₁, β₂, ε, η / (1 − β₁ᵗ), √(1 − β₂ᵗ), AdamW's 1 − η·λ, and λ.
    private struct StepConstants {
        let beta1, beta2, epsilon, stepSize, secondCorrectionRoot, shrink, weightDecay: Float
        let decoupled: Bool
    }

    /// One Adam or AdamW update of 16 weights and their moments; √ is the vector instruction
    /// (`SIMD16.squareRoot()` takes the lanes' roots one by one through libm: Adam's step ran 4×
    /// slower), correctly rounded as the scalar root is.
    @inline(__always)
    private static func update(_ weight: inout SIMD16<Float>, gradient: SIMD16<Float>, first: inout SIMD16<Float>,
                               second: inout SIMD16<Float>, _ step: StepConstants) {
        typealias Value = SIMD16<Float>
        let (beta1, beta2) = (Value(repeating: step.beta1), Value(repeating: step.beta2))
        let one = Value(repeating: 1)
        var gradient = gradient
        if step.decoupled {
            weight *= Value(repeating: step.shrink)
        } else {
            gradient = gradient + Value(repeating: step.weightDecay) * weight
        }
        first = beta1 * first + (one - beta1) * gradient
        second = beta2 * second + (one - beta2) * gradient * gradient
        weight -= Value(repeating: step.stepSize) * first
            / (convnet_square_root16(second) / Value(repeating: step.secondCorrectionRoot) + Value(repeating: step.epsilon))
    }

    public var state: [NamedTensor] {
        arena.namedSlices(of: firstMoment, entry: "exp_avg") + arena.namedSlices(of: secondMoment, entry: "exp_avg_sq")
            + [NamedTensor(name: "step", shape: [], values: .int64([stepCount]))]
    }

    public var stateEntries: [StateEntry] {
        arena.sliceEntries(entry: "exp_avg") + arena.sliceEntries(entry: "exp_avg_sq") + [StateEntry(name: "step", shape: [], dtype: "I64")]
    }

    public func load(state tensors: [String: NamedTensor]) {
        arena.loadSlices(of: firstMoment, entry: "exp_avg", from: tensors)
        arena.loadSlices(of: secondMoment, entry: "exp_avg_sq", from: tensors)
        guard case .int64(let step) = tensors["step"]?.values, step.count == 1 else { preconditionFailure("Adam state has no step") }
        stepCount = step[0]
    }

    /// `{"type": "adam", "learningRate": [0.001], "betas": [[0.9, 0.999]], "epsilon": [1e-8], "weightDecay": [0]}`.
    public struct Specification: AdamSpecification {
        public static let typeName = "adam"
        static let decoupled = false
        static let defaultWeightDecay = 0.0
        public var learningRate: Double, betas: [Double], epsilon: Double, weightDecay: Double
        public init(learningRate: Double = 0.001, betas: [Double] = [0.9, 0.999], epsilon: Double = 1e-8, weightDecay: Double = 0) {
            self.learningRate = learningRate; self.betas = betas; self.epsilon = epsilon; self.weightDecay = weightDecay
        }
    }

    /// `{"type": "adamw", …}`: Adam's keys, weight decay decoupled and 0.01 by default.
    public struct DecoupledSpecification: AdamSpecification {
        public static let typeName = "adamw"
        static let decoupled = true
        static let defaultWeightDecay = 0.01
        public var learningRate: Double, betas: [Double], epsilon: Double, weightDecay: Double
        public init(learningRate: Double = 0.001, betas: [Double] = [0.9, 0.999], epsilon: Double = 1e-8, weightDecay: Double = 0.01) {
            self.learningRate = learningRate; self.betas = betas; self.epsilon = epsilon; self.weightDecay = weightDecay
        }
    }
}

/// What the `adam` and `adamw` specifications share: their keys, checks and construction.
protocol AdamSpecification: OptimizerSpecification {
    static var decoupled: Bool { get }
    static var defaultWeightDecay: Double { get }
    var betas: [Double] { get }
    var epsilon: Double { get }
    var weightDecay: Double { get }
    init(learningRate: Double, betas: [Double], epsilon: Double, weightDecay: Double)
}

private enum AdamKeys: String, CodingKey { case learningRate, betas, epsilon, weightDecay }

extension AdamSpecification {
    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(allowed: ["type", "learningRate", "betas", "epsilon", "weightDecay"])
        let container = try decoder.container(keyedBy: AdamKeys.self)
        self.init(
            learningRate: try container.decode(.learningRate, default: 0.001, mustBeAsFloat: "> 0") { $0 > 0 },
            betas: try container.decode(.betas, default: [0.9, 0.999], count: 2, mustBeAsFloat: "in [0, 1)") { $0 >= 0 && $0 < 1 },
            epsilon: try container.decode(.epsilon, default: 1e-8, mustBeAsFloat: "> 0") { $0 > 0 },
            weightDecay: try container.decode(.weightDecay, default: Self.defaultWeightDecay, mustBeAsFloat: "in [0, 10]") { $0 >= 0 && $0 <= 10 })
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: AdamKeys.self)
        try container.encode(learningRate, forKey: .learningRate)
        try container.encode(betas, forKey: .betas)
        try container.encode(epsilon, forKey: .epsilon)
        try container.encode(weightDecay, forKey: .weightDecay)
    }

    public func makeOptimizer(for arena: ParameterArena) -> any Optimizer {
        Adam(arena: arena, betas: (Float(betas[0]), Float(betas[1])), epsilon: Float(epsilon),
             weightDecay: Float(weightDecay), decoupledWeightDecay: Self.decoupled)
    }
}
