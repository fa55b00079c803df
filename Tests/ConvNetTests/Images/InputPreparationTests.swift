import Foundation
import XCTest
@testable import ConvNet

/// `InputPreparation`: its JSON forms, resizing by stretching or cropping, inversion, digits
/// from colour images, and its place in checkpoints.
final class InputPreparationTests: XCTestCase {
    func testJSONForms() throws {
        func decode(_ json: String) throws -> InputPreparation { try JSONDecoder().decode(InputPreparation.self, from: Data(json.utf8)) }
        XCTAssertEqual(try decode(#""digit""#), .digit)
        XCTAssertEqual(try decode(#""resize""#), .resize)
        XCTAssertEqual(try decode(#"{"type": "resize", "fit": "crop", "invert": true}"#), InputPreparation(.resize, fit: .crop, invert: true))
        for preparation in [InputPreparation.digit, .resize, InputPreparation(.resize, fit: .crop), InputPreparation(.resize, invert: true)] {
            XCTAssertEqual(try decode(String(decoding: try JSONEncoder().encode(preparation), as: UTF8.self)), preparation)
        }
        for bad in [#""mnist""#, #"{"type": "digit", "invert": true}"#, #"{"type": "resize", "fit": "pad"}"#, #"{"type": "resize", "scale": 2}"#] {
            XCTAssertThrowsError(try decode(bad), bad)
        }
    }

    /// A 40×20 image whose left and right quarters are white and middle black: stretched to
    /// 10×10 it keeps the white edges; cropped, the centre square (all black) remains.
    func testStretchAndCrop() {
        var image = Image(channels: 1, height: 20, width: 40, fill: 0)
        for row in 0..<20 { for column in 0..<40 where column < 10 || column >= 30 { image.pixels[row * 40 + column] = 255 } }
        let stretched = InputPreparation.resize(image, toHeight: 10, width: 10, fit: .stretch)
        XCTAssertEqual(stretched.pixels[5 * 10 + 0], 255)
        XCTAssertEqual(stretched.pixels[5 * 10 + 5], 0)
        XCTAssertEqual(stretched.pixels[5 * 10 + 9], 255)
        let cropped = InputPreparation.resize(image, toHeight: 10, width: 10, fit: .crop)
        XCTAssertEqual(cropped.pixels, [UInt8](repeating: 0, count: 100))
        // A tall image is cropped top and bottom.
        let tall = InputPreparation.resize(Image(channels: 3, height: 30, width: 10, fill: 7), toHeight: 5, width: 5, fit: .crop)
        XCTAssertEqual(tall.shape, [3, 5, 5])
        XCTAssertEqual(Set(tall.pixels), [7])
        // Same size and stretch: unchanged; inversion maps v to 255 − v.
        XCTAssertEqual(InputPreparation.resize(image, toHeight: 20, width: 40), image)
        guard case .prepared(let inverted) = InputPreparation(.resize, invert: true).prepare(image, channels: 1, height: 20, width: 40) else {
            return XCTFail("resize always prepares")
        }
        XCTAssertEqual(inverted.pixels, image.pixels.map { 255 - $0 })
    }

    /// A digit drawn in blue ink on yellow paper, as RGB, prepares like the same digit in
    /// black on white; a 3-channel model gets the grey digit in every channel.
    func testDigitFromColour() {
        var gray = GrayImage(width: 120, height: 90, fill: 255)
        DigitDrawing.ring(&gray, row: 45, column: 60, outer: 30, inner: 18, ink: 0)
        let plane = gray.pixels
        // Yellow paper (250, 240, 120), blue ink (20, 30, 160), blended by the ring's coverage.
        func channel(_ paper: Double, _ ink: Double) -> [UInt8] { plane.map { UInt8((ink + (paper - ink) * Double($0) / 255).rounded()) } }
        let colour = Image(channels: 3, height: 90, width: 120, pixels: channel(250, 20) + channel(240, 30) + channel(120, 160))
        guard case .prepared(let fromColour) = InputPreparation.digit.prepare(colour, channels: 1, height: 28, width: 28),
              case .prepared(let fromGray) = InputPreparation.digit.prepare(Image(gray), channels: 1, height: 28, width: 28),
              case .prepared(let threeChannels) = InputPreparation.digit.prepare(colour, channels: 3, height: 28, width: 28) else {
            return XCTFail("a ring is a digit")
        }
        XCTAssertLessThan(DigitDrawing.meanAbsoluteDifference(fromColour.luminance, fromGray.luminance), 3)
        XCTAssertEqual(threeChannels.plane(0), fromColour.luminance)
        XCTAssertEqual(threeChannels.plane(2), fromColour.luminance)
    }

    /// The preparation travels in the checkpoint; checkpoints without it (the first release's)
    /// were digit models.
    func testCheckpointsStoreThePreparation() throws {
        let model = try Sequential(ModelDescription(input: [3, 4, 4], layers: [.flatten, .dense(units: 2)]), seed: 1)
        let crop = InputPreparation(.resize, fit: .crop, invert: true)
        let bytes = Checkpoint(model: model, classNames: ["a", "b"], normalization: .none, preparation: crop).encoded()
        XCTAssertEqual(try Checkpoint.decode(bytes, name: "x").preparation, crop)
        XCTAssertEqual(try Checkpoint.read(contentsOf: repositoryRoot + "/Tests/Data/checkpoint-v1/model.safetensors").preparation, .digit)
    }
}
