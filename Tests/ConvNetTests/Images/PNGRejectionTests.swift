import XCTest
import Glibc
@testable import ConvNet

/// Each way a PNG can be refused, with the message the user sees.
final class PNGRejectionTests: XCTestCase {
    /// A valid 8-bit grey PNG of 40×30 noisy pixels (noise so the IDAT is long enough to cut).
    func validPNG() throws -> [UInt8] {
        var random = SeededRandom(seed: 3)
        let pixels = (0..<40 * 30).map { _ in UInt8(random.nextUniform() * 256) }
        return try PNG.encode(GrayImage(width: 40, height: 30, pixels: pixels))
    }

    /// The offset of the first byte of the data of the first chunk of `type`.
    func chunkDataOffset(_ bytes: [UInt8], _ type: String) -> Int? {
        var offset = 8
        while offset + 8 <= bytes.count {
            let length = bytes[offset..<offset + 4].reduce(0) { $0 << 8 | Int($1) }
            if String(decoding: bytes[offset + 4..<offset + 8], as: UTF8.self) == type { return offset + 8 }
            offset += 12 + length
        }
        return nil
    }

    func assertDecodeError(_ bytes: [UInt8], name: String = "digit.png", message expected: String,
                           file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try PNG.decode(bytes, name: name), file: file, line: line) { error in
            XCTAssertEqual(error as? ImageError, ImageError(file: name, message: expected), file: file, line: line)
        }
    }

    func decodeErrorMessage(_ bytes: [UInt8]) -> String? {
        do {
            _ = try PNG.decode(bytes, name: "digit.png")
            return nil
        } catch {
            return error.message
        }
    }

    func testEmptyBytes() {
        assertDecodeError([], message: "empty file")
    }

    func testTextNamedPNG() {
        assertDecodeError(Array("This is not an image, just a note saved as .png\n".utf8),
                          message: "not a PNG file (it starts with text)")
        assertDecodeError(Array("<svg xmlns=\"http://www.w3.org/2000/svg\">ünïcödé</svg>".utf8),
                          message: "not a PNG file (it starts with text)")
    }

    func testOtherFormatsAreNamed() {
        assertDecodeError([0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 0x4A, 0x46, 0x49, 0x46],
                          message: "not a PNG file (it starts with the JPEG signature FF D8 FF)")
        assertDecodeError(Array("GIF89a".utf8) + [0x01, 0x00, 0x01, 0x00],
                          message: "not a PNG file (it starts with the GIF signature 47 49 46 38)")
        assertDecodeError([0x00, 0x00, 0x08, 0x03, 0x00, 0x00, 0x27, 0x10],
                          message: "not a PNG file (it starts with the IDX image file signature 00 00 08 03)")
        assertDecodeError([0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09],
                          message: "not a PNG file (it starts with the bytes 01 02 03 04 05 06 07 08)")
    }

    func testDamagedOrShortSignature() throws {
        var textMode = try validPNG()
        textMode.remove(at: 4)  // CR LF → LF, as a text-mode transfer does
        assertDecodeError(textMode, message: "damaged PNG signature (was the file transferred in text mode?)")
        assertDecodeError([0x89, 0x50, 0x4E], message: "truncated PNG: the file ends after 3 bytes of the signature")
    }

    func testTruncatedInIDAT() throws {
        let bytes = try validPNG()
        let idat = try XCTUnwrap(chunkDataOffset(bytes, "IDAT"))
        let message = try XCTUnwrap(decodeErrorMessage(Array(bytes[0..<idat + 100])))
        XCTAssertTrue(message.hasPrefix("truncated or corrupt PNG: "), message)
        XCTAssertGreaterThan(message.count, "truncated or corrupt PNG: ".count + 3, "libpng's reason follows: \(message)")
    }

    func testTruncatedInHeader() throws {
        let bytes = try validPNG()
        let message = try XCTUnwrap(decodeErrorMessage(Array(bytes[0..<20])))
        XCTAssertTrue(message.hasPrefix("truncated or corrupt PNG: "), message)
    }

    /// A flipped bit in a chunk's data or in its stored CRC-32 is caught. Inside IDAT, zlib's
    /// own checks (Adler-32, code validity) fire first, as libpng inflates before the CRC.
    func testCorruptedChunks() throws {
        let valid = try validPNG()
        var header = valid
        header[try XCTUnwrap(chunkDataOffset(valid, "IHDR")) + 3] ^= 0x01
        XCTAssertEqual(decodeErrorMessage(header), "truncated or corrupt PNG: IHDR: CRC error")

        let idat = try XCTUnwrap(chunkDataOffset(valid, "IDAT"))
        let idatLength = valid[idat - 8..<idat - 4].reduce(0) { $0 << 8 | Int($1) }
        var storedCRC = valid
        storedCRC[idat + idatLength] ^= 0x01
        XCTAssertEqual(decodeErrorMessage(storedCRC), "truncated or corrupt PNG: IDAT: CRC error")

        var data = valid
        data[idat + 10] ^= 0x55
        let message = try XCTUnwrap(decodeErrorMessage(data))
        XCTAssertTrue(message.hasPrefix("truncated or corrupt PNG: IDAT: "), message)
    }

    /// A hand-built header claiming 100000×100000 pixels (10 GB of grey) with valid CRCs is
    /// refused from the header alone, before anything is allocated for the image.
    func testHugeDimensionsRefusedFromHeader() {
        assertDecodeError(RawPNG.claiming(width: 100_000, height: 100_000),
                          message: "image is 100000×100000 pixels; the limit is 16384 on a side")
    }

    /// A header within the size limit but claiming more pixels than the file could hold
    /// (deflate compresses at most 1032:1) is refused before the pixel buffer is allocated.
    func testSmallFileClaimingALargeImage() {
        let png = RawPNG.claiming(width: 16384, height: 16384)
        assertDecodeError(png, message: "corrupt PNG: the header claims 16384×16384 pixels, more than a \(png.count)-byte file can hold")
    }

    func testJustOverTheLimit() {
        assertDecodeError(RawPNG.claiming(width: 3, height: 16385), message: "image is 3×16385 pixels; the limit is 16384 on a side")
    }

    /// A chunk before the image data whose length runs past the end of the file is refused
    /// before libpng reads it: libpng allocates a text chunk's stated length first, so this
    /// 41-byte file (IHDR, then tEXt claiming 2³¹ − 1 bytes) cost 2 GiB before libpng found the end.
    func testChunkLengthsBeyondTheFileAreRefusedBeforeLibpng() throws {
        let valid = try validPNG()
        let afterHeader = 33  // signature (8) + IHDR chunk (25)
        for type in ["tEXt", "zTXt", "iTXt", "iCCP", "eXIf", "abCd"] {
            let lie = RawPNG.bigEndian(0x7FFF_FFFF) + Array(type.utf8)
            let cut = Array(valid[..<afterHeader]) + lie
            XCTAssertEqual(cut.count, 41)
            assertDecodeError(cut, message: "truncated or corrupt PNG: the \(type) chunk at byte 33 claims 2147483647 bytes, "
                              + "but the file ends 0 bytes after the chunk's header")
            // Followed by the rest of a valid file, the chunk still claims more than there is.
            let whole = Array(valid[..<afterHeader]) + lie + Array(valid[afterHeader...])
            let rest = valid.count - afterHeader
            assertDecodeError(whole, message: "truncated or corrupt PNG: the \(type) chunk at byte 33 claims 2147483647 bytes, "
                              + "but the file ends \(rest) bytes after the chunk's header")
        }
        let unnamed = Array(valid[..<afterHeader]) + RawPNG.bigEndian(1000) + [0, 0x20, 0xFF, 7]
        assertDecodeError(unnamed, message: "truncated or corrupt PNG: the chunk of type 0 20 FF 7 at byte 33 claims 1000 bytes, "
                          + "but the file ends 0 bytes after the chunk's header")
        // A text chunk whose length fits is read as before.
        let text = RawPNG.chunk("tEXt", Array("Comment".utf8) + [0] + Array("hello".utf8))
        XCTAssertEqual(try PNG.decode(Array(valid[..<afterHeader]) + text + Array(valid[afterHeader...]), name: "digit.png"),
                       try PNG.decode(valid, name: "digit.png"))
    }

    func testErrorDescriptionNamesTheFile() {
        XCTAssertEqual(ImageError(file: "scans/7.png", message: "empty file").description, "scans/7.png: empty file")
    }
}
