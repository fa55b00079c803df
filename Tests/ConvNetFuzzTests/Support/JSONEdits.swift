import ConvNet
import Foundation

/// A JSON-aware edit of JSON text (a config file, a safetensors header): the text comes in
/// and the edited text goes out. Structural edits parse the text with `JSONSerialization`,
/// change one node and write it back; when the text no longer parses (an earlier stacked
/// mutation broke it) they fall back to replacing a number in the text.
///
/// Strings that hold JSON themselves (a checkpoint's `__metadata__.model`) are descended
/// into, so their keys and values are edited too.
struct JSONEdit: Sendable {
    /// Short name for reports, e.g. "JSON delete key".
    let name: String
    /// The edited text.
    let edit: @Sendable (_ text: [UInt8], _ random: inout SeededRandom) -> [UInt8]

    /// Every edit, in a fixed order.
    static let all: [JSONEdit] = [replaceNumber, deleteKey, renameKey, wrongType, duplicateKey, deepNesting]

    /// Replaces one number in the text (inside strings too) by a huge, negative, fractional,
    /// out-of-range or nearby value.
    static let replaceNumber = JSONEdit(name: "JSON number") { text, random in
        let tokens = numberTokens(in: text)
        guard !tokens.isEmpty else { return text }
        let token = random.element(of: tokens)
        let original = Int(String(decoding: text[token], as: UTF8.self)) ?? 1
        let replacements = numberReplacements + ["\(original &+ 1)", "\(original &- 1)", "\(original &* 2)", "\(original &* 1000)", "\(-original)"]
        var edited = text
        edited.replaceSubrange(token, with: Array(random.element(of: replacements).utf8))
        return edited
    }

    /// Removes one key of an object (or one element of a list).
    static let deleteKey = JSONEdit(name: "JSON delete key") { text, random in
        structural(text, &random) { root, paths, random in
            let removable = paths.filter {
                switch $0.last {
                case .key?, .index?: return true
                case .embedded?, nil: return false
                }
            }
            guard !removable.isEmpty else { return root }
            return modify(root, at: random.element(of: removable)[...]) { _ in nil } ?? root
        }
    }

    /// Renames one key: a typo, another case, empty, a control character, an existing sibling.
    static let renameKey = JSONEdit(name: "JSON rename key") { text, random in
        structural(text, &random) { root, paths, random in
            let objects = paths.filter { (value(in: root, at: $0[...]) as? [String: Any])?.isEmpty == false }
            guard !objects.isEmpty else { return root }
            return modify(root, at: random.element(of: objects)[...]) { node in
                var object = node as! [String: Any]
                let keys = object.keys.sorted()
                let key = random.element(of: keys)
                let newNames = [key + "x", key.uppercased(), String(key.dropLast()), "", " " + key, key + "\n",
                                "a\nb", "tab\there", "\u{7}", "ключ", "__metadata__", random.element(of: keys)]
                let value = object.removeValue(forKey: key)
                object[random.element(of: newNames)] = value
                return object
            } ?? root
        }
    }

    /// Replaces one value by one of another type (or an extreme one of the same type).
    static let wrongType = JSONEdit(name: "JSON wrong type") { text, random in
        structural(text, &random) { root, paths, random in
            let nonRoot = paths.filter { !$0.isEmpty }
            guard !nonRoot.isEmpty else { return root }
            let replacement = random.element(of: wrongTypeValues)
            return modify(root, at: random.element(of: nonRoot)[...]) { _ in replacement } ?? root
        }
    }

    /// Repeats an existing key with another value, before or after it (`{"a": 1, "a": 2}`):
    /// parsers differ on which one wins, so both orders are tried.
    static let duplicateKey = JSONEdit(name: "JSON duplicate key") { text, random in
        let keys = keyTokens(in: text)
        guard !keys.isEmpty else { return text }
        let key = random.element(of: keys)
        let value = random.element(of: ["1", "-1", "\"x\"", "null", "[]", "{}", "true", "1e999"])
        var edited = text
        if random.chance(0.5) {
            edited.insert(contentsOf: Array(text[key]) + Array(": \(value), ".utf8), at: key.lowerBound)
        } else {
            edited.insert(contentsOf: Array(", ".utf8) + Array(text[key]) + Array(": \(value)".utf8), at: valueEnd(in: text, afterKey: key))
        }
        return edited
    }

    /// Replaces a number (or, without numbers, the whole text) by deeply nested lists or
    /// objects, up to 100,000 levels: a recursive parser without a depth limit overflows its stack.
    static let deepNesting = JSONEdit(name: "JSON deep nesting") { text, random in
        let depth = random.element(of: [100, 511, 513, 2_000, 100_000])
        let nested = random.chance(0.5)
            ? [UInt8](repeating: UInt8(ascii: "["), count: depth) + [UInt8](repeating: UInt8(ascii: "]"), count: depth)
            : Array(String(repeating: "{\"a\":", count: depth).utf8) + Array("1".utf8) + [UInt8](repeating: UInt8(ascii: "}"), count: depth)
        let tokens = numberTokens(in: text)
        guard !tokens.isEmpty else { return nested }
        var edited = text
        edited.replaceSubrange(random.element(of: tokens), with: nested)
        return edited
    }
}

/// Numbers that sit at the edges of Int32, UInt32, Int64, UInt64 and Double, plus small,
/// negative and fractional ones.
private let numberReplacements = [
    "0", "-0", "1", "-1", "2", "0.5", "1.5", "-2.5", "1e3", "1E2", "1e308", "-1e308", "1e309", "1e-400", "0.0000001",
    "255", "256", "65535", "65536", "16384", "16385",
    "2147483647", "2147483648", "-2147483648", "4294967295", "4294967296",
    "67108864", "1000001", "1073741824", "4611686018427387904", "4611686018427387905",
    "9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809",
    "18446744073709551615", "18446744073709551616", "99999999999999999999999999999",
]

/// Values of every JSON type, including extreme ones, for `wrongType`.
/// (Immutable after initialisation; `Any` only because JSON values are heterogeneous.)
nonisolated(unsafe) private let wrongTypeValues: [Any] = [
    "text", "", "1", String(repeating: "x", count: 5_000), [Any](), [1, 2], ["a", "b"], [String: Any](), ["a": 1],
    NSNull(), true, false, 0, -1, 1.5, -0.5, Int.max, Int.min, 1e300, -1e300,
]

/// One step of a path into a JSON value.
enum JSONPathComponent {
    /// The value of this key of an object.
    case key(String)
    /// This element of a list.
    case index(Int)
    /// The JSON document held in this string.
    case embedded
}

/// Parses `text`, lets `body` change the value (given every node's path), writes it back with
/// sorted keys; falls back to `replaceNumber` when `text` is not JSON.
private func structural(_ text: [UInt8], _ random: inout SeededRandom,
                        _ body: (Any, [[JSONPathComponent]], inout SeededRandom) -> Any) -> [UInt8] {
    guard let root = parseJSON(text) else { return JSONEdit.replaceNumber.edit(text, &random) }
    let edited = body(root, nodePaths(root), &random)
    return serializeJSON(edited) ?? text
}

/// `bytes` as a JSON value (fragments allowed), or nil.
func parseJSON(_ bytes: [UInt8]) -> Any? {
    try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])
}

/// `value` as JSON text with sorted keys, or nil when it cannot be written.
func serializeJSON(_ value: Any) -> [UInt8]? {
    (try? JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed, .sortedKeys])).map(Array.init)
}

/// The JSON document a string holds, when it is an object or a list.
private func embeddedDocument(_ value: Any) -> Any? {
    guard let text = value as? String, let first = text.first, first == "{" || first == "[" else { return nil }
    return parseJSON(Array(text.utf8))
}

/// The paths of every node of `value`, the root (empty path) included.
func nodePaths(_ value: Any) -> [[JSONPathComponent]] {
    var paths: [[JSONPathComponent]] = [[]]
    if let object = value as? [String: Any] {
        for key in object.keys.sorted() {
            paths += nodePaths(object[key]!).map { [.key(key)] + $0 }
        }
    } else if let list = value as? [Any] {
        for (index, element) in list.enumerated() {
            paths += nodePaths(element).map { [.index(index)] + $0 }
        }
    } else if let document = embeddedDocument(value) {
        paths += nodePaths(document).map { [.embedded] + $0 }
    }
    return paths
}

/// The node at `path`, or nil.
func value(in root: Any, at path: ArraySlice<JSONPathComponent>) -> Any? {
    guard let first = path.first else { return root }
    switch first {
    case .key(let key):
        return (root as? [String: Any])?[key].flatMap { value(in: $0, at: path.dropFirst()) }
    case .index(let index):
        guard let list = root as? [Any], list.indices.contains(index) else { return nil }
        return value(in: list[index], at: path.dropFirst())
    case .embedded:
        return embeddedDocument(root).flatMap { value(in: $0, at: path.dropFirst()) }
    }
}

/// `root` with the node at `path` replaced by `change(node)`, or removed when that is nil.
/// Returns nil when the root itself is removed.
func modify(_ root: Any, at path: ArraySlice<JSONPathComponent>, _ change: (Any) -> Any?) -> Any? {
    guard let first = path.first else { return change(root) }
    switch first {
    case .key(let key):
        guard var object = root as? [String: Any], let child = object[key] else { return root }
        object[key] = modify(child, at: path.dropFirst(), change)
        return object
    case .index(let index):
        guard var list = root as? [Any], list.indices.contains(index) else { return root }
        if let changed = modify(list[index], at: path.dropFirst(), change) { list[index] = changed } else { list.remove(at: index) }
        return list
    case .embedded:
        guard let document = embeddedDocument(root) else { return root }
        let changed = modify(document, at: path.dropFirst(), change) ?? NSNull()
        return serializeJSON(changed).map { String(decoding: $0, as: UTF8.self) } ?? root
    }
}

/// Byte ranges of number-like tokens (`-12`, `0.5`, `1e-3`), inside strings too.
func numberTokens(in text: [UInt8]) -> [Range<Int>] {
    func isDigit(_ index: Int) -> Bool { index < text.count && text[index] >= 0x30 && text[index] <= 0x39 }
    var tokens: [Range<Int>] = []
    var index = 0
    while index < text.count {
        let start = index
        if text[index] == UInt8(ascii: "-") && isDigit(index + 1) { index += 1 }
        guard isDigit(index) else { index = start + 1; continue }
        while isDigit(index) { index += 1 }
        if index < text.count, text[index] == UInt8(ascii: "."), isDigit(index + 1) {
            index += 1
            while isDigit(index) { index += 1 }
        }
        if index < text.count, text[index] | 0x20 == UInt8(ascii: "e") {
            var exponent = index + 1
            if exponent < text.count, text[exponent] == UInt8(ascii: "+") || text[exponent] == UInt8(ascii: "-") { exponent += 1 }
            if isDigit(exponent) {
                index = exponent
                while isDigit(index) { index += 1 }
            }
        }
        tokens.append(start..<index)
    }
    return tokens
}

/// Where the value after `key` (and its colon) ends: after a string's closing quote, a list's
/// or object's closing bracket, or a number or literal.
func valueEnd(in text: [UInt8], afterKey key: Range<Int>) -> Int {
    var index = key.upperBound
    while index < text.count && text[index] != UInt8(ascii: ":") { index += 1 }
    index += 1
    while index < text.count && (text[index] == 0x20 || text[index] == 0x0A || text[index] == 0x09 || text[index] == 0x0D) { index += 1 }
    var depth = 0
    var inString = false
    while index < text.count {
        let byte = text[index]
        if inString {
            if byte == UInt8(ascii: "\\") { index += 1 } else if byte == UInt8(ascii: "\"") { inString = false }
        } else if byte == UInt8(ascii: "\"") {
            inString = true
        } else if byte == UInt8(ascii: "{") || byte == UInt8(ascii: "[") {
            depth += 1
        } else if byte == UInt8(ascii: "}") || byte == UInt8(ascii: "]") {
            if depth == 0 { return index }
            depth -= 1
        } else if byte == UInt8(ascii: ",") && depth == 0 {
            return index
        }
        index += 1
        if depth == 0 && !inString && (byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "}") || byte == UInt8(ascii: "]")) {
            return index
        }
    }
    return text.count
}

/// Byte ranges of object keys (a string, with its quotes, followed by a colon).
func keyTokens(in text: [UInt8]) -> [Range<Int>] {
    var keys: [Range<Int>] = []
    var index = 0
    while index < text.count {
        guard text[index] == UInt8(ascii: "\"") else { index += 1; continue }
        let start = index
        index += 1
        while index < text.count && text[index] != UInt8(ascii: "\"") {
            index += text[index] == UInt8(ascii: "\\") ? 2 : 1
        }
        index += 1
        let end = min(index, text.count)
        var after = end
        while after < text.count && (text[after] == 0x20 || text[after] == 0x0A || text[after] == 0x09 || text[after] == 0x0D) { after += 1 }
        if after < text.count && text[after] == UInt8(ascii: ":") { keys.append(start..<end) }
    }
    return keys
}
