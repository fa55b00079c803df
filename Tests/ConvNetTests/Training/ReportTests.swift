import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import XCTest
@testable import ConvNet

/// The run report (`report.html`, `report.json`, the confusion CSVs), the model table and the
/// text progress display, checked without a browser (scripts/check-report opens the page in one).
final class ReportTests: XCTestCase {
    /// The report of a real 3-epoch run: well-formed, one curve point per epoch in each chart,
    /// every image inline, no address outside the page.
    func testReportOfARun() throws {
        var configuration = try mnistConfiguration(trainLimit: 1_000, testLimit: 300, epochs: 3, validation: 200, layers: tinyLayers)
        configuration.name = "report <test> & \"quotes\""  // escaped in the page
        let directory = temporaryDirectory(self)
        _ = try Trainer(configuration: configuration, data: TrainerTests.data(configuration), checkpointDirectory: directory).run()
        let html = try String(contentsOfFile: directory + "/report.html", encoding: .utf8)

        final class Collector: NSObject, XMLParserDelegate {
            var elements: [(name: String, attributes: [String: String])] = []
            func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                        attributes: [String: String] = [:]) {
                elements.append((name, attributes))
            }
        }
        let parser = XMLParser(data: Data(html.utf8))
        let collector = Collector()
        parser.delegate = collector
        XCTAssertTrue(parser.parse(), "report.html is not well-formed: \(String(describing: parser.parserError))")

        // Accuracy and loss charts: train, validation and test curves of 3 points each; the
        // learning rate's one curve of 3.
        let curves = collector.elements.filter { $0.name == "polyline" }.map { $0.attributes["points"]!.split(separator: " ").count }
        XCTAssertEqual(curves, [3, 3, 3, 3, 3, 3, 3])
        // 24 mistakes (or all there are) and the 4 filters, all inline PNGs.
        let images = collector.elements.filter { $0.name == "img" }
        XCTAssertEqual(images.count, 24 + 4)
        XCTAssertTrue(images.allSatisfy { $0.attributes["src"]!.hasPrefix("data:image/png;base64,") })
        for image in images {
            let data = try XCTUnwrap(Data(base64Encoded: String(image.attributes["src"]!.dropFirst("data:image/png;base64,".count))))
            XCTAssertNoThrow(try PNG.decode(Array(data), name: "inline"))
        }
        // Nothing is fetched: no script, no stylesheet link, no address but the XML namespaces.
        XCTAssertFalse(collector.elements.contains { ["script", "link", "iframe", "object"].contains($0.name) })
        let addresses = html.components(separatedBy: "http").dropFirst().map { "http" + $0.prefix(40) }
        XCTAssertTrue(addresses.allSatisfy { $0.hasPrefix("http://www.w3.org/") }, "\(addresses)")
        XCTAssertTrue(html.contains("report &lt;test&gt; &amp; &quot;quotes&quot;"))
        XCTAssertFalse(html.contains("report <test>"))
        // The confusion matrix: one cell per (true, predicted) pair.
        XCTAssertEqual(collector.elements.filter { $0.name == "rect" }.count, 100)

        // report.json reads back, and `report` renders the same page from it.
        let report = try RunReport.read(directory: directory)
        XCTAssertEqual(report.epochs.map(\.epoch), [1, 2, 3])
        XCTAssertEqual(report.status, "finished")
        XCTAssertEqual(HTMLReport.page(for: [report]), html)
        let comparison = HTMLReport.page(for: [report, report])
        XCTAssertTrue(XMLParser(data: Data(comparison.utf8)).parse())

        // The confusion matrices as CSV, beside metrics.csv.
        let csv = try String(contentsOfFile: directory + "/confusion-last.csv", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(csv.count, 11)
        XCTAssertEqual(csv[0], "true \\ predicted,0,1,2,3,4,5,6,7,8,9,accuracy")
        let counts = csv.dropFirst().map { $0.split(separator: ",").dropFirst().dropLast().compactMap { Int($0) } }
        XCTAssertEqual(counts.joined().reduce(0, +), 300)
        XCTAssertEqual(Array(counts.map { $0.reduce(0, +) }), report.lastConfusion.map { $0.reduce(0, +) })
        XCTAssertTrue(FileManager.default.fileExists(atPath: directory + "/confusion-best.csv"))
    }

    func testConfusionCSVQuotesNames() {
        XCTAssertEqual(Trainer.confusionCSV([[3, 1], [0, 2]], classNames: ["a,b", "say \"hi\""]),
                       "true \\ predicted,\"a,b\",\"say \"\"hi\"\"\",accuracy\n\"a,b\",3,1,0.750000\n\"say \"\"hi\"\"\",0,2,1.000000\n")
    }

    /// The model table: every layer with its output shape, parameters and multiply-adds, and totals.
    func testModelTable() throws {
        let description = try JSONDecoder().decode(ModelDescription.self, from: Data(ModelTests.lenetJSON.utf8))
        let plan = try ModelPlan(description)
        XCTAssertEqual(plan.parameters, 431_080)
        XCTAssertEqual(plan.multiplyAccumulates, 20 * 25 * 576 + 50 * 500 * 64 + 800 * 500 + 500 * 10)
        let lines = plan.table.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, 15)  // header, rule, input, 10 layers, rule, total
        XCTAssertTrue(lines[0].hasPrefix("#  layer"), lines[0])
        XCTAssertEqual(lines[3].split(separator: " ").filter { !$0.isEmpty }, ["0", "conv", "20@5×5", "20×24×24", "520", "288,000"])
        XCTAssertTrue(lines.last!.hasPrefix("total") && lines.last!.contains("431,080"), lines.last!)
    }

    /// The progress bar never takes more columns than the terminal has; fields go, least useful
    /// first, and the epoch and its ETA stay.
    func testProgressFitsTheTerminal() {
        var progress = BatchProgress(epoch: 3, epochs: 12, step: 412, steps: 938, loss: 0.0512, accuracy: 0.984,
                                     imagesPerSecond: 9812, secondsRemaining: 3)
        progress.runSecondsRemaining = 80
        let wide = Report.progress(progress, width: 200)
        XCTAssertEqual(wide, "epoch 3/12  [==========>             ]  412/938  loss 0.0512  acc 98.40%  9,812 img/s  ETA 3s  run 1m20s")
        for width in 20...200 {
            let line = Report.progress(progress, width: width)
            XCTAssertLessThan(line.count, width, "width \(width): \(line)")
            if width >= 30 { XCTAssertTrue(line.hasPrefix("epoch 3/12") && line.contains("ETA 3s"), "width \(width): \(line)") }
        }
        XCTAssertFalse(Report.progress(progress, width: 80).contains("img/s"))
        XCTAssertTrue(Report.progress(progress, width: 80).contains("run 1m20s"))
        XCTAssertEqual(Report.progressLine(progress), "epoch 3/12  43% (412/938)  loss 0.0512  acc 98.40%  9,812 img/s  ETA 3s, run 1m20s")
    }

    func testNumbersAndQuoting() {
        XCTAssertEqual(Report.shortNumber(5.60872e-08), "5.6e-08")
        XCTAssertEqual(Report.shortNumber(0.01), "0.01")
        XCTAssertEqual(Report.shortNumber(0.00192404), "0.0019")
        XCTAssertEqual(Report.duration(7400), "2h03m")
        XCTAssertEqual(Report.shellQuoted("configs/mnist.json"), "configs/mnist.json")
        XCTAssertEqual(Report.shellQuoted("it's $HOME"), #"'it'\''s $HOME'"#)
        XCTAssertEqual(Report.shellQuoted(""), "''")
        XCTAssertEqual(Report.shellQuoted("--output=runs/a"), "--output=runs/a")
        XCTAssertEqual(Report.shellQuoted("=x"), "'=x'", "zsh expands a word starting with =")
    }

    /// Runs `command` with /bin/sh and returns what it printed.
    private func shell(_ command: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, command)
        return String(decoding: data, as: UTF8.self)
    }

    /// Awkward words, each quoted, reach a program through a real shell exactly as they are.
    private let awkwardWords = ["plain", "", "it's", "'", "''", "$HOME", "${HOME}", "`id`", "$(id)", "a b", "tab\there", "line\nbreak",
                                "back\\slash", "\"double\"", "*", "?", "[a]", "~", "~/x", "!x", "#x", "a;b", "a&b", "a|b", "<x>", "=x",
                                "-e", "--x=y z", "é ü", "\u{1B}[31m"]

    func testShellQuotingSurvivesTheShell() throws {
        let printed = try shell("printf '[%s]\\n' " + awkwardWords.map(Report.shellQuoted).joined(separator: " "))
        XCTAssertEqual(printed, awkwardWords.map { "[\($0)]\n" }.joined())
    }

    /// The printed resume command, run by a shell, gives the program the run's arguments
    /// (without the old --resume, and without --overwrite, which train refuses with --resume) and the new --resume checkpoint, each exactly.
    func testResumeCommandSurvivesTheShell() throws {
        let checkpoint = "/tmp/it's $USER/`id`/last.safetensors"
        let arguments = ["--config", "runs/it's $HOME.json", "--resume", "old.safetensors", "--init-from=x", "--overwrite", "--epochs", "3"] + awkwardWords
        let line = Report.resumeCommand("printf '[%s]\\n'", arguments: arguments, checkpoint: checkpoint)
        let expected = ["--config", "runs/it's $HOME.json", "--epochs", "3"] + awkwardWords + ["--resume", checkpoint]
        XCTAssertEqual(try shell(line), expected.map { "[\($0)]\n" }.joined())
    }

    /// `report` reads report.json files anyone may have edited, and pastes the images into
    /// `src="data:image/png;base64,…"`: a field that is not base64 of a PNG is refused, naming
    /// it, so it cannot close the attribute and add a script or an address to fetch.
    func testReadRefusesImagesThatAreNotBase64PNG() throws {
        let directory = temporaryDirectory(self)
        let png = Data(try PNG.encode(Image(channels: 1, height: 2, width: 2, fill: 7))).base64EncodedString()
        func report(mistake: String, filters: [String]) -> String {
            let images = filters.map { "\"" + $0.replacingOccurrences(of: "\"", with: "\\\"") + "\"" }.joined(separator: ", ")
            return """
                {"name": "x", "status": "finished", "totalEpochs": 1, "classNames": ["a", "b"], "bestEpoch": 1, "selection": "test",
                 "epochs": [], "lastConfusion": [], "bestConfusion": [], "layers": [], "inputShape": [1, 2, 2],
                 "mistakes": [{"png": "\(mistake.replacingOccurrences(of: "\"", with: "\\\""))", "index": 0, "truth": "a", "predicted": "b", "probability": 0.9}],
                 "filters": {"shape": [2, 1, 2, 2], "images": [\(images)]}, "configuration": "{}", "machine": {}}
                """
        }
        writeBytes(Array(report(mistake: png, filters: [png, png]).utf8), to: directory + "/report.json")
        XCTAssertEqual(try RunReport.read(directory: directory).mistakes[0].png, png)
        let script = #"x"/><script>fetch("http://example.com/")</script><img src="x"#
        let text = Data("hello, not a PNG".utf8).base64EncodedString()
        for (mistake, filters, problem) in [(script, [png, png], "mistakes[0].png is not a base64 PNG image"),
                                            (text, [png, png], "mistakes[0].png is not a base64 PNG image"),
                                            (png, [png, script], "filters.images[1] is not a base64 PNG image"),
                                            (png, [png, png + "\\n"], "filters.images[1] is not a base64 PNG image")] {
            writeBytes(Array(report(mistake: mistake, filters: filters).utf8), to: directory + "/report.json")
            XCTAssertThrowsError(try RunReport.read(directory: directory)) { error in
                XCTAssertEqual("\(error)", "\(directory)/report.json: is not a ConvNet report: \(problem)")
            }
        }
    }

    /// Every string of a report placed in the page is escaped, the best-epoch selection of a
    /// comparison too.
    func testComparisonEscapesTheSelection() throws {
        let epoch = try JSONDecoder().decode(RunReport.Epoch.self, from: Data("""
            {"epoch": 1, "learningRate": 0.1, "trainLoss": 0.5, "trainAccuracy": 0.5, "testLoss": 0.5, "testAccuracy": 0.5, "seconds": 1, "imagesPerSecond": 10}
            """.utf8))
        let run = RunReport(name: "a", status: "finished", totalEpochs: 1, classNames: ["a", "b"], epochs: [epoch], bestEpoch: 1,
                            selection: "<script>alert(1)</script>", lastConfusion: [], bestConfusion: [], mistakes: [], filters: nil,
                            layers: [], inputShape: [1, 2, 2], configuration: "{}", machine: [:])
        let page = HTMLReport.page(for: [run, run])
        XCTAssertFalse(page.contains("<script"))
        XCTAssertTrue(page.contains("50.00% (&lt;script&gt;alert(1)&lt;/script&gt;, epoch 1)"))
    }

    /// Format characters (Unicode category Cf: bidi overrides, isolates and marks, zero-width
    /// characters) are escaped like control characters: a class name cannot reorder or hide
    /// the text printed around it.
    func testFormatCharactersAreEscaped() {
        XCTAssertEqual(oneLine("4\u{202E}"), "4\\u{202e}")
        XCTAssertEqual(oneLine("\u{061C}q"), "\\u{61c}q")
        XCTAssertEqual(oneLine("a\u{2066}b\u{2069}\u{200E}\u{200F}\u{202A}\u{200B}\u{FEFF}"),
                       "a\\u{2066}b\\u{2069}\\u{200e}\\u{200f}\\u{202a}\\u{200b}\\u{feff}")
        XCTAssertEqual(oneLine("Ünïcødé 数字 ٣"), "Ünïcødé 数字 ٣")
        let result = EvaluationResult(loss: 0.5, correct: 1, count: 2, confusion: [[1, 0], [1, 0]])
        let text = Report.evaluation(result, classNames: ["4\u{202E}", "\u{061C}q"])
        XCTAssertTrue(text.hasPrefix("Per-class accuracy: 4\\u{202e} 100.00%  \\u{61c}q 0.00%\n"), text)
    }

    /// Class names are printed with control characters escaped: a name cannot add a line to
    /// the summary or send a terminal escape.
    func testEvaluationEscapesClassNames() {
        let result = EvaluationResult(loss: 0.5, correct: 1, count: 2, confusion: [[1, 0], [1, 0]])
        let text = Report.evaluation(result, classNames: ["cat\nPer-class accuracy: forged", "\u{1B}[2Jdog"])
        XCTAssertEqual(text.split(separator: "\n").count, 5, text)
        XCTAssertTrue(text.hasPrefix("Per-class accuracy: cat\\nPer-class accuracy: forged 100.00%  \\u{1b}[2Jdog 0.00%\n"), text)
        XCTAssertFalse(text.contains("\u{1B}"))
    }

    /// A divergence with inputs normalised far beyond the usual range points at the
    /// normalisation, not the learning rate.
    func testDivergenceAdviceNamesATinyNormalisationStd() {
        XCTAssertEqual(Normalization(mean: 0.5, std: 0.001).largestMagnitude, 500)
        let tiny = TrainingError.diverged(epoch: 1, step: 3, learningRate: 0.01, loss: .nan,
                                          largestInput: Normalization(mean: 0, std: 0.001).largestMagnitude)
        XCTAssertEqual(tiny.description, "training diverged: the loss became NaN at epoch 1, step 3 (learning rate 0.01); the normalised inputs reach ±1000: "
                       + "the normalisation's std is far too small for pixels in [0, 1]; check data.normalize before lowering the learning rate. "
                       + "The last good checkpoint was not overwritten.")
        let usual = TrainingError.diverged(epoch: 2, step: 5, learningRate: 10, loss: .infinity,
                                           largestInput: Normalization(mean: 0.1307, std: 0.3081).largestMagnitude)
        XCTAssertEqual(usual.description, "training diverged: the loss became infinite at epoch 2, step 5 (learning rate 10.0); "
                       + "try a lower learning rate, e.g. --learning-rate 1. The last good checkpoint was not overwritten.")
    }

    /// A loss axis starting just below zero gets a tick at 0 that prints as "0", not "-0".
    func testChartTicksHaveNoNegativeZero() {
        let ticks = LineChart.ticks(low: -0.004, high: 0.14, logarithmic: false)
        XCTAssertEqual(ticks.first, 0)
        XCTAssertEqual(ticks.first?.sign, .plus)
        XCTAssertEqual(String(format: "%.3g", ticks.first ?? 1), "0")
    }
}
