import XCTest
@testable import ConvNet

/// `DigitPreprocessor.prepare`: user images in, MNIST-like 28×28 samples out.
///
/// Centre of mass is measured as MNIST's centring did and as `DigitDrawing.centreOfMass`
/// does: the intensity-weighted mean of row and column indices, which for every MNIST test
/// digit lies within 0.5 of (14, 14).
final class PreprocessingTests: XCTestCase {
    let preprocessor = DigitPreprocessor()

    /// A thick dark ring, off-centre on a 300×200 white canvas.
    func ringOnWhite() -> GrayImage {
        var canvas = GrayImage(width: 300, height: 200, fill: 255)
        DigitDrawing.ring(&canvas, row: 70, column: 205, outer: 45, inner: 27, ink: 15)
        return canvas
    }

    func assertMNISTLike(_ sample: GrayImage, longestSide: Int = 20, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(sample.width, 28, file: file, line: line)
        XCTAssertEqual(sample.height, 28, file: file, line: line)
        let border = (0..<28).flatMap { [sample[0, $0], sample[27, $0], sample[$0, 0], sample[$0, 27]] }
        XCTAssertEqual(border.max(), 0, "background is black", file: file, line: line)
        XCTAssertGreaterThanOrEqual(sample.pixels.max() ?? 0, 250, "ink is light", file: file, line: line)
        let box = DigitDrawing.inkBox(sample)
        XCTAssertEqual(Double(max(box.height, box.width)), Double(longestSide), accuracy: 1,
                       "longest side of the ink box", file: file, line: line)
        let centre = DigitDrawing.centreOfMass(sample)
        XCTAssertEqual(centre.row, 14, accuracy: 0.5, "centre of mass row", file: file, line: line)
        XCTAssertEqual(centre.column, 14, accuracy: 0.5, "centre of mass column", file: file, line: line)
    }

    func testDarkRingOnWhiteBecomesMNISTLike() {
        let sample = preprocessor.prepare(ringOnWhite())
        assertMNISTLike(sample)
        XCTAssertEqual(sample[14, 14], 0, "the ring's hole stays dark")
    }

    func testTallBarKeepsItsAspectRatio() {
        var canvas = GrayImage(width: 300, height: 200, fill: 240)
        DigitDrawing.bar(&canvas, top: 30, left: 50, height: 120, width: 24, ink: 40)
        let sample = preprocessor.prepare(canvas)
        assertMNISTLike(sample)
        let box = DigitDrawing.inkBox(sample)
        XCTAssertEqual(box.height, 20)
        XCTAssertEqual(Double(box.width), 4, accuracy: 1, "120×24 scaled to 20 tall is 4 wide")
    }

    /// A dark stroke on a transparent RGBA background (as drawing apps export) decodes onto
    /// a white page and comes out as a digit, not a black or white square.
    func testTransparentBackgroundPNGBecomesADigit() throws {
        let (width, height) = (120, 100)
        var coverage = GrayImage(width: width, height: height, fill: 0)
        DigitDrawing.ring(&coverage, row: 45, column: 70, outer: 35, inner: 22, ink: 255)
        // RGBA: a dark blue stroke whose alpha is its coverage; the rest is transparent black.
        let samples = coverage.pixels.flatMap { [10, 20, 90, UInt16($0)] as [UInt16] }
        let png = RawPNG(width: width, height: height, colorType: .rgba, bitDepth: 8, samples: samples)
        let decoded = try PNG.decode(png.encoded(), name: "drawing.png")
        XCTAssertEqual(decoded[0, 0], 255, "transparent background is the white page")
        XCTAssertLessThan(decoded[45, 70 - 28], 60, "the stroke is dark")

        let sample = preprocessor.prepare(decoded)
        assertMNISTLike(sample)
        let mean = Double(sample.pixels.reduce(0) { $0 + Int($1) }) / Double(sample.pixels.count)
        XCTAssertGreaterThan(mean, 20, "not a black square")
        XCTAssertLessThan(mean, 150, "not a white square")
    }

    func testMNISTSizedLightOnDarkPassesThrough() {
        var sample = GrayImage(width: 28, height: 28, fill: 0)
        DigitDrawing.ring(&sample, row: 11.3, column: 16.8, outer: 6, inner: 3, ink: 255)
        XCTAssertEqual(preprocessor.prepare(sample), sample)
    }

    func testFaintSpecksDoNotWidenTheBox() {
        let clean = ringOnWhite()
        var specked = clean
        // Specks at 10% of the page-to-ink contrast (255 → 15), far from the ring.
        let faint = UInt8(255 - (255 - 15) / 10)
        for (row, column) in [(5, 5), (190, 10), (100, 20), (185, 290), (10, 120), (150, 150)] {
            DigitDrawing.bar(&specked, top: Double(row), left: Double(column), height: 3, width: 3, ink: faint)
        }
        XCTAssertEqual(preprocessor.prepare(specked), preprocessor.prepare(clean))
    }

    /// Dark dust of a pixel or two (fewer than 1 in 20000 of the pixels) is not part of the digit.
    func testDarkDustIsIgnored() {
        let clean = ringOnWhite()
        var dusty = clean
        for (row, column) in [(3, 3), (190, 20), (120, 40)] { dusty[row, column] = 0 }
        dusty[150, 100] = 0
        dusty[150, 101] = 0
        XCTAssertEqual(preprocessor.prepare(dusty), preprocessor.prepare(clean))
    }

    func testBlankPagesGiveBlack() {
        let black = GrayImage(width: 28, height: 28, fill: 0)
        XCTAssertEqual(preprocessor.prepare(GrayImage(width: 0, height: 0, fill: 0)), black)
        XCTAssertEqual(preprocessor.prepare(GrayImage(width: 300, height: 200, fill: 255)), black)
        XCTAssertEqual(preprocessor.prepare(GrayImage(width: 300, height: 200, fill: 128)), black)
        var noisy = GrayImage(width: 64, height: 48, fill: 230)
        var random = SeededRandom(seed: 11)
        for index in noisy.pixels.indices { noisy.pixels[index] = UInt8(215 + random.nextUniform() * 30) }
        XCTAssertEqual(preprocessor.prepare(noisy), black, "±15 levels of noise is not ink")
    }

    func testWhiteDigitOnBlackKeepsPolarity() {
        let whiteOnBlack = DigitDrawing.inverted(ringOnWhite())
        let sample = preprocessor.prepare(whiteOnBlack)
        assertMNISTLike(sample)
        XCTAssertEqual(sample, preprocessor.prepare(ringOnWhite()), "same digit either way round")
    }

    /// A grey page maps to 0 and the darkest ink to 255.
    func testGreyPageBecomesBlack() {
        var canvas = GrayImage(width: 200, height: 160, fill: 170)
        DigitDrawing.ring(&canvas, row: 80, column: 90, outer: 40, inner: 24, ink: 60)
        assertMNISTLike(preprocessor.prepare(canvas))
    }

    /// An MNIST-like sample drawn large (×8, pixels repeated), inverted and off-centre on a
    /// white canvas comes back as itself: the crop is 8 × its 20-pixel box, shrunk by exactly
    /// 8 with area averaging, and centred by the same rule.
    func testEnlargedSampleComesBack() {
        let original = preprocessor.prepare(ringOnWhite())
        let large = DigitDrawing.inverted(DigitDrawing.enlarged(original, by: 8))
        let canvas = DigitDrawing.pasted(large, onto: GrayImage(width: 400, height: 300, fill: 255), top: 40, left: 150)
        let back = preprocessor.prepare(canvas)
        XCTAssertLessThan(DigitDrawing.meanAbsoluteDifference(back, original), 1)
    }

    /// Sizes other than 28 keep MNIST's proportions: a 20/28 box, centre at ⌊H/2⌋.
    func testOtherOutputSizes() {
        let sample = DigitPreprocessor(height: 56, width: 42).prepare(ringOnWhite())
        XCTAssertEqual(sample.height, 56)
        XCTAssertEqual(sample.width, 42)
        let box = DigitDrawing.inkBox(sample)
        XCTAssertEqual(Double(box.height), 30, accuracy: 1, "the ring fits round(20/28 · 42) = 30")
        let centre = DigitDrawing.centreOfMass(sample)
        XCTAssertEqual(centre.row, 28, accuracy: 0.5)
        XCTAssertEqual(centre.column, 21, accuracy: 0.5)
    }

    /// A 4000×3000 photo of a ring on grey paper comes out MNIST-like. (Its speed is
    /// measured by the bench, not here.)
    func testLargePhoto() {
        var photo = GrayImage(width: 4000, height: 3000, fill: 200)
        DigitDrawing.ring(&photo, row: 1200, column: 2500, outer: 700, inner: 450, ink: 50)
        assertMNISTLike(preprocessor.prepare(photo))
    }
}
