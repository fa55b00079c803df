import XCTest
@testable import ConvNet

final class Im2colTests: XCTestCase {
    /// The write-up's example: 227×227×3 input, 11×11 filters, stride 4 → [363 × 3025].
    func testDocumentedShapes() {
        let large = ConvolutionGeometry(channels: 3, height: 227, width: 227, kernelHeight: 11, kernelWidth: 11,
                                        strideHeight: 4, strideWidth: 4)
        XCTAssertEqual(large.columnRows, 363)
        XCTAssertEqual(large.columnsPerImage, 3025)
        XCTAssertEqual(large.outputHeight, 55)

        let small = ConvolutionGeometry(channels: 3, height: 4, width: 4, kernelHeight: 2, kernelWidth: 2)
        XCTAssertEqual(small.columnRows, 12)
        XCTAssertEqual(small.columnsPerImage, 9)
        let x = randomTensor([3, 4, 4], seed: 1)
        var columns = [Float](repeating: .nan, count: 12 * 9)
        columns.withUnsafeMutableBufferPointer { im2col(x.data, geometry: small, into: $0.baseAddress!, rowStride: 9) }
        XCTAssertEqual(columns, naiveIm2col(x.values, small))
        // Row (c=1, kh=1, kw=0), column (oh=2, ow=1) is x[1, 3, 1].
        XCTAssertEqual(columns[(1 * 4 + 2) * 9 + 2 * 3 + 1], x[(1 * 4 + 3) * 4 + 1])
    }

    func testLargeShapeAgainstNaive() {
        let g = ConvolutionGeometry(channels: 3, height: 227, width: 227, kernelHeight: 11, kernelWidth: 11,
                                    strideHeight: 4, strideWidth: 4)
        let x = randomTensor([3, 227, 227], seed: 2)
        var columns = [Float](repeating: .nan, count: 363 * 3025)
        columns.withUnsafeMutableBufferPointer { im2col(x.data, geometry: g, into: $0.baseAddress!, rowStride: 3025) }
        XCTAssertEqual(columns, naiveIm2col(x.values, g))
    }

    /// Geometries covering overlapping windows, non-overlapping ones, strides larger than
    /// the kernel, padding, rectangular kernels and non-square inputs.
    static let geometries: [ConvolutionGeometry] = [
        .init(channels: 2, height: 7, width: 7, kernelHeight: 3, kernelWidth: 3),                       // overlap
        .init(channels: 20, height: 12, width: 12, kernelHeight: 5, kernelWidth: 5),                    // LeNet's conv2
        .init(channels: 2, height: 5, width: 19, kernelHeight: 2, kernelWidth: 4),                      // runs of 16: two 8-float moves
        .init(channels: 3, height: 9, width: 10, kernelHeight: 4, kernelWidth: 2),                      // unpadded, stride 1, uneven
        .init(channels: 1, height: 8, width: 6, kernelHeight: 2, kernelWidth: 2, strideHeight: 2, strideWidth: 2), // tiles
        .init(channels: 3, height: 9, width: 11, kernelHeight: 2, kernelWidth: 3, strideHeight: 3, strideWidth: 4), // gaps
        .init(channels: 2, height: 6, width: 5, kernelHeight: 3, kernelWidth: 3, paddingHeight: 1, paddingWidth: 1),
        .init(channels: 2, height: 5, width: 8, kernelHeight: 5, kernelWidth: 3, strideHeight: 2, strideWidth: 1,
              paddingHeight: 2, paddingWidth: 3),
        .init(channels: 1, height: 3, width: 3, kernelHeight: 3, kernelWidth: 3, paddingHeight: 4, paddingWidth: 4),
    ]

    func testAgainstNaiveLoop() {
        for (index, g) in Self.geometries.enumerated() {
            let x = randomTensor([g.channels, g.height, g.width], seed: UInt64(index))
            let stride = g.columnsPerImage + 3  // a wider row stride, as when images sit side by side
            var columns = [Float](repeating: .nan, count: g.columnRows * stride)
            columns.withUnsafeMutableBufferPointer { im2col(x.data, geometry: g, into: $0.baseAddress!, rowStride: stride) }
            let packed = (0..<g.columnRows).flatMap { columns[($0 * stride)..<($0 * stride + g.columnsPerImage)] }
            XCTAssertEqual(packed, naiveIm2col(x.values, g), "geometry \(index)")
        }
    }

    /// `im2row` is `im2col`'s transpose for every geometry (8-float moves for stride 1 without
    /// padding on images at least 8 wide, with kernels 1–8 wide; the general loop for the others),
    /// with a wider row stride, and writes nothing outside its rows: not past the last one's
    /// C·KH·KW values, nor between rows.
    func testIm2rowIsTheTransposeOfIm2col() {
        let more: [ConvolutionGeometry] = [
            .init(channels: 3, height: 8, width: 8, kernelHeight: 3, kernelWidth: 3),   // 3-wide runs, the image ending at the last run
            .init(channels: 1, height: 9, width: 8, kernelHeight: 2, kernelWidth: 8),   // 8-wide runs
            .init(channels: 2, height: 10, width: 9, kernelHeight: 4, kernelWidth: 1),  // 1-wide runs
        ]
        for (index, g) in (Self.geometries + more).enumerated() {
            let x = randomTensor([g.channels, g.height, g.width], seed: UInt64(index))
            let columns = naiveIm2col(x.values, g)
            for stride in [g.columnRows, g.columnRows + 5] {
                var rows = [Float](repeating: .nan, count: g.columnsPerImage * stride + 16)
                rows.withUnsafeMutableBufferPointer { im2row(x.data, geometry: g, into: $0.baseAddress!, rowStride: stride) }
                for position in 0..<g.columnsPerImage {
                    let row = Array(rows[(position * stride)..<(position * stride + g.columnRows)])
                    let expected = (0..<g.columnRows).map { columns[$0 * g.columnsPerImage + position] }
                    XCTAssertEqual(row, expected, "geometry \(index), stride \(stride), row \(position)")
                    if stride > g.columnRows {
                        XCTAssertTrue(rows[(position * stride + g.columnRows)..<((position + 1) * stride)].allSatisfy(\.isNaN), "between rows")
                    }
                }
                XCTAssertTrue(rows[(g.columnsPerImage - 1) * stride + g.columnRows..<rows.count].allSatisfy(\.isNaN),
                              "geometry \(index): past the last row")
            }
        }
    }

    /// A band of output rows (how workers split one image) gives those rows' columns of the whole matrix.
    func testOutputRowBandsAgainstNaiveLoop() {
        for (index, g) in Self.geometries.enumerated() {
            let x = randomTensor([g.channels, g.height, g.width], seed: UInt64(30 + index))
            let whole = naiveIm2col(x.values, g)
            for band in [0..<1, 1..<g.outputHeight, (g.outputHeight / 2)..<g.outputHeight] where !band.isEmpty {
                let width = band.count * g.outputWidth
                var columns = [Float](repeating: .nan, count: g.columnRows * width)
                columns.withUnsafeMutableBufferPointer {
                    im2col(x.data, geometry: g, outputRows: band, into: $0.baseAddress!, rowStride: width)
                }
                let expected = (0..<g.columnRows).flatMap { row in
                    whole[(row * g.columnsPerImage + band.lowerBound * g.outputWidth)..<(row * g.columnsPerImage + band.upperBound * g.outputWidth)]
                }
                XCTAssertEqual(columns, expected, "geometry \(index), rows \(band)")
            }
        }
    }

    /// ⟨im2col(x), y⟩ = ⟨x, col2im(y)⟩: col2im is the adjoint, so it sums overlapping patches.
    func testAdjointIdentity() {
        for (index, g) in Self.geometries.enumerated() {
            let x = randomTensor([g.channels, g.height, g.width], seed: UInt64(10 + index))
            let y = randomTensor([g.columnRows, g.columnsPerImage], seed: UInt64(20 + index))
            let columns = Tensor(shape: [g.columnRows, g.columnsPerImage])
            im2col(x.data, geometry: g, into: columns.data, rowStride: g.columnsPerImage)
            let folded = Tensor(shape: [g.channels, g.height, g.width])
            col2im(y.data, rowStride: g.columnsPerImage, geometry: g, addingInto: folded.data)
            let left = zip(columns.values, y.values).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            let right = zip(x.values, folded.values).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            XCTAssertEqual(left, right, accuracy: 1e-4 * max(1, abs(left)), "geometry \(index)")
        }
    }

    /// With a 3×3 kernel at stride 1, the centre pixel lies in 9 patches: col2im of all-ones gives 9.
    func testCol2imSumsOverlaps() {
        let g = ConvolutionGeometry(channels: 1, height: 5, width: 5, kernelHeight: 3, kernelWidth: 3)
        let ones = Tensor(shape: [9, 9])
        ones.fill(1)
        let image = Tensor(shape: [1, 5, 5])
        col2im(ones.data, rowStride: 9, geometry: g, addingInto: image.data)
        XCTAssertEqual(image[12], 9)
        XCTAssertEqual(image[0], 1)
        XCTAssertEqual(image[2], 3)
    }
}
