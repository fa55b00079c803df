/// Updates a model's parameters from their gradients, as `torch.optim.Optimizer`.
///
/// An optimizer works on a whole `ParameterArena` at once: its per-parameter state
/// (momentum, moment estimates) lives in blocks laid out like the arena, so a step is one
/// loop over the block. Its state is saved and restored as named tensors, one per state
/// entry per parameter (`"3.weight.momentum_buffer"`), so every optimizer resumes exactly.
public protocol Optimizer: AnyObject {
    /// Applies one update with learning rate η from the current gradients (left as they are).
    func step(learningRate: Float)

    /// The state as named tensors: `"<parameter>.<entry>"` per parameter, and scalars such as `"step"`.
    var state: [NamedTensor] { get }

    /// The names, shapes and dtypes `load(state:)` expects.
    var stateEntries: [StateEntry] { get }

    /// Replaces the state with `tensors` (every entry of `stateEntries` present, as checked by the caller).
    func load(state tensors: [String: NamedTensor])
}

/// An optimizer type's JSON description (`training.optimizer`) and how to build it. Each
/// optimizer's file defines its specification; `OptimizerRegistry` maps the JSON `"type"` to it.
public protocol OptimizerSpecification: Codable, Equatable, Sendable {
    /// The JSON `"type"` it is registered under, e.g. `"sgd"`.
    static var typeName: String { get }
    /// The base learning rate η₀ (the schedule scales it).
    var learningRate: Double { get set }
    /// The optimizer over the parameters of `arena`, with zero state.
    func makeOptimizer(for arena: ParameterArena) -> any Optimizer
}

extension OptimizerSpecification {
    func isEqual(to other: any OptimizerSpecification) -> Bool {
        (other as? Self) == self
    }
}

/// The `training.optimizer` section: `{"type": "sgd" (the default), …the type's own keys…}`.
public struct OptimizerSettings: Codable, Equatable, Sendable {
    /// The specification of the optimizer's type.
    public var specification: any OptimizerSpecification

    /// Wraps a specification.
    public init(_ specification: any OptimizerSpecification) { self.specification = specification }

    /// The base learning rate η₀.
    public var learningRate: Double {
        get { specification.learningRate }
        set { specification.learningRate = newValue }
    }

    /// The registered type name, e.g. `"adam"`.
    public var typeName: String { type(of: specification).typeName }

    private enum Keys: String, CodingKey { case type }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: Keys.self)
        let name = try container.decodeIfPresent(String.self, forKey: .type) ?? SGD.Specification.typeName
        guard let type = OptimizerRegistry.specificationType(named: name) else {
            throw DecodingError.dataCorruptedError(
                forKey: .type, in: container,
                debugDescription: "must be one of \(OptimizerRegistry.typeNames.joined(separator: ", ")), found \(formatFound(name))")
        }
        specification = try type.init(from: decoder)
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: Keys.self)
        try container.encode(typeName, forKey: .type)
        try specification.encode(to: encoder)
    }

    public static func == (left: OptimizerSettings, right: OptimizerSettings) -> Bool {
        left.specification.isEqual(to: right.specification)
    }

    /// The optimizer over `arena`.
    public func makeOptimizer(for arena: ParameterArena) -> any Optimizer {
        specification.makeOptimizer(for: arena)
    }
}

extension ParameterArena {
    /// A zero-filled block laid out like the parameters, for an optimizer's per-parameter state.
    func makeStateBlock() -> Tensor {
        Tensor(shape: [count])
    }

    /// `block`'s slice of each parameter as `"<parameter>.<entry>"`, shaped like the parameter.
    func namedSlices(of block: Tensor, entry: String) -> [NamedTensor] {
        zip(parameters, offsets).map { parameter, offset in
            NamedTensor(name: "\(parameter.name).\(entry)", shape: parameter.value.shape, copying: block.data + offset)
        }
    }

    /// The entries `namedSlices(of:entry:)` produces.
    func sliceEntries(entry: String) -> [StateEntry] {
        parameters.map { StateEntry(name: "\($0.name).\(entry)", shape: $0.value.shape, dtype: "F32") }
    }

    /// Copies `"<parameter>.<entry>"` of `tensors` into `block`'s slices.
    func loadSlices(of block: Tensor, entry: String, from tensors: [String: NamedTensor]) {
        for (parameter, offset) in zip(parameters, offsets) {
            guard let tensor = tensors["\(parameter.name).\(entry)"], tensor.shape == parameter.value.shape else {
                preconditionFailure("optimizer state \(parameter.name).\(entry) is missing or has another shape")
            }
            tensor.copyFloats(to: block.data + offset)
        }
    }
}

/// The last group of an optimizer's pass, of `count` < 16 values, goes through the same vector
/// arithmetic as the others in zero-filled lanes, of which only its own are stored back: every
/// value is computed alike wherever it falls. (The updates are written on `SIMD16<Float>` alone:
/// the standard library's vector operators are inlined even where the engine is compiled file by
/// file, in debug builds; an update generic over Float and SIMD16 went through protocol
/// witnesses there, 5% of a LeNet step.)
///
/// pointer[0..<count] in the first lanes, zeros after (count ≤ 16).
func lanes(_ pointer: UnsafePointer<Float>, _ count: Int) -> SIMD16<Float> {
    var value = SIMD16<Float>()
    for lane in 0..<min(count, 16) { value[lane] = pointer[lane] }
    return value
}

/// pointer[0..<count] = the first `count` lanes of `value` (count ≤ 16).
func storeLanes(_ value: SIMD16<Float>, _ pointer: UnsafeMutablePointer<Float>, _ count: Int) {
    for lane in 0..<min(count, 16) { pointer[lane] = value[lane] }
}
