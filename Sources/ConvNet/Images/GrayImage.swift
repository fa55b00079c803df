/// An 8-bit greyscale image: `height` rows of `width` luminance values, stored row-major.
///
/// `pixels[row · width + column]`, shape `[H, W]`; 0 is black and 255 is white, sRGB-encoded
/// like the 8-bit output of a PNG decoder. MNIST-style samples are light ink (255) on a dark
/// (0) background; user drawings and photos are usually the opposite until preprocessed.
public struct GrayImage: Equatable, Sendable {
    /// Columns per row.
    public var width: Int
    /// Rows.
    public var height: Int
    /// The `height · width` luminance values, row by row, `[H, W]`.
    public var pixels: [UInt8]

    /// An image holding `pixels` (row-major `[H, W]`), which must have `width · height` values.
    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(width >= 0 && height >= 0, "image size \(width)×\(height) is negative")
        precondition(pixels.count == width * height,
                     "a \(width)×\(height) image needs \(width * height) pixels, got \(pixels.count)")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// A `width`×`height` image with every pixel set to `fill`.
    public init(width: Int, height: Int, fill: UInt8) {
        self.init(width: width, height: height, pixels: [UInt8](repeating: fill, count: width * height))
    }

    /// The pixel at `row` (0 at the top) and `column` (0 at the left): `pixels[row · width + column]`.
    public subscript(row: Int, column: Int) -> UInt8 {
        get {
            precondition(row >= 0 && row < height && column >= 0 && column < width,
                         "pixel (\(row), \(column)) is outside the \(width)×\(height) image")
            return pixels[row * width + column]
        }
        set {
            precondition(row >= 0 && row < height && column >= 0 && column < width,
                         "pixel (\(row), \(column)) is outside the \(width)×\(height) image")
            pixels[row * width + column] = newValue
        }
    }
}
