import Foundation

/// A coding key for any string or index, used to list the keys a JSON object really has.
struct AnyCodingKey: CodingKey {
    var stringValue: String
    var intValue: Int?
    init(stringValue: String) { self.stringValue = stringValue }
    init(intValue: Int) { self.stringValue = "\(intValue)"; self.intValue = intValue }
}

extension Decoder {
    /// Throws `dataCorrupted` naming the first key of this JSON object that is not in `allowed`,
    /// so a typo in a config (`"learningrate"`) is an error rather than silently ignored.
    func rejectUnknownKeys(allowed: [String]) throws {
        let container = try container(keyedBy: AnyCodingKey.self)
        for key in container.allKeys where !allowed.contains(key.stringValue) {
            throw DecodingError.dataCorrupted(.init(
                codingPath: codingPath + [key],
                debugDescription: "is not a known key (expected one of: \(allowed.joined(separator: ", ")))"))
        }
    }
}

extension KeyedDecodingContainer {
    /// Decodes `key` (or returns `defaultValue` when absent) and checks it with `isValid`;
    /// otherwise throws `dataCorrupted` at the key's path saying "must be \(requirement), found \(value)".
    func decode<T: Decodable>(_ key: Key, default defaultValue: T? = nil,
                              mustBe requirement: String, _ isValid: (T) -> Bool) throws -> T {
        let value: T
        if let defaultValue {
            value = try decodeIfPresent(T.self, forKey: key) ?? defaultValue
        } else {
            value = try decode(T.self, forKey: key)
        }
        guard isValid(value) else {
            throw DecodingError.dataCorruptedError(
                forKey: key, in: self, debugDescription: "must be \(requirement), found \(formatFound(value))")
        }
        return value
    }
}

/// A value as the user wrote it: `-1` rather than `-1.0`, strings quoted, lists in brackets.
func formatFound(_ value: Any) -> String {
    switch value {
    case let number as Double where number.rounded() == number && abs(number) < 1e15:
        return String(Int(number))
    case let number as Float where number.rounded() == number && abs(number) < 1e15:
        return String(Int(number))
    case let text as String:
        return "\"\(text)\""
    case let list as [Any]:
        return "[" + list.map(formatFound).joined(separator: ", ") + "]"
    default:
        return "\(value)"
    }
}

/// Renders a coding path as a key path: `training.optimizer.learningRate`, `model.layers[2].kernel`.
func keyPath(_ codingPath: [any CodingKey]) -> String {
    var path = ""
    for key in codingPath {
        if let index = key.intValue {
            path += "[\(index)]"
        } else {
            path += path.isEmpty ? key.stringValue : ".\(key.stringValue)"
        }
    }
    return path
}

/// One line for a JSON decoding failure, naming the key path and what was expected.
func describe(_ error: DecodingError) -> String {
    func at(_ path: [any CodingKey]) -> String { path.isEmpty ? "the top level" : keyPath(path) }
    switch error {
    case .typeMismatch(let type, let context):
        return "\(at(context.codingPath)) has the wrong type: expected \(typeName(type)) (\(context.debugDescription))"
    case .valueNotFound(let type, let context):
        return "\(at(context.codingPath)) is null, expected \(typeName(type))"
    case .keyNotFound(let key, let context):
        return "\(at(context.codingPath + [key])) is missing"
    case .dataCorrupted(let context):
        if context.codingPath.isEmpty {
            let underlying = (context.underlyingError as NSError?)?.userInfo[NSDebugDescriptionErrorKey] as? String
            return "is not valid JSON: \(underlying ?? context.debugDescription)"
        }
        return "\(keyPath(context.codingPath)) \(context.debugDescription)"
    @unknown default:
        return "\(error)"
    }
}

private func typeName(_ type: Any.Type) -> String {
    switch type {
    case is Int.Type, is Int32.Type, is UInt64.Type: return "an integer"
    case is Double.Type, is Float.Type: return "a number"
    case is String.Type: return "a string"
    case is Bool.Type: return "true or false"
    default:
        let name = "\(type)"
        if name.hasPrefix("Array") { return "a list" }
        if name.hasPrefix("Dictionary") { return "an object" }
        return "an object (\(name))"
    }
}
