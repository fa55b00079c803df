import Foundation
import XCTest
@testable import ConvNet

/// What every executable prints for a bad command line, a bad option value, and names that
/// could fool a terminal or a script: one line each, naming the option, file or class.
final class CommandLineTests: XCTestCase {
    /// Asserts a usage error: exit status 64 (EX_USAGE), nothing on stdout, and exactly the
    /// one stderr line `error: <expected>`.
    private func assertUsageError(_ output: ProcessOutput, _ expected: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(output.status, 64, output.standardError, file: file, line: line)
        XCTAssertEqual(output.standardError, "error: \(expected)\n", file: file, line: line)
        XCTAssertEqual(output.standardOutput, "", file: file, line: line)
    }

    func testUsageErrorsAreOneLine() throws {
        let required = ["train": ["configs/mnist.json"], "infer": ["a.png"], "export": ["model.safetensors", "--onnx", "model.onnx"],
                        "bench": [], "idx2png": ["configs/mnist.json", "--output", "out"], "report": ["runs/a"]]
        for (name, arguments) in required {
            assertUsageError(try runProduct(name, arguments + ["--no-such-option"]), "unknown option '--no-such-option'; see \(name) --help")
        }
        assertUsageError(try runProduct("train", ["configs/mnist.json", "--learning-rat", "0.1"]),
                         "unknown option '--learning-rat' (did you mean '--learning-rate'?); see train --help")
        assertUsageError(try runProduct("train", []), "give the config, e.g. train configs/mnist.json; see train --help")
        assertUsageError(try runProduct("train", ["configs/mnist.json", "--epochs", "two"]),
                         "the value 'two' is invalid for '--epochs <epochs>'; see train --help")
        assertUsageError(try runProduct("infer", ["--top", "0", "a.png"]), "--top must be at least 1, found 0; see infer --help")
        assertUsageError(try runProduct("export", ["model.safetensors"]), "missing expected argument '--onnx <file>'; see export --help")
        assertUsageError(try runProduct("bench", ["--threads", "0"]), "--threads must be in 1...256, found 0; see bench --help")
        assertUsageError(try runProduct("bench", ["--threads", "99999999999"]), "--threads must be in 1...256, found 99999999999; see bench --help")
        assertUsageError(try runProduct("bench", ["--only", "everything"]),
                         "--only must be one of sgemm, train, infer, conv, naive, memory, found \"everything\"; see bench --help")
        assertUsageError(try runProduct("report", []), "missing expected argument '<run-dir> ...'; see report --help")
        // Help and version still print in full on stdout.
        let help = try runProduct("train", ["--help"])
        XCTAssertEqual(help.status, 0)
        XCTAssertTrue(help.standardOutput.contains("USAGE: train"), help.standardOutput)
        XCTAssertEqual(try runProduct("idx2png", ["--version"]).standardOutput, ConvNetVersion.string + "\n")
    }

    /// idx2png's limits are checked, whether the value follows `=` or a space (a negative
    /// value after a space used to be taken for an option: "missing value for '--train-limit'").
    func testIDXToPNGLimitsAreChecked() throws {
        let directory = temporaryDirectory(self)
        let config = repositoryRoot + "/configs/mnist.json"
        for (option, value) in [("--train-limit", "-5"), ("--test-limit", "-1"), ("--train-limit", "0")] {
            for form in [["\(option)=\(value)"], [option, value]] {
                assertUsageError(try runProduct("idx2png", [config, "--output", directory + "/out"] + form),
                                 "\(option) must be at least 1, found \(value); see idx2png --help")
            }
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory + "/out"))
    }

    /// Class names that cannot be folder names (a bidi override, over NAME_MAX bytes) are
    /// refused by idx2png with one line naming the config and the class, before anything is written.
    func testIDXToPNGRefusesClassNamesThatAreNotFolderNames() throws {
        let directory = temporaryDirectory(self)
        for (name, problem) in [("..", "it names the folder itself or its parent"), (".", "it names the folder itself or its parent"),
                                ("", "it is empty"), ("a\nb", "it contains a control or format character"),
                                ("4\u{202E}", "it contains a control or format character"),
                                (String(repeating: "é", count: 128), "it is 256 bytes, more than the 255 a file name can have")] {
            var json = mnistConfigJSON(trainLimit: 10, testLimit: 10, epochs: 1)
            let escaped = String(data: try JSONSerialization.data(withJSONObject: [name]), encoding: .utf8)!.dropFirst().dropLast()
            json = json.replacingOccurrences(of: #""3", "4""#, with: "\(escaped), \"4\"")
            let config = directory + "/classes.json"
            writeBytes(Array(json.utf8), to: config)
            let run = try runProduct("idx2png", [config, "--output", directory + "/out"], in: directory)
            XCTAssertEqual(run.status, 1)
            let reason = problem.hasPrefix("which") ? problem : "which cannot be a folder name: \(problem)"
            XCTAssertEqual(run.standardError, "error: \(config): data.classes[3] is \"\(oneLine(name))\", \(reason)\n")
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory), ["classes.json"], "nothing written")
        }
    }

    /// `train -o ""` and a negative --max-memory are usage errors naming the option.
    func testTrainRefusesAnEmptyOutputAndANegativeMemorySize() throws {
        let directory = temporaryDirectory(self)
        let config = directory + "/tiny.json"
        writeBytes(Array(mnistConfigJSON(trainLimit: 64, testLimit: 64, epochs: 1, layers: tinyLayers).utf8), to: config)
        assertUsageError(try runProduct("train", [config, "-o", ""], in: directory), "--output must name a folder; see train --help")
        assertUsageError(try runProduct("train", [config, "--max-memory", "-5G"], in: directory),
                         "--max-memory must be a positive size such as 2G or 500M, found '-5G'; see train --help")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory), ["tiny.json"], "nothing written")
    }

    /// Command-line values that replace the config's are checked like it, and an error names the option.
    func testTrainOptionErrorsNameTheOption() throws {
        let directory = temporaryDirectory(self)
        let config = directory + "/tiny.json"
        writeBytes(Array(mnistConfigJSON(trainLimit: 64, testLimit: 64, epochs: 1, layers: tinyLayers).utf8), to: config)
        for (arguments, expected) in [
            (["--learning-rate", "nan"], "--learning-rate must be a finite number, found nan"),
            (["--lr", "inf"], "--learning-rate must be a finite number, found inf"),
            (["--learning-rate", "1e-320"], "--learning-rate must be > 0, found 1e-320, which is 0 as a 32-bit float"),
            (["--epochs", "0"], "--epochs must be in 1...100000, found 0"),
            (["--lr", "-0.5"], "--learning-rate must be > 0, found -0.5"),
            (["--batch-size", "100000"], "--batch-size must be in 1...65536, found 100000"),
            (["--threads", "0"], "--threads must be in 1...256, found 0"),
        ] {
            let run = try runProduct("train", [config] + arguments, in: directory)
            XCTAssertEqual(run.status, 1)
            XCTAssertEqual(run.standardError, "error: \(expected)\n")
        }
    }

    /// `train --evaluate` with a checkpoint whose model does not fit the config's data names
    /// the checkpoint, not the config.
    func testEvaluateNamesTheCheckpoint() throws {
        let directory = temporaryDirectory(self)
        let config = directory + "/tiny.json"
        writeBytes(Array(mnistConfigJSON(trainLimit: 64, testLimit: 64, epochs: 1, layers: tinyLayers).utf8), to: config)
        let layers = try [#"{"type": "flatten"}"#, #"{"type": "dense", "units": 10}"#].map { try JSONDecoder().decode(LayerSpec.self, from: Data($0.utf8)) }
        let model = try Sequential(ModelDescription(input: [1, 14, 14], layers: layers), seed: 1)
        try Checkpoint(model: model, classNames: MNIST.classes, normalization: .none).write(to: directory + "/small.safetensors")
        let run = try runProduct("train", [config, "--evaluate", "small.safetensors"], in: directory)
        XCTAssertEqual(run.status, 1)
        XCTAssertEqual(run.standardError, "error: small.safetensors: its model takes 1×14×14 images but \(MNIST.trainImages) (the data of \(config)) holds 1×28×28 images\n")
    }

    /// `report` reads report.json files anyone may have edited: numbers and sizes the page
    /// cannot show are one line naming the file (1e300 images/s used to stop the process
    /// converting it to Int, a confusion matrix larger than the class list to index past it).
    func testReportRefusesAReportItCannotShow() throws {
        let directory = temporaryDirectory(self)
        func report(rate: String = "812.5", confusion: String = "[[1, 0], [0, 1]]") -> String {
            #"""
            {"name": "x", "status": "finished", "totalEpochs": 1, "classNames": ["a", "b\nc"], "bestEpoch": 1, "selection": "test",
             "epochs": [{"epoch": 1, "learningRate": 0.1, "trainLoss": 0.5, "trainAccuracy": 0.5, "testLoss": 0.5, "testAccuracy": 0.5,
                         "seconds": 1, "imagesPerSecond": \#(rate)}],
             "lastConfusion": \#(confusion), "bestConfusion": [], "mistakes": [], "layers": [], "inputShape": [1, 8, 8],
             "configuration": "{}", "machine": {}}
            """#
        }
        writeBytes(Array(report().utf8), to: directory + "/report.json")
        let good = try runProduct("report", [directory])
        XCTAssertEqual(good.status, 0, good.standardError)
        XCTAssertEqual(good.standardOutput, "Wrote \(directory)/report.html\n")
        for (rate, confusion, problem) in [("1e300", "[[1, 0], [0, 1]]", "epochs[0] holds a number out of range"),
                                           ("812.5", "[[1, 0, 0], [0, 1, 0], [0, 0, 1]]", "lastConfusion must be 2×2 counts (one row and column per class)")] {
            writeBytes(Array(report(rate: rate, confusion: confusion).utf8), to: directory + "/report.json")
            let run = try runProduct("report", [directory])
            XCTAssertEqual(run.status, 1)
            XCTAssertEqual(run.standardError, "error: \(directory)/report.json: is not a ConvNet report: \(problem)\n")
        }
    }

    /// Output that cannot be written is an error, not a silent success: `>/dev/full` and a
    /// closed stdout give one line on stderr and exit status 1; a reader that closed its pipe
    /// early still ends the writer by SIGPIPE (141), without a message.
    func testOutputThatCannotBeWrittenIsAnError() throws {
        let directory = temporaryDirectory(self)
        writeBytes(Array("""
            {"name": "x", "status": "finished", "totalEpochs": 1, "classNames": ["a", "b"], "bestEpoch": 0, "selection": "test",
             "epochs": [], "lastConfusion": [], "bestConfusion": [], "mistakes": [], "layers": [], "inputShape": [1, 8, 8],
             "configuration": "{}", "machine": {}}
            """.utf8), to: directory + "/report.json")
        let good = try runShell(#""$PRODUCTS/report" . >/dev/null"#, in: directory)
        XCTAssertEqual(good.status, 0, good.standardError)
        XCTAssertEqual(good.standardError, "")
        let full = try runShell(#""$PRODUCTS/report" . >/dev/full"#, in: directory)
        XCTAssertEqual(full.status, 1)
        XCTAssertEqual(full.standardError, "error: cannot write the output: no space left on device\n")
        let closed = try runShell(#""$PRODUCTS/report" . >&-"#, in: directory)
        XCTAssertEqual(closed.status, 1)
        XCTAssertEqual(closed.standardError, "error: cannot write the output: standard output is closed\n")
        let pipe = try runShell(#"{ sleep 1; "$PRODUCTS/report" .; echo $? >status; } | true; cat status"#, in: directory)
        XCTAssertEqual(pipe.standardOutput, "141\n")
        XCTAssertEqual(pipe.standardError, "")
        for name in ["train", "infer", "idx2png", "export"] {
            let help = try runShell(#""$PRODUCTS/\#(name)" --no-such-option >&-"#, in: directory)
            XCTAssertEqual(help.status, 1, name)
            XCTAssertEqual(help.standardError, "error: cannot write the output: standard output is closed\n", name)
        }
    }

    /// infer's text output escapes control characters in file and class names, so neither
    /// can forge a result line or send a terminal escape; --json keeps them exactly.
    func testInferEscapesNamesInTextOutput() throws {
        let directory = temporaryDirectory(self)
        let classes = ["\u{1B}[2Jzero", "one\nforged.png: zero (100.0%)"]
        let layers = try [#"{"type": "flatten"}"#, #"{"type": "dense", "units": 2}"#].map { try JSONDecoder().decode(LayerSpec.self, from: Data($0.utf8)) }
        let model = try Sequential(ModelDescription(input: [1, 8, 8], layers: layers), seed: 1)
        try Checkpoint(model: model, classNames: classes, normalization: .none, preparation: .resize).write(to: directory + "/model.safetensors")
        let image = directory + "/a\nb.png"
        try PNG.write(GrayImage(width: 8, height: 8, fill: 200), to: image)

        let text = try runProduct("infer", ["--checkpoint", directory + "/model.safetensors", "--top", "2", image])
        XCTAssertEqual(text.status, 0, text.standardError)
        XCTAssertEqual(text.standardOutput.filter { $0 == "\n" }.count, 1, text.standardOutput)
        XCTAssertTrue(text.standardOutput.hasPrefix("\(directory)/a\\nb.png: "), text.standardOutput)
        XCTAssertTrue(text.standardOutput.contains("\\u{1b}[2Jzero ("), text.standardOutput)
        XCTAssertTrue(text.standardOutput.contains("one\\nforged.png: zero (100.0%) ("), text.standardOutput)
        XCTAssertFalse(text.standardOutput.contains("\u{1B}"))

        let json = try runProduct("infer", ["--checkpoint", directory + "/model.safetensors", "--json", "--top", "2", image])
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.standardOutput.utf8)) as? [String: Any])
        XCTAssertEqual(object["file"] as? String, image)
        XCTAssertEqual(Set(((object["top"] as? [[String: Any]]) ?? []).compactMap { $0["label"] as? String }), Set(classes))
    }
}
