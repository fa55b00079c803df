/// How an image of any size, from a data set or a user, becomes a model input `[C, H, W]`:
/// part of the model, stored in configs (`data.preprocessing`) and checkpoints, and applied
/// the same way when training data is loaded and when `infer` classifies a file.
///
/// JSON: `"digit"`, `"resize"`, or `{"type": "resize", "fit": "stretch" | "crop", "invert": false}`.
/// - `digit`: MNIST-style preparation of a handwritten digit (`DigitPreprocessor`): lighting
///   flattened, ink found whatever its polarity, fitted into 20×20 and centred by its centre
///   of mass in 28×28 (for other sizes, in proportion). Colour is reduced to luminance first;
///   a 3-channel model gets the grey result in each channel.
/// - `resize`: the image converted to the model's channels and resized to H×W: area averaging
///   along an axis that shrinks, bilinear interpolation along one that grows. `fit` `stretch`
///   (default) scales each axis on its own; `crop` scales the shorter side to fit and cuts the
///   centre out of the longer one, keeping the aspect ratio. `invert` maps v to 255 − v
///   afterwards (for dark-on-light data given to a model trained light-on-dark).
public struct InputPreparation: Codable, Equatable, Sendable {
    /// The kind of preparation.
    public enum Method: String, Codable, Sendable {
        case digit, resize
    }

    /// How `resize` handles another aspect ratio.
    public enum Fit: String, Codable, Sendable {
        case stretch, crop
    }

    /// The kind of preparation.
    public var method: Method
    /// For `resize`: stretch or crop.
    public var fit: Fit
    /// For `resize`: invert the values afterwards.
    public var invert: Bool

    /// A preparation from its settings.
    public init(_ method: Method, fit: Fit = .stretch, invert: Bool = false) {
        self.method = method
        self.fit = fit
        self.invert = invert
    }

    /// MNIST-style digit preparation.
    public static let digit = InputPreparation(.digit)
    /// Plain stretching resize.
    public static let resize = InputPreparation(.resize)

    private enum Keys: String, CodingKey { case type, fit, invert }

    public init(from decoder: Decoder) throws {
        if let name = try? decoder.singleValueContainer().decode(String.self) {
            guard let method = Method(rawValue: name) else {
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                    debugDescription: "must be \"digit\", \"resize\" or {\"type\": \"resize\", …}, found \(formatFound(name))"))
            }
            self.init(method)
            return
        }
        try decoder.rejectUnknownKeys(allowed: ["type", "fit", "invert"])
        let container = try decoder.container(keyedBy: Keys.self)
        let name = try container.decode(String.self, forKey: .type)
        guard let method = Method(rawValue: name) else {
            throw DecodingError.dataCorruptedError(forKey: .type, in: container, debugDescription: "must be \"digit\" or \"resize\", found \(formatFound(name))")
        }
        let fitName = try container.decodeIfPresent(String.self, forKey: .fit) ?? "stretch"
        guard let fit = Fit(rawValue: fitName) else {
            throw DecodingError.dataCorruptedError(forKey: .fit, in: container, debugDescription: "must be \"stretch\" or \"crop\", found \(formatFound(fitName))")
        }
        let invert = try container.decodeIfPresent(Bool.self, forKey: .invert) ?? false
        if method == .digit && (fit != .stretch || invert) {
            throw DecodingError.dataCorruptedError(forKey: fit != .stretch ? .fit : .invert, in: container,
                debugDescription: "is only for \"resize\"; \"digit\" finds the digit and its polarity itself")
        }
        self.init(method, fit: fit, invert: invert)
    }

    public func encode(to encoder: Encoder) throws {
        if fit == .stretch && !invert {
            var container = encoder.singleValueContainer()
            try container.encode(method.rawValue)
            return
        }
        var container = encoder.container(keyedBy: Keys.self)
        try container.encode(method.rawValue, forKey: .type)
        try container.encode(fit.rawValue, forKey: .fit)
        try container.encode(invert, forKey: .invert)
    }

    /// What a prepared image is: the model input, or, for `digit`, why there is no digit.
    public enum Outcome: Equatable, Sendable {
        /// The `[C, H, W]` input.
        case prepared(Image)
        /// `digit` found nothing digit-like; the reason, e.g. "the image is blank".
        case noDigit(String)
    }

    /// `image` prepared as a `[channels, height, width]` model input.
    public func prepare(_ image: Image, channels: Int, height: Int, width: Int) -> Outcome {
        switch method {
        case .digit:
            switch DigitPreprocessor(height: height, width: width).prepareDigit(image.luminance) {
            case .digit(let digit): return .prepared(Image(digit).converted(toChannels: channels))
            case .none(let reason): return .noDigit(reason)
            }
        case .resize:
            var resized = Self.resize(image.converted(toChannels: channels), toHeight: height, width: width, fit: fit)
            if invert { resized.pixels = resized.pixels.map { 255 - $0 } }
            return .prepared(resized)
        }
    }

    /// `image` resized to `height`×`width`, each channel alike: `stretch` scales the axes
    /// independently; `crop` keeps the aspect ratio, scaling the centred largest region of the
    /// target's aspect ratio. Area averaging when shrinking, bilinear when enlarging.
    public static func resize(_ image: Image, toHeight height: Int, width: Int, fit: Fit = .stretch) -> Image {
        precondition(height > 0 && width > 0 && image.height > 0 && image.width > 0)
        var rows = 0..<image.height, columns = 0..<image.width
        if fit == .crop {
            // The largest centred region with the target's aspect ratio W/H.
            if image.width * height > image.height * width {
                let kept = max(1, (image.height * width + height / 2) / height)
                let start = (image.width - kept) / 2
                columns = start..<(start + kept)
            } else {
                let kept = max(1, (image.width * height + width / 2) / width)
                let start = (image.height - kept) / 2
                rows = start..<(start + kept)
            }
        }
        if rows.count == height && columns.count == width && rows.count == image.height && columns.count == image.width { return image }
        var planes: [GrayImage] = []
        let plane = image.height * image.width
        for channel in 0..<image.channels {
            // The region is read from the image's bytes in place: no copy of a large photo.
            let resized = image.pixels.withUnsafeBufferPointer { pixels in
                resample(rows: pixels.baseAddress! + channel * plane + rows.lowerBound * image.width + columns.lowerBound,
                         rowStride: image.width, height: rows.count, width: columns.count, toHeight: height, width: width) { Float($0) }
            }
            planes.append(GrayImage(width: width, height: height, pixels: resized.map { UInt8(min(255, max(0, $0.rounded()))) }))
        }
        return Image(planes: planes)
    }
}
