import Foundation

/// Turns a user's photo or drawing of one digit into an MNIST-like sample, the way MNIST's
/// digits were made: light ink (255) on black (0), the digit scaled with anti-aliasing to fit
/// a 20×20 box keeping its aspect ratio, and placed in the 28×28 field so that its centre of
/// mass sits at the field's centre.
///
/// Steps of `prepare`, with every size generalised to an H×W output:
/// 1. Polarity: the background is the median of the outermost rows and columns; a light
///    background (≥ 128) means dark ink, and the image is read inverted. Uneven lighting is
///    then flattened (`Illumination`): the page becomes black and the ink light everywhere,
///    in a shadow as in full light.
/// 2. Ink: intensities are rescaled so the page is 0 and the ink 1 (`InkLevels`); pixels
///    above `inkThreshold` (¼ of the contrast) are ink, and the crop is the bounding box of
///    ink components (`InkRegion`), so faint specks and dust do not widen it. The levels are
///    then calibrated on the digit's own pixels (`saturatedInkQuantile`). MNIST's own 20-pixel
///    box is the extent of its pixels above ¼ in 99.88% of the test digits, so this threshold
///    keeps its scale.
/// 3. Scale: the ink box's larger side is fitted to round(20/28 · H) rows or round(20/28 · W)
///    columns, area-averaged when shrinking, bilinear when enlarging (`ResamplingAxis`);
///    the crop reaches `haloPixels` further to keep the strokes' faint rims.
/// 4. Centre: with the centre of mass (r̄, c̄) = Σ v·(row, column) / Σ v in pixel indices,
///    the digit is shifted by whole rows and columns so that r̄ lands in [⌊H/2⌋ − ½, ⌊H/2⌋ + ½)
///    and c̄ in [⌊W/2⌋ − ½, ⌊W/2⌋ + ½), clipping whatever falls outside. For 28×28 that is
///    index (14, 14), as in MNIST: every test digit's centre of mass, measured this way,
///    lies in [13.5, 14.5) (mean 14.0).
/// 5. Pass-through: an image already H×W with a dark border is returned unchanged.
/// 6. No digit: an image without ink (a blank page, or nothing with a sharp edge left after
///    flattening) or whose ink is not digit-like — wider than `maximumAspect` times its height,
///    or a filled shape rather than strokes (`maximumInteriorShare`) — gives `.none` with the
///    reason (`prepareDigit`); `prepare` then returns a black sample.
public struct DigitPreprocessor: Sendable {
    /// Output rows (H).
    public var height: Int
    /// Output columns (W).
    public var width: Int

    /// A preprocessor producing `height`×`width` samples (MNIST: 28×28).
    public init(height: Int = 28, width: Int = 28) {
        precondition(height > 0 && width > 0, "output size \(width)×\(height)")
        self.height = height
        self.width = width
    }

    /// The fraction of the background-to-ink contrast a pixel must exceed to count as ink.
    static let inkThreshold: Float = 0.25
    /// The least contrast between page and ink, in grey levels, for an image to hold a digit.
    static let minimumContrast = 32
    /// The provisional ink level is the darkest reached by 1 pixel in this many (0.05% of
    /// the image), so that a few dark specks cannot set it.
    static let inkLevelPixelRatio = 2_000
    /// Ink components of fewer than 1 pixel in this many are dust (600 pixels of a
    /// 4000×3000 photo, 3 of a 300×200 drawing; none of a 28×28 image).
    static let dustPixelRatio = 20_000
    /// The quantile of the digit's ink pixels that becomes full intensity (255). In MNIST
    /// 10% of the ink pixels are ≥ 251 in 99% of the digits: stroke cores are saturated.
    static let saturatedInkQuantile = 0.9

    /// Output pixels kept around the ink box for the faint rim of the strokes, which counts
    /// in the centre of mass. In 99.4% of MNIST's test digits the pixels outside the box of
    /// pixels above ¼ reach at most one pixel further.
    static let haloPixels = 2

    /// The widest ink box, as a multiple of its height, that is still a digit: MNIST's widest
    /// digit is 2.5 times as wide as tall (99.9% are at most 1.67).
    static let maximumAspect = 2.5
    /// The largest share of a prepared digit's ink pixels that may lie deep inside ink (their
    /// whole 5×5 neighbourhood ink) before it counts as a filled shape rather than strokes:
    /// in MNIST at most 0.46 (training set) and 0.42 (test set); a filled disc scores about 0.6.
    static let maximumInteriorShare = 0.5

    /// What `prepareDigit` found.
    public enum Result: Equatable, Sendable {
        /// The `height`×`width` MNIST-like sample.
        case digit(GrayImage)
        /// No digit, and why: e.g. "the image is blank".
        case none(String)
    }

    /// The `height`×`width` MNIST-like sample of the digit in `image` (light ink on black), or
    /// an all-black sample when there is no digit (see `prepareDigit`).
    public func prepare(_ image: GrayImage) -> GrayImage {
        if case .digit(let sample) = prepareDigit(image) { return sample }
        return GrayImage(width: width, height: height, fill: 0)
    }

    /// The `height`×`width` MNIST-like sample of the digit in `image`, or why there is none.
    public func prepareDigit(_ image: GrayImage) -> Result {
        let blank = Result.none("the image is blank: no ink stands out from the page")
        guard image.width > 0, image.height > 0 else { return blank }
        let originalBackground = Self.borderMedian(image)
        let inverted = originalBackground >= 128
        if !inverted && image.width == width && image.height == height { return Self.judge(image) }
        // From here on the image is light ink on a flat black page.
        let image = Illumination.flattened(image, inverted: inverted)
        // Nothing with a sharp edge: a blank page, whatever lighting is left.
        guard Illumination.edgeContrast(image) >= Self.minimumContrast else { return blank }
        let background = Self.borderMedian(image)

        let pixelCount = image.pixels.count
        let histogram = Self.histogram(image)
        guard let provisional = InkLevels(histogram: histogram, background: background, inverted: false,
                                          minimumCount: max(1, pixelCount / Self.inkLevelPixelRatio))
        else { return blank }
        let isInk = provisional.isInk
        let inkPixelCount = (0..<256).reduce(0) { $0 + (isInk[$1] ? histogram[$1] : 0) }
        guard let region = InkRegion(image, isInk: isInk, inkPixelCount: inkPixelCount,
                                     minimumComponent: max(1, pixelCount / Self.dustPixelRatio))
        else { return blank }
        let levels = provisional.calibrated(toInkHistogram: region.inkHistogram, fraction: Self.saturatedInkQuantile)

        // The ink box's larger side fits the 20/28 box. The crop extends `haloPixels` output
        // pixels past the box so the faint anti-aliased rim, below the ink threshold, is kept.
        let boxHeight = max(1, (20 * height + 14) / 28), boxWidth = max(1, (20 * width + 14) / 28)
        let scale = min(Double(boxHeight) / Double(region.rows.count), Double(boxWidth) / Double(region.columns.count))
        let margin = Int((Double(Self.haloPixels) / scale).rounded())
        let rows = max(0, region.rows.lowerBound - margin)..<min(image.height, region.rows.upperBound + margin)
        let columns = max(0, region.columns.lowerBound - margin)..<min(image.width, region.columns.upperBound + margin)
        let crop = region.crop(image, rows: rows, columns: columns, intensity: levels.intensity)
        let scaledHeight = max(1, Int((Double(rows.count) * scale).rounded()))
        let scaledWidth = max(1, Int((Double(columns.count) * scale).rounded()))
        let scaled = crop.withUnsafeBufferPointer {
            resample($0, height: rows.count, width: columns.count, toHeight: scaledHeight, width: scaledWidth)
        }
        guard let sample = centred(scaled, height: scaledHeight, width: scaledWidth) else { return blank }
        return Self.judge(sample)
    }

    /// `sample` as a digit, unless its ink (pixels above ¼) is too wide or a filled shape.
    static func judge(_ sample: GrayImage) -> Result {
        let (height, width) = (sample.height, sample.width)
        func isInk(_ row: Int, _ column: Int) -> Bool { sample.pixels[row * width + column] > 64 }
        var top = height, bottom = -1, left = width, right = -1, inkCount = 0, interior = 0
        for row in 0..<height {
            for column in 0..<width where isInk(row, column) {
                top = min(top, row); bottom = max(bottom, row); left = min(left, column); right = max(right, column)
                inkCount += 1
                if row >= 2 && row < height - 2 && column >= 2 && column < width - 2
                    && (row - 2...row + 2).allSatisfy({ r in (column - 2...column + 2).allSatisfy { isInk(r, $0) } }) {
                    interior += 1
                }
            }
        }
        guard bottom >= top else { return .none("the image is blank: no ink stands out from the page") }
        let aspect = Double(right - left + 1) / Double(bottom - top + 1)
        if aspect > maximumAspect {
            return .none(String(format: "the ink is %.1f times as wide as tall, not a digit", aspect))
        }
        let interiorShare = Double(interior) / Double(inkCount)
        if interiorShare > maximumInteriorShare {
            return .none(String(format: "%.0f%% of the ink lies deep inside ink: a filled shape, not strokes", interiorShare * 100))
        }
        return .digit(sample)
    }

    /// Resizes `image` to `height`×`width` without keeping its aspect ratio: area averaging
    /// along an axis that shrinks, bilinear interpolation along one that grows. For converting
    /// a data set's images to a model's input size; user drawings want `prepare` instead.
    public static func resize(_ image: GrayImage, toHeight height: Int, width: Int) -> GrayImage {
        precondition(height > 0 && width > 0 && image.height > 0 && image.width > 0,
                     "resizing \(image.width)×\(image.height) to \(width)×\(height)")
        if image.height == height && image.width == width { return image }
        let values = image.pixels.map(Float.init)
        let resized = values.withUnsafeBufferPointer {
            resample($0, height: image.height, width: image.width, toHeight: height, width: width)
        }
        return GrayImage(width: width, height: height, pixels: resized.map { UInt8(min(255, max(0, $0.rounded()))) })
    }

    /// `digit` (`[digitHeight, digitWidth]`, values in [0, 1]) placed in the output frame with
    /// its centre of mass at index (⌊H/2⌋, ⌊W/2⌋), as 0…255; nil if it has no mass.
    func centred(_ digit: [Float], height digitHeight: Int, width digitWidth: Int) -> GrayImage? {
        var mass = 0.0, rowMoment = 0.0, columnMoment = 0.0
        for row in 0..<digitHeight {
            for column in 0..<digitWidth {
                let value = Double(digit[row * digitWidth + column])
                mass += value
                rowMoment += value * Double(row)
                columnMoment += value * Double(column)
            }
        }
        guard mass > 0 else { return nil }
        // MNIST's centres of mass lie in [13.5, 14.5): the shift is ⌈⌊H/2⌋ − ½ − r̄⌉. The
        // 1e-6 keeps an exact tie (a symmetric digit) from flipping with rounding noise.
        let top = Int((Double(height / 2) - 0.5 - rowMoment / mass - 1e-6).rounded(.up))
        let left = Int((Double(width / 2) - 0.5 - columnMoment / mass - 1e-6).rounded(.up))
        var output = GrayImage(width: width, height: height, fill: 0)
        for row in max(0, -top)..<min(digitHeight, height - top) {
            for column in max(0, -left)..<min(digitWidth, width - left) {
                let value = (digit[row * digitWidth + column] * 255).rounded()
                output.pixels[(top + row) * width + left + column] = UInt8(min(255, max(0, value)))
            }
        }
        return output
    }

    /// The median grey level of the outermost rows and columns: the page, unless ink covers
    /// more than half of the border.
    static func borderMedian(_ image: GrayImage) -> Int {
        var counts = [Int](repeating: 0, count: 256)
        var total = 0
        func count(_ row: Int, _ column: Int) {
            counts[Int(image.pixels[row * image.width + column])] += 1
            total += 1
        }
        for column in 0..<image.width {
            count(0, column)
            if image.height > 1 { count(image.height - 1, column) }
        }
        for row in 1..<max(1, image.height - 1) {
            count(row, 0)
            if image.width > 1 { count(row, image.width - 1) }
        }
        var below = 0
        for level in 0..<256 {
            below += counts[level]
            if 2 * below >= total { return level }
        }
        return 255
    }

    /// How many pixels have each grey level: 256 counts.
    static func histogram(_ image: GrayImage) -> [Int] {
        var counts = [Int](repeating: 0, count: 256)
        counts.withUnsafeMutableBufferPointer { counts in
            image.pixels.withUnsafeBufferPointer { pixels in
                for pixel in pixels { counts[Int(pixel)] += 1 }
            }
        }
        return counts
    }
}
