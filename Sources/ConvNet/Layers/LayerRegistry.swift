/// Every layer type a config or checkpoint can name, by its JSON `"type"`, as Caffe's
/// `REGISTER_LAYER_CLASS`: a new layer is its own file plus one line here. Nothing else in
/// the library (model, checkpoints, trainer, benchmarks) names a layer type.
public enum LayerRegistry {
    /// The registered specifications, in the order error messages list them.
    public static let specificationTypes: [any LayerSpecification.Type] = [
        Conv2D.Specification.self,
        ReLU.Specification.self,
        MaxPool2D.Specification.self,
        AvgPool2D.Specification.self,
        Flatten.Specification.self,
        Dense.Specification.self,
        Dropout.Specification.self,
        BatchNorm.Specification.self,
        GlobalAvgPool.Specification.self,
        LeakyReLU.Specification.self,
        Tanh.Specification.self,
        Sigmoid.Specification.self,
    ]

    /// The registered `"type"` names.
    public static var typeNames: [String] { specificationTypes.map { $0.typeName } }

    /// The specification registered as `name`, if any.
    public static func specificationType(named name: String) -> (any LayerSpecification.Type)? {
        specificationTypes.first { $0.typeName == name }
    }
}
