import ArgumentParser
import ConvNet
import Foundation

/// `swift run infer my-digit.png`: classifies PNG images with a trained checkpoint.
@main
struct Infer: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "infer",
        abstract: "Classify PNG images with a trained model.",
        discussion: """
            Each image is prepared the way MNIST digits were (dark-on-light is inverted, the ink is \
            cropped, fitted into a 20×20 box and centred by its centre of mass in 28×28) unless \
            --no-preprocess is given. Exit status: 0 when every file was classified, 1 otherwise.
            """)

    @Argument(help: ArgumentHelp("PNG files to classify.", valueName: "image.png"))
    var images: [String]

    @Option(help: ArgumentHelp("The model to use (written by train).", valueName: "checkpoint"))
    var checkpoint = Infer.defaultCheckpoint

    @Option(help: "Show the K most probable classes.")
    var top = 1

    @Flag(help: "Print one JSON object per file and line: file, label, probability, top (or error).")
    var json = false

    @Option(help: ArgumentHelp("Write the image the network saw for each file into this folder.", valueName: "dir"))
    var savePreprocessed: String?

    @Flag(help: "Feed images as they are (only resized to the model's input size).")
    var noPreprocess = false

    @Option(help: "Threads for the network.")
    var threads = 1

    static let defaultCheckpoint = "checkpoints/mnist/model.safetensors"

    func validate() throws {
        guard !images.isEmpty else { throw ValidationError("Give at least one PNG file.") }
        guard top >= 1 else { throw ValidationError("--top must be at least 1, found \(top).") }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1, found \(threads).") }
    }

    func run() throws {
        Parallelism.threads = threads
        let classifier: Classifier
        do {
            classifier = try Classifier.load(contentsOf: checkpoint)
        } catch {
            var message = error.description
            if checkpoint == Infer.defaultCheckpoint && !FileManager.default.fileExists(atPath: checkpoint) {
                message += "; train a model first with: swift run train --config configs/mnist.json"
            }
            Report.fail(message)
        }
        if let savePreprocessed {
            do {
                try FileManager.default.createDirectory(atPath: savePreprocessed, withIntermediateDirectories: true)
            } catch {
                Report.fail("\(savePreprocessed): cannot create the folder for --save-preprocessed")
            }
        }

        // Decode and prepare one file at a time (a large photo is dropped once it is 28×28),
        // then classify all prepared images together in batches.
        var outcomes: [Result<GrayImage, ImageError>] = []
        var savedNames = Set<String>()
        for path in images {
            do {
                let prepared = classifier.prepare(try PNG.read(contentsOf: path), preprocess: !noPreprocess)
                if let savePreprocessed {
                    let name = uniqueName(for: path, among: &savedNames)
                    try PNG.write(prepared, to: "\(savePreprocessed)/\(name)")
                }
                outcomes.append(.success(prepared))
            } catch {
                outcomes.append(.failure(error))
            }
        }
        let prepared = outcomes.compactMap { try? $0.get() }
        var predictions = classifier.classify(prepared, top: top).makeIterator()

        var failed = false
        for (path, outcome) in zip(images, outcomes) {
            switch outcome {
            case .success:
                let top = predictions.next()!
                print(json ? jsonLine(file: path, predictions: top) : textLine(file: path, predictions: top))
            case .failure(let error):
                failed = true
                if json {
                    print(jsonObject(["file": path, "error": error.message]))
                } else {
                    FileHandle.standardError.write(Data("error: \(error.description)\n".utf8))
                }
            }
        }
        if failed { throw ExitCode(1) }
    }

    private func textLine(file: String, predictions: [Prediction]) -> String {
        "\(file): " + predictions.map { "\($0.label) (\($0.probability < 0.0005 ? "<0.1%" : String(format: "%.1f%%", $0.probability * 100)))" }
            .joined(separator: ", ")
    }

    private func jsonLine(file: String, predictions: [Prediction]) -> String {
        let top = predictions.map { ["label": $0.label, "probability": rounded($0.probability)] as [String: Any] }
        return jsonObject(["file": file, "label": predictions[0].label, "probability": rounded(predictions[0].probability), "top": top])
    }

    private func rounded(_ value: Double) -> Double { (value * 1e6).rounded() / 1e6 }

    private func jsonObject(_ object: [String: Any]) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    /// `seven.png`, or `seven-2.png` when another file of that name was already saved.
    private func uniqueName(for path: String, among used: inout Set<String>) -> String {
        let base = (path as NSString).lastPathComponent
        let stem = (base as NSString).deletingPathExtension
        var name = "\(stem).png", counter = 2
        while used.contains(name) {
            name = "\(stem)-\(counter).png"
            counter += 1
        }
        used.insert(name)
        return name
    }
}
