import Foundation
import XCTest
@testable import ConvNet

final class ImageFolderTests: XCTestCase {
    /// MNIST written as PNG folders reads back as the same pixels and labels, and a model
    /// trained from the PNG copy reaches exactly the accuracy of one trained from the IDX
    /// images (same images, same order, same seed).
    func testPNGCopyTrainsLikeIDX() throws {
        let root = temporaryDirectory(self)
        let train = MNIST.train.slice(0..<1_200), test = MNIST.test.slice(0..<300)
        XCTAssertEqual(try ImageFolder.write(train, to: root + "/train"), 1_200)
        try ImageFolder.write(test, to: root + "/test")
        XCTAssertTrue(FileManager.default.fileExists(atPath: root + "/train/5/0000.png"))  // image 0 is a 5

        let configuration = try mnistConfiguration(trainLimit: 1_200, testLimit: 300, epochs: 1,
                                                   layers: #"{"type": "conv", "filters": 6, "kernel": 5}, {"type": "relu"}, {"type": "maxpool", "size": 2}, {"type": "flatten"}, {"type": "dense", "units": 10}"#)
        var png = configuration
        png.data = try JSONDecoder().decode(DataConfiguration.self, from: Data("""
            {"format": "png-folders", "root": "\(root)", "normalize": {"mean": 0.1307, "std": 0.3081}}
            """.utf8))
        let fromPNG = try TrainingData.load(png, configurationFile: "png.json")
        XCTAssertEqual(fromPNG.classNames, MNIST.classes)

        // The folder loader orders images by class, then file name: reorder the IDX subsets alike.
        func byClass(_ dataset: Dataset) -> Dataset {
            let order = (0..<dataset.count).sorted { (dataset.labels[$0], $0) < (dataset.labels[$1], $1) }
            let size = dataset.sampleSize
            return Dataset(images: order.flatMap { dataset.images[($0 * size)..<(($0 + 1) * size)] },
                           labels: order.map { dataset.labels[$0] }, sampleShape: dataset.sampleShape, classNames: dataset.classNames)
        }
        let fromIDX = TrainingData(train: byClass(train), validation: nil, test: byClass(test))
        XCTAssertEqual(fromPNG.train.images, fromIDX.train.images)
        XCTAssertEqual(fromPNG.train.labels, fromIDX.train.labels)
        XCTAssertEqual(fromPNG.test.images, fromIDX.test.images)

        let pngRun = try Trainer(configuration: png, data: fromPNG, checkpointDirectory: temporaryDirectory(self)).run()
        let idxRun = try Trainer(configuration: configuration, data: fromIDX, checkpointDirectory: temporaryDirectory(self)).run()
        XCTAssertEqual(pngRun.epochs[0].test.accuracy, idxRun.epochs[0].test.accuracy)
        XCTAssertGreaterThan(pngRun.epochs[0].test.accuracy, 0.7)
    }

    func testResizesToTheModelInputAndChecksFolders() throws {
        let root = temporaryDirectory(self)
        for (name, value) in [("cat", UInt8(10)), ("dog", UInt8(200))] {
            try FileManager.default.createDirectory(atPath: "\(root)/\(name)", withIntermediateDirectories: true)
            try PNG.write(GrayImage(width: 56, height: 42, fill: value), to: "\(root)/\(name)/a.png")
        }
        let dataset = try ImageFolder.load(root, classNames: nil, imageShape: [1, 28, 28])
        XCTAssertEqual(dataset.classNames, ["cat", "dog"])
        XCTAssertEqual(dataset.labels, [0, 1])
        XCTAssertEqual(dataset.images.count, 2 * 784)
        XCTAssertEqual(Set(dataset.images[0..<784]), [10])
        XCTAssertEqual(Set(dataset.images[784...]), [200])

        assertThrows("\(root): has class folders [\"cat\", \"dog\"] but the classes are [\"cat\", \"cow\"]") {
            try ImageFolder.load(root, classNames: ["cat", "cow"], imageShape: [1, 28, 28])
        }
        assertThrows("\(root)/missing: no such folder") { try ImageFolder.load(root + "/missing", classNames: nil, imageShape: [1, 28, 28]) }
        writeBytes(Array("not a png".utf8), to: "\(root)/dog/b.png")
        assertThrows("\(root)/dog/b.png: not a PNG or JPEG file (it starts with text)") {
            try ImageFolder.load(root, classNames: nil, imageShape: [1, 28, 28])
        }
    }

    /// Labels are bytes: a folder of 257 class folders is refused with one line before any
    /// image is read (it used to stop the process converting label 256 to UInt8).
    func testMoreThan256ClassFoldersAreRefused() throws {
        let root = temporaryDirectory(self)
        for index in 0..<257 {
            try FileManager.default.createDirectory(atPath: String(format: "%@/class-%03d", root, index), withIntermediateDirectories: true)
        }
        // One image, in the last class: its label, 256, is the one that does not fit a byte.
        try PNG.write(GrayImage(width: 28, height: 28, fill: 9), to: root + "/class-256/a.png")
        assertThrows("\(root): has 257 class sub-folders, more than the 256 classes a data set can have") {
            try ImageFolder.load(root, classNames: nil, imageShape: [1, 28, 28])
        }
    }

    /// Class names that cannot be folder names are refused before anything is written, and
    /// nothing is ever written outside the folder (`..` used to write beside it, `""` into it,
    /// and two classes stored as one folder, `a/b` and `a-b`, were merged).
    func testWritingRefusesClassNamesThatAreNotFolderNames() throws {
        let root = temporaryDirectory(self)
        let images = [UInt8](repeating: 0, count: 2 * 16)
        for (names, expected) in [
            (["a", ".."], "class 1 is \"..\", which cannot be a folder name: it names the folder itself or its parent"),
            ([".", "b"], "class 0 is \".\", which cannot be a folder name: it names the folder itself or its parent"),
            (["", "b"], "class 0 is \"\", which cannot be a folder name: it is empty"),
            (["a/b", "a-b"], "class 1 is \"a-b\", which would share the folder \"a-b\" with class 0"),
            (["a", "b\nc"], "class 1 is \"b\\nc\", which cannot be a folder name: it contains a control or format character"),
            (["a", ".hidden"], "class 1 is \".hidden\", which cannot be a folder name: a folder starting with '.' is hidden and not read back"),
        ] {
            let dataset = Dataset(images: images, labels: [0, 1], sampleShape: [1, 4, 4], classNames: names)
            assertThrows("\(root)/out/train: \(expected)") { try ImageFolder.write(dataset, to: root + "/out/train") }
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: root), [], "nothing written")
    }

    /// The idx2png executable writes the layout the png-folders format reads.
    func testIDXToPNGExecutable() throws {
        let directory = temporaryDirectory(self)
        // Run from the repository root: the config's relative data paths resolve against it.
        let run = try runProduct("idx2png", ["--config", "configs/mnist.json", "--output", directory + "/out",
                                             "--train-limit", "30", "--test-limit", "20"], in: repositoryRoot)
        XCTAssertEqual(run.status, 0, run.standardError)
        XCTAssertEqual(run.standardOutput, "Wrote 30 training and 20 test images to \(directory)/out/train and \(directory)/out/test\n")
        let test = try ImageFolder.load(directory + "/out/test", classNames: MNIST.classes, imageShape: [1, 28, 28])
        XCTAssertEqual(test.count, 20)
        // A populated output folder is refused; --overwrite deletes the earlier train/ and test/ first.
        try FileManager.default.createDirectory(atPath: directory + "/out/train/stale", withIntermediateDirectories: true)
        writeBytes([1], to: directory + "/out/notes.txt")
        let again = try runProduct("idx2png", ["--config", "configs/mnist.json", "--output", directory + "/out", "--train-limit", "10"], in: repositoryRoot)
        XCTAssertEqual(again.status, 1)
        XCTAssertEqual(again.standardError, "error: \(directory)/out: is not empty (it holds [notes.txt, test, train]); "
                       + "give --overwrite to replace its train/ and test/, or another --output\n")
        let replaced = try runProduct("idx2png", ["--config", "configs/mnist.json", "--output", directory + "/out", "--train-limit", "10",
                                                  "--test-limit", "5", "--overwrite"], in: repositoryRoot)
        XCTAssertEqual(replaced.status, 0, replaced.standardError)
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory + "/out/train/stale"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: directory + "/out/notes.txt"))
        XCTAssertEqual(try ImageFolder.load(directory + "/out/test", classNames: MNIST.classes, imageShape: [1, 28, 28]).count, 5)
        assertFailsWithOneLine(try runProduct("idx2png", ["--config", "\(repositoryRoot)/configs/mnist-png.json", "--output", "x"], in: directory),
                               "\(repositoryRoot)/configs/mnist-png.json: data.format is png-folders; idx2png converts format idx")
    }
}
