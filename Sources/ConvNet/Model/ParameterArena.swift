/// All of a model's parameters in one contiguous Float32 block and all their gradients in
/// another, as llm.c's `params_memory` and `grads_memory`: each `Parameter`'s value and
/// gradient become views into them. Zeroing the gradients is one fill, an optimizer step is
/// one loop over the block, and a data-parallel all-reduce of the gradients is one call.
///
/// Each parameter starts on a 64-byte boundary (16 floats); the gaps between them hold
/// zeros in both blocks, which every optimizer leaves at zero.
public final class ParameterArena {
    /// The parameters, in order.
    public let parameters: [Parameter]
    /// Every parameter's values, `[count]`.
    public let values: Tensor
    /// Every parameter's gradient, `[count]`, laid out like `values`.
    public let gradients: Tensor
    /// Offset of each parameter's first element in the blocks.
    public let offsets: [Int]

    /// Floats per alignment unit: 16 × 4 bytes = 64 bytes, a cache line.
    static let alignment = 16

    /// Moves `parameters` (values and gradients) into two new blocks.
    public init(_ parameters: [Parameter]) {
        var offsets: [Int] = []
        var total = 0
        for parameter in parameters {
            offsets.append(total)
            total += (parameter.value.count + Self.alignment - 1) / Self.alignment * Self.alignment
        }
        self.parameters = parameters
        self.offsets = offsets
        values = Tensor(shape: [total])
        gradients = Tensor(shape: [total])
        for (parameter, offset) in zip(parameters, offsets) {
            parameter.value.moveStorage(to: values.data + offset, owner: values)
            parameter.gradient.moveStorage(to: gradients.data + offset, owner: gradients)
        }
        zeroGradientsJob = { [unowned(unsafe) self] worker in self.zeroGradientsShare(worker) }
    }

    /// Elements in each block, alignment gaps included.
    public var count: Int { values.count }

    /// Sets every gradient to zero: one fill, split over the workers.
    public func zeroGradients() {
        forEachWorker(zeroGradientsJob)
    }

    private var zeroGradientsJob: (Int) -> Void = { _ in }

    private func zeroGradientsShare(_ worker: Int) {
        let range = partition(count, worker: worker, of: Parallelism.threads)
        (gradients.data + range.lowerBound).update(repeating: 0, count: range.count)
    }
}
