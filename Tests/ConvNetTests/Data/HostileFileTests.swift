import Foundation
import XCTest
@testable import ConvNet

/// Files that are not what they claim: FIFOs and devices where a file is expected, headers
/// that ask for far more than they hold, small checkpoints describing enormous activations.
final class HostileFileTests: XCTestCase {
    /// A FIFO with no writer blocks `open()` forever unless it is opened non-blocking: every
    /// reader refuses it at once, saying what it is.
    func testFIFOsAreRefusedWithoutWaiting() throws {
        let directory = temporaryDirectory(self)
        let fifo = directory + "/pipe.png"
        XCTAssertEqual(mkfifo(fifo, 0o644), 0)
        assertThrows("\(fifo): is a FIFO (named pipe), not a regular file") { try readFileBytes(fifo, limit: 1 << 20) }
        assertThrows("\(fifo): is a FIFO (named pipe), not a regular file") { try Configuration.load(contentsOf: fifo) }
        assertThrows("\(fifo): is a FIFO (named pipe), not a regular file") { try Checkpoint.read(contentsOf: fifo) }
        assertThrows("\(fifo): is a FIFO (named pipe), not a regular file") { try ImageFile.read(contentsOf: fifo, channels: 1) }
        assertThrows("\(fifo): is a FIFO (named pipe), not a regular file") {
            try Dataset.loadIDX(images: fifo, labels: MNIST.testLabels, classNames: MNIST.classes)
        }
        assertThrows("/dev/zero: is a device, not a regular file") { try readFileBytes("/dev/zero", limit: 1 << 20) }
    }

    /// A safetensors header of a great many tiny entries is refused before JSON parsing, which
    /// would cost several times its size.
    func testHeaderEntryFloodIsRefusedBeforeParsing() throws {
        var header = "{"
        for index in 0..<100_000 { header += "\"t\(index)\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}," }
        header += "\"__metadata__\":{\"format\":\"convnet\"}}"
        var file = [UInt8]()
        withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { file.append(contentsOf: $0) }
        file += Array(header.utf8)
        assertThrows("flood.safetensors: not a ConvNet checkpoint: its header holds 700003 JSON values, over the limit of 262144 (a model's tensors need a few each)") {
            try Checkpoint.decode(file, name: "flood.safetensors")
        }
        // Commas and brackets inside strings are not values.
        XCTAssertEqual(Safetensors.jsonValueCount(ArraySlice(Array(#"{"a":"[,{,\",]","b":[1,2]}"#.utf8))), 5)
    }

    /// An 11 KB-sized checkpoint can describe a model whose activations for one image would
    /// not fit in any machine: the classifier refuses it before any forward pass.
    func testCheckpointWithEnormousActivationsIsRefused() throws {
        let layers = [LayerSpec(Conv2D.Specification(filters: 3, kernel: SizePair(3), padding: .size(SizePair(1))))]
            + Array(repeating: LayerSpec(ReLU.Specification()), count: 2_000)
            + [LayerSpec(GlobalAvgPool.Specification()), LayerSpec(Dense.Specification(units: 2))]
        let description = ModelDescription(input: [1, 4096, 4096], layers: layers)
        let model = try Sequential(description, seed: 1)
        let checkpoint = Checkpoint(model: model, classNames: ["a", "b"], normalization: .none)
        assertThrows("huge.safetensors: its model needs about", contains: true) {
            try Classifier(checkpoint: checkpoint, file: "huge.safetensors")
        }
        assertThrows("to classify one image (1×4096×4096 input, 2003 layers), more than the", contains: true) {
            try Classifier(checkpoint: checkpoint, file: "huge.safetensors")
        }
    }
}
