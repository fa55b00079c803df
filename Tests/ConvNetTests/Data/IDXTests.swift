import XCTest
@testable import ConvNet

final class IDXTests: XCTestCase {
    func testRawAndGzipReadTheSame() throws {
        let directory = temporaryDirectory(self)
        let values = (0..<(3 * 4 * 5)).map { UInt8($0) }
        let bytes = idxBytes(dimensions: [3, 4, 5], values: values)
        // Detection is by content: a gzip file named .idx and a raw file named .gz both read.
        writeBytes(gzip(bytes), to: directory + "/images.idx")
        writeBytes(bytes, to: directory + "/images.gz")
        for name in ["/images.idx", "/images.gz"] {
            let array = try IDXArray.read(contentsOf: directory + name, dimensionCount: 3)
            XCTAssertEqual(array.dimensions, [3, 4, 5])
            XCTAssertEqual(array.bytes, values)
        }
    }

    func testBundledMNIST() {
        XCTAssertEqual(MNIST.train.count, 60_000)
        XCTAssertEqual(MNIST.test.count, 10_000)
        XCTAssertEqual(MNIST.train.sampleShape, [1, 28, 28])
        // Well-known first labels: 5 in the training set, 7 in the test set.
        XCTAssertEqual(MNIST.train.labels.first, 5)
        XCTAssertEqual(MNIST.test.labels.first, 7)
        XCTAssertEqual(Set(MNIST.test.labels), Set(0..<10))
    }

    func testRejections() {
        let directory = temporaryDirectory(self)
        func path(_ name: String, _ bytes: [UInt8], gzip: Bool = false) -> String {
            let path = directory + "/" + name
            writeBytes(gzip ? TestFixtures.gzip(bytes) : bytes, to: path)
            return path
        }
        let good = idxBytes(dimensions: [2, 3, 3], values: [UInt8](repeating: 7, count: 18))

        assertThrows("\(directory)/missing: no such file") { try IDXArray.read(contentsOf: directory + "/missing", dimensionCount: 3) }
        assertThrows("\(directory): is a directory") { try IDXArray.read(contentsOf: directory, dimensionCount: 3) }
        let empty = path("empty", [])
        assertThrows("\(empty): is empty, expected an IDX file") { try IDXArray.read(contentsOf: empty, dimensionCount: 3) }
        // An images file where labels are expected: the magic number says 3 dimensions.
        let images = path("images", good)
        assertThrows("\(images): magic number 0x00000803 says 3 dimensions, expected 0x00000801 (IDX labels, 1 dimension)") {
            try IDXArray.read(contentsOf: images, dimensionCount: 1)
        }
        let text = path("text", Array("hello, world".utf8))
        assertThrows("\(text): not an IDX file: magic number 0x68656C6C, expected 0x00000803 (IDX images)") {
            try IDXArray.read(contentsOf: text, dimensionCount: 3)
        }
        let floats = path("floats", [0, 0, 0x0D, 1, 0, 0, 0, 1, 0, 0, 0, 0])
        assertThrows("\(floats): IDX data type 0x0D is not supported, expected 0x08 (unsigned byte)") {
            try IDXArray.read(contentsOf: floats, dimensionCount: 1)
        }
        let truncated = path("truncated", Array(good.dropLast(5)))
        assertThrows("\(truncated): truncated: the header announces 2×3×3 bytes of data (34 bytes with the header) but the file has 29 bytes") {
            try IDXArray.read(contentsOf: truncated, dimensionCount: 3)
        }
        let long = path("long", good + [1, 2])
        assertThrows("\(long): has 2 bytes after the 2×3×3 bytes of data (34 bytes with the header) its header announces") {
            try IDXArray.read(contentsOf: long, dimensionCount: 3)
        }
        let truncatedGzip = path("truncated.gz", Array(TestFixtures.gzip(good).dropLast(12)))
        assertThrows("\(truncatedGzip): truncated gzip data", contains: true) {
            try IDXArray.read(contentsOf: truncatedGzip, dimensionCount: 3)
        }
        var flipped = TestFixtures.gzip(idxBytes(dimensions: [200], values: (0..<200).map { UInt8($0) }))
        flipped[flipped.count - 9] ^= 0xFF  // the stored CRC-32 no longer matches
        let corrupt = path("corrupt.gz", flipped)
        assertThrows("\(corrupt): corrupt gzip data: incorrect data check") { try IDXArray.read(contentsOf: corrupt, dimensionCount: 1) }
    }

    /// A header announcing 4 × 10⁹ images must fail at once, without allocating for them.
    func testLyingHeaderDoesNotAllocate() {
        let directory = temporaryDirectory(self)
        let huge = idxBytes(dimensions: [60_000, 60_000, 60_000], values: [1, 2, 3])
        writeBytes(huge, to: directory + "/huge")
        writeBytes(gzip(huge), to: directory + "/huge.gz")
        assertThrows("the header announces an absurd size (dimensions 60000×60000×60000)", contains: true) {
            try IDXArray.read(contentsOf: directory + "/huge", dimensionCount: 3)
        }
        let plausible = idxBytes(dimensions: [1_000_000, 28, 28], values: [1, 2, 3])
        writeBytes(gzip(plausible), to: directory + "/plausible.gz")
        assertThrows("truncated: the header announces 1000000×28×28 bytes of data", contains: true) {
            try IDXArray.read(contentsOf: directory + "/plausible.gz", dimensionCount: 3)
        }
    }

    /// The labels file and the images file's header are compared before the images are read:
    /// a header announcing 10⁶ images beside 3 labels is refused at once, whatever follows it
    /// (here 3 bytes, which reading the images first would have reported instead).
    func testCountsAreComparedBeforeTheImagesAreRead() {
        let directory = temporaryDirectory(self)
        writeBytes(gzip(idxBytes(dimensions: [1_000_000, 28, 28], values: [1, 2, 3])), to: directory + "/images.gz")
        writeBytes(idxBytes(dimensions: [3], values: [0, 1, 2]), to: directory + "/labels")
        assertThrows("\(directory)/labels: has 3 labels but \(directory)/images.gz has 1000000 images") {
            try Dataset.loadIDX(images: directory + "/images.gz", labels: directory + "/labels", classNames: ["a", "b", "c"])
        }
    }

    /// A gzip file's data is decompressed straight into the array returned, which is given the
    /// announced size at once when the gzip trailer agrees: the peak grows by the data (48 MiB
    /// here), not by a growing copy of the whole file and a second copy without the header.
    func testGzipDataIsDecompressedStraightIntoItsArray() throws {
        let directory = temporaryDirectory(self)
        let dimensions = [12_288, 64, 64]
        let dataLength = dimensions.reduce(1, *)
        writeBytes(gzip(idxBytes(dimensions: dimensions, values: (0..<dataLength).map { UInt8(truncatingIfNeeded: $0 >> 12) })),
                   to: directory + "/images.gz")
        var array: IDXArray?
        let growth = try peakResidentGrowth { array = try IDXArray.read(contentsOf: directory + "/images.gz", dimensionCount: 3) }
        XCTAssertEqual(array?.dimensions, dimensions)
        XCTAssertEqual(array?.bytes.count, dataLength)
        XCTAssertEqual(array?.bytes[5 << 12], 5)
        if let growth {
            XCTAssertLessThan(growth, dataLength + (12 << 20), "peak grew by \(growth >> 20) MiB for \(dataLength >> 20) MiB of data")
        }
    }

    /// A run compares each images file's header with the model's input before reading the
    /// images: here the data is cut short, which is only found when read.
    func testModelInputIsCheckedBeforeTheImagesAreRead() throws {
        let directory = temporaryDirectory(self)
        writeBytes(gzip(idxBytes(dimensions: [2, 32, 32], values: [1, 2, 3])), to: directory + "/images.gz")
        writeBytes(idxBytes(dimensions: [2], values: [0, 1]), to: directory + "/labels")
        let json = mnistConfigJSON(trainLimit: 2, testLimit: 2, epochs: 1)
            .replacingOccurrences(of: MNIST.trainImages, with: directory + "/images.gz")
            .replacingOccurrences(of: MNIST.testImages, with: directory + "/images.gz")
            .replacingOccurrences(of: MNIST.trainLabels, with: directory + "/labels")
            .replacingOccurrences(of: MNIST.testLabels, with: directory + "/labels")
        let configuration = try Configuration.parse(Data(json.utf8), file: "test.json")
        assertThrows("test.json: model.input is 1×28×28 but \(directory)/images.gz holds 1×32×32 images; set model.input to [1, 32, 32]") {
            try TrainingData.load(configuration, configurationFile: "test.json")
        }
    }

    func testDatasetChecksCountsAndLabels() {
        let directory = temporaryDirectory(self)
        writeBytes(idxBytes(dimensions: [3, 2, 2], values: [UInt8](repeating: 0, count: 12)), to: directory + "/images")
        writeBytes(idxBytes(dimensions: [2], values: [0, 1]), to: directory + "/two-labels")
        writeBytes(idxBytes(dimensions: [3], values: [0, 1, 9]), to: directory + "/bad-labels")
        writeBytes(idxBytes(dimensions: [3], values: [0, 1, 2]), to: directory + "/labels")
        assertThrows("\(directory)/two-labels: has 2 labels but \(directory)/images has 3 images") {
            try Dataset.loadIDX(images: directory + "/images", labels: directory + "/two-labels", classNames: ["a", "b", "c"])
        }
        assertThrows("\(directory)/bad-labels: label 9 of image 2 is not below the number of classes, 3") {
            try Dataset.loadIDX(images: directory + "/images", labels: directory + "/bad-labels", classNames: ["a", "b", "c"])
        }
        let dataset = try! Dataset.loadIDX(images: directory + "/images", labels: directory + "/labels", classNames: ["a", "b", "c"])
        XCTAssertEqual(dataset.sampleShape, [1, 2, 2])
        XCTAssertEqual(dataset.labels, [0, 1, 2])
    }

    func testBatchLoaderNormalises() {
        let dataset = Dataset(images: [0, 255, 51, 102], labels: [1, 0], sampleShape: [1, 1, 2], classNames: ["a", "b"])
        let loader = BatchLoader(normalization: Normalization(mean: 0.2, std: 0.5))
        [Int32(1), 0].withUnsafeBufferPointer { loader.load(dataset, indices: $0) }
        XCTAssertEqual(loader.images.shape, [2, 1, 1, 2])
        assertClose(loader.images.values, [(0.2 - 0.2) / 0.5, (0.4 - 0.2) / 0.5, (0 - 0.2) / 0.5, (1 - 0.2) / 0.5], tolerance: 1e-6)
        XCTAssertEqual(Array(loader.labels), [0, 1])
    }
}
