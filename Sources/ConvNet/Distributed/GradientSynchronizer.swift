/// Sums a model's gradients over the processes of a data-parallel run, overlapped with backward
/// as PyTorch DDP and Horovod do it.
///
/// The gradient arena is cut, at layer boundaries, into buckets of about `bucketBytes`, taken
/// from the last layer back: backward finishes the last layers first, so as soon as it has
/// finished the first (lowest) layer of a bucket, that bucket's sum is started with a
/// non-blocking all-reduce while backward goes on through earlier layers. `finish` starts what
/// is left (with a few scalars per step: the loss sum, the correct count, a stop request),
/// then waits. Every rank then holds Σ_ranks ∂loss_r/∂θ, which with each rank's loss gradient
/// scaled by 1/B (B the whole batch) is the gradient of the whole batch's mean loss.
///
/// Buckets tile the arena, alignment gaps included (they are zero on every rank).
public final class GradientSynchronizer {
    /// A contiguous range of the gradient arena, ready once backward has finished `firstLayer`.
    public struct Bucket: Equatable, Sendable {
        /// Elements of the arena, `[lower, upper)`.
        public var range: Range<Int>
        /// The lowest layer (index in `Sequential.layers`) with parameters in the bucket.
        public var firstLayer: Int
    }

    /// The buckets in the order backward makes them ready: last layers first.
    public let buckets: [Bucket]
    /// Start each bucket's sum as soon as it is ready (true), or all of them after backward.
    public var overlap: Bool
    private let processes: any ProcessGroup
    private let gradients: UnsafeMutablePointer<Float>
    /// The next bucket to start.
    private var next = 0
    /// Elements of the arena.
    private let count: Int
    /// Per-step scalars summed with the gradients, e.g. [loss sum, correct, stop request]; MPI
    /// reads and writes them after `finish` has started their sum, so they live at a fixed address.
    private let scalars = UnsafeMutableBufferPointer<Double>.allocate(capacity: GradientSynchronizer.scalarCapacity)
    /// The most scalars a step may sum.
    public static let scalarCapacity = 8

    /// Totals since the last `resetStatistics()`: steps, bytes summed per rank, and seconds
    /// spent waiting in `finish` (the part of the communication backward did not hide).
    public private(set) var steps = 0, bytes = 0, waitSeconds = 0.0

    /// Buckets over `model`'s gradient arena, each closed at the first layer boundary at or past
    /// `bucketBytes`.
    public init(model: Sequential, processes: any ProcessGroup, bucketBytes: Int = 512 << 10, overlap: Bool = true) {
        self.processes = processes
        self.overlap = overlap
        gradients = model.arena.gradients.data
        let arena = model.arena
        count = arena.count
        // The arena offset where each layer's parameters start (layers with parameters only).
        var starts: [(layer: Int, offset: Int)] = []
        var parameterIndex = 0
        for (layerIndex, layer) in model.layers.enumerated() where !layer.parameters.isEmpty {
            starts.append((layerIndex, arena.offsets[parameterIndex]))
            parameterIndex += layer.parameters.count
        }
        var buckets: [Bucket] = []
        var upper = arena.count
        for start in starts.reversed() {
            let isFirst = start.layer == starts.first?.layer
            if (upper - start.offset) * MemoryLayout<Float>.size >= bucketBytes || isFirst {
                buckets.append(Bucket(range: (isFirst ? 0 : start.offset)..<upper, firstLayer: start.layer))
                upper = start.offset
            }
        }
        self.buckets = buckets
    }

    deinit { scalars.deallocate() }

    /// Called by backward after layer `index` has added its gradients: starts every bucket that
    /// is now complete (with `overlap`), then lets MPI progress the sums in flight.
    public func layerFinished(_ index: Int) {
        guard overlap else { return }
        while next < buckets.count && buckets[next].firstLayer >= index {
            startBucket(next)
            next += 1
        }
        processes.progress()
    }

    /// After backward: starts the remaining buckets and the sum of `stepScalars`, waits for all,
    /// and returns the scalars summed over the ranks.
    public func finish(stepScalars: [Double]) -> [Double] {
        let clock = Stopwatch()
        while next < buckets.count {
            startBucket(next)
            next += 1
        }
        precondition(stepScalars.count <= Self.scalarCapacity)
        let stepScalarBuffer = UnsafeMutableBufferPointer(rebasing: scalars[0..<stepScalars.count])
        _ = stepScalarBuffer.initialize(from: stepScalars)
        processes.startAllReduceSum(stepScalarBuffer)
        processes.waitForAll()
        waitSeconds += clock.seconds
        steps += 1
        bytes += count * MemoryLayout<Float>.size + stepScalars.count * MemoryLayout<Double>.size
        next = 0
        return Array(stepScalarBuffer)
    }

    /// Zeroes `steps`, `bytes` and `waitSeconds`.
    public func resetStatistics() {
        (steps, bytes, waitSeconds) = (0, 0, 0)
    }

    private func startBucket(_ index: Int) {
        let range = buckets[index].range
        processes.startAllReduceSum(UnsafeMutableBufferPointer(start: gradients + range.lowerBound, count: range.count))
    }
}
