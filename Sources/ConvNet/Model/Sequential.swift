import Dispatch

/// A model that is a chain of layers: forward in order, backward in reverse.
///
/// Built from a `ModelDescription`, it checks every layer's input shape before
/// anything runs. Its parameters are named like PyTorch's `nn.Sequential`
/// state dict (`"0.weight"`, `"0.bias"`, `"6.weight"`, …), so a PyTorch model
/// with the same layers can load its checkpoints.
public final class Sequential {
    /// The description the model was built from.
    public let description: ModelDescription
    /// The layers, first to last.
    public let layers: [any Layer]
    /// Per-image shape entering each layer, then the model's output shape (`layers.count + 1` shapes).
    public let shapes: [[Int]]
    /// Every learnable parameter, in layer order.
    public let parameters: [Parameter]
    /// Index of the first layer with parameters; backward stops there.
    private let firstTrainableLayer: Int

    /// Builds and initialises the layers of `description`, drawing weights from a
    /// generator seeded with `seed`. Throws `ModelError` naming the first layer whose
    /// input shape does not fit, or that would take the model over `parameterLimit`
    /// parameters (checked before anything is allocated). With `fuseReLU`, a ReLU
    /// right after a convolution is computed inside the convolution (same results).
    public init(_ description: ModelDescription, seed: UInt64, workspaceLimit: Int = Conv2D.defaultWorkspaceLimit,
                parameterLimit: Int = 1 << 28, fuseReLU: Bool = true) throws(ModelError) {
        self.description = description
        var random = SeededRandom(seed: seed)
        var layers: [any Layer] = []
        var shapes = [description.input]
        var parameterCount = 0
        for (index, spec) in description.layers.enumerated() {
            let inputShape = shapes[index]
            let newParameters: Int?
            switch spec {
            case let .conv(filters, kernel, _, _, bias) where inputShape.count == 3:
                newParameters = checkedProduct([filters, inputShape[0], kernel.height, kernel.width]).map { $0 + (bias ? filters : 0) }
            case let .dense(units) where inputShape.count == 1:
                newParameters = checkedProduct([units, inputShape[0] + 1])
            default:
                newParameters = 0
            }
            guard let newParameters, newParameters <= parameterLimit - parameterCount else {
                throw ModelError(layer: index + 1, summary: "\(spec)",
                                 message: "the model would have over \(parameterLimit) parameters")
            }
            parameterCount += newParameters
            let layer: any Layer
            switch spec {
            case let .conv(filters, kernel, stride, padding, bias):
                guard inputShape.count == 3 else {
                    throw ModelError(layer: index + 1, summary: "conv \(filters)@\(kernel.height)×\(kernel.width)",
                                     message: "expects an image input C×H×W, found \(inputShape.shapeDescription)")
                }
                layer = Conv2D(inputChannels: inputShape[0], filters: filters,
                               kernelHeight: kernel.height, kernelWidth: kernel.width,
                               strideHeight: stride.height, strideWidth: stride.width,
                               paddingHeight: padding.height, paddingWidth: padding.width,
                               bias: bias, workspaceLimit: workspaceLimit, random: &random)
            case .relu:
                layer = ReLU()
            case let .maxPool(size, stride):
                layer = MaxPool2D(size: (size.height, size.width), stride: stride.map { ($0.height, $0.width) })
            case let .avgPool(size, stride):
                layer = AvgPool2D(size: (size.height, size.width), stride: stride.map { ($0.height, $0.width) })
            case .flatten:
                layer = Flatten()
            case let .dense(units):
                guard inputShape.count == 1 else {
                    throw ModelError(layer: index + 1, summary: "dense \(units)",
                                     message: "input \(inputShape.shapeDescription) is not flat; add {\"type\": \"flatten\"} before it")
                }
                layer = Dense(inputFeatures: inputShape[0], outputFeatures: units, random: &random)
            case let .dropout(rate):
                layer = Dropout(rate: rate, random: SeededRandom(seed: random.next()))
            }
            do throws(ShapeError) {
                let outputShape = try layer.outputShape(forInput: inputShape)
                guard outputShape.allSatisfy({ $0 > 0 }) else {
                    throw ShapeError("input \(inputShape.shapeDescription) gives an empty output \(outputShape.shapeDescription)")
                }
                guard let size = checkedProduct(outputShape), size <= Sequential.activationLimit else {
                    throw ShapeError("output \(outputShape.shapeDescription) per image is over the limit of \(Sequential.activationLimit) values")
                }
                shapes.append(outputShape)
            } catch {
                throw ModelError(layer: index + 1, summary: layer.summary, message: error.message)
            }
            for parameter in layer.parameters { parameter.name = "\(index).\(parameter.name)" }
            layers.append(layer)
        }
        guard let outputShape = shapes.last, outputShape.count == 1 else {
            throw ModelError(layer: layers.count, summary: layers.last?.summary ?? "",
                             message: "the model must end with flat class scores, found \(shapes.last?.shapeDescription ?? "nothing"); end with a dense layer")
        }
        self.layers = layers
        self.shapes = shapes
        self.parameters = layers.flatMap(\.parameters)
        let firstTrainable = layers.firstIndex { !$0.parameters.isEmpty } ?? layers.count
        self.firstTrainableLayer = firstTrainable
        zeroGradientsJob = { [unowned(unsafe) self] worker in self.zeroGradientsShare(worker) }
        if fuseReLU {
            for (layer, next) in zip(layers, layers.dropFirst()) {
                if let conv = layer as? Conv2D, let relu = next as? ReLU {
                    conv.appliesReLU = true
                    relu.isFused = true
                }
            }
        }
        // Nothing before the first trainable layer needs a gradient, so neither does its input.
        if firstTrainable < layers.count {
            (layers[firstTrainable] as? Conv2D)?.computesInputGradient = false
            (layers[firstTrainable] as? Dense)?.computesInputGradient = false
        }
    }

    /// Largest per-image output of any layer, in values (64 M, 256 MB).
    public static let activationLimit = 1 << 26

    /// Per-image input shape `[C, H, W]`.
    public var inputShape: [Int] { shapes[0] }
    /// Number of outputs per image (classes) K.
    public var outputCount: Int { shapes[shapes.count - 1][0] }

    /// `x [N, C, H, W]` → logits `[N, K]` (owned by the last layer).
    public func forward(_ input: Tensor, phase: Phase) -> Tensor {
        var activation = input
        if let profile {
            for (index, layer) in layers.enumerated() {
                let start = DispatchTime.now().uptimeNanoseconds
                activation = layer.forward(activation, phase: phase)
                profile.forwardSeconds[index] += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            }
            return activation
        }
        for layer in layers { activation = layer.forward(activation, phase: phase) }
        return activation
    }

    /// Back-propagates ∂loss/∂logits `[N, K]`, adding every parameter's gradient.
    public func backward(_ outputGradient: Tensor) {
        var gradient = outputGradient
        for index in stride(from: layers.count - 1, through: firstTrainableLayer, by: -1) {
            let start = profile == nil ? 0 : DispatchTime.now().uptimeNanoseconds
            gradient = layers[index].backward(gradient)
            if let profile { profile.backwardSeconds[index] += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }
        }
    }

    /// Sets every parameter gradient to zero (the one place gradients are cleared).
    public func zeroGradients() {
        forEachWorker(zeroGradientsJob)
    }

    private var zeroGradientsJob: (Int) -> Void = { _ in }

    private func zeroGradientsShare(_ worker: Int) {
        for parameter in parameters {
            let range = partition(parameter.gradient.count, worker: worker, of: Parallelism.threads)
            (parameter.gradient.data + range.lowerBound).update(repeating: 0, count: range.count)
        }
    }

    /// When set, forward and backward add each layer's wall-clock time here (for benchmarks).
    public var profile: LayerProfile?

    /// The dropout layers' generators, in layer order (saved in training checkpoints).
    public var dropoutLayers: [Dropout] { layers.compactMap { $0 as? Dropout } }
}

/// Seconds spent in each layer's forward and backward passes, indexed like `Sequential.layers`.
public final class LayerProfile {
    /// Forward seconds per layer.
    public var forwardSeconds: [Double]
    /// Backward seconds per layer.
    public var backwardSeconds: [Double]
    /// Zeroed timings for `layerCount` layers.
    public init(layerCount: Int) {
        forwardSeconds = Array(repeating: 0, count: layerCount)
        backwardSeconds = Array(repeating: 0, count: layerCount)
    }
}

/// A model description that cannot be built: which layer (1-based) and why.
public struct ModelError: ConvNetError, Equatable {
    /// 1-based position of the layer in the description.
    public var layer: Int
    /// The layer's summary, e.g. "maxpool 2".
    public var summary: String
    /// What does not fit, with the shapes.
    public var message: String

    /// `layer 3 (maxpool 2): input 1×1 is smaller than the window 2×2`.
    public var description: String { oneLine("layer \(layer) (\(summary)): \(message)") }
}
