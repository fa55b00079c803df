/// A layer type's JSON description and what can be known from it before anything is
/// allocated: output shape, parameter count, multiply-adds; and how to build the layer.
///
/// Each layer's file defines its specification (as `<Layer>.Specification`) next to the
/// layer; `LayerRegistry` maps the JSON `"type"` to it. A specification decodes its own
/// keys strictly (unknown keys, wrong types and out-of-range values throw with their key
/// path) and encodes only its own keys: `LayerSpec` writes `"type"`.
public protocol LayerSpecification: Codable, Equatable, Sendable {
    /// The JSON `"type"` it is registered under, e.g. `"conv"`.
    static var typeName: String { get }

    /// A short human description, e.g. `"conv 20@5×5"`.
    var summary: String { get }

    /// The per-image output shape for a per-image input shape (`[C, H, W]` or `[D]`), or
    /// a `ShapeError` saying why this input does not fit.
    func outputShape(forInput inputShape: [Int]) throws(ShapeError) -> [Int]

    /// Learnable values the layer will hold for an input shape `outputShape` accepted,
    /// nil if the count overflows `Int` (the model refuses it before allocating).
    func parameterCount(forInput inputShape: [Int]) -> Int?

    /// Multiply-adds of one image's forward pass (for reports and benchmarks).
    func multiplyAccumulates(forInput inputShape: [Int]) -> Int

    /// Values of working memory each worker thread holds for one image beyond the layer's
    /// output (a convolution's im2col columns), for the run's memory estimate.
    func scratchValues(forInput inputShape: [Int]) -> Int

    /// Builds the layer for an input shape `outputShape` accepted, drawing initial weights
    /// (or its random stream) from `random`.
    func makeLayer(inputShape: [Int], random: inout SeededRandom) -> any Layer

    /// Adds the layer's inference form to an ONNX graph, taking `input` (per image `inputShape`)
    /// and its weights from `layer`, and returns the name of its output.
    func exportONNX(to graph: inout ONNXGraph, input: String, inputShape: [Int], layer: ONNXLayerContext) throws(ExportError) -> String
}

extension LayerSpecification {
    /// Layers without parameters.
    public func parameterCount(forInput inputShape: [Int]) -> Int? { 0 }
    /// Layers whose work is not multiply-adds worth counting.
    public func multiplyAccumulates(forInput inputShape: [Int]) -> Int { 0 }
    /// Layers that need no working memory beyond their output.
    public func scratchValues(forInput inputShape: [Int]) -> Int { 0 }

    /// Whether `other` is a specification of the same type with the same values.
    func isEqual(to other: any LayerSpecification) -> Bool {
        (other as? Self) == self
    }
}

/// One layer of a model, as data: what configs and checkpoints store. JSON:
/// `{"type": "<registered type>", …the type's own keys…}`.
public struct LayerSpec: Codable, Equatable, Sendable, CustomStringConvertible {
    /// The specification of the layer's type.
    public var specification: any LayerSpecification

    /// Wraps a specification.
    public init(_ specification: any LayerSpecification) { self.specification = specification }

    private enum Keys: String, CodingKey { case type }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: Keys.self)
        let name = try container.decode(String.self, forKey: .type)
        guard let type = LayerRegistry.specificationType(named: name) else {
            throw DecodingError.dataCorruptedError(
                forKey: .type, in: container,
                debugDescription: "must be one of \(LayerRegistry.typeNames.joined(separator: ", ")), found \(formatFound(name))")
        }
        specification = try type.init(from: decoder)
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: Keys.self)
        try container.encode(type(of: specification).typeName, forKey: .type)
        try specification.encode(to: encoder)
    }

    public static func == (left: LayerSpec, right: LayerSpec) -> Bool {
        left.specification.isEqual(to: right.specification)
    }

    /// The specification's summary, e.g. `conv 20@5×5`.
    public var description: String { specification.summary }
}

extension Decoder {
    /// Rejects keys other than `"type"` and `keys`, for a layer specification's decoder.
    func rejectUnknownLayerKeys(_ keys: [String]) throws {
        try rejectUnknownKeys(allowed: ["type"] + keys)
    }
}

/// Bounds on the sizes a layer specification accepts, so a description read from a file
/// cannot ask for absurd layers (model inputs are at most 4096 on a side).
public enum LayerSpecificationLimits {
    /// Largest kernel, stride, padding or pooling window.
    public static let size = 4096
    /// Largest filter or unit count.
    public static let count = 1 << 20
}
