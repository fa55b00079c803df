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

    /// The error for a minimal config whose JSON text has `edit` applied (numbers written as
    /// the user wrote them, which JSONSerialization cannot do).
    private func message(json edit: (String) -> String) -> String {
        let json = #"""
            {"name": "tiny", "data": {"format": "idx", "train": {"images": "a", "labels": "b"}, "test": {"images": "c", "labels": "d"},
             "classes": ["x", "y"]}, "model": {"input": [1, 8, 8], "layers": [{"type": "flatten"}, {"type": "dense", "units": 2}]},
             "training": {"epochs": 1, "batchSize": 4, "seed": 1, "optimizer": {"learningRate": 0.1, "momentum": 0.9}}}
            """#
        do {
            _ = try Configuration.parse(Data(edit(json).utf8), file: "test.json")
            return "valid"
        } catch { return "\(error)" }
    }

    /// Valid JSON numbers that do not fit the key (too large, not whole, negative for a seed,
    /// beyond a Double) name the key path and what it must be, not "is not valid JSON".
    func testNumbersOutOfRangeNameTheKeyPath() {
        func replacing(_ old: String, _ new: String) -> (String) -> String {
            { json in
                XCTAssertTrue(json.contains(old), old)
                return json.replacingOccurrences(of: old, with: new)
            }
        }
        XCTAssertEqual(message(json: { $0 }), "valid")
        XCTAssertEqual(message(json: replacing(#""epochs": 1"#, #""epochs": 1e30"#)),
                       "test.json: training.epochs must be a whole number in 1...100000, found 1e30")
        XCTAssertEqual(message(json: replacing(#""epochs": 1"#, #""epochs": 1.5"#)),
                       "test.json: training.epochs must be a whole number in 1...100000, found 1.5")
        XCTAssertEqual(message(json: replacing(#""seed": 1"#, #""seed": -1"#)),
                       "test.json: training.seed must be a whole number >= 0, found -1")
        XCTAssertEqual(message(json: replacing(#""seed": 1"#, #""seed": 18446744073709551616"#)),
                       "test.json: training.seed must be a whole number >= 0, found 18446744073709551616")
        XCTAssertEqual(message(json: replacing(#""learningRate": 0.1"#, #""learningRate": 1e309"#)),
                       "test.json: training.optimizer.learningRate must be > 0, found 1e309")
        XCTAssertEqual(message(json: replacing(#""units": 2"#, #""units": 2.5"#)),
                       "test.json: model.layers[1].units must be a whole number in 1...1048576, found 2.5")
        XCTAssertEqual(message(json: replacing(#""input": [1, 8, 8]"#, #""input": [1, 8.5, 1e400]"#)),
                       "test.json: model.input must be a list [channels, height, width] of positive sizes, each at most 4096, found [1, 8.5, (a number outside the range of 64-bit floats)]")
        XCTAssertEqual(message(json: replacing(#""classes": ["x", "y"]"#, #""classes": ["x", "y"], "trainLimit": -1e3"#)),
                       "test.json: data.trainLimit must be > 0, found -1000")
        XCTAssertEqual(message(json: replacing(#""epochs": 1"#, #""epochs": 1.0"#)), "valid", "1.0 is a whole number")
    }

    /// Numbers the engine computes with as 32-bit floats are checked as the Float they become.
    func testNumbersAreCheckedAsTheFloatsTheyBecome() {
        func replacing(_ old: String, _ new: String) -> (String) -> String { { $0.replacingOccurrences(of: old, with: new) } }
        XCTAssertEqual(message(json: replacing(#""momentum": 0.9"#, #""momentum": 0.99999999999"#)),
                       "test.json: training.optimizer.momentum must be in [0, 1), found 0.99999999999, which is 1 as a 32-bit float")
        XCTAssertEqual(message(json: replacing(#""learningRate": 0.1"#, #""learningRate": 1e-320"#)),
                       "test.json: training.optimizer.learningRate must be > 0, found 1e-320, which is 0 as a 32-bit float")
        XCTAssertEqual(message(json: replacing(#""learningRate": 0.1"#, #""learningRate": 1e39"#)),
                       "test.json: training.optimizer.learningRate must be > 0, found 1e+39, beyond the range of 32-bit floats (about ±3.4e38)")
        // A weight decay of 1e30 diverged with advice to lower the learning rate.
        XCTAssertEqual(message(json: replacing(#""momentum": 0.9"#, #""momentum": 0.9, "weightDecay": 1e30"#)),
                       "test.json: training.optimizer.weightDecay must be in [0, 10], found 1e+30")
        // Label smoothing of 1 as a Float used to stop the process in SoftmaxCrossEntropy's precondition.
        XCTAssertEqual(message(json: replacing(#""seed": 1"#, #""seed": 1, "labelSmoothing": 0.99999999999"#)),
                       "test.json: training.labelSmoothing must be in [0, 1), found 0.99999999999, which is 1 as a 32-bit float")
        let adam = #""optimizer": {"type": "adam", "betas": [0.9, 0.99999999999], "epsilon": 1e-50}"#
        XCTAssertEqual(message(json: replacing(#""optimizer": {"learningRate": 0.1, "momentum": 0.9}"#, adam)),
                       "test.json: training.optimizer.betas[1] must be in [0, 1), found 0.99999999999, which is 1 as a 32-bit float")
        XCTAssertEqual(message(json: replacing(#""optimizer": {"learningRate": 0.1, "momentum": 0.9}"#, #""optimizer": {"type": "adam", "epsilon": 1e-50}"#)),
                       "test.json: training.optimizer.epsilon must be > 0, found 1e-50, which is 0 as a 32-bit float")
        XCTAssertEqual(message(json: replacing(#"{"type": "flatten"}"#, #"{"type": "flatten"}, {"type": "dropout", "rate": 0.99999999999}"#)),
                       "test.json: model.layers[1].rate must be in [0, 1), found 0.99999999999, which is 1 as a 32-bit float")
        XCTAssertEqual(message(json: replacing(#""momentum": 0.9}"#, #""momentum": 0.9}, "schedule": {"type": "cosine", "minimum": 0.5}"#)),
                       "test.json: training.schedule.minimum must be at most the base learning rate (training.optimizer.learningRate, 0.1), found 0.5")
        XCTAssertEqual(message(json: replacing(#""momentum": 0.9}"#, #""momentum": 0.9}, "schedule": {"type": "cosine", "minimum": 0.1}"#)), "valid")
        XCTAssertEqual(message(json: replacing(#""classes": ["x", "y"]"#, #""classes": ["x", "y"], "normalize": {"mean": 0.5, "std": 1e-6}"#)),
                       "test.json: data.normalize.std must be in [0.001, 10], found 1e-06")
    }

    /// A png-folders config refuses class names that cannot be folder names.
    func testFolderClassNamesMustBeFolderNames() {
        func folders(_ classes: [String]) -> String {
            message {
                $0["data"] = ["format": "png-folders", "root": "images", "classes": classes]
            }
        }
        XCTAssertEqual(folders(["cat", "dog"]), "valid")
        XCTAssertEqual(folders(["T-shirt/top", "Trouser"]), "valid")  // stored as the folder T-shirt-top
        XCTAssertEqual(folders(["a-b", "a/b"]), "test.json: data.classes[1] is \"a/b\", which would share the folder \"a-b\" with class 0")
        XCTAssertEqual(folders(["..", "dog"]), "test.json: data.classes[0] is \"..\", which cannot be a folder name: it names the folder itself or its parent")
        XCTAssertEqual(folders(["", "dog"]), "test.json: data.classes[0] is \"\", which cannot be a folder name: it is empty")
        XCTAssertEqual(folders(["cat", "d\u{1B}[2Jog"]), "test.json: data.classes[1] is \"d\\u{1b}[2Jog\", which cannot be a folder name: it contains a control or format character")
    }

    /// A key given twice in one object is refused, naming its path: the decoder would keep
    /// one value and drop the other without a word (`"epochs": 2, "epochs": 100000` ran 2 epochs).
    func testDuplicateKeysAreRefused() throws {
        let json = String(decoding: try Data(contentsOf: URL(fileURLWithPath: "\(repositoryRoot)/configs/mnist.json")), as: UTF8.self)
        XCTAssertNoThrow(try Configuration.parse(Data(json.utf8), file: "c.json"))
        func parse(_ text: String) -> String {
            do { _ = try Configuration.parse(Data(text.utf8), file: "c.json"); return "valid" } catch { return error.description }
        }
        XCTAssertEqual(parse(json.replacingOccurrences(of: #""epochs":"#, with: #""epochs": 2, "epochs":"#)), "c.json: training.epochs appears twice")
        XCTAssertEqual(parse(json.replacingOccurrences(of: #""training":"#, with: #""training": {"epochs": 2}, "training":"#)), "c.json: training appears twice")
        XCTAssertEqual(parse(json.replacingOccurrences(of: #""name":"#, with: #""n\u0061me": "x", "name":"#)), "c.json: name appears twice")
        XCTAssertEqual(firstDuplicateKey(in: Array(#"{"model": {"layers": [{"type": "a"}, {"type": "dense", "units": 1, "units": 2}]}}"#.utf8)),
                       "model.layers[1].units")
        // The same key in different objects, and keys inside strings or arrays, are not duplicates.
        XCTAssertNil(firstDuplicateKey(in: Array(#"{"a": [{"k": 1}, {"k": 2}], "b": {"k": "\"k\": 1, \"k\""}, "c": ["k", "k"]}"#.utf8)))
        XCTAssertNil(firstDuplicateKey(in: Array((String(repeating: "[", count: 600) + String(repeating: "]", count: 600)).utf8)))
    }

    /// Small messages: an empty checkpoint directory is refused as the config is read; three
    /// normalisation values for one channel ask for one value per key (not "1 or 1").
    func testEmptyCheckpointDirectoryAndNormalisationValues() throws {
        let empty = mnistConfigJSON(trainLimit: 10, testLimit: 10, epochs: 1, checkpointDirectory: "")
        assertThrows(#"c.json: checkpoint.directory must be a non-empty folder path, found """#) {
            try Configuration.parse(Data(empty.utf8), file: "c.json")
        }
        let three = mnistConfigJSON(trainLimit: 10, testLimit: 10, epochs: 1)
            .replacingOccurrences(of: #"{"mean": 0.1307, "std": 0.3081}"#, with: #"{"mean": [0.1, 0.2, 0.3], "std": [1, 1, 1]}"#)
        let configuration = try Configuration.parse(Data(three.utf8), file: "c.json")
        let data = TrainingData(train: MNIST.train.slice(0..<10), validation: nil, test: MNIST.test.slice(0..<10))
        assertThrows("c.json: data.normalize has 3 values per key but the images have 1 channel; give 1 value per key") {
            try data.normalization(for: configuration, configurationFile: "c.json")
        }
    }

    func testNotJSON() {
        XCTAssertTrue("\(String(describing: try? Configuration.parse(Data("{".utf8), file: "x.json")))" == "nil")
        assertThrows("x.json: is not valid JSON", contains: true) { try Configuration.parse(Data("{\"name\": ".utf8), file: "x.json") }
        assertThrows("missing.json: no such file") { try Configuration.load(contentsOf: "missing.json") }
    }

    func testOverridesAreValidatedLikeTheFile() throws {
        let path = "\(repositoryRoot)/configs/mnist.json"
        let configuration = try Configuration.load(contentsOf: path, overrides: [
            .init("--epochs", keyPath: "training.epochs", value: 2), .init("--lr", keyPath: "training.optimizer.learningRate", value: 0.5),
        ])
        XCTAssertEqual(configuration.training.epochs, 2)
        XCTAssertEqual(configuration.training.optimizer.learningRate, 0.5)
        // An override's error names the option, not the file it overrides.
        assertThrows("--batch-size must be in 1...65536, found 0") {
            try Configuration.load(contentsOf: path, overrides: [.init("--batch-size", keyPath: "training.batchSize", value: 0)])
        }
        for value in [Double.nan, .infinity] {
            assertThrows("--learning-rate must be a finite number, found \(value)") {
                try Configuration.load(contentsOf: path, overrides: [.init("--learning-rate", keyPath: "training.optimizer.learningRate", value: value)])
            }
        }
        assertThrows("--learning-rate must be > 0, found 1e-320, which is 0 as a 32-bit float") {
            try Configuration.load(contentsOf: path, overrides: [.init("--learning-rate", keyPath: "training.optimizer.learningRate", value: Double("1e-320")!)])
        }
    }
}
