/// Inverted dropout: in training, `y = x · m / (1 − p)` with `m ~ Bernoulli(1 − p)` per
/// element; at inference `y = x`. Backward: `dx = dy · m / (1 − p)`. Any shape `[N, …]`.
///
/// JSON: `{"type": "dropout", "rate": 0.5}` (p = rate, in [0, 1)); as PyTorch's `nn.Dropout`.
///
/// The mask of element j of image n is drawn by `CounterRandom` from (the layer's stream,
/// the pass's random key, the image's position in the whole batch, j): no generator state,
/// so nothing to save for an exact resume, and workers split the elements freely.
public final class Dropout: Layer {
    /// Probability p of zeroing an element, in [0, 1).
    public let rate: Float
    /// The layer's own random stream, drawn from the model's generator when it is built.
    public let stream: UInt64

    /// The scaled mask m / (1 − p) of the last training forward pass, the input's shape.
    private let mask = Tensor(shape: [0])
    /// Output, the input's shape.
    private let output = Tensor(shape: [0])
    /// Input gradient, the input's shape.
    private let inputGradient = Tensor(shape: [0])
    private var lastPhase = Phase.inference
    /// The pass in progress, for the worker jobs: input, ∂loss/∂y, the step's key and the first element's counter.
    private var input: Tensor?, outputGradient: Tensor?, key: UInt64 = 0, firstCounter: UInt64 = 0
    private var forwardJob: (Int) -> Void = { _ in }, backwardJob: (Int) -> Void = { _ in }
    /// Values per image of the image-by-image inference in progress.
    fileprivate var imageCount = 0

    /// Dropout with drop probability `rate` drawing masks from the stream `stream`.
    public init(rate: Float, stream: UInt64) {
        precondition(rate >= 0 && rate < 1)
        self.rate = rate
        self.stream = stream
        forwardJob = { [unowned(unsafe) self] worker in self.forwardShare(worker) }
        backwardJob = { [unowned(unsafe) self] worker in self.backwardShare(worker) }
    }

    public var summary: String { "dropout \(rate)" }

    public func forward(_ input: Tensor, context: ForwardContext) -> Tensor {
        lastPhase = context.phase
        output.reshape(to: input.shape)
        guard context.phase == .training, rate > 0 else {
            output.data.update(from: input.data, count: input.count)
            return output
        }
        mask.reshape(to: input.shape)
        self.input = input
        key = CounterRandom.key(stream, context.randomKey)
        let perImage = input.count / max(input.shape[0], 1)
        firstCounter = UInt64(context.firstImage) &* UInt64(perImage)
        forEachWorker(forwardJob)
        return output
    }

    public func backward(_ outputGradient: Tensor, needsInputGradient: Bool) -> Tensor? {
        guard needsInputGradient else { return nil }
        precondition(outputGradient.shape == output.shape)
        inputGradient.reshape(to: outputGradient.shape)
        if lastPhase == .training && rate > 0 {
            self.outputGradient = outputGradient
            forEachWorker(backwardJob)
        } else {
            inputGradient.data.update(from: outputGradient.data, count: outputGradient.count)
        }
        return inputGradient
    }

    private func forwardShare(_ worker: Int) {
        guard let input else { return }
        let keep = 1 / (1 - rate)
        let (x, y, m) = (input.data, output.data, mask.data)
        for i in partition(input.count, worker: worker, of: Parallelism.threads) {
            m[i] = CounterRandom.uniform(key: key, counter: firstCounter &+ UInt64(i)) >= rate ? keep : 0
            y[i] = x[i] * m[i]
        }
    }

    private func backwardShare(_ worker: Int) {
        guard let outputGradient else { return }
        let (dy, dx, m) = (outputGradient.data, inputGradient.data, mask.data)
        for i in partition(outputGradient.count, worker: worker, of: Parallelism.threads) { dx[i] = dy[i] * m[i] }
    }

    /// `{"type": "dropout", "rate": p}`.
    public struct Specification: LayerSpecification {
        public static let typeName = "dropout"
        /// Drop probability p in [0, 1).
        public var rate: Float

        /// Dropout with drop probability `rate`.
        public init(rate: Float) { self.rate = rate }

        private enum Keys: String, CodingKey { case rate }

        public init(from decoder: Decoder) throws {
            try decoder.rejectUnknownLayerKeys(["rate"])
            let container = try decoder.container(keyedBy: Keys.self)
            rate = Float(try container.decode(.rate, mustBeAsFloat: "in [0, 1)") { $0 >= 0 && $0 < 1 })
        }

        public func encode(to encoder: Encoder) throws {
            var container = encoder.container(keyedBy: Keys.self)
            try container.encode(rate, forKey: .rate)
        }

        public var summary: String { "dropout \(rate)" }

        public func outputShape(forInput shape: [Int]) throws(ShapeError) -> [Int] { shape }

        /// Nothing: dropout is the identity at inference.
        public func exportONNX(to graph: inout ONNXGraph, input: String, inputShape: [Int], layer: ONNXLayerContext) throws(ExportError) -> String {
            input
        }

        /// Draws the layer's stream from the model's generator (one draw, as the weights of
        /// the layers after it expect).
        public func makeLayer(inputShape: [Int], random: inout SeededRandom) -> any Layer {
            Dropout(rate: rate, stream: random.next())
        }
    }
}

extension Dropout: ImageWiseInference {
    public func prepareImageInference(batch: Int, inputShape: [Int]) {
        imageCount = Tensor.elementCount(inputShape)
    }

    /// y = x: dropout is the identity at inference.
    public func inferImage(_ image: Int, from x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, worker: Int) {
        y.update(from: x, count: imageCount)
    }
}
