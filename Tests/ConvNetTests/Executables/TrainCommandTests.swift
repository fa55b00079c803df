import Foundation
import XCTest
@testable import ConvNet

/// Runs the built `train` executable on a tiny config, as a user would.
final class TrainCommandTests: XCTestCase {
    /// Writes a tiny MNIST config into a fresh directory and returns (directory, config path).
    private func tinyConfig(_ edit: (inout String) -> Void = { _ in }) -> (String, String) {
        let directory = temporaryDirectory(self)
        var json = mnistConfigJSON(name: "tiny", trainLimit: 640, testLimit: 200, epochs: 2, layers: tinyLayers,
                                   batchSize: 32, seed: 3, threads: 1, learningRate: 0.05, schedule: #"{"type": "constant"}"#)
        edit(&json)
        let path = directory + "/tiny.json"
        writeBytes(Array(json.utf8), to: path)
        return (directory, path)
    }

    func testTrainsAndWritesCheckpointsAndMetrics() throws {
        let (directory, config) = tinyConfig()
        let run = try runProduct("train", ["--config", config, "--epochs", "1"], in: directory)
        XCTAssertEqual(run.status, 0, run.standardError)
        XCTAssertTrue(run.standardOutput.contains("Training tiny: 640 training / 200 test images"), run.standardOutput)
        XCTAssertTrue(run.standardOutput.contains("epoch 1/1  train loss "), run.standardOutput)
        XCTAssertTrue(run.standardOutput.contains("Best test accuracy "), run.standardOutput)
        XCTAssertTrue(run.standardOutput.contains("Confusion matrix (rows: true class, columns: predicted):"))
        XCTAssertTrue(run.standardOutput.contains("checkpoints/tiny/model.safetensors"))
        for file in ["model.safetensors", "last.safetensors", "epoch-0001.safetensors", "metrics.csv"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: "\(directory)/checkpoints/tiny/\(file)"), file)
        }
        // Not a terminal: no progress bar escapes in the output.
        XCTAssertFalse(run.standardOutput.contains("\u{1B}["))

        // Resume to epoch 2 from last.safetensors, into the same directory.
        let resumed = try runProduct("train", ["--config", config, "--resume", "checkpoints/tiny/last.safetensors", "--quiet"], in: directory)
        XCTAssertEqual(resumed.status, 0, resumed.standardError)
        XCTAssertFalse(resumed.standardOutput.contains("epoch 2/2"), "--quiet prints only the summary")
        XCTAssertTrue(resumed.standardOutput.contains("after 2 epochs"), resumed.standardOutput)
        let csv = try String(contentsOfFile: "\(directory)/checkpoints/tiny/metrics.csv", encoding: .utf8)
        XCTAssertEqual(csv.split(separator: "\n").count, 3)

        // Evaluate the checkpoint on the test set.
        let evaluation = try runProduct("train", ["--config", config, "--evaluate", "checkpoints/tiny/model.safetensors"], in: directory)
        XCTAssertEqual(evaluation.status, 0, evaluation.standardError)
        XCTAssertTrue(evaluation.standardOutput.hasPrefix("checkpoints/tiny/model.safetensors on 200 test images: accuracy "))
        XCTAssertTrue(evaluation.standardOutput.contains("Per-class accuracy: 0 "))
    }

    func testBadInputsGiveOneLine() throws {
        let (directory, config) = tinyConfig()
        assertFailsWithOneLine(try runProduct("train", ["--config", "nowhere.json"], in: directory), "nowhere.json: no such file")
        assertFailsWithOneLine(try runProduct("train", ["--config", config, "--learning-rate=-1"], in: directory),
                               "\(config): training.optimizer.learningRate must be > 0, found -1")

        let (_, unknownKey) = tinyConfig { $0 = $0.replacingOccurrences(of: "\"seed\": 3", with: "\"sead\": 3") }
        assertFailsWithOneLine(try runProduct("train", ["--config", unknownKey], in: directory),
                               "\(unknownKey): training.sead is not a known key")
        let (_, wrongType) = tinyConfig { $0 = $0.replacingOccurrences(of: "\"epochs\": 2", with: "\"epochs\": \"two\"") }
        assertFailsWithOneLine(try runProduct("train", ["--config", wrongType], in: directory),
                               "\(wrongType): training.epochs has the wrong type: expected an integer")
        let (_, missingData) = tinyConfig { $0 = $0.replacingOccurrences(of: MNIST.testLabels, with: "/nonexistent/labels.gz") }
        assertFailsWithOneLine(try runProduct("train", ["--config", missingData], in: directory), "/nonexistent/labels.gz: no such file")
        let (_, badShape) = tinyConfig { $0 = $0.replacingOccurrences(of: "\"kernel\": 5", with: "\"kernel\": 40") }
        assertFailsWithOneLine(try runProduct("train", ["--config", badShape], in: directory),
                               "\(badShape): model: layer 1 (conv 4@40×40): input 28×28 (padded 28×28) is smaller than the kernel 40×40")

        // An unwritable output is reported before any training.
        writeBytes([1], to: directory + "/file")
        let blocked = try runProduct("train", ["--config", config, "--output", "file/checkpoints"], in: directory)
        assertFailsWithOneLine(blocked, "file/checkpoints: cannot create the checkpoint directory")
        XCTAssertFalse(blocked.standardOutput.contains("epoch"))

        // A checkpoint of another architecture cannot be resumed.
        let (_, other) = tinyConfig { $0 = $0.replacingOccurrences(of: "\"filters\": 4", with: "\"filters\": 6") }
        XCTAssertEqual(try runProduct("train", ["--config", config, "--epochs", "1", "--quiet"], in: directory).status, 0)
        assertFailsWithOneLine(try runProduct("train", ["--config", other, "--resume", "checkpoints/tiny/last.safetensors"], in: directory),
                               "checkpoints/tiny/last.safetensors: was trained with a different model than the config's")
        writeBytes(Array("not a checkpoint".utf8), to: directory + "/junk.safetensors")
        assertFailsWithOneLine(try runProduct("train", ["--config", config, "--resume", "junk.safetensors"], in: directory),
                               "junk.safetensors: not a safetensors checkpoint")
    }
}
