/// The protobuf wire format, as far as ONNX needs it: a writer for messages and a reader that
/// splits a message into its fields (for validating what was written).
///
/// A message is a sequence of fields, each a key `(field number << 3) | wire type` as a varint,
/// then the value: wire type 0 a varint (ints, enums), 1 eight little-endian bytes (double),
/// 2 a varint length then that many bytes (strings, bytes, nested messages, packed repeated
/// numbers), 5 four little-endian bytes (float). See protobuf.dev's encoding guide.
struct ProtobufMessage {
    /// The encoded fields so far.
    private(set) var bytes: [UInt8] = []

    /// An integer field (int32, int64, enum), as a varint (negative values in ten bytes, as protobuf does).
    mutating func integer(_ field: Int, _ value: Int) {
        key(field, wireType: 0)
        varint(UInt64(bitPattern: Int64(value)))
    }

    /// A float field (wire type 5).
    mutating func float(_ field: Int, _ value: Float) {
        key(field, wireType: 5)
        withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
    }

    /// A string field (UTF-8).
    mutating func string(_ field: Int, _ value: String) {
        data(field, Array(value.utf8))
    }

    /// A bytes field.
    mutating func data(_ field: Int, _ value: [UInt8]) {
        key(field, wireType: 2)
        varint(UInt64(value.count))
        bytes.append(contentsOf: value)
    }

    /// A nested message field.
    mutating func message(_ field: Int, _ value: ProtobufMessage) {
        data(field, value.bytes)
    }

    /// A packed repeated integer field (repeated int64 with packing).
    mutating func packedIntegers(_ field: Int, _ values: [Int]) {
        var packed = ProtobufMessage()
        for value in values { packed.varint(UInt64(bitPattern: Int64(value))) }
        data(field, packed.bytes)
    }

    /// Unpacked repeated integers (proto2's default for `repeated int64`, as ONNX's attribute `ints`).
    mutating func integers(_ field: Int, _ values: [Int]) {
        for value in values { integer(field, value) }
    }

    private mutating func key(_ field: Int, wireType: UInt64) {
        varint(UInt64(field) << 3 | wireType)
    }

    private mutating func varint(_ value: UInt64) {
        var remaining = value
        while remaining >= 0x80 {
            bytes.append(UInt8(remaining & 0x7F) | 0x80)
            remaining >>= 7
        }
        bytes.append(UInt8(remaining))
    }
}

/// A message read back field by field: each field number's values in order, as integers
/// (varints and fixed-width numbers) or byte strings (length-delimited), which may in turn be
/// read as messages.
public struct ProtobufFields: Sendable {
    /// A field's value.
    public enum Value: Sendable {
        case integer(UInt64)
        case bytes([UInt8])
    }

    /// Values by field number, in the order they appear.
    public private(set) var values: [Int: [Value]] = [:]

    /// Splits `bytes` into fields; nil if it is not a well-formed message (a truncated field,
    /// an over-long varint, a wire type that is not 0, 1, 2 or 5, field number 0).
    public init?(_ bytes: [UInt8]) {
        var position = 0
        func varint() -> UInt64? {
            var result: UInt64 = 0, shift: UInt64 = 0
            while position < bytes.count, shift < 64 {
                let byte = bytes[position]
                position += 1
                result |= UInt64(byte & 0x7F) << shift
                if byte < 0x80 { return result }
                shift += 7
            }
            return nil
        }
        while position < bytes.count {
            guard let key = varint(), key >> 3 > 0, key >> 3 < 1 << 29 else { return nil }
            let field = Int(key >> 3)
            switch key & 7 {
            case 0:
                guard let value = varint() else { return nil }
                values[field, default: []].append(.integer(value))
            case 1, 5:
                let width = key & 7 == 1 ? 8 : 4
                guard position + width <= bytes.count else { return nil }
                var value: UInt64 = 0
                for index in 0..<width { value |= UInt64(bytes[position + index]) << (8 * UInt64(index)) }
                position += width
                values[field, default: []].append(.integer(value))
            case 2:
                guard let length = varint(), length <= UInt64(bytes.count - position) else { return nil }
                values[field, default: []].append(.bytes(Array(bytes[position..<(position + Int(length))])))
                position += Int(length)
            default:
                return nil
            }
        }
    }

    /// The integers of `field`.
    public func integers(_ field: Int) -> [Int] {
        (values[field] ?? []).compactMap { if case .integer(let value) = $0 { return Int(truncatingIfNeeded: value) } else { return nil } }
    }

    /// The strings of `field`.
    public func strings(_ field: Int) -> [String] {
        (values[field] ?? []).compactMap { if case .bytes(let bytes) = $0 { return String(decoding: bytes, as: UTF8.self) } else { return nil } }
    }

    /// The messages of `field`.
    public func messages(_ field: Int) -> [ProtobufFields] {
        (values[field] ?? []).compactMap { if case .bytes(let bytes) = $0 { return ProtobufFields(bytes) } else { return nil } }
    }

    /// The packed integers of `field` (each value a length-delimited run of varints).
    public func packedIntegers(_ field: Int) -> [Int] {
        (values[field] ?? []).flatMap { value -> [Int] in
            guard case .bytes(let bytes) = value else { return [] }
            var result: [Int] = [], current: UInt64 = 0, shift: UInt64 = 0
            for byte in bytes {
                current |= UInt64(byte & 0x7F) << shift
                if byte < 0x80 {
                    result.append(Int(truncatingIfNeeded: current))
                    (current, shift) = (0, 0)
                } else {
                    shift += 7
                }
            }
            return result
        }
    }
}
