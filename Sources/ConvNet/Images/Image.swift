import Foundation

/// An 8-bit image of 1 (grey) or 3 (RGB) channels, stored planar like a model's input:
/// `pixels[(c · H + row) · W + column]`, shape `[C, H, W]`, 0 dark … 255 bright, sRGB-encoded
/// as decoders deliver it.
public struct Image: Equatable, Sendable {
    /// Channels C: 1 (grey) or 3 (red, green, blue).
    public var channels: Int
    /// Rows H.
    public var height: Int
    /// Columns W.
    public var width: Int
    /// The `C · H · W` values, channel by channel, row by row.
    public var pixels: [UInt8]

    /// An image holding `pixels` (`[C, H, W]`), which must have `channels · height · width` values.
    public init(channels: Int, height: Int, width: Int, pixels: [UInt8]) {
        precondition(channels == 1 || channels == 3, "an image has 1 or 3 channels, not \(channels)")
        precondition(height >= 0 && width >= 0 && pixels.count == channels * height * width,
                     "a \(channels)×\(height)×\(width) image needs \(channels * height * width) values, got \(pixels.count)")
        self.channels = channels
        self.height = height
        self.width = width
        self.pixels = pixels
    }

    /// A `channels`×`height`×`width` image with every value set to `fill`.
    public init(channels: Int, height: Int, width: Int, fill: UInt8) {
        self.init(channels: channels, height: height, width: width,
                  pixels: [UInt8](repeating: fill, count: channels * height * width))
    }

    /// A one-channel image of `gray`'s pixels.
    public init(_ gray: GrayImage) {
        self.init(channels: 1, height: gray.height, width: gray.width, pixels: gray.pixels)
    }

    /// The shape `[C, H, W]`.
    public var shape: [Int] { [channels, height, width] }

    /// The luminance as a grey image: the pixels themselves for one channel; for RGB,
    /// Y = 0.2126·R + 0.7152·G + 0.0722·B in linear light, sRGB-encoded again (approximating
    /// the sRGB curve by the power 2.2, as libpng does, so a PNG read as RGB and reduced here
    /// gives libpng's own grey within a level).
    public var luminance: GrayImage {
        if channels == 1 { return GrayImage(width: width, height: height, pixels: pixels) }
        let plane = height * width
        let toLinear = Image.toLinear, toEncoded = Image.toEncoded
        var gray = [UInt8](repeating: 0, count: plane)
        pixels.withUnsafeBufferPointer { source in
            for i in 0..<plane {
                let linear = 0.2126 * toLinear[Int(source[i])] + 0.7152 * toLinear[Int(source[plane + i])]
                    + 0.0722 * toLinear[Int(source[2 * plane + i])]
                gray[i] = toEncoded[min(4095, Int((linear * 4095).rounded()))]
            }
        }
        return GrayImage(width: width, height: height, pixels: gray)
    }

    /// The image with `channels` channels: grey is copied into R, G and B; RGB is reduced to
    /// its `luminance`.
    public func converted(toChannels count: Int) -> Image {
        precondition(count == 1 || count == 3)
        if count == channels { return self }
        if count == 1 { return Image(luminance) }
        return Image(channels: 3, height: height, width: width, pixels: pixels + pixels + pixels)
    }

    /// Channel `channel` as a grey image.
    public func plane(_ channel: Int) -> GrayImage {
        let size = height * width
        return GrayImage(width: width, height: height, pixels: Array(pixels[(channel * size)..<((channel + 1) * size)]))
    }

    /// An image from grey planes of the same size, one per channel.
    public init(planes: [GrayImage]) {
        precondition(!planes.isEmpty && planes.allSatisfy { $0.width == planes[0].width && $0.height == planes[0].height })
        self.init(channels: planes.count, height: planes[0].height, width: planes[0].width, pixels: planes.flatMap(\.pixels))
    }

    /// An RGB image from interleaved `[H, W, 3]` values (what decoders deliver).
    public init(interleavedRGB values: UnsafeBufferPointer<UInt8>, height: Int, width: Int) {
        let plane = height * width
        precondition(values.count == 3 * plane)
        let planar = [UInt8](unsafeUninitializedCapacity: 3 * plane) { buffer, initialized in
            for i in 0..<plane {
                buffer[i] = values[3 * i]
                buffer[plane + i] = values[3 * i + 1]
                buffer[2 * plane + i] = values[3 * i + 2]
            }
            initialized = 3 * plane
        }
        self.init(channels: 3, height: height, width: width, pixels: planar)
    }

    /// The values interleaved `[H, W, C]` (what encoders take).
    public var interleaved: [UInt8] {
        if channels == 1 { return pixels }
        let plane = height * width
        return [UInt8](unsafeUninitializedCapacity: 3 * plane) { buffer, initialized in
            for i in 0..<plane {
                buffer[3 * i] = pixels[i]
                buffer[3 * i + 1] = pixels[plane + i]
                buffer[3 * i + 2] = pixels[2 * plane + i]
            }
            initialized = 3 * plane
        }
    }

    /// sRGB-encoded level → linear light, (v/255)^2.2.
    private static let toLinear: [Double] = (0..<256).map { pow(Double($0) / 255, 2.2) }
    /// Linear light in 4096 steps → sRGB-encoded level, round(255·L^(1/2.2)).
    private static let toEncoded: [UInt8] = (0..<4096).map { UInt8((255 * pow(Double($0) / 4095, 1 / 2.2)).rounded()) }
}
