import CZlib
import Foundation

/// The safetensors container format (as read by Hugging Face's `safetensors` library):
///
/// `[8-byte little-endian header length H][H bytes of JSON header][data]`. The header maps
/// each tensor name to `{"dtype": "F32", "shape": […], "data_offsets": [begin, end]}` (offsets
/// into the data section, which the tensors cover exactly, without gaps) and may hold
/// `"__metadata__"`, a map of strings. The header is padded with spaces to a multiple of 8.
/// F32 and I64 little-endian tensors are written and read here (PyTorch stores batch norm's
/// `num_batches_tracked` as I64).
public enum Safetensors {
    /// Largest header accepted: 100 MB (the reference implementation's limit).
    public static let headerLimit = 100_000_000

    /// Encodes tensors (in the given order) and string metadata as a safetensors file.
    public static func encode(_ tensors: [NamedTensor], metadata: [String: String]) -> [UInt8] {
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        for tensor in tensors {
            let size = tensor.values.count * bytesPerValue(tensor.values.dtype)!
            header[tensor.name] = ["dtype": tensor.values.dtype, "shape": tensor.shape, "data_offsets": [offset, offset + size]] as [String: Any]
            offset += size
        }
        var headerBytes = Array((try? JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])) ?? Data())
        while (8 + headerBytes.count) % 8 != 0 { headerBytes.append(0x20) }
        var file = [UInt8]()
        file.reserveCapacity(8 + headerBytes.count + offset)
        withUnsafeBytes(of: UInt64(headerBytes.count).littleEndian) { file.append(contentsOf: $0) }
        file.append(contentsOf: headerBytes)
        for tensor in tensors {
            // Little-endian: the in-memory layout on x86_64 and arm64.
            switch tensor.values {
            case .float32(let values): values.withUnsafeBytes { file.append(contentsOf: $0) }
            case .int64(let values): values.withUnsafeBytes { file.append(contentsOf: $0) }
            }
        }
        return file
    }

    /// Bytes per element of the dtypes read and written here, nil for others.
    static func bytesPerValue(_ dtype: String) -> Int? {
        switch dtype {
        case "F32": return 4
        case "I64": return 8
        default: return nil
        }
    }

    /// Decodes a safetensors file, validating the header length, every entry's dtype,
    /// shape and offsets against the real file length, and that the tensors tile the
    /// data section exactly. Tensors come back in data order.
    public static func decode(_ file: [UInt8], name: String) throws(CheckpointError) -> (tensors: [NamedTensor], metadata: [String: String]) {
        guard file.count >= 8 else {
            throw CheckpointError(file: name, file.isEmpty ? "is empty" : "truncated: \(file.count) bytes is too short for a safetensors header")
        }
        var headerLength: UInt64 = 0
        for i in 0..<8 { headerLength |= UInt64(file[i]) << (8 * UInt64(i)) }
        guard headerLength <= UInt64(headerLimit) else {
            throw CheckpointError(file: name, "not a safetensors checkpoint: header length \(headerLength) is over the \(headerLimit)-byte limit")
        }
        guard headerLength <= UInt64(file.count - 8) else {
            throw CheckpointError(file: name, "truncated: the header needs \(headerLength) bytes but only \(file.count - 8) follow")
        }
        let dataStart = 8 + Int(headerLength)
        // Parsing builds an object per JSON value, several times the header's size: count the
        // values first (outside strings), so a header of a million empty entries costs nothing.
        let values = jsonValueCount(file[8..<dataStart])
        guard values <= headerValueLimit else {
            throw CheckpointError(file: name, "not a ConvNet checkpoint: its header holds \(values) JSON values, over the limit of \(headerValueLimit) (a model's tensors need a few each)")
        }
        let headerData = Data(file[8..<dataStart])
        guard let header = (try? JSONSerialization.jsonObject(with: headerData)) as? [String: Any] else {
            throw CheckpointError(file: name, "not a safetensors checkpoint: its header is not a JSON object")
        }
        var metadata: [String: String] = [:]
        if let raw = header["__metadata__"] {
            guard let strings = raw as? [String: String] else {
                throw CheckpointError(file: name, "header: __metadata__ must map strings to strings")
            }
            metadata = strings
        }
        let dataLength = file.count - dataStart
        var entries: [(name: String, dtype: String, shape: [Int], begin: Int, end: Int)] = []
        for (key, value) in header where key != "__metadata__" {
            guard let entry = value as? [String: Any],
                  let dtype = entry["dtype"] as? String,
                  let shape = entry["shape"] as? [Int],
                  let offsets = entry["data_offsets"] as? [Int], offsets.count == 2 else {
                throw CheckpointError(file: name, "header entry \"\(key)\" needs dtype, shape and data_offsets [begin, end]")
            }
            guard let width = bytesPerValue(dtype) else {
                throw CheckpointError(file: name, "tensor \"\(key)\" has dtype \(dtype); only F32 and I64 are supported")
            }
            guard shape.allSatisfy({ $0 >= 0 && $0 <= 1 << 31 }), shape.count <= 8 else {
                throw CheckpointError(file: name, "tensor \"\(key)\" has an invalid shape \(shape)")
            }
            let (begin, end) = (offsets[0], offsets[1])
            guard begin >= 0, end >= begin else {
                throw CheckpointError(file: name, "tensor \"\(key)\" has invalid data_offsets [\(begin), \(end)]")
            }
            guard end <= dataLength else {
                throw CheckpointError(file: name, "truncated or lying header: tensor \"\(key)\" has data_offsets [\(begin), \(end)] outside the \(dataLength)-byte data section")
            }
            var count = 1
            for dimension in shape {
                let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
                guard !overflow, product <= dataLength else {
                    throw CheckpointError(file: name, "tensor \"\(key)\" shape \(shape) is larger than the data section")
                }
                count = product
            }
            guard end - begin == count * width else {
                throw CheckpointError(file: name, "tensor \"\(key)\" shape \(shape) needs \(count * width) bytes but data_offsets span \(end - begin)")
            }
            entries.append((key, dtype, shape, begin, end))
        }
        entries.sort { ($0.begin, $0.end) < ($1.begin, $1.end) }
        var position = 0
        for entry in entries {
            guard entry.begin == position else {
                throw CheckpointError(file: name, entry.begin > position
                    ? "data section has a gap before tensor \"\(entry.name)\" (bytes \(position)..<\(entry.begin))"
                    : "tensor \"\(entry.name)\" overlaps the previous tensor")
            }
            position = entry.end
        }
        guard position == dataLength else {
            throw CheckpointError(file: name, "data section has \(dataLength - position) bytes after the last tensor")
        }
        let tensors = file.withUnsafeBytes { source in
            entries.map { entry in
                let bytes = UnsafeRawBufferPointer(rebasing: source[(dataStart + entry.begin)..<(dataStart + entry.end)])
                let values: TensorValues
                if entry.dtype == "I64" {
                    var integers = [Int64](repeating: 0, count: bytes.count / 8)
                    integers.withUnsafeMutableBytes { $0.copyMemory(from: bytes) }
                    values = .int64(integers)
                } else {
                    var floats = [Float](repeating: 0, count: bytes.count / 4)
                    floats.withUnsafeMutableBytes { $0.copyMemory(from: bytes) }
                    values = .float32(floats)
                }
                return NamedTensor(name: entry.name, shape: entry.shape, values: values)
            }
        }
        return (tensors, metadata)
    }

    /// The most JSON values (objects, arrays, strings, numbers) a header may hold: about 20
    /// per tensor entry (its name, dtype, shape and offsets), so over 10,000 tensors.
    static let headerValueLimit = 1 << 18

    /// An upper bound on the number of values in JSON text: one more than the commas, plus the
    /// opening brackets, outside strings. Linear, allocates nothing.
    static func jsonValueCount(_ text: ArraySlice<UInt8>) -> Int {
        var count = 1, inString = false, escaped = false
        for byte in text {
            if inString {
                if escaped { escaped = false } else if byte == UInt8(ascii: "\\") { escaped = true } else if byte == UInt8(ascii: "\"") { inString = false }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: ","), UInt8(ascii: "{"), UInt8(ascii: "["): count += 1
            default: break
            }
        }
        return count
    }

    /// CRC-32 of everything a reader relies on: the metadata except `checksum` (sorted by key),
    /// each tensor's name, dtype, shape and offsets (in data order), and the data section;
    /// as 8 hex digits. A flipped bit anywhere but in the JSON's spacing changes it.
    /// (Format version 1 covered the data section only, `dataChecksum`.)
    public static func contentChecksum(_ file: [UInt8], tensors: [NamedTensor], metadata: [String: String]) -> String {
        var description = ""
        for (key, value) in metadata.sorted(by: { $0.key < $1.key }) where key != "checksum" {
            description += "\(key)\u{0}\(value)\u{0}"
        }
        description += "\u{1}"
        var offset = 0
        for tensor in tensors {
            let size = tensor.values.count * (bytesPerValue(tensor.values.dtype) ?? 0)
            description += "\(tensor.name)\u{0}\(tensor.values.dtype)\u{0}\(tensor.shape)\u{0}\(offset),\(offset + size)\u{0}"
            offset += size
        }
        var headerLength = 0
        for i in 0..<8 { headerLength |= Int(file[i]) << (8 * i) }
        let crc = crc32Update(crc32Update(crc32(0, nil, 0), Array(description.utf8)), file, from: 8 + headerLength)
        return String(format: "%08x", UInt32(truncatingIfNeeded: crc))
    }

    /// CRC-32 (zlib's) of the data section of an encoded file, as 8 hex digits.
    public static func dataChecksum(_ file: [UInt8]) -> String {
        var headerLength = 0
        for i in 0..<8 { headerLength |= Int(file[i]) << (8 * i) }
        return checksum(file, from: 8 + headerLength)
    }

    static func checksum(_ bytes: [UInt8], from start: Int) -> String {
        String(format: "%08x", UInt32(truncatingIfNeeded: crc32Update(crc32(0, nil, 0), bytes, from: start)))
    }

    /// `crc` continued over `bytes[start...]`.
    private static func crc32Update(_ crc: UInt, _ bytes: [UInt8], from start: Int = 0) -> UInt {
        bytes.withUnsafeBufferPointer { buffer -> UInt in
            var crc = crc
            var offset = start
            while offset < buffer.count {  // crc32 takes a 32-bit length
                let length = min(buffer.count - offset, 1 << 30)
                crc = crc32(crc, buffer.baseAddress! + offset, uInt(length))
                offset += length
            }
            return crc
        }
    }
}

/// A checkpoint that cannot be read or used: which file and why.
public struct CheckpointError: ConvNetError, Equatable {
    /// The checkpoint path.
    public var file: String
    /// What is wrong.
    public var message: String
    /// An error about `file`.
    public init(file: String, _ message: String) { self.file = file; self.message = message }
    /// `file: message`, one line.
    public var description: String { oneLine("\(file): \(message)") }
}
