/// How each of the 256 grey levels of one image maps to ink, once the page is known.
///
/// With ink(v) = 255 − v on a light page (so ink is always the larger value), b = ink of the
/// page and k = the ink level,
///     intensity(v) = clamp((ink(v) − b) / (k − b), 0, 1),
/// which maps the page to 0 (a grey page too) and the ink to 1, as in MNIST. A pixel is ink
/// when intensity(v) > `DigitPreprocessor.inkThreshold`.
struct InkLevels {
    /// The page's grey level, as read from the image (not inverted).
    var background: Int
    /// Whether ink is dark (a light page): ink(v) = 255 − v rather than v.
    var inverted: Bool
    /// k: the level, in ink units, that maps to intensity 1.
    var inkLevel: Int

    /// Provisional levels from the whole image's `histogram` (256 counts): k is the darkest
    /// ink reached by at least `minimumCount` pixels, so a few dark specks cannot set it;
    /// nil when k − b is below `DigitPreprocessor.minimumContrast`, a blank page.
    init?(histogram: [Int], background: Int, inverted: Bool, minimumCount: Int) {
        self.background = background
        self.inverted = inverted
        self.inkLevel = 0  // set below; `ink(_:)` needs every property initialised first
        let backgroundInk = ink(background)
        var reached = 0
        inkLevel = backgroundInk
        for level in stride(from: 255, through: backgroundInk, by: -1) {
            reached += histogram[ink(level)]
            if reached >= minimumCount {
                inkLevel = level
                break
            }
        }
        guard inkLevel - backgroundInk >= DigitPreprocessor.minimumContrast else { return nil }
    }

    /// These levels with k set to the `fraction` quantile of the ink of the pixels counted in
    /// `histogram` (the digit's own pixels), so the digit's strokes, not the image's darkest
    /// speck, define full intensity and everything darker saturates.
    func calibrated(toInkHistogram histogram: [Int], fraction: Double) -> InkLevels {
        let total = histogram.reduce(0, +)
        var levels = self
        var below = 0
        for level in ink(background)...255 {
            below += histogram[ink(level)]
            if Double(below) >= fraction * Double(total) {
                levels.inkLevel = max(level, ink(background) + 1)
                break
            }
        }
        return levels
    }

    /// ink(v): the grey level `value` with ink as the larger number.
    func ink(_ value: Int) -> Int { inverted ? 255 - value : value }

    /// `intensity[v]` for each grey level v, in [0, 1].
    var intensity: [Float] {
        let backgroundInk = ink(background), contrast = Float(inkLevel - backgroundInk)
        return (0..<256).map { min(1, max(0, Float(ink($0) - backgroundInk) / contrast)) }
    }

    /// `isInk[v]`: whether grey level v is above the ink threshold.
    var isInk: [Bool] { intensity.map { $0 > DigitPreprocessor.inkThreshold } }
}

/// The bounding box of an image's ink, found as 8-connected components of ink pixels.
///
/// Components smaller than `minimumComponent` pixels are dust: they neither widen the box
/// nor appear in the crop. Faint marks below the ink threshold are not ink at all, so noise
/// specks never widen the box either.
struct InkRegion {
    /// Rows of the box, top to bottom.
    var rows: Range<Int>
    /// Columns of the box, left to right.
    var columns: Range<Int>
    /// `[H, W]` of the image: `InkRegion.dust` where a pixel belongs to a dust component.
    var labels: [UInt8]
    /// How many ink pixels of the kept components have each grey level: 256 counts.
    var inkHistogram: [Int]

    static let unvisited: UInt8 = 0, kept: UInt8 = 1, dust: UInt8 = 2

    /// The ink region of `image`, or nil when it has no component of at least `minimumComponent` pixels.
    ///
    /// A breadth-first search from each unvisited ink pixel; the queue holds every ink pixel
    /// once, so it is sized by `inkPixelCount` (the number of pixels with `isInk`) up front.
    init?(_ image: GrayImage, isInk: [Bool], inkPixelCount: Int, minimumComponent: Int) {
        let (height, width) = (image.height, image.width)
        var labels = [UInt8](repeating: InkRegion.unvisited, count: height * width)
        var top = height, bottom = -1, left = width, right = -1
        var inkHistogram = [Int](repeating: 0, count: 256)
        let queue = UnsafeMutableBufferPointer<Int>.allocate(capacity: max(1, inkPixelCount))
        defer { queue.deallocate() }
        image.pixels.withUnsafeBufferPointer { pixels in
            isInk.withUnsafeBufferPointer { isInk in
                labels.withUnsafeMutableBufferPointer { labels in
                    var queued = 0
                    for seed in 0..<pixels.count where labels[seed] == InkRegion.unvisited && isInk[Int(pixels[seed])] {
                        // Component pixels are queue[first..<queued].
                        let first = queued
                        queue[queued] = seed
                        queued += 1
                        labels[seed] = InkRegion.kept
                        var next = first
                        while next < queued {
                            let index = queue[next]
                            next += 1
                            let row = index / width, column = index - row * width
                            for neighbourRow in max(0, row - 1)...min(height - 1, row + 1) {
                                for neighbourColumn in max(0, column - 1)...min(width - 1, column + 1) {
                                    let neighbour = neighbourRow * width + neighbourColumn
                                    if labels[neighbour] == InkRegion.unvisited && isInk[Int(pixels[neighbour])] {
                                        labels[neighbour] = InkRegion.kept
                                        queue[queued] = neighbour
                                        queued += 1
                                    }
                                }
                            }
                        }
                        if queued - first < minimumComponent {
                            for index in queue[first..<queued] { labels[index] = InkRegion.dust }
                            continue
                        }
                        for index in queue[first..<queued] {
                            inkHistogram[Int(pixels[index])] += 1
                            let row = index / width, column = index - row * width
                            top = min(top, row)
                            bottom = max(bottom, row)
                            left = min(left, column)
                            right = max(right, column)
                        }
                    }
                }
            }
        }
        guard bottom >= top, right >= left else { return nil }
        self.rows = top..<bottom + 1
        self.columns = left..<right + 1
        self.labels = labels
        self.inkHistogram = inkHistogram
    }

    /// The intensities of `rows`×`columns` of `image`, `[rows.count, columns.count]` in [0, 1],
    /// with dust set to 0.
    func crop(_ image: GrayImage, rows: Range<Int>, columns: Range<Int>, intensity: [Float]) -> [Float] {
        var crop = [Float](repeating: 0, count: rows.count * columns.count)
        crop.withUnsafeMutableBufferPointer { crop in
            image.pixels.withUnsafeBufferPointer { pixels in
                intensity.withUnsafeBufferPointer { intensity in
                    labels.withUnsafeBufferPointer { labels in
                        var output = 0
                        for row in rows {
                            for column in columns {
                                let index = row * image.width + column
                                crop[output] = labels[index] == InkRegion.dust ? 0 : intensity[Int(pixels[index])]
                                output += 1
                            }
                        }
                    }
                }
            }
        }
        return crop
    }
}
