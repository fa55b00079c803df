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

/// A whole model as data: the per-image input shape `[C, H, W]` and the layers in order.
///
/// JSON: `{"input": [1, 28, 28], "layers": [{"type": "conv", …}, …]}`; each layer's keys are
/// those of its registered specification (`LayerRegistry`).
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

    /// A description from layer specifications.
    public init(input: [Int], layers: [any LayerSpecification]) {
        self.init(input: input, layers: layers.map(LayerSpec.init))
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
