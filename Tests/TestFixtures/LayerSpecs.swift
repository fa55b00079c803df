import ConvNet

/// Short forms of the registered layer specifications for building descriptions in tests:
/// `.conv(filters: 3, kernel: SizePair(3), …)`, `.relu`, `.maxPool(size: SizePair(2), stride: nil)`.
extension LayerSpec {
    public static func conv(filters: Int, kernel: SizePair, stride: SizePair = SizePair(1), padding: SizePair = SizePair(0),
                     bias: Bool = true) -> LayerSpec {
        LayerSpec(Conv2D.Specification(filters: filters, kernel: kernel, stride: stride, padding: .size(padding), bias: bias))
    }
    public static let relu = LayerSpec(ReLU.Specification())
    public static let flatten = LayerSpec(Flatten.Specification())
    public static func maxPool(size: SizePair, stride: SizePair?) -> LayerSpec { LayerSpec(MaxPool2D.Specification(size: size, stride: stride)) }
    public static func avgPool(size: SizePair, stride: SizePair?) -> LayerSpec { LayerSpec(AvgPool2D.Specification(size: size, stride: stride)) }
    public static func dense(units: Int) -> LayerSpec { LayerSpec(Dense.Specification(units: units)) }
    public static func dropout(rate: Float) -> LayerSpec { LayerSpec(Dropout.Specification(rate: rate)) }
}
