import XCTest
import Glibc
@testable import ConvNet

/// Reading and writing PNG files, and the errors a bad path gives.
final class PNGFileTests: XCTestCase {
    var directory = ""

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("png-tests-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: directory)
    }

    func assertReadError(_ path: String, message: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try PNG.read(contentsOf: path), file: file, line: line) { error in
            XCTAssertEqual(error as? ImageError, ImageError(file: path, message: message), file: file, line: line)
        }
    }

    func testWriteThenRead() throws {
        let image = GrayImage(width: 5, height: 3, pixels: (0..<15).map { UInt8($0 * 17) })
        let path = directory + "/ramp.png"
        try PNG.write(image, to: path)
        XCTAssertEqual(try PNG.read(contentsOf: path), image)
        let smaller = GrayImage(width: 2, height: 2, fill: 9)
        try PNG.write(smaller, to: path)
        XCTAssertEqual(try PNG.read(contentsOf: path), smaller, "an existing file is replaced")
    }

    func testDirectory() {
        assertReadError(directory, message: "is a directory")
    }

    func testMissingFile() {
        assertReadError(directory + "/missing.png", message: "no such file")
    }

    func testEmptyFile() {
        let path = directory + "/empty.png"
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data()))
        assertReadError(path, message: "empty file")
    }

    func testTextFileNamedPNG() {
        let path = directory + "/notes.png"
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data("shopping list\n".utf8)))
        assertReadError(path, message: "not a PNG file (it starts with text)")
    }

    func testNotARegularFile() {
        assertReadError("/dev/null", message: "is a device, not a regular file")
    }

    /// A mode-000 file. Root may read any file, so as root the read runs with the effective
    /// user switched to `nobody` (65534) and back; the real user stays root, which allows it.
    func testUnreadableFile() throws {
        let path = directory + "/locked.png"
        try PNG.write(GrayImage(width: 1, height: 1, fill: 0), to: path)
        XCTAssertEqual(chmod(path, 0), 0)
        let isRoot = geteuid() == 0
        if isRoot { try XCTSkipUnless(seteuid(65534) == 0, "cannot switch to user nobody") }
        defer { if isRoot { XCTAssertEqual(seteuid(0), 0, "back to root") } }
        assertReadError(path, message: "permission denied")
    }

    func testWriteErrors() {
        let image = GrayImage(width: 1, height: 1, fill: 0)
        XCTAssertThrowsError(try PNG.write(image, to: directory + "/no/such/dir/a.png")) { error in
            XCTAssertEqual((error as? ImageError)?.message, "no such directory")
        }
        XCTAssertThrowsError(try PNG.write(image, to: directory)) { error in
            XCTAssertEqual(error as? ImageError, ImageError(file: directory, message: "is a directory"))
        }
        XCTAssertThrowsError(try PNG.write(GrayImage(width: 0, height: 0, fill: 0), to: directory + "/b.png")) { error in
            XCTAssertEqual(error as? ImageError, ImageError(file: directory + "/b.png",
                                                           message: "image is 0×0 pixels; a PNG side must be 1 to 16384"))
        }
    }
}
