/// A dense Float32 array with its shape, stored row-major and contiguous.
///
/// Image tensors are NCHW: `[N, C, H, W]` where
/// - N: images in the batch,
/// - C: channels (F when they are a convolution's output filters),
/// - H, W: height and width in pixels.
/// Flat tensors are `[N, D]` (D features). A kernel is `[F, C, KH, KW]`.
/// These letters are used in the shape comments throughout the library.
///
/// A tensor is a reference type that owns its storage, like Caffe's `Blob`:
/// a layer allocates its output once and overwrites it every step.
/// `reshape(to:)` reuses the storage whenever it is large enough, so a
/// smaller final batch does not allocate. A parameter's tensor is instead a view
/// into its model's `ParameterArena` (see `moveStorage(to:)`).
public final class Tensor {
    /// The dimensions, outermost first.
    public private(set) var shape: [Int]
    /// The number of elements, the product of `shape`.
    public private(set) var count: Int
    /// Elements the storage can hold without reallocating.
    public private(set) var capacity: Int
    /// The first element; `count` elements are valid.
    public private(set) var data: UnsafeMutablePointer<Float>
    /// False once the tensor is a view into storage owned elsewhere (an arena).
    private var ownsStorage = true
    /// What owns the storage of a view, kept alive as long as the view.
    private var storageOwner: AnyObject?

    /// A zero-filled tensor of the given shape.
    public init(shape: [Int]) {
        let count = Tensor.elementCount(shape)
        self.shape = shape
        self.count = count
        self.capacity = count
        self.data = Tensor.allocate(count)
        data.initialize(repeating: 0, count: max(count, 1))
    }

    /// A tensor holding `values` (row-major), which must have `shape`'s element count.
    public convenience init(shape: [Int], values: [Float]) {
        precondition(Tensor.elementCount(shape) == values.count,
                     "shape \(shape) needs \(Tensor.elementCount(shape)) values, got \(values.count)")
        self.init(shape: shape)
        values.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: values.count) }
    }

    deinit { if ownsStorage { data.deallocate() } }

    /// Copies the elements to `storage` (at least `count` elements owned by `owner`, e.g. a
    /// slice of a `ParameterArena`'s block) and makes this tensor a view of it, freeing its
    /// own storage. Everything holding the tensor sees the new storage; the view keeps `owner`
    /// alive, and its element count is fixed from now on.
    func moveStorage(to storage: UnsafeMutablePointer<Float>, owner: AnyObject) {
        storage.update(from: data, count: count)
        if ownsStorage { data.deallocate() }
        data = storage
        ownsStorage = false
        storageOwner = owner
        capacity = count
    }

    /// Changes the shape, reallocating only if the new element count exceeds `capacity`.
    /// Contents are unspecified afterwards unless the shape's count did not change.
    public func reshape(to newShape: [Int]) {
        if newShape == shape { return }
        let newCount = Tensor.elementCount(newShape)
        if newCount > capacity {
            precondition(ownsStorage, "a view into an arena cannot grow (shape \(shape) to \(newShape))")
            data.deallocate()
            data = Tensor.allocate(newCount)
            data.initialize(repeating: 0, count: newCount)
            capacity = newCount
        }
        shape = newShape
        count = newCount
    }

    /// `reshape(to: [d0, d1])` without building an array when the shape is unchanged,
    /// so a warmed-up training step allocates nothing. Likewise for 3 and 4 dimensions.
    @inline(__always)
    public func reshape(_ d0: Int, _ d1: Int) {
        if shape.count == 2 && shape[0] == d0 && shape[1] == d1 { return }
        reshape(to: [d0, d1])
    }

    /// `reshape(to: [d0, d1, d2])`, allocation-free when unchanged.
    @inline(__always)
    public func reshape(_ d0: Int, _ d1: Int, _ d2: Int) {
        if shape.count == 3 && shape[0] == d0 && shape[1] == d1 && shape[2] == d2 { return }
        reshape(to: [d0, d1, d2])
    }

    /// `reshape(to: [d0, d1, d2, d3])`, allocation-free when unchanged.
    @inline(__always)
    public func reshape(_ d0: Int, _ d1: Int, _ d2: Int, _ d3: Int) {
        if shape.count == 4 && shape[0] == d0 && shape[1] == d1 && shape[2] == d2 && shape[3] == d3 { return }
        reshape(to: [d0, d1, d2, d3])
    }

    /// The valid elements as a buffer.
    @inline(__always)
    public var buffer: UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(start: data, count: count)
    }

    /// Element `index` in row-major order.
    public subscript(index: Int) -> Float {
        get { precondition(index >= 0 && index < count); return data[index] }
        set { precondition(index >= 0 && index < count); data[index] = newValue }
    }

    /// Sets every element to `value`.
    public func fill(_ value: Float) {
        data.update(repeating: value, count: count)
    }

    /// The elements as an array (for tests and serialisation, not hot loops).
    public var values: [Float] { Array(buffer) }

    /// Product of the dimensions (1 for a scalar shape `[]`).
    public static func elementCount(_ shape: [Int]) -> Int {
        shape.reduce(1) { product, dimension in
            precondition(dimension >= 0, "negative dimension in \(shape)")
            return product * dimension
        }
    }

    /// 64-byte aligned storage, so SIMD loads and BLAS kernels see aligned rows.
    private static func allocate(_ count: Int) -> UnsafeMutablePointer<Float> {
        UnsafeMutableRawPointer
            .allocate(byteCount: max(count, 1) * MemoryLayout<Float>.stride, alignment: 64)
            .bindMemory(to: Float.self, capacity: max(count, 1))
    }
}

/// The product of `values`, or nil if any is negative or the product overflows `Int`:
/// for sizes read from files, which must never trap or wrap around.
public func checkedProduct(_ values: [Int]) -> Int? {
    var product = 1
    for value in values {
        guard value >= 0 else { return nil }
        let (result, overflow) = product.multipliedReportingOverflow(by: value)
        if overflow { return nil }
        product = result
    }
    return product
}

extension Array where Element == Int {
    /// The shape written as people read it: `[1, 28, 28]` → `1×28×28`.
    public var shapeDescription: String { map(String.init).joined(separator: "×") }
}
