/// The values of a saved tensor: Float32, or Int64 for counters (PyTorch's `num_batches_tracked`).
public enum TensorValues: Equatable, Sendable {
    case float32([Float])
    case int64([Int64])

    /// The safetensors dtype: `F32` or `I64`.
    public var dtype: String {
        switch self {
        case .float32: return "F32"
        case .int64: return "I64"
        }
    }

    /// The number of values.
    public var count: Int {
        switch self {
        case .float32(let values): return values.count
        case .int64(let values): return values.count
        }
    }

    /// The Float32 values, or nil for Int64 ones.
    public var floats: [Float]? {
        if case .float32(let values) = self { return values }
        return nil
    }
}

/// A named tensor of a state dictionary or a safetensors file: `"3.weight"`, `[50, 20, 5, 5]`, F32 values.
public struct NamedTensor: Equatable, Sendable {
    /// Name, e.g. `"0.weight"`, `"1.running_mean"`, `"optimizer.0.weight.exp_avg"`.
    public var name: String
    /// Shape, e.g. `[20, 1, 5, 5]`; `[]` for a scalar.
    public var shape: [Int]
    /// The values, row-major; the shape's product of them.
    public var values: TensorValues

    /// A tensor entry (the value count must equal the shape's product).
    public init(name: String, shape: [Int], values: TensorValues) {
        precondition(Tensor.elementCount(shape) == values.count)
        self.name = name; self.shape = shape; self.values = values
    }

    /// A Float32 tensor entry.
    public init(name: String, shape: [Int], floats: [Float]) {
        self.init(name: name, shape: shape, values: .float32(floats))
    }

    /// A Float32 entry holding `count` values from `pointer`.
    init(name: String, shape: [Int], copying pointer: UnsafePointer<Float>) {
        self.init(name: name, shape: shape, floats: Array(UnsafeBufferPointer(start: pointer, count: Tensor.elementCount(shape))))
    }

    /// Copies Float32 values into `pointer` (which has room for them).
    func copyFloats(to pointer: UnsafeMutablePointer<Float>) {
        guard case .float32(let floats) = values else { preconditionFailure("\(name) is not Float32") }
        floats.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: $0.count) }
    }
}

/// The name, shape and dtype a state entry must have (checked before loading).
public struct StateEntry: Equatable, Sendable {
    /// Full name, e.g. `"1.running_var"`.
    public var name: String
    /// Shape.
    public var shape: [Int]
    /// `F32` or `I64`.
    public var dtype: String
}

extension Sequential {
    /// The model's state, as PyTorch's `state_dict()` of the matching `nn.Sequential`:
    /// every parameter and buffer, named `"<layer index>.<name>"`, in layer order.
    public var stateDictionary: [NamedTensor] {
        var state: [NamedTensor] = []
        for layer in layers {
            for parameter in layer.parameters {
                state.append(NamedTensor(name: parameter.name, shape: parameter.value.shape, copying: parameter.value.data))
            }
            for buffer in layer.buffers {
                state.append(buffer.namedTensor)
            }
        }
        return state
    }

    /// The entries `loadState` expects, in `stateDictionary`'s order.
    public var stateEntries: [StateEntry] {
        layers.flatMap { layer in
            layer.parameters.map { StateEntry(name: $0.name, shape: $0.value.shape, dtype: "F32") }
                + layer.buffers.map { StateEntry(name: $0.name, shape: $0.shape, dtype: $0.dtype) }
        }
    }

    /// Copies each of `tensors` into the parameter or buffer of its name (which must have its
    /// shape and dtype); the others keep their values.
    public func loadMatching(_ tensors: [String: NamedTensor]) {
        for layer in layers {
            for parameter in layer.parameters {
                if let tensor = tensors[parameter.name] { tensor.copyFloats(to: parameter.value.data) }
            }
            for buffer in layer.buffers {
                if let tensor = tensors[buffer.name] { buffer.load(tensor.values) }
            }
        }
    }

    /// Copies `tensors` into the parameters and buffers of the same names. Every entry of
    /// `stateEntries` must be present with its shape and dtype (the checkpoint reader checks).
    public func loadState(_ tensors: [String: NamedTensor]) {
        for layer in layers {
            for parameter in layer.parameters {
                guard let tensor = tensors[parameter.name], tensor.shape == parameter.value.shape else {
                    preconditionFailure("state entry \(parameter.name) is missing or has another shape")
                }
                tensor.copyFloats(to: parameter.value.data)
            }
            for buffer in layer.buffers {
                guard let tensor = tensors[buffer.name], tensor.shape == buffer.shape else {
                    preconditionFailure("state entry \(buffer.name) is missing or has another shape")
                }
                buffer.load(tensor.values)
            }
        }
    }
}

extension Buffer {
    /// `F32` or `I64`.
    public var dtype: String {
        switch storage {
        case .float32: return "F32"
        case .int64: return "I64"
        }
    }

    /// The buffer as a named tensor.
    public var namedTensor: NamedTensor {
        switch storage {
        case .float32(let tensor): return NamedTensor(name: name, shape: tensor.shape, copying: tensor.data)
        case .int64(let integers): return NamedTensor(name: name, shape: integers.shape, values: .int64(integers.values))
        }
    }

    /// Replaces the values with `values` (same count and dtype).
    func load(_ values: TensorValues) {
        switch (storage, values) {
        case let (.float32(tensor), .float32(floats)):
            precondition(floats.count == tensor.count)
            floats.withUnsafeBufferPointer { tensor.data.update(from: $0.baseAddress!, count: $0.count) }
        case let (.int64(integers), .int64(newValues)):
            precondition(newValues.count == integers.values.count)
            integers.values = newValues
        default:
            preconditionFailure("buffer \(name) loaded with the wrong dtype")
        }
    }
}
