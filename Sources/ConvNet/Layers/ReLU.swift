/// Rectified linear unit: `y = max(0, x)`; `dx = dy · [y > 0]`.
///
/// JSON: `{"type": "relu"}`. As PyTorch's `nn.ReLU`.
public struct ReLU: ActivationFunction {
    /// The function.
    public init() {}

    public var summary: String { "relu" }

    public var onnxOperator: (type: String, attributes: [ONNX.Attribute]) { ("Relu", []) }

    public func forward(_ input: UnsafePointer<Float>, adding bias: Float, into output: UnsafeMutablePointer<Float>, count: Int) {
        addBiasClampingAtZero(input, bias: bias, into: output, count: count)
    }

    /// One pass: max(scale·x + shift, 0).
    public func forward(_ input: UnsafePointer<Float>, scale: Float, shift: Float, into output: UnsafeMutablePointer<Float>, count: Int) {
        scaleShiftClampingAtZero(input, scale: scale, shift: shift, into: output, count: count)
    }

    public func backward(_ outputGradient: UnsafePointer<Float>, output: UnsafePointer<Float>,
                         into inputGradient: UnsafeMutablePointer<Float>, count: Int) {
        maskByPositive(outputGradient, where: output, into: inputGradient, count: count)
    }

    /// `{"type": "relu"}`.
    public struct Specification: PlainActivationSpecification {
        public static let typeName = "relu"
        static var function: any ActivationFunction { ReLU() }
        public init() {}
    }
}
