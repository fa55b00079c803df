import Foundation

/// Random changes applied to training images as they are loaded (`training.augmentation`), so
/// the model sees a slightly different version of each image in every epoch. Validation and
/// test images, and `infer`, never see them.
///
/// JSON (every part optional; absent means off):
/// ```json
/// {"crop": {"padding": 2},
///  "flip": true,
///  "affine": {"rotation": 10, "translation": 0.1, "scale": [0.9, 1.1]},
///  "erasing": {"probability": 0.5, "area": [0.02, 0.2], "aspect": [0.3, 3.3]}}
/// ```
/// - `crop`: pad the image with `padding` black pixels on each side and cut out a window of
///   its size at a random place (a shift of −padding…padding pixels each way), as
///   torchvision's `RandomCrop(size, padding)`.
/// - `flip`: mirror left–right with probability ½ (`RandomHorizontalFlip`; leave it off for digits).
/// - `affine`: rotate by a uniform angle in ±`rotation` degrees, scale by a uniform factor in
///   `scale`, and shift by a uniform fraction in ±`translation` of the width and height, about
///   the image's centre, sampling bilinearly with black outside (`RandomAffine`).
/// - `erasing`: with `probability`, set a rectangle of a uniform fraction `area` of the image
///   and an aspect ratio (height / width) log-uniform in `aspect` to 0 after normalisation,
///   the mean (`RandomErasing`, Zhong et al. 2017; cutout with random sizes).
///
/// Every random choice for an image is a function of (the run's seed, the epoch, the image's
/// index in the training set), drawn with `CounterRandom`: not of the batch, the thread count
/// or a generator's history, so a resumed run sees exactly the images it would have.
public struct Augmentation: Codable, Equatable, Sendable {
    /// Random crop after zero padding.
    public var crop: Crop?
    /// Random horizontal flip.
    public var flip: Bool
    /// Random rotation, scaling and translation.
    public var affine: Affine?
    /// Random erasing.
    public var erasing: Erasing?

    /// `{"padding": p}`.
    public struct Crop: Codable, Equatable, Sendable {
        /// Pixels of padding, the largest shift.
        public var padding: Int
        /// A crop with `padding`.
        public init(padding: Int) { self.padding = padding }
    }

    /// `{"rotation": degrees, "translation": fraction, "scale": [low, high]}`.
    public struct Affine: Codable, Equatable, Sendable {
        /// Largest rotation either way, in degrees.
        public var rotation: Double
        /// Largest shift either way, as a fraction of the width and the height.
        public var translation: Double
        /// The range of the scale factor.
        public var scale: [Double]
        /// An affine part from its ranges.
        public init(rotation: Double, translation: Double, scale: [Double]) {
            self.rotation = rotation; self.translation = translation; self.scale = scale
        }
    }

    /// `{"probability": p, "area": [low, high], "aspect": [low, high]}`.
    public struct Erasing: Codable, Equatable, Sendable {
        /// The chance an image gets a rectangle erased.
        public var probability: Double
        /// The range of the rectangle's share of the image.
        public var area: [Double]
        /// The range of the rectangle's height / width.
        public var aspect: [Double]
        /// Erasing from its settings.
        public init(probability: Double, area: [Double], aspect: [Double]) {
            self.probability = probability; self.area = area; self.aspect = aspect
        }
    }

    /// The augmentation from its parts.
    public init(crop: Crop? = nil, flip: Bool = false, affine: Affine? = nil, erasing: Erasing? = nil) {
        self.crop = crop; self.flip = flip; self.affine = affine; self.erasing = erasing
    }

    private enum Keys: String, CodingKey { case crop, flip, affine, erasing }
    private enum CropKeys: String, CodingKey { case padding }
    private enum AffineKeys: String, CodingKey { case rotation, translation, scale }
    private enum ErasingKeys: String, CodingKey { case probability, area, aspect }

    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(allowed: ["crop", "flip", "affine", "erasing"])
        let container = try decoder.container(keyedBy: Keys.self)
        flip = try container.decodeIfPresent(Bool.self, forKey: .flip) ?? false
        if container.contains(.crop) {
            let decoder = try container.superDecoder(forKey: .crop)
            try decoder.rejectUnknownKeys(allowed: ["padding"])
            let crop = try decoder.container(keyedBy: CropKeys.self)
            self.crop = Crop(padding: try crop.decode(.padding, mustBe: "in 1...64") { (value: Int) in value >= 1 && value <= 64 })
        }
        if container.contains(.affine) {
            let decoder = try container.superDecoder(forKey: .affine)
            try decoder.rejectUnknownKeys(allowed: ["rotation", "translation", "scale"])
            let affine = try decoder.container(keyedBy: AffineKeys.self)
            self.affine = Affine(
                rotation: try affine.decode(.rotation, default: 0, mustBe: "in [0, 180] degrees") { (value: Double) in value >= 0 && value <= 180 },
                translation: try affine.decode(.translation, default: 0, mustBe: "in [0, 0.5]") { (value: Double) in value >= 0 && value <= 0.5 },
                scale: try affine.decode(.scale, default: [1, 1], mustBe: "[low, high] with 0.25 <= low <= high <= 4") { (value: [Double]) in
                    value.count == 2 && value[0] >= 0.25 && value[0] <= value[1] && value[1] <= 4
                })
        }
        if container.contains(.erasing) {
            let decoder = try container.superDecoder(forKey: .erasing)
            try decoder.rejectUnknownKeys(allowed: ["probability", "area", "aspect"])
            let erasing = try decoder.container(keyedBy: ErasingKeys.self)
            self.erasing = Erasing(
                probability: try erasing.decode(.probability, default: 0.5, mustBe: "in [0, 1]") { (value: Double) in value >= 0 && value <= 1 },
                area: try erasing.decode(.area, default: [0.02, 0.33], mustBe: "[low, high] with 0 < low <= high <= 1") { (value: [Double]) in
                    value.count == 2 && value[0] > 0 && value[0] <= value[1] && value[1] <= 1
                },
                aspect: try erasing.decode(.aspect, default: [0.3, 3.3], mustBe: "[low, high] with 0 < low <= high") { (value: [Double]) in
                    value.count == 2 && value[0] > 0 && value[0] <= value[1] && value[1] <= 100
                })
        }
    }

    /// Whether anything is switched on.
    public var isActive: Bool { crop != nil || flip || affine != nil || (erasing.map { $0.probability > 0 } ?? false) }

    /// The choices made for one image: shift, flip, the inverse affine map, the erased rectangle.
    struct Draw: Equatable {
        /// The crop's shift in pixels (the output at (row, column) shows the input at (row − rows, column − columns)).
        var shift = (rows: 0, columns: 0)
        var flipped = false
        /// Angle (radians), scale, and shift in pixels of the affine part (identity when nil).
        var affine: (angle: Double, scale: Double, rows: Double, columns: Double)?
        /// The erased rectangle, in output pixels.
        var erased: (rows: Range<Int>, columns: Range<Int>)?

        static func == (left: Draw, right: Draw) -> Bool {
            left.shift == right.shift && left.flipped == right.flipped && left.erased?.rows == right.erased?.rows
                && left.erased?.columns == right.erased?.columns
                && left.affine.map { [$0.angle, $0.scale, $0.rows, $0.columns] } == right.affine.map { [$0.angle, $0.scale, $0.rows, $0.columns] }
        }
    }

    /// The key of image `index`'s draws in `epoch` of a run seeded with `seed`.
    public static func key(seed: UInt64, epoch: Int, image index: Int) -> UInt64 {
        CounterRandom.key(CounterRandom.key(seed ^ 0xA076_1D64_78BD_642F, UInt64(epoch)), UInt64(index))
    }

    /// The choices for one `height`×`width` image from its key. The draws are numbered, so each
    /// part uses the same numbers whichever other parts are on.
    func draw(key: UInt64, height: Int, width: Int) -> Draw {
        func uniform(_ number: UInt64) -> Double { Double(CounterRandom.uniform(key: key, counter: number)) }
        func between(_ low: Double, _ high: Double, _ number: UInt64) -> Double { low + (high - low) * uniform(number) }
        var draw = Draw()
        if let crop {
            let span = 2 * crop.padding + 1
            draw.shift = (min(span - 1, Int(uniform(0) * Double(span))) - crop.padding, min(span - 1, Int(uniform(1) * Double(span))) - crop.padding)
        }
        if flip { draw.flipped = uniform(2) < 0.5 }
        if let affine {
            draw.affine = (angle: between(-affine.rotation, affine.rotation, 3) * Double.pi / 180,
                           scale: between(affine.scale[0], affine.scale[1], 4),
                           rows: between(-affine.translation, affine.translation, 5) * Double(height),
                           columns: between(-affine.translation, affine.translation, 6) * Double(width))
        }
        if let erasing, uniform(7) < erasing.probability {
            let area = between(erasing.area[0], erasing.area[1], 8) * Double(height * width)
            let aspect = exp(between(log(erasing.aspect[0]), log(erasing.aspect[1]), 9))
            let rows = Int((area * aspect).squareRoot().rounded()), columns = Int((area / aspect).squareRoot().rounded())
            if rows >= 1 && columns >= 1 && rows <= height && columns <= width {
                let top = min(height - rows, Int(uniform(10) * Double(height - rows + 1)))
                let left = min(width - columns, Int(uniform(11) * Double(width - columns + 1)))
                draw.erased = (top..<(top + rows), left..<(left + columns))
            }
        }
        return draw
    }

    /// Writes image `source` (`[C, H, W]` bytes) transformed by `draw` and normalised by
    /// `tables` (per channel, or one for all) into `target` (`[C, H, W]` Floats). Outside the
    /// source is black (0, before normalisation); erased pixels are 0 after it.
    static func apply(_ draw: Draw, source: UnsafePointer<UInt8>, channels: Int, height: Int, width: Int,
                      tables: [[Float]], scale: [Float], offset: [Float], into target: UnsafeMutablePointer<Float>) {
        let plane = height * width
        if let affine = draw.affine {
            // Output pixel centre p maps back to the source through the inverse of
            // flip ∘ crop-shift ∘ (rotate·scale about the centre + shift).
            let (cosine, sine) = (cos(affine.angle) / affine.scale, sin(affine.angle) / affine.scale)
            let (centreRow, centreColumn) = (Double(height - 1) / 2, Double(width - 1) / 2)
            for channel in 0..<channels {
                let table = channels == tables.count ? channel : 0
                let (a, b) = (scale[table], offset[table])
                let input = source + channel * plane, output = target + channel * plane
                for row in 0..<height {
                    for column in 0..<width {
                        var x = Double(draw.flipped ? width - 1 - column : column) - Double(draw.shift.columns)
                        var y = Double(row) - Double(draw.shift.rows)
                        x -= centreColumn + affine.columns
                        y -= centreRow + affine.rows
                        let sourceColumn = cosine * x + sine * y + centreColumn
                        let sourceRow = -sine * x + cosine * y + centreRow
                        let value = bilinear(input, height: height, width: width, row: sourceRow, column: sourceColumn)
                        output[row * width + column] = a * value + b
                    }
                }
            }
        } else {
            for channel in 0..<channels {
                let lookup = tables[channels == tables.count ? channel : 0]
                let black = lookup[0]
                let input = source + channel * plane, output = target + channel * plane
                for row in 0..<height {
                    let sourceRow = row - draw.shift.rows
                    for column in 0..<width {
                        let sourceColumn = (draw.flipped ? width - 1 - column : column) - draw.shift.columns
                        output[row * width + column] = sourceRow >= 0 && sourceRow < height && sourceColumn >= 0 && sourceColumn < width
                            ? lookup[Int(input[sourceRow * width + sourceColumn])] : black
                    }
                }
            }
        }
        if let erased = draw.erased {
            for channel in 0..<channels {
                for row in erased.rows {
                    (target + channel * plane + row * width + erased.columns.lowerBound).update(repeating: 0, count: erased.columns.count)
                }
            }
        }
    }

    /// The source sampled at a fractional position, 0 outside (bilinear between the four
    /// nearest pixels, each outside one counting as 0).
    @inline(__always)
    private static func bilinear(_ input: UnsafePointer<UInt8>, height: Int, width: Int, row: Double, column: Double) -> Float {
        let top = Int(row.rounded(.down)), left = Int(column.rounded(.down))
        let fy = Float(row - Double(top)), fx = Float(column - Double(left))
        func pixel(_ r: Int, _ c: Int) -> Float { r >= 0 && r < height && c >= 0 && c < width ? Float(input[r * width + c]) : 0 }
        guard top >= -1 && top < height && left >= -1 && left < width else { return 0 }
        return (pixel(top, left) * (1 - fx) + pixel(top, left + 1) * fx) * (1 - fy)
            + (pixel(top + 1, left) * (1 - fx) + pixel(top + 1, left + 1) * fx) * fy
    }
}
