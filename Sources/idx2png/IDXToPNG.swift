import ArgumentParser
import CommandLineSupport
import ConvNet
import Foundation

/// `swift run idx2png configs/mnist.json --output data/mnist-png`: writes an IDX data set out
/// as folders of PNG images, `OUTPUT/train/<class>/*.png` and `OUTPUT/test/<class>/*.png`.
@main
struct IDXToPNG: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "idx2png",
        abstract: "Write the IDX data set of a config as folders of PNG images.",
        discussion: "The result is the layout that data format \"png-folders\" reads (see configs/mnist-png.json).",
        version: ConvNetVersion.string)

    /// A usage error is one line: `error: unknown option '--foo'; see idx2png --help`.
    static func main() { mainReportingOneLine() }

    @Argument(help: ArgumentHelp("A config with data format idx, e.g. configs/mnist.json (or give it with --config).", valueName: "config"))
    var configArgument: String?

    @Option(name: [.customShort("c"), .long], help: ArgumentHelp("A config with data format idx.", valueName: "file"))
    var config: String?

    @Option(name: [.short, .long], help: ArgumentHelp("Folder to create train/ and test/ in.", valueName: "dir"))
    var output: String

    @Option(parsing: .unconditional, help: "Write only the first N training images (N ≥ 1).")
    var trainLimit: Int?

    @Option(parsing: .unconditional, help: "Write only the first N test images (N ≥ 1).")
    var testLimit: Int?

    @Flag(help: "Replace the train/ and test/ folders of an earlier conversion in the output folder (deleted first).")
    var overwrite = false

    @Flag(name: [.short, .long], help: "Print only the final line.")
    var quiet = false

    func validate() throws {
        guard config != nil || configArgument != nil else { throw ValidationError("Give the config, e.g. idx2png configs/mnist.json --output data/mnist-png.") }
        if let config, let configArgument, config != configArgument { throw ValidationError("Give the config once.") }
        for (name, limit) in [("--train-limit", trainLimit), ("--test-limit", testLimit)] {
            if let limit, limit < 1 { throw ValidationError("\(name) must be at least 1, found \(limit)") }
        }
        guard !output.isEmpty else { throw ValidationError("--output must name a folder") }
    }

    func run() throws {
        let configPath = config ?? configArgument ?? ""
        do {
            var settings = try ConvNet.Configuration.load(contentsOf: configPath)
            guard settings.data.format == .idx else {
                throw ConfigError(file: configPath, "data.format is \(settings.data.format.rawValue); idx2png converts format idx")
            }
            // Each class becomes a folder: refuse names that cannot be one before reading the data.
            if let classes = settings.data.classes, let (index, problem) = ImageFolder.folderProblem(classes) {
                throw ConfigError(file: configPath, "data.classes[\(index)] is \"\(classes[index])\", \(problem)")
            }
            try checkOutputFolder()
            settings.data.validation = 0
            if let trainLimit { settings.data.trainLimit = trainLimit }
            if let testLimit { settings.data.testLimit = testLimit }
            let data = try TrainingData.load(settings, configurationFile: configPath)
            let live = isatty(STDOUT_FILENO) == 1
            func progress(_ part: String, _ total: Int) -> (Int) -> Void {
                { written in
                    guard !quiet else { return }
                    if live {
                        print("\r\u{1B}[2K\(part): \(Report.grouped(written)) of \(Report.grouped(total)) images", terminator: "")
                    } else if written % 10_000 == 0 {
                        print("\(part): \(Report.grouped(written)) of \(Report.grouped(total)) images")
                    }
                    fflush(nil)  // all streams: `stdout` is a global the Swift 6 checker cannot prove safe
                }
            }
            if overwrite { try removeEarlierConversion() }
            let train = try ImageFolder.write(data.train, to: "\(output)/train", progress: progress("train", data.train.count))
            let test = try ImageFolder.write(data.test, to: "\(output)/test", progress: progress("test", data.test.count))
            if live && !quiet { print("\r\u{1B}[2K", terminator: "") }
            print("Wrote \(Report.grouped(train)) training and \(Report.grouped(test)) test images to \(oneLine(output))/train and \(oneLine(output))/test")
        } catch let error as ConvNetError {
            Report.fail(error.description)
        }
    }

    /// Refuses an output folder that already holds something, unless `--overwrite`: writing
    /// into it would mix old and new images, and old class folders would stay.
    private func checkOutputFolder() throws(DataError) {
        guard !overwrite, let entries = try? FileManager.default.contentsOfDirectory(atPath: output), !entries.isEmpty else { return }
        let more = entries.count > 3 ? " and \(entries.count - 3) more" : ""
        throw DataError(file: output, "is not empty (it holds \(Report.list(Array(entries.sorted().prefix(3))))\(more)); "
                            + "give --overwrite to replace its train/ and test/, or another --output")
    }

    /// Deletes `train/` and `test/` of the output folder, written by an earlier conversion.
    private func removeEarlierConversion() throws(DataError) {
        for part in ["train", "test"] {
            let path = "\(output)/\(part)"
            guard FileManager.default.fileExists(atPath: path) else { continue }
            do { try FileManager.default.removeItem(atPath: path) } catch {
                throw DataError(file: path, "cannot delete the earlier conversion: \(error.localizedDescription)")
            }
        }
    }
}
