import Foundation

/// Logistic sigmoid: `y = 1 / (1 + e^(−x))`, computed as `e^x / (1 + e^x)` for x < 0 so
/// no exponential overflows; `dx = dy · y · (1 − y)`.
///
/// JSON: `{"type": "sigmoid"}`; as PyTorch's `nn.Sigmoid`.
public struct Sigmoid: ActivationFunction {
    /// The function.
    public init() {}

    public var summary: String { "sigmoid" }

    public var onnxOperator: (type: String, attributes: [ONNX.Attribute]) { ("Sigmoid", []) }

    public func forward(_ input: UnsafePointer<Float>, adding bias: Float, into output: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count {
            let x = input[i] + bias
            if x >= 0 {
                output[i] = 1 / (1 + expf(-x))
            } else {
                let e = expf(x)
                output[i] = e / (1 + e)
            }
        }
    }

    public func backward(_ outputGradient: UnsafePointer<Float>, output: UnsafePointer<Float>,
                         into inputGradient: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { inputGradient[i] = outputGradient[i] * output[i] * (1 - output[i]) }
    }

    /// `{"type": "sigmoid"}`.
    public struct Specification: PlainActivationSpecification {
        public static let typeName = "sigmoid"
        static var function: any ActivationFunction { Sigmoid() }
        public init() {}
    }
}
