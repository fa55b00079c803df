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
        let optimizer = SGD(parameters: model.parameters, learningRate: 0.1, momentum: 0.9)
        for parameter in model.parameters { parameter.gradient.fill(0.25) }
        optimizer.step()
        let state = Checkpoint.TrainingState(dropoutGenerators: model.dropoutLayers.map(\.random.stateWords),
                                             epochLossSum: 1.5, epochCorrect: 3, epochSeen: 4, epochSeconds: 0.5,
                                             bestAccuracy: 0.75, bestEpoch: 2)
        let checkpoint = Checkpoint(model: model, classNames: ["a", "b", "c"], normalization: Normalization(mean: 0.1, std: 0.3),
                                    configuration: "{}", epoch: 2, step: 1,
                                    optimizer: training ? optimizer : nil, trainingState: training ? state : nil)
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
        XCTAssertEqual(loaded.parameters, checkpoint.parameters)
        XCTAssertEqual(loaded.velocities, checkpoint.velocities)
        XCTAssertEqual(loaded.trainingState, checkpoint.trainingState)
        XCTAssertEqual(loaded.epoch, 2)
        XCTAssertEqual(loaded.step, 1)
        let rebuilt = try loaded.makeModel()
        XCTAssertEqual(rebuilt.parameters.map(\.value.values), model.parameters.map(\.value.values))
        XCTAssertEqual(checkpoint.velocities.map(\.name).first, "velocity.0.weight")
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
        XCTAssertEqual(metadata["format_version"], "1")
        XCTAssertEqual(metadata["kind"], "model")
        XCTAssertEqual(metadata["classes"], "[\"a\",\"b\",\"c\"]")
        XCTAssertTrue(metadata["checksum"]!.hasPrefix("crc32:"))
        let total = checkpoint.parameters.reduce(0) { $0 + $1.values.count * 4 }
        XCTAssertEqual(bytes.count, 8 + headerLength + total)
        // The first weight's bytes are little-endian Float32 at the data start.
        var first: Float = 0
        withUnsafeMutableBytes(of: &first) { $0.copyBytes(from: bytes[(8 + headerLength)..<(12 + headerLength)]) }
        XCTAssertEqual(first, checkpoint.parameters[0].values[0])
    }

    func testCorruptionIsRefused() throws {
        let (_, checkpoint) = try makeCheckpoint(training: true)
        let good = checkpoint.encoded()
        var headerLength = 0
        for i in 0..<8 { headerLength |= Int(good[i]) << (8 * i) }

        var flipped = good
        flipped[good.count - 3] ^= 0x40
        assertThrows("x: is corrupt: its data does not match its checksum", contains: true) { try Checkpoint.decode(flipped, name: "x") }

        assertThrows("x: truncated or lying header: tensor \"velocity.4.bias\" has data_offsets [940, 952] outside the 948-byte data section") {
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
        let newer = withHeader(header.replacingOccurrences(of: "\"format_version\":\"1\"", with: "\"format_version\":\"9\""))
        assertThrows("x: has format version 9, newer than this ConvNet reads (1); update ConvNet") { try Checkpoint.decode(newer, name: "x") }
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
}
