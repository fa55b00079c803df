import XCTest
@testable import ConvNet

/// Area averaging when shrinking, bilinear interpolation when enlarging, worked by hand.
final class PreprocessingResizeTests: XCTestCase {
    func testWeightsSumToOne() {
        for source in [1, 2, 3, 7, 20, 28, 101] {
            for target in [1, 2, 3, 5, 20, 28, 64, 200] {
                let axis = ResamplingAxis(from: source, to: target)
                XCTAssertEqual(axis.starts.count, target + 1)
                for output in 0..<target {
                    let total = axis.weights[axis.starts[output]..<axis.starts[output + 1]].reduce(0, +)
                    XCTAssertEqual(total, 1, accuracy: 1e-5, "\(source) → \(target), output \(output)")
                }
                XCTAssertTrue(axis.indices.allSatisfy { $0 >= 0 && $0 < source })
            }
        }
    }

    /// 4×4 → 2×2 averages 2×2 blocks.
    func testShrinkByTwoAveragesBlocks() {
        let image = GrayImage(width: 4, height: 4, pixels: (0..<16).map { UInt8($0 * 10) })
        let small = DigitPreprocessor.resize(image, toHeight: 2, width: 2)
        XCTAssertEqual(small.pixels, [25, 45, 105, 125])
    }

    /// 3 → 2: each output covers 1.5 inputs, the middle one half to each side:
    /// (0 + ½·90) / 1.5 = 30 and (½·90 + 180) / 1.5 = 150.
    func testFractionalCoverage() {
        let row = GrayImage(width: 3, height: 1, pixels: [0, 90, 180])
        XCTAssertEqual(DigitPreprocessor.resize(row, toHeight: 1, width: 2).pixels, [30, 150])
    }

    /// 2 → 4: sample centres at x = (i + ½)/2 − ½ = −¼ (clamped to 0), ¼, ¾, 1¼ (clamped to 1).
    func testEnlargeIsBilinear() {
        let row = GrayImage(width: 2, height: 1, pixels: [0, 100])
        XCTAssertEqual(DigitPreprocessor.resize(row, toHeight: 1, width: 4).pixels, [0, 25, 75, 100])
        let column = GrayImage(width: 1, height: 2, pixels: [0, 100])
        XCTAssertEqual(DigitPreprocessor.resize(column, toHeight: 4, width: 1).pixels, [0, 25, 75, 100])
    }

    func testConstantStaysConstantAndSameSizeIsIdentity() {
        let flat = GrayImage(width: 7, height: 5, fill: 77)
        XCTAssertEqual(DigitPreprocessor.resize(flat, toHeight: 13, width: 3), GrayImage(width: 3, height: 13, fill: 77))
        var random = SeededRandom(seed: 5)
        let noisy = GrayImage(width: 9, height: 6, pixels: (0..<54).map { _ in UInt8(random.nextUniform() * 256) })
        XCTAssertEqual(DigitPreprocessor.resize(noisy, toHeight: 6, width: 9), noisy)
    }

    /// Area averaging keeps the mean intensity when the ratio is whole.
    func testShrinkKeepsTheMean() {
        var random = SeededRandom(seed: 8)
        let image = GrayImage(width: 60, height: 40, pixels: (0..<2400).map { _ in UInt8(random.nextUniform() * 256) })
        let small = DigitPreprocessor.resize(image, toHeight: 8, width: 12)
        let mean = { (image: GrayImage) in Double(image.pixels.reduce(0) { $0 + Int($1) }) / Double(image.pixels.count) }
        XCTAssertEqual(mean(small), mean(image), accuracy: 0.5)
    }
}
