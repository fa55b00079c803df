/// Every optimizer a config can name, by its JSON `"type"`: a new optimizer is its own
/// file plus one line here.
public enum OptimizerRegistry {
    /// The registered specifications, in the order error messages list them.
    public static let specificationTypes: [any OptimizerSpecification.Type] = [
        SGD.Specification.self,
        Adam.Specification.self, Adam.DecoupledSpecification.self,
    ]

    /// The registered `"type"` names.
    public static var typeNames: [String] { specificationTypes.map { $0.typeName } }

    /// The specification registered as `name`, if any.
    public static func specificationType(named name: String) -> (any OptimizerSpecification.Type)? {
        specificationTypes.first { $0.typeName == name }
    }
}
