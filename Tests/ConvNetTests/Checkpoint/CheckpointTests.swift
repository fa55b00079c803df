import Foundation
import XCTest
@testable import ConvNet

final class CheckpointTests: XCTestCase {
    static let description = ModelDescription(input: [1, 6, 6], layers: [
        .conv(filters: 2, kernel: SizePair(3), stride: SizePair(1), padding: SizePair(0), bias: true),
        .relu, .flatten, .dropout(rate: 0.5), .dense(units: 3),
    ])

    private func makeCheckpoint(training: Bool) throws -> (Sequential, Checkpoint) {
        let model = try Sequential(Self.description, seed: 5)
        let settings = OptimizerSettings(SGD.Specification(learningRate: 0.1, momentum: 0.9))
        let optimizer = settings.makeOptimizer(for: model.arena)
        for parameter in model.parameters { parameter.gradient.fill(0.25) }
        optimizer.step(learningRate: 0.1)
        let state = Checkpoint.TrainingState(epochLossSum: 1.5, epochCorrect: 3, epochSeen: 4, epochSeconds: 0.5,
                                             bestAccuracy: 0.75, bestEpoch: 2)
        let checkpoint = Checkpoint(model: model, classNames: ["a", "b", "c"], normalization: Normalization(mean: 0.1, std: 0.3),
                                    configuration: "{}", epoch: 2, step: 1,
                                    optimizer: training ? (settings, optimizer) : nil, trainingState: training ? state : nil)
        return (model, checkpoint)
    }

    func testRoundTrip() throws {
        let (model, checkpoint) = try makeCheckpoint(training: true)
        let path = temporaryDirectory(self) + "/last.safetensors"
        try checkpoint.write(to: path)
        let loaded = try Checkpoint.read(contentsOf: path)
        XCTAssertEqual(loaded.model, Self.description)
        XCTAssertEqual(loaded.classNames, ["a", "b", "c"])
        XCTAssertEqual(loaded.normalization, Normalization(mean: 0.1, std: 0.3))
        XCTAssertEqual(loaded.modelState, checkpoint.modelState)
        XCTAssertEqual(loaded.optimizer, checkpoint.optimizer)
        XCTAssertEqual(loaded.optimizerState, checkpoint.optimizerState)
        XCTAssertEqual(loaded.trainingState, checkpoint.trainingState)
        XCTAssertEqual(loaded.epoch, 2)
        XCTAssertEqual(loaded.step, 1)
        let rebuilt = try loaded.makeModel()
        XCTAssertEqual(rebuilt.parameters.map(\.value.values), model.parameters.map(\.value.values))
        XCTAssertEqual(checkpoint.optimizerState.map(\.name).first, "0.weight.momentum_buffer")
        let header = try safetensorsHeader(checkpoint.encoded())
        XCTAssertNotNil(header["optimizer.0.weight.momentum_buffer"])
        XCTAssertNotNil(header["optimizer.4.bias.momentum_buffer"])
    }

    /// The safetensors layout other tools rely on: u64 LE header length, JSON header with
    /// dtype/shape/data_offsets, string metadata, 8-byte aligned data, tensors tiling the data.
    func testSafetensorsLayout() throws {
        let (_, checkpoint) = try makeCheckpoint(training: false)
        let bytes = checkpoint.encoded()
        var headerLength = 0
        for i in 0..<8 { headerLength |= Int(bytes[i]) << (8 * i) }
        XCTAssertEqual((8 + headerLength) % 8, 0)
        let header = try JSONSerialization.jsonObject(with: Data(bytes[8..<(8 + headerLength)])) as! [String: Any]
        let weight = header["0.weight"] as! [String: Any]
        XCTAssertEqual(weight["dtype"] as? String, "F32")
        XCTAssertEqual(weight["shape"] as? [Int], [2, 1, 3, 3])
        XCTAssertEqual(weight["data_offsets"] as? [Int], [0, 72])
        XCTAssertEqual((header["4.weight"] as! [String: Any])["shape"] as? [Int], [3, 32])
        let metadata = header["__metadata__"] as! [String: String]
        XCTAssertEqual(metadata["format"], "convnet")
        XCTAssertEqual(metadata["format_version"], "2")
        XCTAssertEqual(metadata["kind"], "model")
        XCTAssertEqual(metadata["classes"], "[\"a\",\"b\",\"c\"]")
        XCTAssertTrue(metadata["checksum"]!.hasPrefix("crc32:"))
        let total = checkpoint.modelState.reduce(0) { $0 + $1.values.count * 4 }
        XCTAssertEqual(bytes.count, 8 + headerLength + total)
        // The first weight's bytes are little-endian Float32 at the data start.
        var first: Float = 0
        withUnsafeMutableBytes(of: &first) { $0.copyBytes(from: bytes[(8 + headerLength)..<(12 + headerLength)]) }
        XCTAssertEqual(first, checkpoint.modelState[0].values.floats![0])
    }

    func testCorruptionIsRefused() throws {
        let (_, checkpoint) = try makeCheckpoint(training: true)
        let good = checkpoint.encoded()
        var headerLength = 0
        for i in 0..<8 { headerLength |= Int(good[i]) << (8 * i) }

        var flipped = good
        flipped[good.count - 3] ^= 0x40
        assertThrows("x: is corrupt: its contents do not match its checksum", contains: true) { try Checkpoint.decode(flipped, name: "x") }

        let dataLength = good.count - 8 - headerLength
        assertThrows("x: truncated or lying header: tensor \"optimizer.4.bias.momentum_buffer\" has data_offsets [\(dataLength - 12), \(dataLength)] outside the \(dataLength - 4)-byte data section") {
            try Checkpoint.decode(Array(good.dropLast(4)), name: "x")
        }
        assertThrows("x: truncated: the header needs", contains: true) { try Checkpoint.decode(Array(good.prefix(100)), name: "x") }
        assertThrows("x: is empty") { try Checkpoint.decode([], name: "x") }

        // A header whose offsets lie: move a tensor past the end of the data.
        let header = String(decoding: good[8..<(8 + headerLength)], as: UTF8.self)
        func withHeader(_ text: String) -> [UInt8] {
            var bytes = Array(text.utf8)
            while (8 + bytes.count) % 8 != 0 { bytes.append(0x20) }
            var file: [UInt8] = []
            withUnsafeBytes(of: UInt64(bytes.count).littleEndian) { file.append(contentsOf: $0) }
            return file + bytes + good[(8 + headerLength)...]
        }
        let lying = withHeader(header.replacingOccurrences(of: "\"data_offsets\":[0,72]", with: "\"data_offsets\":[0,72000]"))
        assertThrows("tensor \"0.weight\" has data_offsets [0, 72000] outside the", contains: true) { try Checkpoint.decode(lying, name: "x") }
        let wrongSize = withHeader(header.replacingOccurrences(of: "\"shape\":[2,1,3,3]", with: "\"shape\":[2,1,3,4]"))
        assertThrows("shape [2, 1, 3, 4] needs 96 bytes but data_offsets span 72", contains: true) {
            try Checkpoint.decode(wrongSize, name: "x")
        }
        let newer = withHeader(header.replacingOccurrences(of: "\"format_version\":\"2\"", with: "\"format_version\":\"9\""))
        assertThrows("x: has format version 9, newer than this ConvNet reads (2); update ConvNet") { try Checkpoint.decode(newer, name: "x") }
        // The checksum covers the metadata and the tensor table too: swapped class names, another
        // step or a renamed tensor are refused though every byte of data is intact.
        for (old, new) in [("[\\\"a\\\",\\\"b\\\",\\\"c\\\"]", "[\\\"b\\\",\\\"a\\\",\\\"c\\\"]"), ("\"step\":\"1\"", "\"step\":\"7\""),
                           ("\"0.bias\"", "\"0.baas\"")] {
            XCTAssertTrue(header.contains(old), old)
            assertThrows("x: is corrupt: its contents do not match its checksum", contains: true) {
                try Checkpoint.decode(withHeader(header.replacingOccurrences(of: old, with: new)), name: "x")
            }
        }
        var hugeHeader = good
        hugeHeader[6] = 0xFF
        assertThrows("x: not a safetensors checkpoint: header length", contains: true) { try Checkpoint.decode(hugeHeader, name: "x") }
        assertThrows("x: not a safetensors checkpoint: its header is not a JSON object") {
            try Checkpoint.decode(withHeader("[1, 2, 3]"), name: "x")
        }
    }

    /// An atomic write that fails leaves the previous file as it was.
    func testFailedWriteKeepsPreviousFile() throws {
        let directory = temporaryDirectory(self)
        let path = directory + "/model.safetensors"
        let (_, checkpoint) = try makeCheckpoint(training: false)
        try checkpoint.write(to: path)
        let before = FileManager.default.contents(atPath: path)
        assertThrows("\(directory)/missing/model.safetensors: cannot write the checkpoint: no such directory (the previous file, if any, is unchanged)") {
            try checkpoint.write(to: directory + "/missing/model.safetensors")
        }
        XCTAssertEqual(FileManager.default.contents(atPath: path), before)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.contains("tmp") }
        XCTAssertEqual(leftovers, [])
    }

    /// Every registered layer type, in a small model, survives a save and load: the same state
    /// (parameters and buffers, after a training step changed them) and the same outputs.
    func testEveryRegisteredLayerRoundTrips() throws {
        for (name, cases) in GradientCheckTests.registeredCases.sorted(by: { $0.key < $1.key }) {
            let testCase = try XCTUnwrap(cases.first)
            let spec = try JSONDecoder().decode(LayerSpec.self, from: Data(testCase.json.utf8))
            var input = Array(testCase.input.dropFirst())
            var layers = [spec]
            if input.count == 1 {  // a model's input is an image: flatten it for layers of flat inputs
                layers.insert(.flatten, at: 0)
                input = [1, 1, input[0]]
            }
            if try spec.specification.outputShape(forInput: Array(testCase.input.dropFirst())).count != 1 { layers.append(.flatten) }
            layers.append(.dense(units: 3))
            let description = ModelDescription(input: input, layers: layers)
            let model = try Sequential(description, seed: 9)
            let settings = OptimizerSettings(SGD.Specification(learningRate: 0.1, momentum: 0.9))
            let optimizer = settings.makeOptimizer(for: model.arena)
            let x = randomTensor([testCase.input[0]] + input, seed: 10)
            let loss = SoftmaxCrossEntropy()
            loss.forward(logits: model.forward(x, phase: .training), labels: (0..<testCase.input[0]).map { Int32($0 % 3) })
            model.zeroGradients()
            model.backward(loss.backward())
            optimizer.step(learningRate: 0.1)
            let expected = model.forward(x, phase: .inference).values

            let path = temporaryDirectory(self) + "/\(name).safetensors"
            try Checkpoint(model: model, classNames: ["a", "b", "c"], normalization: .none, epoch: 1,
                           optimizer: (settings, optimizer), trainingState: .init(epochLossSum: 0, epochCorrect: 0, epochSeen: 0,
                                                                                  epochSeconds: 0, bestAccuracy: 0, bestEpoch: 1)).write(to: path)
            let loaded = try Checkpoint.read(contentsOf: path)
            XCTAssertEqual(loaded.model, description, name)
            let rebuilt = try loaded.makeModel()
            XCTAssertEqual(rebuilt.stateDictionary, model.stateDictionary, name)
            XCTAssertEqual(rebuilt.forward(x, phase: .inference).values, expected, name)
            let restored = settings.makeOptimizer(for: rebuilt.arena)
            loaded.loadOptimizerState(into: restored)
            XCTAssertEqual(restored.state, optimizer.state, name)
        }
    }

    /// Checkpoints written by the first release (format version 1: parameters and SGD
    /// velocities, data-only checksum) still load: the model for inference, the training
    /// state for resuming (TrainerTests resumes one and compares with the first release's result).
    func testVersion1CheckpointsLoad() throws {
        let directory = repositoryRoot + "/Tests/Data/checkpoint-v1"
        let model = try Checkpoint.read(contentsOf: directory + "/model.safetensors")
        XCTAssertEqual(model.formatVersionRead, 1)
        XCTAssertNil(model.trainingState)
        XCTAssertEqual(model.modelState.map(\.name), ["0.weight", "0.bias", "5.weight", "5.bias"])
        let training = try Checkpoint.read(contentsOf: directory + "/last.safetensors")
        XCTAssertEqual(training.optimizer?.typeName, "sgd")
        XCTAssertEqual(training.optimizerState.map(\.name), ["0.weight.momentum_buffer", "0.bias.momentum_buffer",
                                                              "5.weight.momentum_buffer", "5.bias.momentum_buffer"])
        XCTAssertEqual(training.modelState, model.modelState)
        XCTAssertEqual(training.epoch, 1)
        // A version-1 file whose data was damaged is still refused by its (data) checksum.
        var damaged = try XCTUnwrap(FileManager.default.contents(atPath: directory + "/model.safetensors")).map { $0 }
        damaged[damaged.count - 5] ^= 0x10
        assertThrows("is corrupt", contains: true) { try Checkpoint.decode(damaged, name: "v1") }
        // Written again, it is a version-2 file with the same state.
        let again = try Checkpoint.decode(training.encoded(), name: "again")
        XCTAssertEqual(again.formatVersionRead, 2)
        XCTAssertEqual(again.optimizerState, training.optimizerState)
    }
}

/// The JSON header of a safetensors file.
func safetensorsHeader(_ bytes: [UInt8]) throws -> [String: Any] {
    var headerLength = 0
    for i in 0..<8 { headerLength |= Int(bytes[i]) << (8 * i) }
    return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(bytes[8..<(8 + headerLength)])) as? [String: Any])
}
