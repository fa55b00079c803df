import Foundation

/// How the learning rate changes during training, as data (config `training.schedule`).
///
/// `t` counts epochs as a real number (epoch index + fraction of the epoch done),
/// `T` is the total number of epochs and η₀ the base rate.
/// - `{"type": "constant"}`: η₀.
/// - `{"type": "step", "every": 3, "factor": 0.1}`: η₀ · factor^⌊epoch / every⌋.
/// - `{"type": "multistep", "milestones": [5, 8], "factor": 0.1}`: η₀ · factor^(milestones ≤ epoch).
/// - `{"type": "cosine", "minimum": 0}`: min + (η₀ − min)·(1 + cos(π·t/T))/2, per step.
/// - `{"type": "inv", "gamma": 1e-4, "power": 0.75}`: Caffe's η₀·(1 + γ·iteration)^(−power).
public enum LearningRateSchedule: Codable, Equatable, Sendable {
    case constant
    case step(every: Int, factor: Double)
    case multistep(milestones: [Int], factor: Double)
    case cosine(minimum: Double)
    case inverse(gamma: Double, power: Double)

    /// The rate for the step `stepInEpoch` of `stepsPerEpoch` in 0-based `epoch` of `totalEpochs`.
    public func learningRate(base: Double, epoch: Int, stepInEpoch: Int, stepsPerEpoch: Int, totalEpochs: Int) -> Double {
        switch self {
        case .constant:
            return base
        case let .step(every, factor):
            return base * pow(factor, Double(epoch / every))
        case let .multistep(milestones, factor):
            return base * pow(factor, Double(milestones.filter { $0 <= epoch }.count))
        case let .cosine(minimum):
            let progress = (Double(epoch) + Double(stepInEpoch) / Double(max(stepsPerEpoch, 1))) / Double(max(totalEpochs, 1))
            return minimum + (base - minimum) * (1 + cos(Double.pi * min(progress, 1))) / 2
        case let .inverse(gamma, power):
            let iteration = Double(epoch * stepsPerEpoch + stepInEpoch)
            return base * pow(1 + gamma * iteration, -power)
        }
    }

    private enum Keys: String, CodingKey { case type, every, factor, milestones, minimum, gamma, power }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: Keys.self)
        let type = try container.decode(String.self, forKey: .type)
        func factor() throws -> Double {
            try container.decode(.factor, default: 0.1, mustBe: "in (0, 1]") { (value: Double) in value > 0 && value <= 1 }
        }
        switch type {
        case "constant":
            try decoder.rejectUnknownKeys(allowed: ["type"])
            self = .constant
        case "step":
            try decoder.rejectUnknownKeys(allowed: ["type", "every", "factor"])
            self = .step(every: try container.decode(.every, mustBe: "> 0") { (value: Int) in value > 0 }, factor: try factor())
        case "multistep":
            try decoder.rejectUnknownKeys(allowed: ["type", "milestones", "factor"])
            let milestones = try container.decode(.milestones, mustBe: "a non-empty increasing list of epochs > 0") { (value: [Int]) in
                !value.isEmpty && value.allSatisfy { $0 > 0 } && zip(value, value.dropFirst()).allSatisfy { $0 < $1 }
            }
            self = .multistep(milestones: milestones, factor: try factor())
        case "cosine":
            try decoder.rejectUnknownKeys(allowed: ["type", "minimum"])
            self = .cosine(minimum: try container.decode(.minimum, default: 0, mustBe: ">= 0") { (value: Double) in value >= 0 })
        case "inv":
            try decoder.rejectUnknownKeys(allowed: ["type", "gamma", "power"])
            self = .inverse(gamma: try container.decode(.gamma, mustBe: ">= 0") { (value: Double) in value >= 0 },
                            power: try container.decode(.power, mustBe: ">= 0") { (value: Double) in value >= 0 })
        default:
            throw DecodingError.dataCorruptedError(
                forKey: .type, in: container,
                debugDescription: "must be one of constant, step, multistep, cosine, inv, found \"\(type)\"")
        }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: Keys.self)
        switch self {
        case .constant:
            try container.encode("constant", forKey: .type)
        case let .step(every, factor):
            try container.encode("step", forKey: .type)
            try container.encode(every, forKey: .every)
            try container.encode(factor, forKey: .factor)
        case let .multistep(milestones, factor):
            try container.encode("multistep", forKey: .type)
            try container.encode(milestones, forKey: .milestones)
            try container.encode(factor, forKey: .factor)
        case let .cosine(minimum):
            try container.encode("cosine", forKey: .type)
            try container.encode(minimum, forKey: .minimum)
        case let .inverse(gamma, power):
            try container.encode("inv", forKey: .type)
            try container.encode(gamma, forKey: .gamma)
            try container.encode(power, forKey: .power)
        }
    }
}
