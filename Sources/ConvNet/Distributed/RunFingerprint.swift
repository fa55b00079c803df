import CZlib

/// CRC-32 fingerprints of what every process of a data-parallel run must share: the config,
/// the data and the starting state. Ranks compare them before the first step.
enum RunFingerprint {
    /// CRC-32 of `bytes`.
    static func of(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { update(0, $0) }
    }

    /// CRC-32 of the class names, image shape, labels and pixels of every split.
    static func of(_ data: TrainingData) -> UInt32 {
        var crc: UInt32 = 0
        for dataset in [data.train, data.validation, data.test].compactMap({ $0 }) {
            crc = Array((dataset.classNames.joined(separator: "\n") + "\(dataset.sampleShape)").utf8).withUnsafeBytes { update(crc, $0) }
            crc = dataset.labels.withUnsafeBytes { update(crc, $0) }
            crc = dataset.images.withUnsafeBytes { update(crc, $0) }
        }
        return crc
    }

    /// CRC-32 of a model's parameters and buffers, and the position in the run.
    static func of(model: Sequential, epoch: Int, step: Int) -> UInt32 {
        var crc = [epoch, step].withUnsafeBytes { update(0, $0) }
        let values = model.arena.values
        crc = update(crc, UnsafeRawBufferPointer(start: values.data, count: values.count * MemoryLayout<Float>.size))
        for buffer in model.layers.flatMap(\.buffers) {
            switch buffer.storage {
            case .float32(let tensor): crc = update(crc, UnsafeRawBufferPointer(start: tensor.data, count: tensor.count * MemoryLayout<Float>.size))
            case .int64(let integers): crc = integers.values.withUnsafeBytes { update(crc, $0) }
            }
        }
        return crc
    }

    /// CRC-32 of a checkpoint's tensors (model and optimizer state) and position, or of "none".
    static func of(_ checkpoint: Checkpoint?) -> UInt32 {
        guard let checkpoint else { return of(Array("none".utf8)) }
        var crc = [checkpoint.epoch, checkpoint.step].withUnsafeBytes { update(0, $0) }
        for tensor in checkpoint.modelState + checkpoint.optimizerState {
            crc = Array("\(tensor.name)\(tensor.shape)".utf8).withUnsafeBytes { update(crc, $0) }
            switch tensor.values {
            case .float32(let values): crc = values.withUnsafeBytes { update(crc, $0) }
            case .int64(let values): crc = values.withUnsafeBytes { update(crc, $0) }
            }
        }
        return crc
    }

    /// CRC-32 of how the gradients are summed: the bucket boundaries and whether they overlap
    /// backward (the processes must start the same sums in the same order).
    static func of(_ synchronizer: GradientSynchronizer) -> UInt32 {
        let layout = synchronizer.buckets.flatMap { [$0.range.lowerBound, $0.range.upperBound, $0.firstLayer] } + [synchronizer.overlap ? 1 : 0]
        return layout.withUnsafeBytes { update(0, $0) }
    }

    /// zlib's crc32 over `bytes` in pieces its 32-bit length takes.
    private static func update(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var crc = UInt(crc), offset = 0
        while offset < bytes.count {
            let length = min(bytes.count - offset, 1 << 30)
            crc = crc32(crc, bytes.baseAddress!.advanced(by: offset).assumingMemoryBound(to: UInt8.self), UInt32(length))
            offset += length
        }
        return UInt32(truncatingIfNeeded: crc)
    }
}
