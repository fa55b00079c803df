import ArgumentParser
import CommandLineSupport
import ConvNet
import Foundation

/// `swift run infer my-digit.png`: classifies PNG and JPEG images with a trained checkpoint.
@main
struct Infer: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "infer",
        abstract: "Classify PNG and JPEG images with a trained model.",
        discussion: """
            Each image is prepared as the checkpoint says (its preprocessing: "digit" finds the \
            digit, flattens uneven lighting, crops, fits it into 20×20 and centres it in 28×28 as \
            MNIST's digits were made; "resize" converts to the model's channels and resizes). \
            --preprocess overrides it. Folders are searched recursively for .png, .jpg and .jpeg \
            files, in sorted order. Exit status: 0 when every file was classified, 1 otherwise \
            (a file that cannot be read, or in which no digit was found).
            """,
        version: ConvNetVersion.string)

    /// A usage error is one line: `error: unknown option '--foo'; see infer --help`.
    static func main() { mainReportingOneLine() }

    @Argument(help: ArgumentHelp("Images (PNG or JPEG) or folders of them.", valueName: "image"))
    var images: [String]

    @Option(name: [.customShort("m"), .long], help: ArgumentHelp("The model to use (written by train).", valueName: "checkpoint"))
    var checkpoint = Infer.defaultCheckpoint

    @Option(name: [.customShort("k"), .long], parsing: .unconditional, help: "Show the K most probable classes.")
    var top = 1

    @Flag(help: "Print one JSON object per file and line: file, label, probability, top (or error).")
    var json = false

    @Option(help: ArgumentHelp("Write the image the network saw for each file into this folder.", valueName: "dir"))
    var savePreprocessed: String?

    @Option(help: ArgumentHelp("Prepare images as: digit, resize (stretched to the model's size), crop (shorter side fitted, centre cut out); default: the checkpoint's.",
                               valueName: "method"))
    var preprocess: PreparationChoice?

    @Flag(help: "With resize or crop: invert the images (dark-on-light data for a light-on-dark model).")
    var invert = false

    @Flag(help: "Same as --preprocess resize: feed images as they are, only resized to the model's input size.")
    var noPreprocess = false

    @Option(name: [.short, .long], parsing: .unconditional, help: "Threads for the network (as train's default, 2).")
    var threads = 2

    static let defaultCheckpoint = "checkpoints/mnist/model.safetensors"

    /// The `--preprocess` values.
    enum PreparationChoice: String, ExpressibleByArgument, CaseIterable {
        case digit, resize, crop
    }

    func validate() throws {
        guard !images.isEmpty else { throw ValidationError("Give at least one image file or folder.") }
        guard top >= 1 else { throw ValidationError("--top must be at least 1, found \(top).") }
        guard threads >= 1 && threads <= 256 else { throw ValidationError("--threads must be in 1...256, found \(threads).") }
        if noPreprocess && preprocess != nil { throw ValidationError("Give --no-preprocess or --preprocess, not both.") }
        if invert && (preprocess == .digit || (preprocess == nil && !noPreprocess)) {
            throw ValidationError("--invert goes with --preprocess resize or crop; digit preparation finds the ink's polarity itself.")
        }
    }

    /// The preparation the flags ask for, nil for the checkpoint's own.
    private var preparationOverride: InputPreparation? {
        if noPreprocess { return InputPreparation(.resize) }
        switch preprocess {
        case nil: return nil
        case .digit: return .digit
        case .resize: return InputPreparation(.resize, fit: .stretch, invert: invert)
        case .crop: return InputPreparation(.resize, fit: .crop, invert: invert)
        }
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
        let preparation = preparationOverride
        var savedNames = Set<String>()
        let minimumSide = classifier.decodingMinimumSide(for: preparation)

        // Decode and prepare one file at a time (a large photo is dropped once it is prepared),
        // then classify all prepared images together in batches.
        var files: [String] = []
        var outcomes: [Outcome] = []
        for argument in images {
            let found: [String]
            do { found = try ImageFolder.imageFiles(under: argument) } catch {
                files.append(argument)
                outcomes.append(.failed(ImageError(file: error.file, message: error.message)))
                continue
            }
            for path in found {
                files.append(path)
                do {
                    let image = try ImageFile.read(contentsOf: path, channels: classifier.channels, minimumSide: minimumSide)
                    switch classifier.prepare(image, using: preparation) {
                    case .prepared(let input):
                        if let savePreprocessed {
                            try PNG.write(input, to: "\(savePreprocessed)/\(uniqueName(for: path, among: &savedNames))")
                        }
                        outcomes.append(.prepared(input))
                    case .noDigit(let reason):
                        outcomes.append(.noDigit(reason))
                    }
                } catch {
                    outcomes.append(.failed(error))
                }
            }
        }
        let prepared = outcomes.compactMap { if case .prepared(let input) = $0 { return input } else { return nil } }
        var predictions = classifier.classify(prepared, top: top).makeIterator()

        var failed = false
        for (path, outcome) in zip(files, outcomes) {
            switch outcome {
            case .prepared:
                let top = predictions.next()!
                guard top.allSatisfy({ $0.probability.isFinite }) else {
                    // Finite weights can still overflow on the way to the logits: no answer, not "NaN%".
                    failed = true
                    let message = "the model's output for this image is not a number (its weights overflow); \(checkpoint) cannot classify"
                    if json { print(jsonObject(["file": path, "error": message])) } else {
                        FileHandle.standardError.write(Data("error: \(oneLine(path)): \(oneLine(message))\n".utf8))
                    }
                    continue
                }
                print(json ? jsonLine(file: path, predictions: top) : textLine(file: path, predictions: top))
            case .noDigit(let reason):
                failed = true
                print(json ? jsonObject(["file": path, "error": "no digit found: \(reason)"]) : "\(oneLine(path)): no digit found (\(oneLine(reason)))")
            case .failed(let error):
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

    /// What became of one file.
    private enum Outcome {
        case prepared(Image)
        case noDigit(String)
        case failed(ImageError)
    }

    /// `digit.png: 7 (99.1%), 1 (0.6%)`, the file and class names with control characters
    /// escaped (`oneLine`), so neither can forge a line or send a terminal escape.
    private func textLine(file: String, predictions: [Prediction]) -> String {
        "\(oneLine(file)): " + predictions.map { "\(oneLine($0.label)) (\($0.probability < 0.0005 ? "<0.1%" : String(format: "%.1f%%", $0.probability * 100)))" }
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
