import Foundation

/// Hyperbolic tangent: `y = tanh(x)`; `dx = dy · (1 − y²)`.
///
/// JSON: `{"type": "tanh"}`; as PyTorch's `nn.Tanh`.
public struct Tanh: ActivationFunction {
    /// The function.
    public init() {}

    public var summary: String { "tanh" }

    public var onnxOperator: (type: String, attributes: [ONNX.Attribute]) { ("Tanh", []) }

    public func forward(_ input: UnsafePointer<Float>, adding bias: Float, into output: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { output[i] = tanhf(input[i] + bias) }
    }

    public func backward(_ outputGradient: UnsafePointer<Float>, output: UnsafePointer<Float>,
                         into inputGradient: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { inputGradient[i] = outputGradient[i] * (1 - output[i] * output[i]) }
    }

    /// `{"type": "tanh"}`.
    public struct Specification: PlainActivationSpecification {
        public static let typeName = "tanh"
        static var function: any ActivationFunction { Tanh() }
        public init() {}
    }
}
