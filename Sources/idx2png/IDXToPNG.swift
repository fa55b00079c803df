import ArgumentParser
import ConvNet
import Foundation

/// `swift run idx2png --config configs/mnist.json --output data/mnist-png`: writes an IDX
/// data set out as folders of PNG images, `OUTPUT/train/<class>/*.png` and `OUTPUT/test/<class>/*.png`.
@main
struct IDXToPNG: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "idx2png",
        abstract: "Write the IDX data set of a config as folders of PNG images.",
        discussion: "The result is the layout that data format \"png-folders\" reads (see configs/mnist-png.json).")

    @Option(help: "A config with data format idx, e.g. configs/mnist.json.")
    var config: String

    @Option(help: ArgumentHelp("Folder to create train/ and test/ in.", valueName: "dir"))
    var output: String

    @Option(help: "Write only the first N training images.")
    var trainLimit: Int?

    @Option(help: "Write only the first N test images.")
    var testLimit: Int?

    func run() throws {
        do {
            var settings = try ConvNet.Configuration.load(contentsOf: config)
            guard settings.data.format == .idx else {
                throw ConfigError(file: config, "data.format is \(settings.data.format.rawValue); idx2png converts format idx")
            }
            settings.data.validation = 0
            if let trainLimit { settings.data.trainLimit = trainLimit }
            if let testLimit { settings.data.testLimit = testLimit }
            let data = try TrainingData.load(settings, configurationFile: config)
            let train = try ImageFolder.write(data.train, to: "\(output)/train")
            let test = try ImageFolder.write(data.test, to: "\(output)/test")
            print("Wrote \(train) training and \(test) test images to \(output)/train and \(output)/test")
        } catch let error as ConvNetError {
            Report.fail(error.description)
        }
    }
}
