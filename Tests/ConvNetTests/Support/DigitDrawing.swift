@testable import ConvNet

/// Drawing and measuring synthetic digits for the preprocessing tests.
enum DigitDrawing {
    /// Paints the set of points where `inside(y, x)` holds onto `image` with `ink`, anti-aliased:
    /// each pixel blends towards `ink` by the fraction of its 4×4 sub-pixel centres inside.
    /// Only pixels within `bounds` (y, x ranges in pixels) are visited.
    static func paint(_ image: inout GrayImage, ink: UInt8, bounds: (ClosedRange<Double>, ClosedRange<Double>),
                      inside: (Double, Double) -> Bool) {
        let rows = max(0, Int(bounds.0.lowerBound))..<min(image.height, Int(bounds.0.upperBound) + 1)
        let columns = max(0, Int(bounds.1.lowerBound))..<min(image.width, Int(bounds.1.upperBound) + 1)
        for row in rows {
            for column in columns {
                var covered = 0
                for subRow in 0..<4 {
                    for subColumn in 0..<4 where inside(Double(row) + (Double(subRow) + 0.5) / 4,
                                                        Double(column) + (Double(subColumn) + 0.5) / 4) {
                        covered += 1
                    }
                }
                guard covered > 0 else { continue }
                let coverage = Double(covered) / 16
                let old = Double(image[row, column])
                image[row, column] = UInt8((old * (1 - coverage) + Double(ink) * coverage).rounded())
            }
        }
    }

    /// A ring (an "0") centred at (`row`, `column`) between radii `inner` and `outer`.
    static func ring(_ image: inout GrayImage, row: Double, column: Double, outer: Double, inner: Double, ink: UInt8) {
        paint(&image, ink: ink, bounds: (row - outer...row + outer, column - outer...column + outer)) { y, x in
            let distance = ((y - row) * (y - row) + (x - column) * (x - column)).squareRoot()
            return distance <= outer && distance >= inner
        }
    }

    /// A filled axis-aligned rectangle (a "1").
    static func bar(_ image: inout GrayImage, top: Double, left: Double, height: Double, width: Double, ink: UInt8) {
        paint(&image, ink: ink, bounds: (top...top + height, left...left + width)) { y, x in
            y >= top && y < top + height && x >= left && x < left + width
        }
    }

    /// The image with every level v replaced by 255 − v.
    static func inverted(_ image: GrayImage) -> GrayImage {
        GrayImage(width: image.width, height: image.height, pixels: image.pixels.map { 255 - $0 })
    }

    /// `image` scaled up `factor` times by repeating pixels.
    static func enlarged(_ image: GrayImage, by factor: Int) -> GrayImage {
        var output = GrayImage(width: image.width * factor, height: image.height * factor, fill: 0)
        for row in 0..<output.height {
            for column in 0..<output.width { output[row, column] = image[row / factor, column / factor] }
        }
        return output
    }

    /// `image` pasted onto `canvas` with its top-left corner at (`top`, `left`).
    static func pasted(_ image: GrayImage, onto canvas: GrayImage, top: Int, left: Int) -> GrayImage {
        var output = canvas
        for row in 0..<image.height {
            for column in 0..<image.width { output[top + row, left + column] = image[row, column] }
        }
        return output
    }

    /// The intensity-weighted mean (row, column) index, as MNIST's centring measured it.
    static func centreOfMass(_ image: GrayImage) -> (row: Double, column: Double) {
        var mass = 0.0, rowMoment = 0.0, columnMoment = 0.0
        for row in 0..<image.height {
            for column in 0..<image.width {
                let value = Double(image[row, column])
                mass += value
                rowMoment += value * Double(row)
                columnMoment += value * Double(column)
            }
        }
        return (rowMoment / mass, columnMoment / mass)
    }

    /// Rows and columns spanned by pixels brighter than `threshold`.
    static func inkBox(_ image: GrayImage, threshold: UInt8 = 64) -> (height: Int, width: Int) {
        var rows: [Int] = [], columns: [Int] = []
        for row in 0..<image.height {
            for column in 0..<image.width where image[row, column] > threshold {
                rows.append(row)
                columns.append(column)
            }
        }
        guard let top = rows.min(), let bottom = rows.max(), let left = columns.min(), let right = columns.max() else {
            return (0, 0)
        }
        return (bottom - top + 1, right - left + 1)
    }

    /// Mean |a − b| over the pixels of two images of one size.
    static func meanAbsoluteDifference(_ a: GrayImage, _ b: GrayImage) -> Double {
        precondition(a.width == b.width && a.height == b.height)
        let total = zip(a.pixels, b.pixels).reduce(0) { $0 + abs(Int($1.0) - Int($1.1)) }
        return Double(total) / Double(a.pixels.count)
    }
}
