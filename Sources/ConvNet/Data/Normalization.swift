/// Per-channel input normalisation: `x = (pixel / 255 − mean[c]) / std[c]` for channel c.
///
/// JSON: `{"mean": 0.1307, "std": 0.3081}` (one value for every channel) or
/// `{"mean": [0.49, 0.48, 0.45], "std": [0.25, 0.24, 0.26]}` (one per channel). A config may
/// instead say `"normalize": "auto"` (see `NormalizationSetting`); checkpoints store the values.
public struct Normalization: Codable, Equatable, Sendable {
    /// Mean of the [0, 1]-scaled pixels, per channel (or one for all).
    public var mean: [Double]
    /// Standard deviation of the [0, 1]-scaled pixels, per channel (or one for all), each > 0.
    public var std: [Double]

    /// Normalisation by one mean and standard deviation for every channel.
    public init(mean: Double, std: Double) { self.init(mean: [mean], std: [std]) }

    /// Normalisation by per-channel means and standard deviations (the same count).
    public init(mean: [Double], std: [Double]) {
        precondition(!mean.isEmpty && mean.count == std.count)
        self.mean = mean
        self.std = std
    }

    /// No normalisation: pixels scaled to [0, 1] only.
    public static let none = Normalization(mean: 0, std: 1)

    /// The number of channels it names: 1 (all alike) or C.
    public var channels: Int { mean.count }

    private enum Keys: String, CodingKey { case mean, std }

    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(allowed: ["mean", "std"])
        let container = try decoder.container(keyedBy: Keys.self)
        func values(_ key: Keys, _ requirement: String, _ isValid: @escaping (Double) -> Bool) throws -> [Double] {
            if let single = try? container.decode(Double.self, forKey: key) {
                return [try container.decode(key, mustBe: requirement) { (_: Double) in isValid(single) }]
            }
            return try container.decode(key, mustBe: "\(requirement), or a list of 1 or 3 such values") { (list: [Double]) in
                (list.count == 1 || list.count == 3) && list.allSatisfy(isValid)
            }
        }
        mean = try values(.mean, "in [0, 1]") { $0 >= 0 && $0 <= 1 }
        std = try values(.std, "in [0.001, 10]") { $0 >= 0.001 && $0 <= 10 }
        guard mean.count == std.count else {
            throw DecodingError.dataCorruptedError(forKey: .std, in: container,
                debugDescription: "must have as many values as mean (\(mean.count)), found \(std.count)")
        }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: Keys.self)
        try container.encode(mean, forKey: .mean)
        try container.encode(std, forKey: .std)
    }

    /// The largest |x| a normalised pixel can have: max over channels of max(mean, 1 − mean) / std
    /// (about 2.8 for MNIST's 0.1307 and 0.3081; a tiny std makes it huge).
    public var largestMagnitude: Double {
        zip(mean, std).map { mean, std in max(abs(mean), abs(1 - mean)) / std }.max() ?? 1
    }

    /// For each channel, the Float value of each byte 0…255 after scaling and normalisation: `[C][256]`.
    public var lookupTables: [[Float]] {
        zip(mean, std).map { mean, std in (0..<256).map { Float((Double($0) / 255 - mean) / std) } }
    }

    /// The mean and standard deviation of each channel of `dataset`'s pixels scaled to [0, 1]
    /// (over every image and position, in Double): what `"normalize": "auto"` computes.
    public static func measured(on dataset: Dataset) -> Normalization {
        let channels = dataset.sampleShape[0], plane = dataset.sampleSize / channels
        var counts = [[Int]](repeating: [Int](repeating: 0, count: 256), count: channels)
        dataset.images.withUnsafeBufferPointer { pixels in
            for image in 0..<dataset.count {
                for channel in 0..<channels {
                    let start = image * dataset.sampleSize + channel * plane
                    for i in start..<(start + plane) { counts[channel][Int(pixels[i])] += 1 }
                }
            }
        }
        var means: [Double] = [], deviations: [Double] = []
        for histogram in counts {
            let total = Double(max(1, histogram.reduce(0, +)))
            let mean = histogram.enumerated().reduce(0.0) { $0 + Double($1.offset) / 255 * Double($1.element) } / total
            let variance = histogram.enumerated().reduce(0.0) {
                let deviation = Double($1.offset) / 255 - mean
                return $0 + deviation * deviation * Double($1.element)
            } / total
            means.append(mean)
            deviations.append(max(variance.squareRoot(), 0.001))
        }
        return Normalization(mean: means, std: deviations)
    }
}

/// The config's `data.normalize`: fixed values, or `"auto"`, measured on the training images
/// (after the validation split) when the data is loaded, and stored in the checkpoints.
public enum NormalizationSetting: Codable, Equatable, Sendable {
    case fixed(Normalization)
    case automatic

    public init(from decoder: Decoder) throws {
        if let text = try? decoder.singleValueContainer().decode(String.self) {
            guard text == "auto" else {
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                    debugDescription: "must be \"auto\" or {\"mean\": …, \"std\": …}, found \(formatFound(text))"))
            }
            self = .automatic
        } else {
            self = .fixed(try Normalization(from: decoder))
        }
    }

    public func encode(to encoder: Encoder) throws {
        switch self {
        case .fixed(let normalization): try normalization.encode(to: encoder)
        case .automatic:
            var container = encoder.singleValueContainer()
            try container.encode("auto")
        }
    }
}
