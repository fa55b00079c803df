/// A layer whose inference treats each image on its own: a convolution, batch norm (with its
/// running statistics), pooling, an activation, flatten, dropout.
///
/// A model runs a chain of such layers image by image (`InferencePipeline`): each worker takes
/// its share of the batch and carries one image through the whole chain before the next, so an
/// image's activations stay in cache from layer to layer instead of making a round trip through
/// memory per layer (a batch of 256 through mnist-best's first convolution is 19 MB), and the
/// workers join once per chain instead of once per layer. The results are bit-identical to
/// `forward` in the inference phase: both call the same per-image arithmetic.
public protocol ImageWiseInference: Layer {
    /// Readies an inference pass over a batch `[N, …]` of per-image shape `inputShape`
    /// (`[C, H, W]` or `[D]`): per-pass constants (batch norm's scale and shift) and per-worker
    /// buffers. Called on the driving thread before any `inferImage` of the pass.
    func prepareImageInference(batch: Int, inputShape: [Int])

    /// Inference on image `image` of the batch: `x`, one image of the layer's input shape, into
    /// `y`, one image of its output shape (after any absorbed activation). `worker` is the calling
    /// worker's index, for its own buffers; workers call this for disjoint images at once.
    func inferImage(_ image: Int, from x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, worker: Int)
}
