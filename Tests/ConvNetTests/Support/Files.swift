@_exported import TestFixtures
import Foundation
import XCTest
@testable import ConvNet

/// The bundled MNIST files.
enum MNIST {
    static let trainImages = repositoryRoot + "/data/mnist/train-images-idx3-ubyte.gz"
    static let trainLabels = repositoryRoot + "/data/mnist/train-labels-idx1-ubyte.gz"
    static let testImages = repositoryRoot + "/data/mnist/t10k-images-idx3-ubyte.gz"
    static let testLabels = repositoryRoot + "/data/mnist/t10k-labels-idx1-ubyte.gz"
    static let classes = (0..<10).map(String.init)

    /// The 10,000 test images, loaded once per test process.
    static let test: Dataset = try! Dataset.loadIDX(images: testImages, labels: testLabels, classNames: classes)
    /// The 60,000 training images, loaded once per test process.
    static let train: Dataset = try! Dataset.loadIDX(images: trainImages, labels: trainLabels, classNames: classes)
}

/// Asserts `body` throws an error whose description is `expected` (or contains it when `contains`).
func assertThrows<T>(_ expected: String, contains: Bool = false, file: StaticString = #filePath, line: UInt = #line,
                     _ body: () throws -> T) {
    do {
        _ = try body()
        XCTFail("expected an error \"\(expected)\"", file: file, line: line)
    } catch {
        let text = "\(error)"
        if contains {
            XCTAssertTrue(text.contains(expected), "\"\(text)\" does not contain \"\(expected)\"", file: file, line: line)
        } else {
            XCTAssertEqual(text, expected, file: file, line: line)
        }
        XCTAssertFalse(text.contains("\n"), "error is not one line: \(text)", file: file, line: line)
    }
}

/// LeNet as it stands in configs/mnist.json, as the `layers` of a test config.
let lenetLayers = """
    {"type": "conv", "filters": 20, "kernel": 5}, {"type": "relu"}, {"type": "maxpool", "size": 2},
    {"type": "conv", "filters": 50, "kernel": 5}, {"type": "relu"}, {"type": "maxpool", "size": 2},
    {"type": "flatten"}, {"type": "dense", "units": 500}, {"type": "relu"}, {"type": "dense", "units": 10}
    """

/// A small model for tests of the executables: conv 4@5×5, pool, dense.
let tinyLayers = """
    {"type": "conv", "filters": 4, "kernel": 5}, {"type": "relu"}, {"type": "maxpool", "size": 2},
    {"type": "flatten"}, {"type": "dense", "units": 10}
    """

/// The JSON of a config training on the bundled MNIST (absolute paths), with the given settings.
func mnistConfigJSON(name: String = "test-mnist", trainLimit: Int, testLimit: Int, epochs: Int, validation: Int = 0,
                     layers: String = lenetLayers, batchSize: Int = 64, seed: Int = 7, threads: Int = 2,
                     learningRate: Double = 0.01, schedule: String = #"{"type": "step", "every": 1, "factor": 0.5}"#,
                     checkpointDirectory: String? = nil) -> String {
    """
    {"name": "\(name)",
     "data": {"format": "idx",
              "train": {"images": "\(MNIST.trainImages)", "labels": "\(MNIST.trainLabels)"},
              "test": {"images": "\(MNIST.testImages)", "labels": "\(MNIST.testLabels)"},
              "classes": ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"],
              "validation": \(validation), "trainLimit": \(trainLimit), "testLimit": \(testLimit),
              "normalize": {"mean": 0.1307, "std": 0.3081}, "preprocessing": "digit"},
     "model": {"input": [1, 28, 28], "layers": [\(layers)]},
     "training": {"epochs": \(epochs), "batchSize": \(batchSize), "seed": \(seed), "threads": \(threads),
                  "optimizer": {"learningRate": \(learningRate), "momentum": 0.9, "weightDecay": 0.0005},
                  "schedule": \(schedule)}\(checkpointDirectory.map { ",\n \"checkpoint\": {\"directory\": \"\($0)\"}" } ?? "")}
    """
}

/// `mnistConfigJSON(…)` parsed, as "test.json".
func mnistConfiguration(trainLimit: Int, testLimit: Int, epochs: Int, validation: Int = 0,
                        layers: String = lenetLayers) throws -> Configuration {
    let json = mnistConfigJSON(trainLimit: trainLimit, testLimit: testLimit, epochs: epochs, validation: validation, layers: layers)
    return try Configuration.parse(Data(json.utf8), file: "test.json")
}
