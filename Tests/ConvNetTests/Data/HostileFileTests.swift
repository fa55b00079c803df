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

    /// Metadata a valid checksum can carry but no run could have written: normalisation for
    /// another channel count (it crashed the batch loader), an impossible training state.
    func testImpossibleMetadataIsRefused() throws {
        let description = ModelDescription(input: [1, 28, 28], layers: try JSONDecoder().decode([LayerSpec].self, from: Data("[\(tinyLayers)]".utf8)))
        let model = try Sequential(description, seed: 1)
        let colour = Checkpoint(model: model, classNames: MNIST.classes, normalization: Normalization(mean: [0.1, 0.2, 0.3], std: [1, 1, 1]))
        assertThrows("n.safetensors: metadata \"normalization\" has 3 values per key but the model takes 1 channels") {
            try Checkpoint.decode(colour.encoded(), name: "n.safetensors")
        }
        let settings = OptimizerSettings(SGD.Specification(learningRate: 0.1, momentum: 0.9))
        let optimizer = settings.makeOptimizer(for: model.arena)
        func training(_ edit: (inout Checkpoint.TrainingState) -> Void) -> [UInt8] {
            var state = Checkpoint.TrainingState(epochLossSum: 0, epochCorrect: 0, epochSeen: 0, epochSeconds: 0, bestAccuracy: 0.9, bestEpoch: 2,
                                                 metricsRows: ["1,0.01,0.5,0.8,0.4,0.85,1.0,100.0,,", "2,0.01,0.3,0.9,0.3,0.9,1.0,100.0,,"])
            edit(&state)
            return Checkpoint(model: model, classNames: MNIST.classes, normalization: .none, epoch: 2,
                              optimizer: (settings, optimizer), trainingState: state).encoded()
        }
        XCTAssertNoThrow(try Checkpoint.decode(training { _ in }, name: "t.safetensors"))
        assertThrows("t.safetensors: metadata \"training_state\": best accuracy 5.0 at epoch 2 is not an accuracy after 2 epochs") {
            try Checkpoint.decode(training { $0.bestAccuracy = 5 }, name: "t.safetensors")
        }
        assertThrows("t.safetensors: metadata \"training_state\": metrics row 2 is not a row of numbers for an epoch done, in order") {
            try Checkpoint.decode(training { $0.metricsRows![1] += "\n999,evil" }, name: "t.safetensors")
        }
        assertThrows("t.safetensors: metadata \"training_state\": the best epoch's confusion matrix is not 10×10 counts") {
            try Checkpoint.decode(training { $0.bestConfusion = [[1]] }, name: "t.safetensors")
        }
        assertThrows("t.safetensors: metadata \"training_state\": the partial epoch's loss sum or seconds are negative or not finite") {
            try Checkpoint.decode(training { $0.epochLossSum = -1e300 }, name: "t.safetensors")
        }
    }

    /// Two class folders whose names differ only in Unicode form (é as one scalar and as e +
    /// combining accent) are one class name to Swift: refused when the folder is read, instead of
    /// a run whose checkpoints name a class twice.
    func testClassFoldersEqualUpToUnicodeFormAreRefused() throws {
        let root = temporaryDirectory(self)
        for name in ["\u{E9}", "e\u{301}"] {
            try FileManager.default.createDirectory(atPath: "\(root)/\(name)", withIntermediateDirectories: true)
            try PNG.write(Image(channels: 1, height: 4, width: 4, pixels: [UInt8](repeating: 9, count: 16)), to: "\(root)/\(name)/0.png")
        }
        assertThrows("\(root): has two class folders named \"\u{E9}\" in different Unicode forms; rename one", contains: false) {
            try ImageFolder.load(root, classNames: nil, imageShape: [1, 4, 4])
        }
    }

    /// A link planted under the atomic writer's temporary name is not followed: its target is
    /// untouched and the file is written.
    func testAtomicWriteDoesNotFollowAPlantedLink() throws {
        let directory = temporaryDirectory(self)
        let victim = directory + "/victim.txt"
        XCTAssertTrue(FileManager.default.createFile(atPath: victim, contents: Data("keep".utf8)))
        XCTAssertEqual(symlink(victim, "\(directory)/.out.bin.tmp-\(getpid())"), 0)
        try writeFileAtomically([1, 2, 3], to: directory + "/out.bin")
        XCTAssertEqual(FileManager.default.contents(atPath: victim), Data("keep".utf8))
        XCTAssertEqual(FileManager.default.contents(atPath: directory + "/out.bin"), Data([1, 2, 3]))
        XCTAssertNil(try? FileManager.default.destinationOfSymbolicLink(atPath: directory + "/out.bin"))
    }
}
