import XCTest
@testable import ConvNet

/// What decoding and preparing an image costs in memory: in proportion to the decoded 8-bit
/// image, whatever the file's bit depth or its header claims, and an error, not an abort, when
/// the system refuses it.
final class ImageMemoryTests: XCTestCase {
    /// A 16-bit PNG is decoded a row at a time: the peak grows by the 8-bit output (16 MiB for
    /// 16384×1024 grey) and a row, not also by the 16-bit linear image (64 MiB more), as when
    /// libpng's simplified API held the whole of it.
    func testSixteenBitPNGCostsItsOutputAndARow() throws {
        let (width, height) = (16384, 1024)
        // Column c holds 4·c: a ramp over the 16-bit range.
        let row = (0..<width).flatMap { column -> [UInt8] in [UInt8((4 * column) >> 8), UInt8((4 * column) & 0xFF)] }
        let png = RawPNG.repeatedRow(row, width: width, height: height, colorType: .gray, bitDepth: 16)
        var image: GrayImage?
        let growth = try peakResidentGrowth { image = try PNG.decode(png, name: "ramp.png") }
        let decoded = try XCTUnwrap(image)
        XCTAssertEqual([decoded.width, decoded.height], [width, height])
        for column in [0, 1000, 8191, 16383] {
            XCTAssertEqual(Double(decoded[height - 1, column]), Double(4 * column) / 257, accuracy: 1.25, "column \(column)")
        }
        if let growth {
            XCTAssertLessThan(growth, width * height + (24 << 20), "peak grew by \(growth >> 20) MiB for a \((width * height) >> 20) MiB image")
        }
    }

    /// When the system refuses the decoded image's memory (here an address-space limit, as
    /// `ulimit -v` sets), decoding throws an `ImageError` instead of stopping the process.
    func testRefusedImageMemoryIsAnError() throws {
        // A 16384×16384 header, a text chunk making the file long enough to hold that image,
        // and image data that is never reached: the buffer is checked first.
        let header = RawPNG.claiming(width: 16384, height: 16384)
        let filler = RawPNG.chunk("tEXt", Array("Comment".utf8) + [0] + [UInt8](repeating: 0x78, count: 40_000))
        let png = Array(header[..<33]) + filler + Array(header[33...])
        let error = try withAddressSpaceHeadroom(64 << 20) { () -> ImageError? in
            do throws(ImageError) {
                _ = try PNG.decode(png, name: "big.png")
                return nil
            } catch {
                return error
            }
        }
        XCTAssertEqual(error?.message, "decoding this 16384×16384 image needs 256.0 MB, which could not be allocated")
        // Without the limit the same file gets as far as its (missing) image data.
        XCTAssertThrowsError(try PNG.decode(png, name: "big.png")) { error in
            XCTAssertTrue((error as? ImageError)?.message.hasPrefix("truncated or corrupt PNG: ") == true, "\(error)")
        }
    }

    /// libjpeg-turbo holds a progressive JPEG's coefficients for the whole image at full size,
    /// however far the decoder scales it down, so the pixel limit applies to its full size
    /// before decompressing; a baseline file is decoded a row group at a time and may be scaled.
    func testProgressiveJPEGIsLimitedAtFullSize() throws {
        let progressive = JPEGFixtures.progressive(width: 64, height: 64)
        XCTAssertTrue(JPEG.isProgressive(progressive))
        XCTAssertEqual(try JPEG.decode(progressive, name: "p.jpg", channels: 1).pixels, [UInt8](repeating: 128, count: 64 * 64))
        // Scaled by 1/8 it would be 1500×1500 pixels, but decoding needs 12000×12000 coefficients.
        assertThrows("huge.jpg: progressive JPEG of 12000×12000 pixels: decoding one needs the whole image at full size in memory, "
                     + "and the limit is 67 megapixels") {
            try JPEG.decode(JPEGFixtures.claiming(progressive, width: 12000, height: 12000), name: "huge.jpg", channels: 1, minimumSide: 56)
        }
        let baseline = try JPEG.encode(Image(channels: 1, height: 64, width: 64, fill: 128))
        XCTAssertFalse(JPEG.isProgressive(baseline))
        do {
            _ = try JPEG.decode(JPEGFixtures.claiming(baseline, width: 12000, height: 12000), name: "huge.jpg", channels: 1, minimumSide: 56)
        } catch {
            XCTAssertTrue(error.message.hasPrefix("truncated or corrupt JPEG"), "a baseline file may be scaled: \(error)")
        }
        // Unscaled, both are over the limit from the header.
        assertThrows("huge.jpg: image is 12000×12000 pixels, more than the 67-megapixel limit") {
            try JPEG.decode(JPEGFixtures.claiming(baseline, width: 12000, height: 12000), name: "huge.jpg", channels: 1)
        }
    }

    /// Preparing a large photo for a small model reads its bytes in place: no Float copy of
    /// the image (64 MiB for 4096² grey) is made on the way to 28×28.
    func testResizingALargeImageDoesNotCopyIt() throws {
        let (side, plane) = (4096, 4096 * 4096)
        let photo = Image(channels: 1, height: side, width: side, pixels: (0..<plane).map { UInt8(truncatingIfNeeded: $0 / side) })
        var resized: Image?
        let growth = try peakResidentGrowth { resized = InputPreparation.resize(photo, toHeight: 28, width: 28) }
        XCTAssertEqual(resized?.shape, [1, 28, 28])
        if let growth { XCTAssertLessThan(growth, 8 << 20, "peak grew by \(growth >> 20) MiB") }
    }

    /// One image in a folder data set larger than `ImageFile.maximumPixels` is refused from its
    /// header, naming the file, PNG or JPEG alike.
    func testHugeImageInAFolderIsRefusedFromItsHeader() throws {
        let root = temporaryDirectory(self)
        for name in ["a", "b"] {
            try FileManager.default.createDirectory(atPath: "\(root)/\(name)", withIntermediateDirectories: true)
            try PNG.write(GrayImage(width: 28, height: 28, fill: 0), to: "\(root)/\(name)/small.png")
        }
        writeBytes(RawPNG.claiming(width: 8193, height: 8193), to: "\(root)/b/huge.png")
        assertThrows("\(root)/b/huge.png: image is 8193×8193 pixels, more than the 67-megapixel limit") {
            try ImageFolder.load(root, classNames: nil, imageShape: [1, 28, 28])
        }
        try FileManager.default.removeItem(atPath: "\(root)/b/huge.png")
        let dataset = try ImageFolder.load(root, classNames: nil, imageShape: [1, 28, 28])
        XCTAssertEqual(dataset.images.count, 2 * 28 * 28)
    }
}
