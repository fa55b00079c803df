/// Leaky rectified linear unit: `y = x` for x > 0, `y = slope·x` otherwise;
/// `dx = dy` where y > 0, `dx = slope·dy` otherwise (with slope ≥ 0, y > 0 exactly when x > 0).
///
/// JSON: `{"type": "leakyrelu", "slope": 0.01}` (slope in [0, 1), default PyTorch's 0.01);
/// as PyTorch's `nn.LeakyReLU(negative_slope)`.
public struct LeakyReLU: ActivationFunction {
    /// The slope for negative inputs, in [0, 1).
    public let slope: Float

    /// The function with `slope` for negative inputs.
    public init(slope: Float = 0.01) { self.slope = slope }

    public var summary: String { "leakyrelu \(slope)" }

    public var onnxOperator: (type: String, attributes: [ONNX.Attribute]) { ("LeakyRelu", [.float("alpha", slope)]) }

    public func forward(_ input: UnsafePointer<Float>, adding bias: Float, into output: UnsafeMutablePointer<Float>, count: Int) {
        addBiasLeaky(input, bias: bias, slope: slope, into: output, count: count)
    }

    public func backward(_ outputGradient: UnsafePointer<Float>, output: UnsafePointer<Float>,
                         into inputGradient: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { inputGradient[i] = output[i] > 0 ? outputGradient[i] : slope * outputGradient[i] }
    }

    /// `{"type": "leakyrelu", "slope": [0.01]}`.
    public struct Specification: LayerSpecification {
        public static let typeName = "leakyrelu"
        /// The slope for negative inputs, in [0, 1).
        public var slope: Float

        /// The specification with `slope`.
        public init(slope: Float = 0.01) { self.slope = slope }

        private enum Keys: String, CodingKey { case slope }

        public init(from decoder: Decoder) throws {
            try decoder.rejectUnknownLayerKeys(["slope"])
            let container = try decoder.container(keyedBy: Keys.self)
            slope = Float(try container.decode(.slope, default: 0.01, mustBeAsFloat: "in [0, 1)") { $0 >= 0 && $0 < 1 })
        }

        public func encode(to encoder: Encoder) throws {
            var container = encoder.container(keyedBy: Keys.self)
            try container.encode(slope, forKey: .slope)
        }

        public var summary: String { "leakyrelu \(slope)" }

        public func outputShape(forInput shape: [Int]) throws(ShapeError) -> [Int] { shape }

        public func makeLayer(inputShape: [Int], random: inout SeededRandom) -> any Layer {
            ActivationLayer(LeakyReLU(slope: slope))
        }

        public func exportONNX(to graph: inout ONNXGraph, input: String, inputShape: [Int], layer: ONNXLayerContext) throws(ExportError) -> String {
            LeakyReLU(slope: slope).exportONNX(to: &graph, input: input, index: layer.index)
        }
    }
}
