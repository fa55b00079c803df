import XCTest
@testable import ConvNet

/// Colour decoding (PNG and JPEG to RGB), JPEG specifics (orientation, scaling, CMYK,
/// truncation) and reading any image file by its content.
final class ColourAndJPEGTests: XCTestCase {
    /// 8- and 16-bit RGB and RGBA PNGs decode to their own values as RGB; alpha composites onto white.
    func testPNGToRGB() throws {
        let (width, height) = (5, 3)
        let colors: [(UInt16, UInt16, UInt16, UInt16)] = [(255, 0, 0, 255), (0, 255, 0, 255), (0, 0, 255, 255),
                                                          (12, 34, 56, 255), (200, 100, 50, 0), (0, 0, 0, 128)]
        for bitDepth in [8, 16] {
            for colorType in [RawPNG.ColorType.rgb, .rgba] {
                let scale: UInt16 = bitDepth == 16 ? 257 : 1
                let pixels = (0..<width * height).map { colors[$0 % colors.count] }
                let samples = pixels.flatMap { [$0.0 * scale, $0.1 * scale, $0.2 * scale] + (colorType == .rgba ? [$0.3 * scale] : []) }
                let png = RawPNG(width: width, height: height, colorType: colorType, bitDepth: bitDepth, samples: samples)
                let image = try PNG.decode(png.encoded(), name: "c.png", channels: 3)
                XCTAssertEqual(image.shape, [3, height, width])
                for (index, color) in pixels.enumerated() {
                    let alpha = colorType == .rgba ? Double(color.3) / 255 : 1
                    for (channel, value) in [color.0, color.1, color.2].enumerated() {
                        // Composited onto white in linear light (power 2.2), sRGB-encoded again.
                        let linear = pow(Double(value) / 255, 2.2) * alpha + (1 - alpha)
                        let expected = 255 * pow(linear, 1 / 2.2)
                        XCTAssertEqual(Double(image.pixels[channel * width * height + index]), expected, accuracy: 1.01,
                                       "\(color) channel \(channel), \(bitDepth)-bit \(colorType)")
                    }
                }
            }
        }
    }

    /// A grey PNG read as RGB has R = G = B; an RGB one reduced with `luminance` matches libpng's own grey within a level.
    func testGreyAndColourConversions() throws {
        let samples: [UInt16] = (0..<64).map { (index: Int) -> UInt16 in UInt16((index * 37) % 256) }
        let gray = RawPNG(width: 8, height: 8, colorType: .gray, bitDepth: 8, samples: samples).encoded()
        let rgb = try PNG.decode(gray, name: "g.png", channels: 3)
        XCTAssertEqual(rgb.plane(0).pixels, rgb.plane(1).pixels)
        XCTAssertEqual(rgb.plane(1).pixels, rgb.plane(2).pixels)
        XCTAssertEqual(rgb.plane(0).pixels, samples.map(UInt8.init))
        let colourSamples: [UInt16] = (0..<(8 * 8 * 3)).map { (index: Int) -> UInt16 in UInt16((index * 53 + index / 3) % 256) }
        let colour = RawPNG(width: 8, height: 8, colorType: .rgb, bitDepth: 8, samples: colourSamples).encoded()
        let byLibpng = try PNG.decode(colour, name: "c.png")
        let byUs = try PNG.decode(colour, name: "c.png", channels: 3).luminance
        for (a, b) in zip(byLibpng.pixels, byUs.pixels) { XCTAssertEqual(Double(a), Double(b), accuracy: 1) }
    }

    /// Solid colour blocks survive JPEG (quality 95) within a few levels, as RGB and as grey.
    func testJPEGDecodesToItsColours() throws {
        let colors: [[UInt8]] = [[220, 30, 40], [20, 200, 60], [30, 40, 210], [128, 128, 128]]
        // Four 16×16 blocks side by side, 64×16.
        var pixels = [UInt8](repeating: 0, count: 3 * 16 * 64)
        for channel in 0..<3 { for row in 0..<16 { for column in 0..<64 {
            pixels[(channel * 16 + row) * 64 + column] = colors[column / 16][channel]
        } } }
        let original = Image(channels: 3, height: 16, width: 64, pixels: pixels)
        let jpeg = try JPEG.encode(original, quality: 95)
        XCTAssertTrue(JPEG.isJPEG(jpeg))
        let decoded = try ImageFile.decode(jpeg, name: "blocks.jpg", channels: 3)
        XCTAssertEqual(decoded.shape, [3, 16, 64])
        for block in 0..<4 { for channel in 0..<3 {
            // The centre of each block, away from the edges where chroma subsampling blends.
            let value = decoded.pixels[(channel * 16 + 8) * 64 + block * 16 + 8]
            XCTAssertEqual(Double(value), Double(colors[block][channel]), accuracy: 4, "block \(block) channel \(channel)")
        } }
        let gray = try ImageFile.decode(jpeg, name: "blocks.jpg", channels: 1)
        XCTAssertEqual(gray.shape, [1, 16, 64])
        XCTAssertEqual(Double(gray.pixels[8 * 64 + 56]), 128, accuracy: 3)
        // A grey JPEG decodes to one channel directly.
        let grayJPEG = try JPEG.encode(Image(channels: 1, height: 8, width: 8, fill: 77))
        XCTAssertEqual(try ImageFile.decode(grayJPEG, name: "g.jpg", channels: 1).pixels, [UInt8](repeating: 77, count: 64))
    }

    /// Every EXIF orientation, in both TIFF byte orders, turns the photo upright: a 2×3 grid of
    /// 8-pixel blocks numbered 0…5 row by row (stored), seen as each orientation defines.
    func testEXIFOrientation() throws {
        let (blockRows, blockColumns, size) = (2, 3, 8)
        var stored = Image(channels: 1, height: blockRows * size, width: blockColumns * size, fill: 0)
        for row in 0..<stored.height { for column in 0..<stored.width {
            stored.pixels[row * stored.width + column] = UInt8(40 * ((row / size) * blockColumns + column / size) + 20)
        } }
        let jpeg = try JPEG.encode(stored, quality: 100)
        // For each orientation, the block numbers of the upright image, row by row.
        let expected: [Int: [[Int]]] = [
            1: [[0, 1, 2], [3, 4, 5]], 2: [[2, 1, 0], [5, 4, 3]], 3: [[5, 4, 3], [2, 1, 0]], 4: [[3, 4, 5], [0, 1, 2]],
            5: [[0, 3], [1, 4], [2, 5]], 6: [[3, 0], [4, 1], [5, 2]], 7: [[5, 2], [4, 1], [3, 0]], 8: [[2, 5], [1, 4], [0, 3]],
        ]
        for littleEndian in [false, true] {
            for (orientation, blocks) in expected {
                let file = JPEGFixtures.withOrientation(jpeg, orientation, littleEndian: littleEndian)
                XCTAssertEqual(ExifOrientation.read(file), orientation)
                let image = try ImageFile.decode(file, name: "o.jpg", channels: 1)
                XCTAssertEqual([image.height, image.width], [blocks.count * size, blocks[0].count * size], "orientation \(orientation)")
                for (blockRow, row) in blocks.enumerated() {
                    for (blockColumn, number) in row.enumerated() {
                        let value = image.pixels[(blockRow * size + size / 2) * image.width + blockColumn * size + size / 2]
                        XCTAssertEqual(Double(value), Double(40 * number + 20), accuracy: 3, "orientation \(orientation) block (\(blockRow), \(blockColumn))")
                    }
                }
            }
        }
        XCTAssertEqual(ExifOrientation.read(jpeg), 1)
        // A damaged EXIF segment means "as stored", not an error.
        var damaged = JPEGFixtures.withOrientation(jpeg, 6)
        damaged[12] = 0x58  // breaks the TIFF byte-order mark
        XCTAssertEqual(ExifOrientation.read(damaged), 1)
    }

    /// The decoder shrinks a large photo by 1/2, 1/4 or 1/8 while both sides stay ≥ `minimumSide`.
    func testScaledDecoding() throws {
        let photo = try JPEG.encode(Image(channels: 3, height: 600, width: 800, fill: 90))
        XCTAssertEqual(try JPEG.decode(photo, name: "p.jpg", channels: 3).shape, [3, 600, 800])
        XCTAssertEqual(try JPEG.decode(photo, name: "p.jpg", channels: 3, minimumSide: 100).shape, [3, 150, 200])
        XCTAssertEqual(try JPEG.decode(photo, name: "p.jpg", channels: 1, minimumSide: 50).shape, [1, 75, 100])
        XCTAssertEqual(try JPEG.decode(photo, name: "p.jpg", channels: 1, minimumSide: 700).shape, [1, 600, 800])
    }

    /// CMYK, truncated and corrupt JPEGs, and other formats, are refused with one line naming the file.
    func testRejections() throws {
        assertThrows("cmyk.jpg: CMYK JPEG files are not supported; save it as RGB (sRGB) first") {
            try ImageFile.decode(JPEGFixtures.cmyk(width: 16, height: 16), name: "cmyk.jpg", channels: 3)
        }
        let jpeg = try JPEG.encode(Image(channels: 3, height: 64, width: 64, fill: 200))
        assertThrows("cut.jpg: truncated or corrupt JPEG", contains: true) {
            try ImageFile.decode(Array(jpeg.prefix(jpeg.count / 2)), name: "cut.jpg", channels: 3)
        }
        assertThrows("head.jpg: truncated or corrupt JPEG", contains: true) {
            try ImageFile.decode(Array(jpeg.prefix(20)), name: "head.jpg", channels: 1)
        }
        assertThrows("a.gif: not a PNG or JPEG file (it starts with the GIF signature 47 49 46 38)") {
            try ImageFile.decode(Array("GIF89a....".utf8), name: "a.gif", channels: 1)
        }
        assertThrows("e.png: empty file") { try ImageFile.decode([], name: "e.png", channels: 1) }
        XCTAssertTrue(ImageFile.hasImageExtension("Photo.JPG"))
        XCTAssertTrue(ImageFile.hasImageExtension("a.jpeg"))
        XCTAssertFalse(ImageFile.hasImageExtension(".hidden.png"))
        XCTAssertFalse(ImageFile.hasImageExtension("notes.txt"))
    }
}
