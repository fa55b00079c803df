import Dispatch

/// A model that is a chain of layers: forward in order, backward in reverse.
///
/// Built from a `ModelDescription` through `LayerRegistry`'s specifications: every layer's
/// input shape and the model's size are checked before anything is allocated. Its state
/// (parameters and buffers) is named like PyTorch's `nn.Sequential` state dict
/// (`"0.weight"`, `"0.bias"`, `"1.running_mean"`, …), so a PyTorch model with the same
/// layers loads its checkpoints; its parameters live in one `ParameterArena`.
public final class Sequential {
    /// The description the model was built from.
    public let description: ModelDescription
    /// The layers, first to last.
    public let layers: [any Layer]
    /// Per-image shape entering each layer, then the model's output shape (`layers.count + 1` shapes).
    public let shapes: [[Int]]
    /// Every learnable parameter, in layer order, as views into `arena`.
    public let parameters: [Parameter]
    /// The block of all parameter values and the block of all gradients.
    public let arena: ParameterArena
    /// For each layer, false when the layer before it applies it (an absorbed activation):
    /// forward and backward then skip it.
    public let runsLayer: [Bool]
    /// Index of the first layer with parameters: backward stops there, and asks it for no input gradient.
    private let firstTrainableLayer: Int
    /// Chains of image-wise layers (convolution, batch norm, pooling, activations, flatten,
    /// dropout) that inference runs image by image, at the index of each chain's first layer.
    private let pipelines: [InferencePipeline?]
    /// The model's layers each image-by-image chain stands for, in order.
    var inferenceChains: [Range<Int>] { pipelines.compactMap { $0?.modelLayers } }
    /// Whether inference over at least one image per worker runs those chains image by image
    /// (`InferencePipeline`) rather than layer by layer; the results are the same either way.
    public var runsImageByImage = true
    /// The input and context of the last forward pass when it ran a chain image by image: the
    /// chain's layers then kept nothing for backward, and `backward` runs that pass again layer
    /// by layer first (gradients at inference are rare; training passes never take this path).
    private var imageByImageForward: (input: Tensor, context: ForwardContext)?

    /// Builds and initialises the layers of `description`, drawing weights from a generator
    /// seeded with `seed`. Throws `ModelError` naming the first layer whose input shape does
    /// not fit, whose output is over `activationLimit` values, or that would take the model
    /// over `parameterLimit` parameters, all checked before anything is allocated. With
    /// `fuseActivations`, an activation layer right after a layer that can apply it (a
    /// convolution) is computed inside that layer, with bit-identical results.
    public init(_ description: ModelDescription, seed: UInt64, parameterLimit: Int = 1 << 28,
                fuseActivations: Bool = true) throws(ModelError) {
        self.description = description
        let plan = try ModelPlan(description, parameterLimit: parameterLimit)
        let shapes = plan.shapes

        var random = SeededRandom(seed: seed)
        var layers: [any Layer] = []
        for (index, layer) in description.layers.enumerated() {
            let built = layer.specification.makeLayer(inputShape: shapes[index], random: &random)
            for parameter in built.parameters { parameter.name = "\(index).\(parameter.name)" }
            for buffer in built.buffers { buffer.name = "\(index).\(buffer.name)" }
            layers.append(built)
        }
        self.layers = layers
        self.shapes = shapes
        self.parameters = layers.flatMap(\.parameters)
        self.arena = ParameterArena(parameters)
        self.firstTrainableLayer = layers.firstIndex { !$0.parameters.isEmpty } ?? layers.count
        var runsLayer = [Bool](repeating: true, count: layers.count)
        if fuseActivations {
            for index in layers.indices.dropFirst() where runsLayer[index - 1] {
                if let activation = layers[index].fusibleActivation, layers[index - 1].absorb(activation) {
                    runsLayer[index] = false
                }
            }
        }
        self.runsLayer = runsLayer
        pipelines = Sequential.inferencePipelines(layers, shapes: shapes, runsLayer: runsLayer)
    }

    /// For each maximal run of image-wise layers with at least two that run, an
    /// `InferencePipeline`, at the index of its first running layer.
    private static func inferencePipelines(_ layers: [any Layer], shapes: [[Int]], runsLayer: [Bool]) -> [InferencePipeline?] {
        var pipelines = [InferencePipeline?](repeating: nil, count: layers.count)
        var start = 0
        while start < layers.count {
            var end = start
            while end < layers.count, layers[end] is any ImageWiseInference { end += 1 }
            let running = (start..<end).filter { runsLayer[$0] }
            if running.count >= 2 {
                pipelines[running[0]] = InferencePipeline(layers: running.map { layers[$0] as! any ImageWiseInference },
                                                          shapes: running.map { shapes[$0] } + [shapes[end]],
                                                          modelLayers: start..<end)
            }
            start = max(end, start + 1)
        }
        return pipelines
    }

    /// Largest per-image output of any layer, in values (64 M, 256 MB).
    public static let activationLimit = 1 << 26

    /// Per-image input shape `[C, H, W]`.
    public var inputShape: [Int] { shapes[0] }
    /// Number of outputs per image (classes) K.
    public var outputCount: Int { shapes[shapes.count - 1][0] }

    /// `x [N, C, H, W]` → logits `[N, K]` (owned by the last layer, or chain, that ran).
    /// At inference, chains of image-wise layers run image by image (see `runsImageByImage`).
    public func forward(_ input: Tensor, context: ForwardContext) -> Tensor {
        forward(input, context: context,
                imageByImage: runsImageByImage && context.phase == .inference && input.shape[0] >= Parallelism.threads)
    }

    /// The forward pass, running the chains image by image or not.
    private func forward(_ input: Tensor, context: ForwardContext, imageByImage: Bool) -> Tensor {
        var activation = input
        imageByImageForward = nil
        var index = 0
        while index < layers.count {
            guard runsLayer[index] else { index += 1; continue }
            let start = profile == nil ? 0 : DispatchTime.now().uptimeNanoseconds
            let first = index
            if imageByImage, let pipeline = pipelines[index] {
                activation = pipeline.run(activation)
                index = pipeline.modelLayers.upperBound
                imageByImageForward = (input, context)
            } else {
                activation = layers[index].forward(activation, context: context)
                index += 1
            }
            if let profile { profile.forwardSeconds[first] += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }
        }
        return activation
    }

    /// `forward` in `phase` with random key 0.
    public func forward(_ input: Tensor, phase: Phase) -> Tensor {
        forward(input, context: ForwardContext(phase: phase))
    }

    /// Back-propagates ∂loss/∂logits `[N, K]`, adding every parameter's gradient. No layer
    /// before the first trainable one runs, and that one computes no input gradient.
    /// `layerFinished(i)` is called once layer i's gradients are complete (a data-parallel run
    /// starts summing them over the processes there, while backward goes on).
    public func backward(_ outputGradient: Tensor, layerFinished: ((Int) -> Void)? = nil) {
        if let (input, context) = imageByImageForward {
            // The layers of an image-by-image chain kept nothing for backward: the same pass again,
            // layer by layer (bit-identical), so that they do.
            _ = forward(input, context: context, imageByImage: false)
        }
        var gradient = outputGradient
        for index in stride(from: layers.count - 1, through: firstTrainableLayer, by: -1) where runsLayer[index] {
            let start = profile == nil ? 0 : DispatchTime.now().uptimeNanoseconds
            let inputGradient = layers[index].backward(gradient, needsInputGradient: index > firstTrainableLayer)
            if let profile { profile.backwardSeconds[index] += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }
            layerFinished?(index)
            guard let inputGradient else { break }
            gradient = inputGradient
        }
    }

    /// Sets every parameter gradient to zero (the one place gradients are cleared): one fill of the arena.
    public func zeroGradients() {
        arena.zeroGradients()
    }

    /// Multiply-adds of one image's forward pass, summed over the layers.
    public var multiplyAccumulatesPerImage: Int {
        zip(description.layers, shapes).reduce(0) { $0 + $1.0.specification.multiplyAccumulates(forInput: $1.1) }
    }

    /// When set, forward and backward add each layer's wall-clock time here (for benchmarks).
    public var profile: LayerProfile?
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
