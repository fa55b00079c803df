import CVectorMath

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

/// What an optimizer's update needs of a Float and of SIMD16<Float>, so one generic update
/// runs on 16 lanes at a time and on the remainder one value at a time, with the same result.
protocol LaneArithmetic {
    init(repeating value: Float)
    static func + (left: Self, right: Self) -> Self
    static func - (left: Self, right: Self) -> Self
    static func * (left: Self, right: Self) -> Self
    static func / (left: Self, right: Self) -> Self
    static func *= (left: inout Self, right: Self)
    static func -= (left: inout Self, right: Self)
    var squareRootValue: Self { get }
}

extension Float: LaneArithmetic {
    @_transparent init(repeating value: Float) { self = value }
    @_transparent var squareRootValue: Float { squareRoot() }
}

extension SIMD16: LaneArithmetic where Scalar == Float {
    /// The standard library's `squareRoot()` takes the lanes' roots one by one through libm
    /// (Adam's step ran 4× slower); this is the vector instruction, with the same results.
    @_transparent var squareRootValue: SIMD16<Float> { convnet_square_root16(self) }
}
