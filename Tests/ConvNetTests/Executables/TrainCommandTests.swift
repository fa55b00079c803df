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
                               "--learning-rate must be > 0, found -1")

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

    /// Conventional command lines: the config as the first argument, short flags, --lr, --version,
    /// --summary, periodic progress lines for logs, and complete --help with internals hidden.
    func testConventionalCommandLines() throws {
        let (directory, config) = tinyConfig()
        let short = try runProduct("train", [config, "-e", "1", "-b", "64", "--lr", "0.02", "-o", "out", "-t", "2",
                                             "--progress", "lines", "--progress-interval", "0.001"], in: directory)
        XCTAssertEqual(short.status, 0, short.standardError)
        XCTAssertTrue(short.standardOutput.contains("Training tiny: 640 training / 200 test images, 5,874 parameters, batch 64, 10 steps per epoch, 2 threads"),
                      short.standardOutput)
        XCTAssertTrue(short.standardOutput.contains("lr 0.02"), short.standardOutput)
        XCTAssertTrue(FileManager.default.fileExists(atPath: directory + "/out/report.html"))
        let progressLines = short.standardOutput.split(separator: "\n").filter { $0.hasPrefix("epoch 1/1  ") && $0.contains("% (") }
        XCTAssertGreaterThan(progressLines.count, 0, short.standardOutput)
        XCTAssertTrue(short.standardOutput.contains("#  layer"), "the model table is printed first")

        let summary = try runProduct("train", ["-c", config, "--summary"], in: directory)
        XCTAssertEqual(summary.status, 0)
        XCTAssertTrue(summary.standardOutput.contains("total") && summary.standardOutput.contains("5,874"), summary.standardOutput)
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory + "/checkpoints/tiny"), "--summary trains nothing")

        for product in ["train", "infer", "bench", "idx2png", "report"] {
            let version = try runProduct(product, ["--version"])
            XCTAssertEqual(version.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines), ConvNetVersion.string, product)
            let help = try runProduct(product, ["--help"])
            XCTAssertEqual(help.status, 0, product)
            XCTAssertFalse(help.standardOutput.contains("Internal"), product)
        }
        let benchHelp = try runProduct("bench", ["--help"]).standardOutput
        XCTAssertFalse(benchHelp.contains("isolated-conv"))
        let trainHelp = try runProduct("train", ["--help"]).standardOutput
        for option in ["-c, --config", "-e, --epochs", "-b, --batch-size", "--learning-rate, --lr", "-o, --output", "--init-from", "--summary", "--progress"] {
            XCTAssertTrue(trainHelp.contains(option), option)
        }

        // A config given twice, differently, and no config at all are usage errors.
        XCTAssertNotEqual(try runProduct("train", [config, "--config", "other.json"], in: directory).status, 0)
        XCTAssertNotEqual(try runProduct("train", [], in: directory).status, 0)
    }

    /// --evaluate refuses a checkpoint trained on other classes, naming both lists.
    func testEvaluateRefusesOtherClasses() throws {
        let (directory, config) = tinyConfig()
        XCTAssertEqual(try runProduct("train", [config, "-e", "1", "-q"], in: directory).status, 0)
        let (_, renamed) = tinyConfig { $0 = $0.replacingOccurrences(of: #""classes": ["0", "1""#, with: #""classes": ["zero", "1""#) }
        assertFailsWithOneLine(try runProduct("train", [renamed, "--evaluate", "checkpoints/tiny/model.safetensors"], in: directory),
                               "checkpoints/tiny/model.safetensors: was trained on classes [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] but \(renamed)'s data has [zero, 1,")
    }

    /// idx2png shows its progress and refuses limits below 1 with a one-line usage error.
    func testIDXToPNGProgressAndLimits() throws {
        let (directory, config) = tinyConfig { $0 = $0.replacingOccurrences(of: "\"trainLimit\": 640", with: "\"trainLimit\": 2000") }
        let run = try runProduct("idx2png", [config, "-o", "png"], in: directory)
        XCTAssertEqual(run.status, 0, run.standardError)
        XCTAssertTrue(run.standardOutput.contains("Wrote 2,000 training and 200 test images"), run.standardOutput)
        XCTAssertEqual(try FileManager.default.subpathsOfDirectory(atPath: directory + "/png/train").filter { $0.hasSuffix(".png") }.count, 2000)
        for bad in [["--train-limit=-5"], ["--test-limit", "0"]] {
            let refused = try runProduct("idx2png", [config, "-o", "png2"] + bad, in: directory)
            XCTAssertNotEqual(refused.status, 0)
            XCTAssertTrue(refused.standardError.contains("must be at least 1"), refused.standardError)
        }
    }
}
