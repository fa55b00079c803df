import Foundation
import XCTest
@testable import ConvNet

/// Per-channel normalisation, IDX files with a channel dimension, and colour image folders.
final class ColourDataTests: XCTestCase {
    func testNormalizationForms() throws {
        func decode(_ json: String) throws -> NormalizationSetting {
            try JSONDecoder().decode(NormalizationSetting.self, from: Data(json.utf8))
        }
        XCTAssertEqual(try decode(#"{"mean": 0.5, "std": 0.25}"#), .fixed(Normalization(mean: [0.5], std: [0.25])))
        XCTAssertEqual(try decode(#"{"mean": [0.1, 0.2, 0.3], "std": [0.4, 0.5, 0.6]}"#),
                       .fixed(Normalization(mean: [0.1, 0.2, 0.3], std: [0.4, 0.5, 0.6])))
        XCTAssertEqual(try decode(#""auto""#), .automatic)
        for bad in [#"{"mean": [0.1, 0.2], "std": [0.4, 0.5]}"#, #"{"mean": [0.1, 0.2, 0.3], "std": 0.5}"#,
                    #"{"mean": 0.5, "std": 0}"#, #""manual""#, #"{"mean": 1.5, "std": 0.5}"#] {
            XCTAssertThrowsError(try decode(bad), bad)
        }
    }

    /// Each channel of a batch gets its own mean and standard deviation.
    func testBatchLoaderNormalisesEachChannel() {
        // One 2-pixel RGB image: R = (0, 255), G = (51, 51), B = (255, 0).
        let dataset = Dataset(images: [0, 255, 51, 51, 255, 0], labels: [0], sampleShape: [3, 1, 2], classNames: ["a", "b"])
        let loader = BatchLoader(normalization: Normalization(mean: [0.5, 0.2, 0], std: [0.5, 1, 0.25]))
        loader.load(dataset, range: 0..<1)
        assertClose(loader.images.values, [-1, 1, 0, 0, 4, 0], tolerance: 1e-6)
    }

    /// "auto" measures each channel's mean and standard deviation: on MNIST's training images,
    /// the well-known 0.1307 and 0.3081.
    func testAutomaticNormalizationMeasuresTheData() {
        let measured = Normalization.measured(on: MNIST.train)
        XCTAssertEqual(measured.mean[0], 0.1307, accuracy: 5e-5)
        XCTAssertEqual(measured.std[0], 0.3081, accuracy: 5e-5)
        let colour = Dataset(images: [10, 30, 200, 200, 0, 255, 20, 40, 100, 100, 255, 0], labels: [0, 1],
                             sampleShape: [3, 1, 2], classNames: ["a", "b"])
        let perChannel = Normalization.measured(on: colour)
        XCTAssertEqual(perChannel.mean.map { ($0 * 255).rounded() }, [25, 150, 128])
        XCTAssertEqual(perChannel.std[0] * 255, 125.0.squareRoot(), accuracy: 1e-9)  // R: 10, 30, 20, 40
        XCTAssertEqual(perChannel.std[2] * 255, 127.5, accuracy: 1e-9)
    }

    /// IDX images with a channel dimension, [N, H, W, C] or [N, C, H, W], load as [N, C, H, W].
    func testIDXWithChannels() throws {
        let directory = temporaryDirectory(self)
        writeBytes(idxBytes(dimensions: [2], values: [0, 1]), to: directory + "/labels")
        // Two 1×2 RGB images, interleaved: pixel (r, g, b) = (10·i + 1, 10·i + 2, 10·i + 3).
        let interleaved: [UInt8] = [1, 2, 3, 11, 12, 13, 21, 22, 23, 31, 32, 33]
        writeBytes(idxBytes(dimensions: [2, 1, 2, 3], values: interleaved), to: directory + "/hwc")
        let hwc = try Dataset.loadIDX(images: directory + "/hwc", labels: directory + "/labels", classNames: ["a", "b"])
        XCTAssertEqual(hwc.sampleShape, [3, 1, 2])
        XCTAssertEqual(hwc.images, [1, 11, 2, 12, 3, 13, 21, 31, 22, 32, 23, 33])
        writeBytes(gzip(idxBytes(dimensions: [2, 3, 1, 2], values: hwc.images)), to: directory + "/chw.gz")
        let chw = try Dataset.loadIDX(images: directory + "/chw.gz", labels: directory + "/labels", classNames: ["a", "b"])
        XCTAssertEqual(chw.sampleShape, [3, 1, 2])
        XCTAssertEqual(chw.images, hwc.images)
        writeBytes(idxBytes(dimensions: [2, 2, 2, 2], values: [UInt8](repeating: 0, count: 16)), to: directory + "/odd")
        assertThrows("\(directory)/odd: has dimensions 2×2×2×2: a 4-dimensional IDX image file must be N×H×W×C or N×C×H×W with C = 1 or 3") {
            try Dataset.loadIDX(images: directory + "/odd", labels: directory + "/labels", classNames: ["a", "b"])
        }
    }

    /// A folder data set of RGB PNGs and JPEGs of different sizes loads as [3, H, W] images,
    /// resized by the config's preparation; the colours survive.
    func testColourImageFolder() throws {
        let root = temporaryDirectory(self)
        for (name, colour) in [("red", [230, 20, 20]), ("blue", [20, 20, 230])] as [(String, [UInt8])] {
            try FileManager.default.createDirectory(atPath: "\(root)/\(name)", withIntermediateDirectories: true)
            for (index, size) in [(16, 16), (40, 20), (8, 12)].enumerated() {
                let image = Image(channels: 3, height: size.1, width: size.0, pixels: colour.flatMap { [UInt8](repeating: $0, count: size.0 * size.1) })
                if index == 1 {
                    writeBytes(try JPEG.encode(image, quality: 95), to: "\(root)/\(name)/\(index).JPG")
                } else {
                    writeBytes(try PNG.encode(image), to: "\(root)/\(name)/\(index).png")
                }
            }
        }
        let dataset = try ImageFolder.load(root, classNames: nil, imageShape: [3, 10, 10], preparation: InputPreparation(.resize, fit: .crop))
        XCTAssertEqual(dataset.classNames, ["blue", "red"])
        XCTAssertEqual(dataset.count, 6)
        XCTAssertEqual(dataset.sampleShape, [3, 10, 10])
        for image in 0..<6 {
            let red = Double(dataset.images[image * 300 + 55]), blue = Double(dataset.images[image * 300 + 255])
            if dataset.labels[image] == 1 { XCTAssertGreaterThan(red, 200); XCTAssertLessThan(blue, 40) }
            else { XCTAssertGreaterThan(blue, 200); XCTAssertLessThan(red, 40) }
        }
        // The same folder as grey images: one channel.
        XCTAssertEqual(try ImageFolder.load(root, classNames: nil, imageShape: [1, 10, 10]).sampleShape, [1, 10, 10])
        assertThrows("\(root): image folders hold grey or RGB images, but the model's input is 2×10×10; use 1 or 3 channels") {
            try ImageFolder.load(root, classNames: nil, imageShape: [2, 10, 10])
        }
    }
}
