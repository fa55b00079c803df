import Foundation

/// The key path of the first key that appears twice in one object of the JSON text `bytes`
/// (`training.epochs`, `model.layers[2].units`), or nil when every object's keys differ.
///
/// `JSONDecoder` silently keeps one of the values of a repeated key, so a config with
/// `"epochs": 2, "epochs": 100000` would run as if the second were not there. This is one
/// linear pass over the text: strings (with their escapes), the nesting of objects and arrays,
/// and the keys of each open object. It does not validate: on text that is not JSON, or nests
/// deeper than `maximumDepth` (the decoder's own limit), it returns nil and leaves the error
/// to the decoder.
func firstDuplicateKey(in bytes: [UInt8], maximumDepth: Int = 512) -> String? {
    enum Container {
        case object(path: String, keys: Set<String>, expectingKey: Bool, key: String?)
        case array(path: String, index: Int)
    }
    var stack: [Container] = []
    /// The path of the value about to start in the innermost container.
    func childPath() -> String {
        switch stack.last {
        case nil: return ""
        case .object(let path, _, _, let key)?: return path.isEmpty ? key ?? "" : "\(path).\(key ?? "")"
        case .array(let path, let index)?: return "\(path)[\(index)]"
        }
    }
    var position = 0
    while position < bytes.count {
        let byte = bytes[position]
        switch byte {
        case UInt8(ascii: "\""):
            let start = position
            var escaped = false
            position += 1
            while position < bytes.count && bytes[position] != UInt8(ascii: "\"") {
                if bytes[position] == UInt8(ascii: "\\") { escaped = true; position += 1 }
                position += 1
            }
            guard position < bytes.count else { return nil }
            if case .object(let path, var keys, true, _)? = stack.last {
                let raw = Array(bytes[start...position])
                // A key with escapes is compared decoded: "\u0061" and "a" are the same key.
                guard let key = escaped ? try? JSONDecoder().decode(String.self, from: Data(raw))
                                        : String(decoding: raw.dropFirst().dropLast(), as: UTF8.self) else { return nil }
                guard keys.insert(key).inserted else { return path.isEmpty ? key : "\(path).\(key)" }
                stack[stack.count - 1] = .object(path: path, keys: keys, expectingKey: false, key: key)
            }
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            guard stack.count < maximumDepth else { return nil }
            let path = childPath()
            stack.append(byte == UInt8(ascii: "{") ? .object(path: path, keys: [], expectingKey: true, key: nil) : .array(path: path, index: 0))
        case UInt8(ascii: "}"), UInt8(ascii: "]"):
            guard stack.popLast() != nil else { return nil }
        case UInt8(ascii: ","):
            switch stack.last {
            case .object(let path, let keys, _, let key)?: stack[stack.count - 1] = .object(path: path, keys: keys, expectingKey: true, key: key)
            case .array(let path, let index)?: stack[stack.count - 1] = .array(path: path, index: index + 1)
            case nil: return nil
            }
        default: break
        }
        position += 1
    }
    return nil
}
