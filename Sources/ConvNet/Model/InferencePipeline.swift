/// Inference through a chain of consecutive `ImageWiseInference` layers, image by image.
///
/// Each worker takes a contiguous share of the batch and carries one image through every layer
/// of the chain before starting the next: the layers write into two per-worker buffers in turn
/// (the largest intermediate image each: 72 KB for mnist-best's first convolution), which stay
/// in cache, and only the chain's last layer writes into the batch's output. Layer by layer,
/// every intermediate activation of the whole batch went to memory and back, and the workers
/// joined after each layer. The results are bit-identical to running the layers one by one.
final class InferencePipeline {
    /// The layers that run, first to last (activations a layer absorbed are not among them).
    let layers: [any ImageWiseInference]
    /// The indices in the model of the layers the chain stands for, absorbed ones included.
    let modelLayers: Range<Int>
    /// Per-image shape entering each of `layers`, then the chain's output shape.
    private let shapes: [[Int]]
    /// Values per image entering each of `layers`, then leaving the last.
    private let counts: [Int]
    /// Values of the largest image between two layers of the chain: each per-worker buffer's size.
    private let largestIntermediate: Int
    /// Output `[N, …]` (the chain's output shape).
    private let output = Tensor(shape: [0])
    /// Two buffers per worker, `[2·workers, largest intermediate image]`; worker w uses rows 2w and 2w + 1.
    private let buffers = Tensor(shape: [0])
    /// The input of the pass in progress, for the worker jobs.
    private var input: Tensor?
    private var job: (Int) -> Void = { _ in }

    /// A chain of `layers` with per-image input shapes `shapes` (one more: the chain's output),
    /// standing for the model's layers `modelLayers`.
    init(layers: [any ImageWiseInference], shapes: [[Int]], modelLayers: Range<Int>) {
        precondition(shapes.count == layers.count + 1)
        self.layers = layers
        self.shapes = shapes
        self.modelLayers = modelLayers
        counts = shapes.map(Tensor.elementCount)
        largestIntermediate = max(1, counts.dropFirst().dropLast().max() ?? 1)
        job = { [unowned(unsafe) self] worker in self.share(worker) }
    }

    /// The chain's output for `input` `[N, …]` (owned by the pipeline, overwritten by the next call).
    func run(_ input: Tensor) -> Tensor {
        let batch = input.shape[0]
        precondition(input.count == batch * counts[0], "InferencePipeline: input \(input.shape) is not [N] + \(shapes[0])")
        for (layer, shape) in zip(layers, shapes) { layer.prepareImageInference(batch: batch, inputShape: shape) }
        output.reshape(to: [batch] + shapes[layers.count])
        buffers.reshape(2 * Parallelism.threads, largestIntermediate)
        self.input = input
        forEachWorker(job)
        self.input = nil
        return output
    }

    /// One worker's images, each through every layer.
    private func share(_ worker: Int) {
        guard let input else { return }
        let (last, inputCount, outputCount) = (layers.count - 1, counts[0], counts[layers.count])
        let rowLength = buffers.shape[1]
        let scratch = (buffers.data + 2 * worker * rowLength, buffers.data + (2 * worker + 1) * rowLength)
        for image in partition(input.shape[0], worker: worker, of: Parallelism.threads) {
            var source = UnsafePointer(input.data + image * inputCount)
            for (index, layer) in layers.enumerated() {
                let target = index == last ? output.data + image * outputCount : (index % 2 == 0 ? scratch.0 : scratch.1)
                layer.inferImage(image, from: source, into: target, worker: worker)
                source = UnsafePointer(target)
            }
        }
    }
}
