import Foundation

/// ONNX models (onnx.proto, IR version 8, the default operator set at version 17, which
/// ONNX Runtime 1.14 and later run), written with `ProtobufMessage`: a `ModelProto` holding a
/// `GraphProto` of `NodeProto`s, weights as `TensorProto` initializers, and the input and
/// output as `ValueInfoProto`s with a symbolic batch dimension.
///
/// Field numbers (onnx.proto of ONNX 1.x): ModelProto ir_version 1, producer_name 2,
/// producer_version 3, graph 7, opset_import 8, metadata_props 14; OperatorSetIdProto domain 1,
/// version 2; GraphProto node 1, name 2, initializer 5, input 11, output 12; NodeProto input 1,
/// output 2, name 3, op_type 4, attribute 5; AttributeProto name 1, f 2, i 3, floats 7, ints 8,
/// type 20 (FLOAT 1, INT 2, FLOATS 6, INTS 7); TensorProto dims 1, data_type 2 (FLOAT 1),
/// name 8, raw_data 9; ValueInfoProto name 1, type 2; TypeProto tensor_type 1; Tensor elem_type 1,
/// shape 2; TensorShapeProto dim 1; Dimension dim_value 1, dim_param 2; StringStringEntryProto key 1, value 2.
public enum ONNX {
    /// The IR version written.
    public static let irVersion = 8
    /// The default domain's operator set version written.
    public static let opsetVersion = 17

    /// An attribute of a node.
    public enum Attribute {
        case int(String, Int)
        case ints(String, [Int])
        case float(String, Float)

        var message: ProtobufMessage {
            var attribute = ProtobufMessage()
            switch self {
            case let .int(name, value):
                attribute.string(1, name); attribute.integer(20, 2); attribute.integer(3, value)
            case let .ints(name, values):
                attribute.string(1, name); attribute.integer(20, 7); attribute.integers(8, values)
            case let .float(name, value):
                attribute.string(1, name); attribute.integer(20, 1); attribute.float(2, value)
            }
            return attribute
        }
    }

    /// A float tensor value (`TensorProto`, data as little-endian raw bytes).
    static func tensor(name: String, shape: [Int], values: [Float]) -> ProtobufMessage {
        var tensor = ProtobufMessage()
        tensor.packedIntegers(1, shape)
        tensor.integer(2, 1)
        tensor.string(8, name)
        tensor.data(9, values.withUnsafeBytes { Array($0) })
        return tensor
    }

    /// A float tensor's type and shape (`ValueInfoProto`); a string dimension is symbolic.
    static func valueInfo(name: String, shape: [ShapeDimension]) -> ProtobufMessage {
        var tensorShape = ProtobufMessage()
        for dimension in shape {
            var entry = ProtobufMessage()
            switch dimension {
            case .fixed(let size): entry.integer(1, size)
            case .symbolic(let name): entry.string(2, name)
            }
            tensorShape.message(1, entry)
        }
        var tensorType = ProtobufMessage()
        tensorType.integer(1, 1)
        tensorType.message(2, tensorShape)
        var type = ProtobufMessage()
        type.message(1, tensorType)
        var info = ProtobufMessage()
        info.string(1, name)
        info.message(2, type)
        return info
    }

    /// A dimension of a graph input or output.
    public enum ShapeDimension {
        case fixed(Int)
        case symbolic(String)
    }
}

/// A graph being built: nodes in order and their weights, with unique value names.
public struct ONNXGraph {
    private(set) var nodes: [ProtobufMessage] = []
    private(set) var initializers: [ProtobufMessage] = []
    private var names: Set<String> = []
    /// The operator types of the nodes, in order (for messages and tests).
    public private(set) var operators: [String] = []

    /// An empty graph whose input is named `input`.
    init(input: String) { names.insert(input) }

    /// Adds a weight tensor under `name` (made unique) and returns its name.
    public mutating func initializer(_ name: String, shape: [Int], values: [Float]) -> String {
        let unique = uniqueName(name)
        initializers.append(ONNX.tensor(name: unique, shape: shape, values: values))
        return unique
    }

    /// Adds a node of `type` on `inputs` and returns its output's name (`output`, made unique).
    public mutating func node(_ type: String, inputs: [String], output: String, attributes: [ONNX.Attribute] = []) -> String {
        let name = uniqueName(output)
        var node = ProtobufMessage()
        for input in inputs { node.string(1, input) }
        node.string(2, name)
        node.string(3, name)
        node.string(4, type)
        for attribute in attributes { node.message(5, attribute.message) }
        nodes.append(node)
        operators.append(type)
        return name
    }

    private mutating func uniqueName(_ name: String) -> String {
        var candidate = name, counter = 2
        while names.contains(candidate) {
            candidate = "\(name)_\(counter)"
            counter += 1
        }
        names.insert(candidate)
        return candidate
    }
}

/// What a layer's export sees: its index in the model and its state dictionary entries.
public struct ONNXLayerContext {
    /// The layer's index, the prefix of its state names ("3" in "3.weight").
    public let index: Int
    /// The layer's summary, for errors.
    public let summary: String
    let state: [String: NamedTensor]

    /// The Float32 tensor `"<index>.<name>"` of the model's state.
    public func tensor(_ name: String) throws(ExportError) -> NamedTensor {
        guard let tensor = state["\(index).\(name)"], tensor.values.floats != nil else {
            throw ExportError("layer \(index) (\(summary)): the model has no Float32 tensor \(index).\(name)")
        }
        return tensor
    }

    /// The values of `tensor(name)`.
    public func floats(_ name: String) throws(ExportError) -> [Float] { try tensor(name).values.floats! }
}

extension LayerSpecification {
    /// Layers without an ONNX form refuse, naming themselves.
    public func exportONNX(to graph: inout ONNXGraph, input: String, inputShape: [Int], layer: ONNXLayerContext) throws(ExportError) -> String {
        throw ExportError("layer \(layer.index) (\(summary)) cannot be exported to ONNX")
    }
}

/// Why a model cannot be exported.
public struct ExportError: ConvNetError, Equatable {
    /// What is wrong.
    public var message: String
    /// An error with `message`.
    public init(_ message: String) { self.message = message }
    public var description: String { oneLine(message) }
}

/// Turns a checkpoint into an ONNX model.
public enum ONNXExporter {
    /// The ONNX model of `checkpoint`'s network in inference form: batch norm with its running
    /// statistics, dropout left out. Input `input` `[N, C, H, W]` (N symbolic) of normalised
    /// pixels, or with `normalizeInside` of pixels scaled to [0, 1] (a Sub and a Div node apply
    /// the checkpoint's normalisation); output `logits` `[N, K]`, or `probabilities` with `softmax`.
    /// The class names, normalisation and preparation go into `metadata_props`.
    /// `source` (the checkpoint's path, if given) is recorded as `source_checkpoint`.
    public static func export(_ checkpoint: Checkpoint, softmax: Bool = false, normalizeInside: Bool = false,
                              name: String = "convnet", source: String? = nil) throws(ExportError) -> [UInt8] {
        let plan: ModelPlan
        do { plan = try ModelPlan(checkpoint.model) } catch { throw ExportError("its model cannot be built: \(error)") }
        let state = Dictionary(checkpoint.modelState.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        var graph = ONNXGraph(input: "input")
        var value = "input"
        let channels = checkpoint.model.input[0]
        if normalizeInside {
            let normalization = checkpoint.normalization
            let mean = (0..<channels).map { Float(normalization.mean[normalization.channels == 1 ? 0 : $0]) }
            let std = (0..<channels).map { Float(normalization.std[normalization.channels == 1 ? 0 : $0]) }
            let meanName = graph.initializer("normalization.mean", shape: [1, channels, 1, 1], values: mean)
            let stdName = graph.initializer("normalization.std", shape: [1, channels, 1, 1], values: std)
            value = graph.node("Sub", inputs: [value, meanName], output: "centred")
            value = graph.node("Div", inputs: [value, stdName], output: "normalized")
        }
        for (index, layer) in checkpoint.model.layers.enumerated() {
            let context = ONNXLayerContext(index: index, summary: layer.specification.summary, state: state)
            value = try layer.specification.exportONNX(to: &graph, input: value, inputShape: plan.shapes[index], layer: context)
        }
        let classes = checkpoint.classNames.count
        let outputName = softmax ? "probabilities" : "logits"
        value = graph.node(softmax ? "Softmax" : "Identity", inputs: [value], output: outputName, attributes: softmax ? [.int("axis", 1)] : [])

        var graphMessage = ProtobufMessage()
        for node in graph.nodes { graphMessage.message(1, node) }
        graphMessage.string(2, name)
        for initializer in graph.initializers { graphMessage.message(5, initializer) }
        graphMessage.message(11, ONNX.valueInfo(name: "input", shape: [.symbolic("batch")] + checkpoint.model.input.map { .fixed($0) }))
        graphMessage.message(12, ONNX.valueInfo(name: value, shape: [.symbolic("batch"), .fixed(classes)]))

        var model = ProtobufMessage()
        model.integer(1, ONNX.irVersion)
        model.string(2, "ConvNet")
        model.string(3, ConvNetVersion.string)
        model.message(7, graphMessage)
        var opset = ProtobufMessage()
        opset.string(1, "")
        opset.integer(2, ONNX.opsetVersion)
        model.message(8, opset)
        var metadata: [(String, String)] = [
            ("classes", jsonString(checkpoint.classNames)),
            ("normalization", jsonString(checkpoint.normalization)),
            ("normalized_inside", normalizeInside ? "true" : "false"),
            ("preprocessing", jsonString(checkpoint.preparation)),
            ("input", normalizeInside ? "float32 [N, C, H, W]: pixels scaled to [0, 1]"
                                      : "float32 [N, C, H, W]: pixels scaled to [0, 1], then (x - mean) / std per channel (normalization)"),
            ("output", softmax ? "probabilities [N, classes]" : "logits [N, classes]; softmax gives the probabilities"),
        ]
        if let source { metadata.append(("source_checkpoint", source)) }
        for (key, text) in metadata {
            var entry = ProtobufMessage()
            entry.string(1, key)
            entry.string(2, text)
            model.message(14, entry)
        }
        return model.bytes
    }
}
