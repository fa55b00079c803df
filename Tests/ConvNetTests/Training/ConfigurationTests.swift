import Foundation
import XCTest
@testable import ConvNet

final class ConfigurationTests: XCTestCase {
    func testBundledConfigsLoad() throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: "\(repositoryRoot)/configs").filter { $0.hasSuffix(".json") }
        XCTAssertGreaterThanOrEqual(names.count, 4)
        for file in names {
            let configuration = try Configuration.load(contentsOf: "\(repositoryRoot)/configs/\(file)")
            XCTAssertEqual(configuration.name + ".json", file)
            XCTAssertNoThrow(try Sequential(configuration.model, seed: 1), file)
        }
        let mnist = try Configuration.load(contentsOf: "\(repositoryRoot)/configs/mnist.json")
        XCTAssertEqual(mnist.training.batchSize, 64)
        XCTAssertEqual(mnist.training.optimizer.learningRate, 0.01)
        XCTAssertEqual(mnist.training.optimizer.specification as? SGD.Specification,
                       SGD.Specification(learningRate: 0.01, momentum: 0.9, weightDecay: 0.0005))
        XCTAssertEqual(mnist.checkpointDirectory, "checkpoints/mnist")
    }

    /// A minimal valid config, with `edit` applied to its JSON object first.
    private func message(file: String = "test.json", _ edit: (inout [String: Any]) -> Void) -> String {
        var object: [String: Any] = [
            "name": "tiny",
            "data": ["format": "idx", "train": ["images": "a", "labels": "b"], "test": ["images": "c", "labels": "d"],
                     "classes": ["x", "y"]],
            "model": ["input": [1, 8, 8], "layers": [["type": "flatten"], ["type": "dense", "units": 2]]],
            "training": ["epochs": 1, "batchSize": 4, "optimizer": ["learningRate": 0.1]],
        ]
        edit(&object)
        let json = try! JSONSerialization.data(withJSONObject: object)
        do {
            _ = try Configuration.parse(json, file: file)
            return "valid"
        } catch { return "\(error)" }
    }

    private func set(_ object: inout [String: Any], _ path: [String], _ value: Any?) {
        if path.count == 1 { object[path[0]] = value; return }
        var child = object[path[0]] as! [String: Any]
        set(&child, Array(path.dropFirst()), value)
        object[path[0]] = child
    }

    func testErrorsNameTheKeyPath() {
        XCTAssertEqual(message { _ in }, "valid")
        XCTAssertEqual(message { self.set(&$0, ["training", "optimizer", "learningRate"], -1) },
                       "test.json: training.optimizer.learningRate must be > 0, found -1")
        XCTAssertEqual(message { self.set(&$0, ["training", "optimizer", "momentum"], 1.5) },
                       "test.json: training.optimizer.momentum must be in [0, 1), found 1.5")
        XCTAssertEqual(message { self.set(&$0, ["training", "epochs"], 0) },
                       "test.json: training.epochs must be in 1...100000, found 0")
        XCTAssertEqual(message { self.set(&$0, ["training", "epocs"], 3) },
                       "test.json: training.epocs is not a known key (expected one of: epochs, batchSize, seed, threads, optimizer, schedule, augmentation, earlyStopping, labelSmoothing, syncBatchNorm)")
        XCTAssertEqual(message { $0["extra"] = true },
                       "test.json: extra is not a known key (expected one of: name, description, data, model, training, checkpoint)")
        XCTAssertTrue(message { self.set(&$0, ["training", "batchSize"], "64") }
                        .hasPrefix("test.json: training.batchSize has the wrong type: expected an integer"))
        XCTAssertEqual(message { self.set(&$0, ["training", "optimizer"], nil) }, "test.json: training.optimizer is missing")
        XCTAssertEqual(message { self.set(&$0, ["data", "format"], "csv") },
                       "test.json: data.format must be \"idx\" or \"png-folders\", found \"csv\"")
        XCTAssertEqual(message { self.set(&$0, ["data", "test"], nil) }, "test.json: data.test is missing")
        XCTAssertEqual(message { self.set(&$0, ["training", "schedule"], ["type": "step", "every": 0]) },
                       "test.json: training.schedule.every must be > 0, found 0")
        XCTAssertEqual(message { self.set(&$0, ["model", "layers"], [["type": "dense", "units": 0]]) },
                       "test.json: model.layers[0].units must be in 1...1048576, found 0")
        XCTAssertEqual(message { $0["name"] = "../evil" },
                       "test.json: name must be a non-empty name of letters, digits, '.', '_' or '-', found \"../evil\"")
        XCTAssertEqual(message { self.set(&$0, ["checkpoint"], ["keep": -1]) }, "test.json: checkpoint.keep must be >= 0, found -1")
        // A key with a line break in it is quoted with an escape: the message stays one line.
        XCTAssertEqual(message { $0["a\nb"] = 1 },
                       "test.json: a\\nb is not a known key (expected one of: name, description, data, model, training, checkpoint)")
    }

    func testNotJSON() {
        XCTAssertTrue("\(String(describing: try? Configuration.parse(Data("{".utf8), file: "x.json")))" == "nil")
        assertThrows("x.json: is not valid JSON", contains: true) { try Configuration.parse(Data("{\"name\": ".utf8), file: "x.json") }
        assertThrows("missing.json: no such file") { try Configuration.load(contentsOf: "missing.json") }
    }

    func testOverridesAreValidatedLikeTheFile() throws {
        let path = "\(repositoryRoot)/configs/mnist.json"
        let configuration = try Configuration.load(contentsOf: path, overrides: ["training.epochs": 2, "training.optimizer.learningRate": 0.5])
        XCTAssertEqual(configuration.training.epochs, 2)
        XCTAssertEqual(configuration.training.optimizer.learningRate, 0.5)
        assertThrows("\(path): training.batchSize must be in 1...65536, found 0") {
            try Configuration.load(contentsOf: path, overrides: ["training.batchSize": 0])
        }
    }
}
