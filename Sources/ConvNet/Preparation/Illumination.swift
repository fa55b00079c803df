/// Flattens uneven lighting across a photographed or scanned page before ink is looked for,
/// so a lighting gradient or a soft shadow is not taken for ink.
///
/// Work is in ink units, ink(v) = 255 − v on a light page and v on a dark one, so the page is
/// low and ink high. The page's own level P is the grey-level *opening* of the ink image with a
/// k×k square, erosion (local minimum) then dilation (local maximum): it removes every bright
/// feature narrower than k (the strokes), and keeps what is wider: the page under a gradient
/// or a shadow, with the shadow's edge where it was (an opening leaves monotonic ramps and
/// wide plateaus unchanged; the image is extended by linear extrapolation first, so a ramp
/// running into the border is kept too). k is three times the strokes' width w plus 3, at least
/// 5 and at most a quarter of the shorter side. w is measured as 2·area / boundary of the ink
/// above half its level, on the image flattened once with k₀ = a tenth of the shorter side (on
/// the raw image a shadow would count as one very wide stroke).
///
/// The result is light ink on a black page:
/// - light page (paper under light of brightness B = 255 − P): reflectance is what the ink
///   changes, so out = 255 · (1 − v / B): white paper gives 255 − v exactly, and dark ink
///   in a shadow comes out as dark as in the light;
/// - dark page (chalk, light pen on black): out = ink − P.
enum Illumination {
    /// `image` with the page flattened to 0 and the ink bright; `inverted` when the page is light.
    static func flattened(_ image: GrayImage, inverted: Bool) -> GrayImage {
        let (height, width) = (image.height, image.width)
        let ink: [UInt8] = inverted ? image.pixels.map { 255 - $0 } : image.pixels
        let largest = min(height, width) / 4
        guard largest >= 5 else { return GrayImage(width: width, height: height, pixels: ink) }
        let stroke = strokeWidth(ink, height: height, width: width)
        let window = min(max(5, Int(3 * stroke) + 3), largest)
        let page = opened(ink, height: height, width: width, window: window)
        return GrayImage(width: width, height: height, pixels: flatten(ink, page: page, inverted: inverted))
    }

    /// The ink with the page level `page` taken out (see the type's description).
    private static func flatten(_ ink: [UInt8], page: [UInt8], inverted: Bool) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: ink.count)
        for index in 0..<ink.count {
            let flat: Float
            if inverted {
                // Brightness v = 255 − ink; the page's brightness B = 255 − P.
                let brightness = max(1, 255 - Float(page[index]))
                flat = 255 * (1 - (255 - Float(ink[index])) / brightness)
            } else {
                flat = Float(ink[index]) - Float(page[index])
            }
            output[index] = UInt8(min(255, max(0, flat.rounded())))
        }
        return output
    }

    /// The mean width of the strokes of a flattened image: 2 · area / boundary of the pixels
    /// above the midpoint between the page (the median) and the ink (the 99.9th percentile); a
    /// stroke of length L and width w has area L·w and a boundary of about 2·L pixels.
    static func strokeWidth(_ ink: [UInt8], height: Int, width: Int) -> Double {
        var histogram = [Int](repeating: 0, count: 256)
        for value in ink { histogram[Int(value)] += 1 }
        let median = quantile(histogram, 0.5, count: ink.count), bright = quantile(histogram, 0.999, count: ink.count)
        let threshold = UInt8((median + bright) / 2)
        var area = 0, boundary = 0
        for row in 0..<height {
            for column in 0..<width where ink[row * width + column] > threshold {
                area += 1
                if row == 0 || row == height - 1 || column == 0 || column == width - 1
                    || ink[(row - 1) * width + column] <= threshold || ink[(row + 1) * width + column] <= threshold
                    || ink[row * width + column - 1] <= threshold || ink[row * width + column + 1] <= threshold {
                    boundary += 1
                }
            }
        }
        return boundary == 0 ? 0 : 2 * Double(area) / Double(boundary)
    }

    /// The level below which a `fraction` of the `count` values of `histogram` lie.
    private static func quantile(_ histogram: [Int], _ fraction: Double, count: Int) -> Int {
        var seen = 0
        for level in 0..<256 {
            seen += histogram[level]
            if Double(seen) >= fraction * Double(count) { return level }
        }
        return 255
    }

    /// The opening of `values` `[H, W]` by a `window`×`window` square: the local minimum over
    /// each window, then the local maximum of that (both separable: rows, then columns), on
    /// the image extended by `window` samples on each side by linear extrapolation.
    static func opened(_ values: [UInt8], height: Int, width: Int, window: Int) -> [UInt8] {
        let margin = window
        let (paddedHeight, paddedWidth) = (height + 2 * margin, width + 2 * margin)
        var padded = [UInt8](repeating: 0, count: paddedHeight * paddedWidth)
        func extrapolated(_ edge: UInt8, _ inner: UInt8) -> UInt8 { UInt8(min(255, max(0, 2 * Int(edge) - Int(inner)))) }
        for row in 0..<height {
            let source = row * width, target = (row + margin) * paddedWidth + margin
            for column in 0..<width { padded[target + column] = values[source + column] }
            for distance in 1...margin {
                padded[target - distance] = extrapolated(values[source], values[source + min(distance, width - 1)])
                padded[target + width - 1 + distance] = extrapolated(values[source + width - 1], values[source + max(0, width - 1 - distance)])
            }
        }
        for distance in 1...margin {
            for column in 0..<paddedWidth {
                let top = margin * paddedWidth + column, bottom = (margin + height - 1) * paddedWidth + column
                padded[(margin - distance) * paddedWidth + column] = extrapolated(padded[top], padded[top + min(distance, height - 1) * paddedWidth])
                padded[(margin + height - 1 + distance) * paddedWidth + column] =
                    extrapolated(padded[bottom], padded[bottom - min(distance, height - 1) * paddedWidth])
            }
        }
        var result = padded
        for (maximum, alongRows) in [(false, true), (false, false), (true, true), (true, false)] {
            result = slidingExtreme(result, height: paddedHeight, width: paddedWidth, window: window, maximum: maximum, alongRows: alongRows)
        }
        var output = [UInt8](repeating: 0, count: height * width)
        for row in 0..<height {
            for column in 0..<width { output[row * width + column] = result[(row + margin) * paddedWidth + margin + column] }
        }
        return output
    }

    /// The minimum (or maximum) over a window of `window` samples centred on each sample, along
    /// rows or columns, the window clipped at the image's edges; a monotonic queue makes it
    /// linear in the image size whatever the window.
    private static func slidingExtreme(_ values: [UInt8], height: Int, width: Int, window: Int,
                                       maximum: Bool, alongRows: Bool) -> [UInt8] {
        var output = values
        let (lines, length) = alongRows ? (height, width) : (width, height)
        let (lineStep, sampleStep) = alongRows ? (width, 1) : (1, width)
        let before = (window - 1) / 2, after = window / 2
        var queue = [Int](repeating: 0, count: length)  // sample positions, values monotonic
        for line in 0..<lines {
            let base = line * lineStep
            func value(_ position: Int) -> UInt8 { values[base + position * sampleStep] }
            func better(_ a: UInt8, _ b: UInt8) -> Bool { maximum ? a >= b : a <= b }
            var head = 0, tail = 0, next = 0
            for position in 0..<length {
                // Bring in every sample up to position + after.
                while next < min(length, position + after + 1) {
                    while tail > head && better(value(next), value(queue[tail - 1])) { tail -= 1 }
                    queue[tail] = next
                    tail += 1
                    next += 1
                }
                while queue[head] < position - before { head += 1 }
                output[base + position * sampleStep] = value(queue[head])
            }
        }
        return output
    }

    /// The 99.9th percentile of the contrast across 4 pixels, max(|F(r, c+2) − F(r, c−2)|,
    /// |F(r+2, c) − F(r−2, c)|), of a flattened image: ink's edges are sharp, while what
    /// uneven light leaves behind after flattening changes slowly.
    static func edgeContrast(_ image: GrayImage) -> Int {
        let (height, width) = (image.height, image.width)
        var histogram = [Int](repeating: 0, count: 256)
        guard height > 4, width > 4 else {
            for value in image.pixels { histogram[Int(value)] += 1 }
            return quantile(histogram, 0.999, count: image.pixels.count)
        }
        image.pixels.withUnsafeBufferPointer { f in
            for row in 2..<(height - 2) {
                for column in 2..<(width - 2) {
                    let across = abs(Int(f[row * width + column + 2]) - Int(f[row * width + column - 2]))
                    let down = abs(Int(f[(row + 2) * width + column]) - Int(f[(row - 2) * width + column]))
                    histogram[max(across, down)] += 1
                }
            }
        }
        return quantile(histogram, 0.999, count: (height - 4) * (width - 4))
    }
}
