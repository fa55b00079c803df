import Foundation
import XCTest
@testable import ConvNet

/// The ONNX export, checked without Python: the file's protobuf structure read back field by
/// field (scripts/check-onnx checks it with onnx.checker and ONNX Runtime).
final class ONNXExportTests: XCTestCase {
    /// A model with a layer of every registered type: conv, batch norm and the activations,
    /// the pools, flatten, dense, dropout.
    static func everyLayerModel() throws -> Sequential {
        let layers = try [
            #"{"type": "conv", "filters": 4, "kernel": 3, "padding": "same", "bias": false}"#, #"{"type": "batchnorm"}"#,
            #"{"type": "relu"}"#, #"{"type": "maxpool", "size": 2}"#, #"{"type": "conv", "filters": 6, "kernel": [3, 2], "stride": [1, 2]}"#,
            #"{"type": "leakyrelu", "slope": 0.1}"#, #"{"type": "avgpool", "size": 2, "stride": 1}"#, #"{"type": "tanh"}"#,
            #"{"type": "conv", "filters": 8, "kernel": 1}"#, #"{"type": "sigmoid"}"#, #"{"type": "globalavgpool"}"#, #"{"type": "flatten"}"#,
            #"{"type": "dense", "units": 16}"#, #"{"type": "batchnorm"}"#, #"{"type": "relu"}"#, #"{"type": "dropout", "rate": 0.5}"#,
            #"{"type": "dense", "units": 3}"#,
        ].map { try JSONDecoder().decode(LayerSpec.self, from: Data($0.utf8)) }
        return try Sequential(ModelDescription(input: [3, 16, 12], layers: layers), seed: 3)
    }

    func testEveryRegisteredLayerExports() throws {
        let model = try Self.everyLayerModel()
        let exported = Set(model.description.layers.map { type(of: $0.specification).typeName })
        XCTAssertEqual(exported, Set(LayerRegistry.typeNames), "the test model should hold every registered layer type")
        XCTAssertNoThrow(try ONNXExporter.export(Checkpoint(model: model, classNames: ["a", "b", "c"], normalization: .none)))
    }

    /// The written model, read back: IR version and opset, the nodes in order with their
    /// attributes, every weight as an initializer of the right shape and size, the input with a
    /// symbolic batch dimension, the output, and the metadata.
    func testStructure() throws {
        let model = try Self.everyLayerModel()
        let normalization = Normalization(mean: [0.5, 0.4, 0.3], std: [0.2, 0.25, 0.3])
        let checkpoint = Checkpoint(model: model, classNames: ["cat", "dog", "bird"], normalization: normalization,
                                    preparation: InputPreparation(.resize, fit: .crop))
        let bytes = try ONNXExporter.export(checkpoint, softmax: true, normalizeInside: true, source: "x.safetensors")
        let file = try XCTUnwrap(ProtobufFields(bytes))
        XCTAssertEqual(file.integers(1), [8])
        XCTAssertEqual(file.strings(2), ["ConvNet"])
        let opset = try XCTUnwrap(file.messages(8).first)
        XCTAssertEqual(opset.strings(1), [""])
        XCTAssertEqual(opset.integers(2), [17])
        let metadata = Dictionary(uniqueKeysWithValues: file.messages(14).map { ($0.strings(1)[0], $0.strings(2)[0]) })
        XCTAssertEqual(metadata["classes"], #"["cat","dog","bird"]"#)
        XCTAssertEqual(metadata["normalized_inside"], "true")
        XCTAssertEqual(metadata["source_checkpoint"], "x.safetensors")
        XCTAssertEqual(try JSONDecoder().decode(Normalization.self, from: Data(metadata["normalization"]!.utf8)), normalization)
        XCTAssertEqual(try JSONDecoder().decode(InputPreparation.self, from: Data(metadata["preprocessing"]!.utf8)), InputPreparation(.resize, fit: .crop))

        let graph = try XCTUnwrap(file.messages(7).first)
        let nodes = graph.messages(1)
        XCTAssertEqual(nodes.map { $0.strings(4)[0] }, [
            "Sub", "Div", "Conv", "BatchNormalization", "Relu", "MaxPool", "Conv", "LeakyRelu", "AveragePool", "Tanh", "Conv",
            "Sigmoid", "GlobalAveragePool", "Flatten", "Flatten", "Gemm", "BatchNormalization", "Relu", "Gemm", "Softmax",
        ])
        // Each node reads what the one before it wrote (a chain), and names are unique.
        for (previous, node) in zip(nodes, nodes.dropFirst()) { XCTAssertEqual(node.strings(1)[0], previous.strings(2)[0]) }
        XCTAssertEqual(Set(nodes.map { $0.strings(2)[0] }).count, nodes.count)
        func attributes(_ node: ProtobufFields) -> [String: ProtobufFields] {
            Dictionary(uniqueKeysWithValues: node.messages(5).map { ($0.strings(1)[0], $0) })
        }
        let secondConv = attributes(nodes[6])
        XCTAssertEqual(secondConv["kernel_shape"]?.integers(8), [3, 2])
        XCTAssertEqual(secondConv["strides"]?.integers(8), [1, 2])
        XCTAssertEqual(secondConv["pads"]?.integers(8), [0, 0, 0, 0])
        XCTAssertEqual(attributes(nodes[2])["pads"]?.integers(8), [1, 1, 1, 1], "padding same for 3×3")
        XCTAssertEqual(attributes(nodes[7])["alpha"]?.integers(2).first.map { Float(bitPattern: UInt32($0)) }, 0.1)
        XCTAssertEqual(attributes(nodes[15])["transB"]?.integers(3), [1])
        XCTAssertEqual(nodes[2].strings(1).count, 2, "the first conv has no bias")
        XCTAssertEqual(nodes[6].strings(1).count, 3)

        // Initializers: the normalisation, then every model tensor but num_batches_tracked, as raw Float32.
        let initializers = graph.messages(5)
        let state = Dictionary(uniqueKeysWithValues: model.stateDictionary.map { ($0.name, $0) })
        for initializer in initializers {
            let name = initializer.strings(8)[0], dims = initializer.packedIntegers(1)
            XCTAssertEqual(initializer.integers(2), [1], name)
            guard case .bytes(let raw) = try XCTUnwrap(initializer.values[9]?.first) else { return XCTFail(name) }
            XCTAssertEqual(raw.count, 4 * dims.reduce(1, *), name)
            if let tensor = state[name] {
                XCTAssertEqual(dims, tensor.shape, name)
                XCTAssertEqual(raw.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }, tensor.values.floats, name)
            } else {
                XCTAssertTrue(name.hasPrefix("normalization."), name)
                XCTAssertEqual(dims, [1, 3, 1, 1])
            }
        }
        XCTAssertEqual(initializers.count, 2 + model.stateDictionary.filter { $0.values.dtype == "F32" }.count)

        func shape(_ valueInfo: ProtobufFields) -> [String] {
            let tensor = valueInfo.messages(2)[0].messages(1)[0]
            XCTAssertEqual(tensor.integers(1), [1], "float")
            return tensor.messages(2)[0].messages(1).map { $0.strings(2).first ?? String($0.integers(1)[0]) }
        }
        let input = try XCTUnwrap(graph.messages(11).first), output = try XCTUnwrap(graph.messages(12).first)
        XCTAssertEqual(input.strings(1), ["input"])
        XCTAssertEqual(shape(input), ["batch", "3", "16", "12"])
        XCTAssertEqual(output.strings(1), ["probabilities"])
        XCTAssertEqual(shape(output), ["batch", "3"])
    }

    /// A layer type without an ONNX form is refused by name; the executable fails with one line
    /// for a file that is not a checkpoint and for an unwritable output, leaving no file behind.
    func testRefusals() throws {
        struct Unexportable: LayerSpecification {
            static let typeName = "unexportable"
            var summary: String { "unexportable" }
            func outputShape(forInput shape: [Int]) throws(ShapeError) -> [Int] { shape }
            func makeLayer(inputShape: [Int], random: inout SeededRandom) -> any Layer { Flatten() }
        }
        let model = try Sequential(ModelDescription(input: [1, 4, 4], layers: [Flatten.Specification(), Unexportable(), Dense.Specification(units: 2)]), seed: 1)
        assertThrows("layer 1 (unexportable) cannot be exported to ONNX") {
            try ONNXExporter.export(Checkpoint(model: model, classNames: ["a", "b"], normalization: .none))
        }

        let directory = temporaryDirectory(self)
        writeBytes(Array("not a checkpoint".utf8), to: directory + "/junk.safetensors")
        assertFailsWithOneLine(try runProduct("export", ["junk.safetensors", "--onnx", "out.onnx"], in: directory),
                               "junk.safetensors: not a safetensors checkpoint")
        let lenet = try Sequential(try JSONDecoder().decode(ModelDescription.self, from: Data(ModelTests.lenetJSON.utf8)), seed: 1)
        try Checkpoint(model: lenet, classNames: (0..<10).map(String.init), normalization: .none).write(to: directory + "/model.safetensors")
        assertFailsWithOneLine(try runProduct("export", ["model.safetensors", "--onnx", "missing/dir/out.onnx"], in: directory),
                               "missing/dir/out.onnx: cannot write the ONNX model: no such directory")
        assertFailsWithOneLine(try runProduct("export", ["model.safetensors", "--onnx", "./model.safetensors"], in: directory),
                               "./model.safetensors: is the checkpoint being exported; give the ONNX model another name, e.g. model.onnx")
        XCTAssertNoThrow(try Checkpoint.read(contentsOf: directory + "/model.safetensors"), "the checkpoint is left as it was")
        let good = try runProduct("export", ["model.safetensors", "-o", "lenet.onnx", "--softmax"], in: directory)
        XCTAssertEqual(good.status, 0, good.standardError)
        XCTAssertTrue(good.standardOutput.hasPrefix("Wrote lenet.onnx:"), good.standardOutput)
        XCTAssertNotNil(ProtobufFields(Array(try Data(contentsOf: URL(fileURLWithPath: directory + "/lenet.onnx")))))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.contains("tmp") || $0.hasPrefix("out") }, [])
    }

    /// The protobuf reader refuses what is not a well-formed message.
    func testProtobufReaderRefusesMalformedInput() {
        XCTAssertNil(ProtobufFields([0x0A, 0x05, 0x41]))          // a 5-byte string with 1 byte
        XCTAssertNil(ProtobufFields([0x0B]))                      // wire type 3 (groups)
        XCTAssertNil(ProtobufFields([0x08, 0xFF, 0xFF]))          // a varint cut short
        XCTAssertNil(ProtobufFields([0x00, 0x01]))                // field number 0
        XCTAssertEqual(ProtobufFields([0x08, 0x96, 0x01])?.integers(1), [150])
    }
}
