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
            value = try numberChecked(requirement, T.self, key) { try decodeIfPresent(T.self, forKey: key) } ?? defaultValue
        } else {
            value = try numberChecked(requirement, T.self, key) { try decode(T.self, forKey: key) }
        }
        guard isValid(value) else {
            throw DecodingError.dataCorruptedError(
                forKey: key, in: self, debugDescription: "must be \(requirement), found \(formatFound(value))")
        }
        return value
    }

    /// Decodes `key` if present and checks it with `isValid`, as `decode(_:default:mustBe:_:)`.
    func decodeIfPresent<T: Decodable>(_ key: Key, mustBe requirement: String, _ isValid: (T) -> Bool) throws -> T? {
        guard contains(key), try !decodeNil(forKey: key) else { return nil }
        return try decode(key, mustBe: requirement, isValid)
    }

    /// Runs `decode`, turning the error Foundation gives for a JSON number that does not fit
    /// `type` (1e30 or 1.5 for an integer, -1 for an unsigned one, 1e309 for any) into one at
    /// `key`. Foundation throws its own error type there (`numberIsNotRepresentableInSwift`),
    /// which JSONDecoder reports as "not valid JSON" at no key path.
    private func numberChecked<T, Value>(_ requirement: String, _ type: T.Type, _ key: Key, _ decode: () throws -> Value) throws -> Value {
        do {
            return try decode()
        } catch let error where isNumeric(type) && !(error is DecodingError) || isUnlocated(error) && isNumeric(type) {
            let isList = type is [Int].Type || type is [Double].Type
            let whole = type is any BinaryInteger.Type ? "a whole number " : ""
            let found = isList ? numberFound(forKey: key) : numberLiteral(in: error) ?? numberFound(forKey: key)
            throw DecodingError.dataCorruptedError(forKey: key, in: self, debugDescription: "must be \(whole)\(requirement), found \(found)")
        }
    }

    /// The number or list of numbers `key` holds, as `formatFound` writes them.
    private func numberFound(forKey key: Key) -> String {
        let outside = "a number outside the range of 64-bit floats"
        if let number = try? decode(Double.self, forKey: key) { return formatFound(number) }
        guard var list = try? nestedUnkeyedContainer(forKey: key) else { return outside }
        var items: [String] = []
        while !list.isAtEnd {
            if let number = try? list.decode(Double.self) {
                items.append(formatFound(number))
            } else {
                _ = try? list.decode(Skipped.self)
                items.append("(\(outside))")
            }
        }
        return "[" + items.joined(separator: ", ") + "]"
    }
}

/// Decodes any JSON value and keeps nothing: steps over a list element.
private struct Skipped: Decodable {
    init(from decoder: Decoder) {}
}

/// Whether `error` is a `dataCorrupted` decoding error at no key path.
private func isUnlocated(_ error: any Error) -> Bool {
    guard case DecodingError.dataCorrupted(let context)? = error as? DecodingError else { return false }
    return context.codingPath.isEmpty
}

/// The number as written in the JSON, when Foundation's error carries it
/// (`numberIsNotRepresentableInSwift(parsed: "1e30")`) and it looks like a JSON number.
private func numberLiteral(in error: any Error) -> String? {
    guard let child = Mirror(reflecting: error).children.first else { return nil }
    let text = child.value as? String ?? Mirror(reflecting: child.value).children.first?.value as? String
    guard let text, !text.isEmpty, text.count <= 40, text.allSatisfy({ "0123456789+-.eE".contains($0) }) else { return nil }
    return text
}

/// Whether `type` is a number or a list of numbers.
private func isNumeric(_ type: Any.Type) -> Bool {
    type is any BinaryInteger.Type || type is any BinaryFloatingPoint.Type || type is [Int].Type || type is [Double].Type
}

extension KeyedDecodingContainer {
    /// Decodes a number the engine computes with as a 32-bit `Float` (or returns `defaultValue`
    /// when absent) and checks the Float it becomes with `isValid`, so a value is judged as it
    /// will be used: a momentum of 0.99999999999 is 1 as a Float, and a learning rate of
    /// 1e-320 is 0. Returns the number as written (a `Double`); throws `dataCorrupted` at the
    /// key's path saying "must be \(requirement), found \(value)", and what it is as a Float
    /// when that differs.
    func decode(_ key: Key, default defaultValue: Double? = nil,
                mustBeAsFloat requirement: String, _ isValid: (Float) -> Bool) throws -> Double {
        let value: Double = try decode(key, default: defaultValue, mustBe: requirement) { (_: Double) in true }
        let single = Float(value)
        guard single.isFinite, isValid(single) else {
            throw DecodingError.dataCorruptedError(
                forKey: key, in: self, debugDescription: "must be \(requirement), found \(formatFound(value))\(asFloat(value))")
        }
        return value
    }

    /// Decodes a list of `count` numbers used as Floats, each checked as in
    /// `decode(_:default:mustBeAsFloat:_:)`; an error about one number names its index.
    func decode(_ key: Key, default defaultValue: [Double]? = nil, count: Int,
                mustBeAsFloat requirement: String, _ isValid: (Float) -> Bool) throws -> [Double] {
        let values: [Double] = try decode(key, default: defaultValue, mustBe: "a list of \(count) numbers \(requirement)") { $0.count == count }
        for (index, value) in values.enumerated() where !(Float(value).isFinite && isValid(Float(value))) {
            throw DecodingError.dataCorrupted(.init(codingPath: codingPath + [key, AnyCodingKey(intValue: index)],
                debugDescription: "must be \(requirement), found \(formatFound(value))\(asFloat(value))"))
        }
        return values
    }
}

/// `, which is 1 as a 32-bit float` when `value` reads differently as a Float (rounded to it,
/// to 0, or beyond its range), otherwise nothing.
private func asFloat(_ value: Double) -> String {
    let single = Float(value)
    if !single.isFinite { return ", beyond the range of 32-bit floats (about ±3.4e38)" }
    let text = formatFound(single)
    return text == formatFound(value) ? "" : ", which is \(text) as a 32-bit float"
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
    let (path, problem) = locate(error)
    guard path.isEmpty else { return "\(keyPath(path)) \(problem)" }
    switch error {
    case .typeMismatch, .valueNotFound, .keyNotFound: return "the top level \(problem)"
    default: return problem
    }
}

/// The key path of a JSON decoding failure and what is wrong there (`has the wrong type: …`,
/// `must be > 0, found -1`); an empty path for JSON that cannot be parsed at all.
func locate(_ error: DecodingError) -> (path: [any CodingKey], problem: String) {
    switch error {
    case .typeMismatch(let type, let context):
        return (context.codingPath, "has the wrong type: expected \(typeName(type)) (\(context.debugDescription))")
    case .valueNotFound(let type, let context):
        return (context.codingPath, "is null, expected \(typeName(type))")
    case .keyNotFound(let key, let context):
        return (context.codingPath + [key], "is missing")
    case .dataCorrupted(let context):
        if context.codingPath.isEmpty {
            let underlying = (context.underlyingError as NSError?)?.userInfo[NSDebugDescriptionErrorKey] as? String
            return ([], "is not valid JSON: \(underlying ?? context.debugDescription)")
        }
        return (context.codingPath, context.debugDescription)
    @unknown default:
        return ([], "\(error)")
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
