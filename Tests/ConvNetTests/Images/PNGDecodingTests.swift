import XCTest
@testable import ConvNet

/// Every PNG colour type × bit depth × interlacing decodes to the expected 8-bit luminance.
///
/// Fixtures come from `RawPNG` (a writer independent of libpng). Expected values are derived
/// here from the definitions, not from libpng: grey levels scale by bit replication; colour
/// becomes Y = 0.2126·R + 0.7152·G + 0.0722·B in linear light, sRGB-encoded; alpha composites
/// onto white in linear light.
final class PNGDecodingTests: XCTestCase {
    /// 11×9 so that every Adam7 pass has a partial last block.
    let (width, height) = (11, 9)

    func testGrayEveryBitDepthInterlacedAndNot() throws {
        for bitDepth in [1, 2, 4, 8] {
            let levels = 1 << bitDepth
            let samples = (0..<width * height).map { UInt16(($0 * 7 + $0 / width) % levels) }
            let expected = samples.map { UInt8(Int($0) * 255 / (levels - 1)) }
            for interlaced in [false, true] {
                let png = RawPNG(width: width, height: height, colorType: .gray, bitDepth: bitDepth,
                                 samples: samples, interlaced: interlaced)
                let image = try PNG.decode(png.encoded(), name: "gray\(bitDepth).png")
                XCTAssertEqual(image.width, width)
                XCTAssertEqual(image.height, height)
                XCTAssertEqual(image.pixels, expected, "grey \(bitDepth)-bit, interlaced \(interlaced)")
            }
        }
    }

    /// 16-bit grey without gamma information is read as sRGB-encoded: k·257 → k for every
    /// 8-bit level k but 1 (libpng's 16-bit linear intermediate rounds it to black), and
    /// every one of the 65536 values v to within 1.25 levels of v / 257.
    func testGray16BitEveryValue() throws {
        for interlaced in [false, true] {
            let levels = RawPNG(width: 16, height: 16, colorType: .gray, bitDepth: 16,
                                samples: (0..<256).map { UInt16($0 * 257) }, interlaced: interlaced)
            let levelImage = try PNG.decode(levels.encoded(), name: "levels.png")
            let expected = (0..<256).map { UInt8($0 == 1 ? 0 : $0) }
            XCTAssertEqual(levelImage.pixels, expected, "interlaced \(interlaced)")

            let sweep = RawPNG(width: 256, height: 256, colorType: .gray, bitDepth: 16,
                               samples: (0..<65536).map { UInt16($0) }, interlaced: interlaced)
            let sweepImage = try PNG.decode(sweep.encoded(), name: "sweep.png")
            let worst = (0..<65536).map { abs(Double(sweepImage.pixels[$0]) - Double($0) / 257) }.max() ?? 0
            XCTAssertLessThanOrEqual(worst, 1.25, "interlaced \(interlaced)")
        }
    }

    /// Grey+alpha, 8 and 16 bit: opaque pixels keep their level, transparent ones are the
    /// white page, 50% black over white is the linear-light mean, sRGB-encoded (≈ 188).
    func testGrayAlpha() throws {
        let cases: [(gray: Double, alpha: Double)] = [(0, 1), (1, 1), (128 / 255, 1), (0, 0), (0.3, 0), (0, 0.5), (1, 0.5)]
        for bitDepth in [8, 16] {
            let maximum = Double((1 << bitDepth) - 1)
            for interlaced in [false, true] {
                let pixelCases = (0..<width * height).map { cases[$0 % cases.count] }
                let samples = pixelCases.flatMap { [UInt16(($0.gray * maximum).rounded()), UInt16(($0.alpha * maximum).rounded())] }
                let png = RawPNG(width: width, height: height, colorType: .grayAlpha, bitDepth: bitDepth,
                                 samples: samples, interlaced: interlaced)
                let image = try PNG.decode(png.encoded(), name: "ga.png")
                for (pixel, item) in zip(image.pixels, pixelCases) {
                    let linear = LuminanceReference.linear(item.gray) * item.alpha + (1 - item.alpha)
                    XCTAssertEqual(Double(pixel), LuminanceReference.encoded(linear), accuracy: item.alpha == 0.5 ? 3 : 1,
                                   "grey \(item.gray) alpha \(item.alpha), \(bitDepth)-bit, interlaced \(interlaced)")
                }
            }
        }
    }

    /// RGB and RGBA, 8 and 16 bit, interlaced and not: luminance within ±2 of the sRGB definition.
    func testColorWithAndWithoutAlpha() throws {
        for colorType in [RawPNG.ColorType.rgb, .rgba] {
            for bitDepth in [8, 16] {
                for interlaced in [false, true] {
                    let maximum = Double((1 << bitDepth) - 1)
                    let pixelCases = (0..<width * height).map { LuminanceReference.colors[$0 % LuminanceReference.colors.count] }
                    let samples = pixelCases.flatMap { color -> [UInt16] in
                        let channels = [color.red, color.green, color.blue] + (colorType == .rgba ? [color.alpha] : [])
                        return channels.map { UInt16(($0 * maximum).rounded()) }
                    }
                    let png = RawPNG(width: width, height: height, colorType: colorType, bitDepth: bitDepth,
                                     samples: samples, interlaced: interlaced)
                    let image = try PNG.decode(png.encoded(), name: "color.png")
                    for (pixel, color) in zip(image.pixels, pixelCases) {
                        let alpha = colorType == .rgba ? color.alpha : 1
                        XCTAssertEqual(Double(pixel), LuminanceReference.luminance(color, alpha: alpha), accuracy: 2,
                                       "\(color) \(colorType) \(bitDepth)-bit, interlaced \(interlaced)")
                    }
                }
            }
        }
    }

    /// Palettes of every bit depth, with and without tRNS (which makes entries transparent).
    func testPaletteWithAndWithoutTransparency() throws {
        let entries = LuminanceReference.colors
        for bitDepth in [1, 2, 4, 8] {
            let used = min(entries.count, 1 << bitDepth)
            let palette = entries[0..<used].map {
                (UInt8(($0.red * 255).rounded()), UInt8(($0.green * 255).rounded()), UInt8(($0.blue * 255).rounded()))
            }
            let alphas = entries[0..<used].map { UInt8(($0.alpha * 255).rounded()) }
            let indices = (0..<width * height).map { UInt16(($0 * 5 + $0 / width) % used) }
            for withTransparency in [false, true] {
                for interlaced in [false, true] {
                    let png = RawPNG(width: width, height: height, colorType: .palette, bitDepth: bitDepth,
                                     samples: indices, interlaced: interlaced, palette: palette,
                                     transparency: withTransparency ? alphas : [])
                    let image = try PNG.decode(png.encoded(), name: "palette.png")
                    for (pixel, index) in zip(image.pixels, indices) {
                        let color = entries[Int(index)]
                        let alpha = withTransparency ? Double(alphas[Int(index)]) / 255 : 1
                        XCTAssertEqual(Double(pixel), LuminanceReference.luminance(color, alpha: alpha), accuracy: 2,
                                       "\(color) \(bitDepth)-bit palette, tRNS \(withTransparency), interlaced \(interlaced)")
                    }
                }
            }
        }
    }

    /// A fully transparent pixel is white (the page), whatever colour it hides.
    func testTransparentPixelsAreWhite() throws {
        let samples: [UInt16] = [0, 0, 0, 0, 255, 0, 0, 0, 0, 0, 0, 255, 0, 0, 0, 128]
        let image = try PNG.decode(RawPNG(width: 4, height: 1, colorType: .rgba, bitDepth: 8, samples: samples).encoded(),
                                   name: "t.png")
        XCTAssertEqual(image.pixels[0], 255)
        XCTAssertEqual(image.pixels[1], 255)
        XCTAssertEqual(image.pixels[2], 0)
        XCTAssertGreaterThan(image.pixels[3], 150, "half-transparent black over white is a mid value")
        XCTAssertLessThan(image.pixels[3], 220, "half-transparent black over white is a mid value")
    }

    /// Mid-grey 128 stays 128 on every path: libpng's own writer, raw 8-bit grey, RGB and 16-bit grey.
    func testMidGreyIsUnchanged() throws {
        let viaLibpng = try PNG.decode(PNG.encode(GrayImage(width: 3, height: 2, fill: 128)), name: "a.png")
        XCTAssertEqual(viaLibpng.pixels, [UInt8](repeating: 128, count: 6))
        let rawGray = RawPNG(width: 2, height: 1, colorType: .gray, bitDepth: 8, samples: [128, 128])
        XCTAssertEqual(try PNG.decode(rawGray.encoded(), name: "b.png").pixels, [128, 128])
        let rawRGB = RawPNG(width: 1, height: 1, colorType: .rgb, bitDepth: 8, samples: [128, 128, 128])
        XCTAssertEqual(try PNG.decode(rawRGB.encoded(), name: "c.png").pixels, [128])
        let raw16 = RawPNG(width: 1, height: 1, colorType: .gray, bitDepth: 16, samples: [128 * 257])
        XCTAssertEqual(try PNG.decode(raw16.encoded(), name: "d.png").pixels, [128])
    }

    func testEncodeDecodeRoundTrip() throws {
        var random = SeededRandom(seed: 7)
        let pixels = (0..<37 * 23).map { _ in UInt8(random.nextUniform() * 256) }
        let image = GrayImage(width: 37, height: 23, pixels: pixels)
        let bytes = try PNG.encode(image)
        XCTAssertEqual(Array(bytes.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        XCTAssertEqual(try PNG.decode(bytes, name: "round-trip.png"), image)
    }

    func testEncodeRefusesEmptyImage() {
        XCTAssertThrowsError(try PNG.encode(GrayImage(width: 0, height: 3, fill: 0))) { error in
            XCTAssertEqual((error as? ImageError)?.message, "image is 0×3 pixels; a PNG side must be 1 to 16384")
        }
    }
}

/// Colours in [0, 1] and the luminance the decoder should give them, from the sRGB definition.
enum LuminanceReference {
    struct Color: CustomStringConvertible {
        var red: Double, green: Double, blue: Double, alpha: Double
        var description: String { "rgba(\(red), \(green), \(blue), \(alpha))" }
    }

    /// Black, white, red, green, blue, mid-grey, transparent black, half-transparent black, 40%-opaque red.
    static let colors: [Color] = [
        Color(red: 0, green: 0, blue: 0, alpha: 1), Color(red: 1, green: 1, blue: 1, alpha: 1),
        Color(red: 1, green: 0, blue: 0, alpha: 1), Color(red: 0, green: 1, blue: 0, alpha: 1),
        Color(red: 0, green: 0, blue: 1, alpha: 1), Color(red: 128 / 255, green: 128 / 255, blue: 128 / 255, alpha: 1),
        Color(red: 0, green: 0, blue: 0, alpha: 0), Color(red: 0, green: 0, blue: 0, alpha: 128 / 255),
        Color(red: 1, green: 0, blue: 0, alpha: 0.4),
    ]

    /// sRGB decoding: an encoded value in [0, 1] to linear light.
    static func linear(_ encoded: Double) -> Double {
        encoded <= 0.04045 ? encoded / 12.92 : pow((encoded + 0.055) / 1.055, 2.4)
    }

    /// sRGB encoding of linear light in [0, 1], scaled to 0…255.
    static func encoded(_ linear: Double) -> Double {
        255 * (linear <= 0.0031308 ? 12.92 * linear : 1.055 * pow(linear, 1 / 2.4) - 0.055)
    }

    /// Y = 0.2126·R + 0.7152·G + 0.0722·B in linear light, composited over white with `alpha`, sRGB 0…255.
    static func luminance(_ color: Color, alpha: Double) -> Double {
        let y = 0.2126 * linear(color.red) + 0.7152 * linear(color.green) + 0.0722 * linear(color.blue)
        return encoded(y * alpha + (1 - alpha)).rounded()
    }
}
