/// A height × width pair (kernel size, stride, padding). In JSON either a number
/// for a square (`5`) or a list `[height, width]` (`[5, 3]`).
public struct SizePair: Codable, Equatable, Sendable {
    /// Vertical size.
    public var height: Int
    /// Horizontal size.
    public var width: Int

    /// A pair of sizes.
    public init(_ height: Int, _ width: Int) { self.height = height; self.width = width }
    /// A square pair.
    public init(_ size: Int) { self.init(size, size) }

    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let size = try? container.decode(Int.self) {
            self.init(size)
            return
        }
        guard let pair = try? container.decode([Int].self), pair.count == 2 else {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "must be an integer or a list [height, width]")
        }
        self.init(pair[0], pair[1])
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        if height == width { try container.encode(height) } else { try container.encode([height, width]) }
    }

    func within(_ range: ClosedRange<Int>) -> Bool { range.contains(height) && range.contains(width) }
}

extension SizePair: CustomStringConvertible {
    /// `5` for a square pair, `[5, 3]` otherwise (as written in JSON).
    public var description: String { height == width ? "\(height)" : "[\(height), \(width)]" }
}

/// One layer of a model, as data: what configs and checkpoints store.
///
/// JSON forms (`type` selects the case; other keys as listed, defaults in brackets):
/// - `{"type": "conv", "filters": 20, "kernel": 5, "stride": [1], "padding": [0], "bias": [true]}`
/// - `{"type": "relu"}`, `{"type": "flatten"}`
/// - `{"type": "maxpool", "size": 2, "stride": [size]}`, `{"type": "avgpool", …}` likewise
/// - `{"type": "dense", "units": 500}`
/// - `{"type": "dropout", "rate": 0.5}`
public enum LayerSpec: Codable, Equatable, Sendable {
    /// `Conv2D` with F = `filters`.
    case conv(filters: Int, kernel: SizePair, stride: SizePair, padding: SizePair, bias: Bool)
    /// `ReLU`.
    case relu
    /// `MaxPool2D`; stride nil means equal to the size.
    case maxPool(size: SizePair, stride: SizePair?)
    /// `AvgPool2D`; stride nil means equal to the size.
    case avgPool(size: SizePair, stride: SizePair?)
    /// `Flatten`.
    case flatten
    /// `Dense` with O = `units`.
    case dense(units: Int)
    /// `Dropout` with drop probability `rate`.
    case dropout(rate: Float)

    /// Largest kernel, stride, padding or pooling window accepted in a description (inputs are at most 4096).
    public static let sizeLimit = 4096
    /// Largest filter or unit count accepted in a description.
    public static let countLimit = 1 << 20

    private enum Keys: String, CodingKey { case type, filters, kernel, stride, padding, bias, size, units, rate }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: Keys.self)
        let type = try container.decode(String.self, forKey: .type)
        switch type {
        case "conv":
            try decoder.rejectUnknownKeys(allowed: ["type", "filters", "kernel", "stride", "padding", "bias"])
            self = .conv(
                filters: try container.decode(.filters, mustBe: "in 1...\(LayerSpec.countLimit)") { (value: Int) in value > 0 && value <= LayerSpec.countLimit },
                kernel: try container.decode(.kernel, mustBe: "in 1...\(LayerSpec.sizeLimit)") { (value: SizePair) in value.within(1...LayerSpec.sizeLimit) },
                stride: try container.decode(.stride, default: SizePair(1), mustBe: "in 1...\(LayerSpec.sizeLimit)") { $0.within(1...LayerSpec.sizeLimit) },
                padding: try container.decode(.padding, default: SizePair(0), mustBe: "in 0...\(LayerSpec.sizeLimit)") { $0.within(0...LayerSpec.sizeLimit) },
                bias: try container.decodeIfPresent(Bool.self, forKey: .bias) ?? true)
        case "relu":
            try decoder.rejectUnknownKeys(allowed: ["type"])
            self = .relu
        case "flatten":
            try decoder.rejectUnknownKeys(allowed: ["type"])
            self = .flatten
        case "maxpool", "avgpool":
            try decoder.rejectUnknownKeys(allowed: ["type", "size", "stride"])
            let size = try container.decode(.size, mustBe: "in 1...\(LayerSpec.sizeLimit)") { (value: SizePair) in value.within(1...LayerSpec.sizeLimit) }
            let stride = try container.decodeIfPresent(SizePair.self, forKey: .stride)
            if let stride, !stride.within(1...LayerSpec.sizeLimit) {
                throw DecodingError.dataCorruptedError(forKey: .stride, in: container,
                                                       debugDescription: "must be in 1...\(LayerSpec.sizeLimit), found \(stride)")
            }
            self = type == "maxpool" ? .maxPool(size: size, stride: stride) : .avgPool(size: size, stride: stride)
        case "dense":
            try decoder.rejectUnknownKeys(allowed: ["type", "units"])
            self = .dense(units: try container.decode(.units, mustBe: "in 1...\(LayerSpec.countLimit)") { (value: Int) in value > 0 && value <= LayerSpec.countLimit })
        case "dropout":
            try decoder.rejectUnknownKeys(allowed: ["type", "rate"])
            self = .dropout(rate: try container.decode(.rate, mustBe: "in [0, 1)") { (value: Float) in value >= 0 && value < 1 })
        default:
            throw DecodingError.dataCorruptedError(
                forKey: .type, in: container,
                debugDescription: "must be one of conv, relu, maxpool, avgpool, flatten, dense, dropout, found \"\(type)\"")
        }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: Keys.self)
        switch self {
        case let .conv(filters, kernel, stride, padding, bias):
            try container.encode("conv", forKey: .type)
            try container.encode(filters, forKey: .filters)
            try container.encode(kernel, forKey: .kernel)
            if stride != SizePair(1) { try container.encode(stride, forKey: .stride) }
            if padding != SizePair(0) { try container.encode(padding, forKey: .padding) }
            if !bias { try container.encode(bias, forKey: .bias) }
        case .relu:
            try container.encode("relu", forKey: .type)
        case .flatten:
            try container.encode("flatten", forKey: .type)
        case let .maxPool(size, stride), let .avgPool(size, stride):
            if case .maxPool = self { try container.encode("maxpool", forKey: .type) } else { try container.encode("avgpool", forKey: .type) }
            try container.encode(size, forKey: .size)
            try container.encodeIfPresent(stride, forKey: .stride)
        case let .dense(units):
            try container.encode("dense", forKey: .type)
            try container.encode(units, forKey: .units)
        case let .dropout(rate):
            try container.encode("dropout", forKey: .type)
            try container.encode(rate, forKey: .rate)
        }
    }
}

/// A whole model as data: the per-image input shape `[C, H, W]` and the layers in order.
///
/// JSON: `{"input": [1, 28, 28], "layers": [{"type": "conv", …}, …]}`.
public struct ModelDescription: Codable, Equatable, Sendable {
    /// Per-image input shape `[C, H, W]`.
    public var input: [Int]
    /// The layers, first to last.
    public var layers: [LayerSpec]

    /// A description from its parts.
    public init(input: [Int], layers: [LayerSpec]) {
        self.input = input
        self.layers = layers
    }

    private enum Keys: String, CodingKey { case input, layers }

    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(allowed: ["input", "layers"])
        let container = try decoder.container(keyedBy: Keys.self)
        input = try container.decode(.input, mustBe: "a list [channels, height, width] of positive sizes, each at most 4096") { (shape: [Int]) in
            shape.count == 3 && shape.allSatisfy { $0 > 0 && $0 <= 4096 }
        }
        layers = try container.decode(.layers, mustBe: "a non-empty list of layers") { (layers: [LayerSpec]) in !layers.isEmpty }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: Keys.self)
        try container.encode(input, forKey: .input)
        try container.encode(layers, forKey: .layers)
    }
}
