import Foundation
import XCTest
@testable import ConvNet

/// Users' own images: MNIST digits re-drawn as a user would, the trained model on them,
/// and the `infer` executable on good and bad files.
final class InferTests: XCTestCase {
    /// A small model trained once for these tests (conv 8@5×5, pool, dense; 12,000 images, 1 epoch).
    static let checkpointPath: String = {
        let directory = NSTemporaryDirectory() + "convnet-infer-tests-\(getpid())"
        let configuration = try! mnistConfiguration(trainLimit: 12_000, testLimit: 500, epochs: 1, layers: """
            {"type": "conv", "filters": 8, "kernel": 5}, {"type": "relu"}, {"type": "maxpool", "size": 2},
            {"type": "flatten"}, {"type": "dense", "units": 64}, {"type": "relu"}, {"type": "dense", "units": 10}
            """)
        let data = TrainingData(train: MNIST.train.slice(0..<12_000), validation: nil, test: MNIST.test.slice(0..<500))
        _ = try! Trainer(configuration: configuration, data: data, checkpointDirectory: directory).run()
        return directory + "/model.safetensors"
    }()

    override class func tearDown() {
        try? FileManager.default.removeItem(atPath: (checkpointPath as NSString).deletingLastPathComponent)
    }

    /// MNIST test digit `index` as a 28×28 image.
    private func sample(_ index: Int) -> GrayImage {
        GrayImage(width: 28, height: 28, pixels: Array(MNIST.test.images[(index * 784)..<((index + 1) * 784)]))
    }

    /// The digit as a user might draw it: enlarged `factor` times, dark ink on white paper,
    /// off-centre on a 300×200 canvas.
    private func redrawn(_ digit: GrayImage, factor: Int, bilinear: Bool, top: Int, left: Int) -> GrayImage {
        let large = bilinear ? DigitPreprocessor.resize(digit, toHeight: 28 * factor, width: 28 * factor)
                             : DigitDrawing.enlarged(digit, by: factor)
        return DigitDrawing.pasted(DigitDrawing.inverted(large), onto: GrayImage(width: 300, height: 200, fill: 255),
                                   top: top, left: left)
    }

    /// Preprocessing undoes the re-drawing: each digit comes back within a small difference
    /// of the original sample (mean absolute difference per pixel, in grey levels).
    func testRedrawnMNISTDigitsComeBack() {
        let preprocessor = DigitPreprocessor()
        var differences: [Double] = []
        for index in 0..<200 {
            let original = sample(index)
            let canvas = redrawn(original, factor: 6, bilinear: false, top: 10 + index % 20, left: 20 + 4 * (index % 25))
            differences.append(DigitDrawing.meanAbsoluteDifference(preprocessor.prepare(canvas), original))
        }
        XCTAssertLessThan(differences.reduce(0, +) / Double(differences.count), 2)
        XCTAssertLessThan(differences.max()!, 20)
    }

    /// The model classifies re-drawn test digits (bilinear enlargement, inverted, off-centre)
    /// about as accurately as the originals: within 2 points.
    func testModelClassifiesRedrawnDigitsLikeOriginals() throws {
        let classifier = try Classifier.load(contentsOf: Self.checkpointPath)
        let indices = Array(0..<500)
        let originals = indices.map(sample)
        let redrawnImages = indices.map { prepared(redrawn(sample($0), factor: 3, bilinear: true, top: 20 + $0 % 90, left: 10 + $0 % 200), by: classifier) }
        func accuracy(_ images: [GrayImage]) -> Double {
            let predictions = classifier.classify(images.map(Image.init))
            let correct = zip(predictions, indices).filter { $0[0].label == String(MNIST.test.labels[$1]) }.count
            return Double(correct) / Double(indices.count)
        }
        let (originalAccuracy, redrawnAccuracy) = (accuracy(originals), accuracy(redrawnImages))
        XCTAssertGreaterThan(originalAccuracy, 0.9)
        XCTAssertGreaterThanOrEqual(redrawnAccuracy, originalAccuracy - 0.02, "original \(originalAccuracy), redrawn \(redrawnAccuracy)")
        // Resizing the whole canvas straight to 28×28, as naive tools do, fails.
        let naive = accuracy(indices.map { prepared(redrawn(sample($0), factor: 3, bilinear: true, top: 20, left: 10), by: classifier, using: .resize) })
        XCTAssertLessThan(naive, 0.5)
    }

    /// `image` lit unevenly: each pixel multiplied by a light level falling linearly by
    /// `gradient` grey levels (of 255) from left to right, and, with `shadow`, by a soft
    /// shadow over the top-right corner that dims it to 45% with a wide, smooth edge.
    private func lit(_ image: GrayImage, gradient: Double, shadow: Bool) -> GrayImage {
        var output = image
        for row in 0..<image.height {
            for column in 0..<image.width {
                var light = 1 - gradient / 255 * Double(column) / Double(image.width - 1)
                if shadow {
                    // Distance into the shadow from its edge, the line row − column = −width/3.
                    let depth = (Double(column - row) - Double(image.width) / 3) / (Double(image.width) / 6)
                    light *= 1 - 0.55 * min(1, max(0, depth))
                }
                output[row, column] = UInt8((Double(image[row, column]) * light).rounded())
            }
        }
        return output
    }

    /// Uneven lighting is flattened: digits re-drawn on a page with a 100-level lighting
    /// gradient, and with a soft shadow across a corner as well, are classified within
    /// 3 points of the evenly lit ones, and each prepares close to its evenly lit version.
    func testLightingGradientAndShadow() throws {
        let classifier = try Classifier.load(contentsOf: Self.checkpointPath)
        let indices = Array(0..<200)
        let even = indices.map { redrawn(sample($0), factor: 4, bilinear: true, top: 30 + $0 % 40, left: 40 + $0 % 120) }
        func accuracy(_ pages: [GrayImage]) -> Double {
            let predictions = classifier.classify(pages.map { Image(prepared($0, by: classifier)) })
            return Double(zip(predictions, indices).filter { $0[0].label == String(MNIST.test.labels[$1]) }.count) / Double(indices.count)
        }
        let evenAccuracy = accuracy(even)
        for shadow in [false, true] {
            let pages = even.map { lit($0, gradient: 100, shadow: shadow) }
            XCTAssertGreaterThanOrEqual(accuracy(pages), evenAccuracy - 0.03, "shadow \(shadow)")
            let differences = zip(pages, even).map { DigitDrawing.meanAbsoluteDifference(prepared($0, by: classifier), prepared($1, by: classifier)) }
            XCTAssertLessThan(differences.reduce(0, +) / Double(differences.count), 6, "shadow \(shadow)")
        }
    }

    /// No digit: a blank page (unevenly lit, with paper noise), a wide band of ink and a filled
    /// disc give `.none` with the reason; a thin 1 that fills its box is still a digit.
    func testNoDigitFound() {
        let preprocessor = DigitPreprocessor()
        var random = SeededRandom(seed: 4)
        var page = GrayImage(width: 300, height: 200, fill: 0)
        for i in 0..<page.pixels.count { page.pixels[i] = UInt8(235 + random.nextIndex(below: 9)) }
        for page in [page, lit(page, gradient: 100, shadow: true), GrayImage(width: 28, height: 28, fill: 0)] {
            guard case .none(let reason) = preprocessor.prepareDigit(page) else { return XCTFail("a blank page is no digit") }
            XCTAssertTrue(reason.contains("blank"), reason)
        }
        var band = GrayImage(width: 300, height: 200, fill: 255)
        DigitDrawing.bar(&band, top: 90, left: 20, height: 14, width: 260, ink: 10)
        guard case .none(let wide) = preprocessor.prepareDigit(band) else { return XCTFail("a band is no digit") }
        XCTAssertTrue(wide.contains("wide"), wide)
        var disc = GrayImage(width: 300, height: 200, fill: 255)
        DigitDrawing.ring(&disc, row: 100, column: 150, outer: 22, inner: 0, ink: 10)  // smaller than the lighting window (a quarter of the shorter side)
        guard case .none(let filled) = preprocessor.prepareDigit(disc) else { return XCTFail("a filled disc is no digit") }
        XCTAssertTrue(filled.contains("filled"), filled)
        var one = GrayImage(width: 300, height: 200, fill: 255)
        DigitDrawing.bar(&one, top: 30, left: 140, height: 140, width: 16, ink: 10)
        guard case .digit = preprocessor.prepareDigit(one) else { return XCTFail("a 1 is a digit") }
    }

    /// `image` prepared by `classifier` (its own preparation, or `preparation`) as a grey image; black when no digit is found.
    private func prepared(_ image: GrayImage, by classifier: Classifier, using preparation: InputPreparation? = nil) -> GrayImage {
        switch classifier.prepare(Image(image), using: preparation) {
        case .prepared(let input): return input.luminance
        case .noDigit: return GrayImage(width: 28, height: 28, fill: 0)
        }
    }

    /// Writes the test's input files: two good digits and one of each kind of bad file.
    private func makeFiles(in directory: String) throws -> [String: String] {
        var files: [String: String] = [:]
        func add(_ name: String, _ bytes: [UInt8]) { writeBytes(bytes, to: "\(directory)/\(name)"); files[name] = "\(directory)/\(name)" }
        let seven = redrawn(sample(0), factor: 4, bilinear: true, top: 30, left: 100)  // test image 0 is a 7
        let two = redrawn(sample(1), factor: 4, bilinear: true, top: 50, left: 20)     // test image 1 is a 2
        add("seven.png", try PNG.encode(seven))
        add("two.png", try PNG.encode(two))
        add("empty.png", [])
        add("text.png", Array("a shopping list\n".utf8))
        let good = try PNG.encode(seven)
        add("truncated.png", Array(good.prefix(good.count / 2)))
        var crc = good
        crc[29] ^= 0x01  // the IHDR CRC
        add("crc.png", crc)
        add("photo.png", [0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, 0x4A, 0x46, 0x49, 0x46, 0])
        add("huge.png", RawPNG.claiming(width: 100_000, height: 100_000))
        add("blank.png", try PNG.encode(GrayImage(width: 200, height: 150, fill: 250)))
        // A phone photo: JPEG, stored turned a quarter (EXIF orientation 6: turn it clockwise to view).
        let upright = redrawn(sample(2), factor: 4, bilinear: true, top: 40, left: 60)  // test image 2 is a 1
        let stored = Image(upright).oriented(8)  // turned counter-clockwise, as the sensor saw it
        add("photo-of-one.jpg", JPEGFixtures.withOrientation(try JPEG.encode(stored, quality: 85), 6))
        try FileManager.default.createDirectory(atPath: "\(directory)/folder.png", withIntermediateDirectories: true)
        files["folder.png"] = "\(directory)/folder.png"
        files["missing.png"] = "\(directory)/missing.png"
        return files
    }

    func testInferExecutable() throws {
        let directory = temporaryDirectory(self)
        let files = try makeFiles(in: directory)
        let checkpoint = Self.checkpointPath

        let good = try runProduct("infer", ["--checkpoint", checkpoint, files["seven.png"]!, files["two.png"]!, "--top", "3"])
        XCTAssertEqual(good.status, 0, good.standardError)
        let lines = good.standardOutput.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, 2)
        XCTAssertTrue(lines[0].hasPrefix("\(files["seven.png"]!): 7 ("), lines[0])
        XCTAssertTrue(lines[1].hasPrefix("\(files["two.png"]!): 2 ("), lines[1])
        XCTAssertEqual(lines[0].components(separatedBy: "%)").count - 1, 3, "three classes with --top 3")

        let bad = ["empty.png", "text.png", "truncated.png", "crc.png", "photo.png", "huge.png", "folder.png", "missing.png"]
        let mixed = try runProduct("infer", ["--checkpoint", checkpoint, files["seven.png"]!] + bad.map { files[$0]! } + [files["two.png"]!])
        XCTAssertEqual(mixed.status, 1, "a failed file makes the exit status non-zero")
        XCTAssertEqual(mixed.standardOutput.split(separator: "\n").count, 2, "the good files are still classified")
        let errors = mixed.standardError.split(separator: "\n").map(String.init)
        XCTAssertEqual(errors.count, bad.count, mixed.standardError)
        let expected = [
            "empty.png": "empty file",
            "text.png": "not a PNG or JPEG file (it starts with text)",
            "truncated.png": "truncated or corrupt PNG",
            "crc.png": "truncated or corrupt PNG: IHDR: CRC error",
            "photo.png": "truncated or corrupt JPEG",
            "huge.png": "image is 100000×100000 pixels; the limit is 16384 on a side",
            "folder.png": "holds no .png, .jpg or .jpeg files",
            "missing.png": "no such file",
        ]
        for (name, line) in zip(bad, errors) {
            XCTAssertTrue(line.hasPrefix("error: \(files[name]!): \(expected[name]!)"), line)
        }

        // A blank page answers "no digit found" on its own line, and the exit status says so;
        // a JPEG photo with an EXIF orientation is read upright.
        let blank = try runProduct("infer", ["--checkpoint", checkpoint, files["blank.png"]!, files["photo-of-one.jpg"]!])
        XCTAssertEqual(blank.status, 1)
        XCTAssertEqual(blank.standardOutput.split(separator: "\n").map(String.init), [
            "\(files["blank.png"]!): no digit found (the image is blank: no ink stands out from the page)",
        ] + [blank.standardOutput.split(separator: "\n").map(String.init).last!])
        XCTAssertTrue(blank.standardOutput.split(separator: "\n").last!.hasPrefix("\(files["photo-of-one.jpg"]!): 1 ("), blank.standardOutput)
        // Folders are searched recursively, in sorted order.
        let folder = directory + "/batch"
        try FileManager.default.createDirectory(atPath: folder + "/sub", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: files["seven.png"]!, toPath: folder + "/sub/b.png")
        try FileManager.default.copyItem(atPath: files["two.png"]!, toPath: folder + "/a.png")
        writeBytes(Array("notes".utf8), to: folder + "/notes.txt")
        let walked = try runProduct("infer", ["--checkpoint", checkpoint, folder])
        XCTAssertEqual(walked.status, 0, walked.standardError)
        XCTAssertEqual(walked.standardOutput.split(separator: "\n").map { $0.split(separator: ":")[0] }, ["\(folder)/a.png", "\(folder)/sub/b.png"])

        let json = try runProduct("infer", ["--checkpoint", checkpoint, "--json", "--top", "2", files["seven.png"]!, files["text.png"]!, files["blank.png"]!])
        XCTAssertEqual(json.status, 1)
        let objects = try json.standardOutput.split(separator: "\n").map {
            try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
        XCTAssertEqual(objects.count, 3)
        XCTAssertEqual(objects[2]["error"] as? String, "no digit found: the image is blank: no ink stands out from the page")
        XCTAssertEqual(objects[0]["file"] as? String, files["seven.png"])
        XCTAssertEqual(objects[0]["label"] as? String, "7")
        XCTAssertGreaterThan(objects[0]["probability"] as? Double ?? 0, 0.5)
        XCTAssertEqual((objects[0]["top"] as? [[String: Any]])?.count, 2)
        XCTAssertEqual(objects[1]["file"] as? String, files["text.png"])
        XCTAssertEqual(objects[1]["error"] as? String, "not a PNG or JPEG file (it starts with text)")

        // --save-preprocessed writes the 28×28 image the network saw.
        let seen = directory + "/seen"
        XCTAssertEqual(try runProduct("infer", ["--checkpoint", checkpoint, "--save-preprocessed", seen, files["seven.png"]!]).status, 0)
        let saved = try PNG.read(contentsOf: seen + "/seven.png")
        XCTAssertEqual(saved, DigitPreprocessor().prepare(try PNG.read(contentsOf: files["seven.png"]!)))
    }

    func testCheckpointProblems() throws {
        let directory = temporaryDirectory(self)
        let files = try makeFiles(in: directory)
        assertFailsWithOneLine(try runProduct("infer", ["--checkpoint", directory + "/none.safetensors", files["seven.png"]!]),
                               "\(directory)/none.safetensors: no such file")
        // Without --checkpoint, the default path is explained with the command that makes it.
        assertFailsWithOneLine(try runProduct("infer", [files["seven.png"]!], in: directory),
                               "checkpoints/mnist/model.safetensors: no such file; train a model first with: swift run train --config configs/mnist.json")
        var corrupt = Array(FileManager.default.contents(atPath: Self.checkpointPath)!)
        corrupt[corrupt.count - 5] ^= 0x10
        writeBytes(corrupt, to: directory + "/corrupt.safetensors")
        assertFailsWithOneLine(try runProduct("infer", ["--checkpoint", directory + "/corrupt.safetensors", files["seven.png"]!]),
                               "\(directory)/corrupt.safetensors: is corrupt: its contents do not match its checksum")
        // Finite weights so large that the logits overflow: no "NaN%" answer, one line per image.
        let model = try Checkpoint.read(contentsOf: Self.checkpointPath).makeModel()
        model.parameters[model.parameters.count - 2].value.fill(3e38)  // the last dense layer's weights
        let huge = directory + "/huge.safetensors"
        try Checkpoint(model: model, classNames: MNIST.classes, normalization: Normalization(mean: 0.1307, std: 0.3081),
                       preparation: .digit).write(to: huge)
        assertFailsWithOneLine(try runProduct("infer", ["--checkpoint", huge, files["seven.png"]!]),
                               "\(files["seven.png"]!): the model's output for this image is not a number (its weights overflow); \(huge) cannot classify")
    }
}
