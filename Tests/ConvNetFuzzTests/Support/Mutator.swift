import ConvNet

/// One way of damaging an input, named for failure messages and coverage counts.
///
/// Every choice is drawn from the `SeededRandom` passed in, so an input is fully determined
/// by the campaign seed and the iteration number (see `FuzzCampaign`).
struct Mutation: Sendable {
    /// Short name, e.g. "flip bits" or "IDX dimension".
    let name: String
    /// Changes `bytes` in place.
    let apply: @Sendable (_ bytes: inout [UInt8], _ random: inout SeededRandom) -> Void

    /// A mutation called `name` doing `apply`.
    init(_ name: String, _ apply: @escaping @Sendable (_ bytes: inout [UInt8], _ random: inout SeededRandom) -> Void) {
        self.name = name
        self.apply = apply
    }

    /// The same change under another name, e.g. to say it was applied inside a gzip stream.
    func renamed(_ newName: String) -> Mutation { Mutation(newName, apply) }
}

/// Byte values that often reach edge cases: zero, sign bits, all ones.
let interestingBytes: [UInt8] = [0x00, 0x01, 0x7F, 0x80, 0xFF]

extension Mutation {
    /// The format-blind mutations every reader gets.
    static let byteLevel: [Mutation] = [
        truncate, flipBits, overwriteBytes, insertBytes, deleteBytes, randomBytes, appendJunk,
    ]

    /// Cuts the input at a random length, from 0 to one byte short of the whole.
    static let truncate = Mutation("truncate") { bytes, random in
        guard !bytes.isEmpty else { return }
        bytes.removeLast(bytes.count - random.below(bytes.count))
    }

    /// Flips 1 to 8 random bits.
    static let flipBits = Mutation("flip bits") { bytes, random in
        guard !bytes.isEmpty else { return }
        for _ in 0..<random.in(1...8) {
            bytes[random.below(bytes.count)] ^= 1 << UInt8(random.below(8))
        }
    }

    /// Sets 1 to 16 random bytes to random or interesting values.
    static let overwriteBytes = Mutation("overwrite bytes") { bytes, random in
        guard !bytes.isEmpty else { return }
        for _ in 0..<random.in(1...16) {
            bytes[random.below(bytes.count)] = random.chance(0.5) ? random.byte() : random.element(of: interestingBytes)
        }
    }

    /// Inserts 1 to 64 bytes, random or copied from elsewhere in the input, at a random place.
    static let insertBytes = Mutation("insert bytes") { bytes, random in
        let count = random.in(1...64)
        let inserted: [UInt8]
        if !bytes.isEmpty && random.chance(0.5) {
            let start = random.below(bytes.count)
            inserted = Array(bytes[start..<min(bytes.count, start + count)])
        } else {
            inserted = random.bytes(count)
        }
        bytes.insert(contentsOf: inserted, at: random.below(bytes.count + 1))
    }

    /// Deletes a range of 1 to 64 bytes.
    static let deleteBytes = Mutation("delete bytes") { bytes, random in
        guard !bytes.isEmpty else { return }
        let start = random.below(bytes.count)
        bytes.removeSubrange(start..<min(bytes.count, start + random.in(1...64)))
    }

    /// Replaces the input with 0 to 4096 random bytes; half the time the first up to 64 bytes
    /// of the valid input are kept, so the magic number passes and the random part is parsed.
    static let randomBytes = Mutation("random bytes") { bytes, random in
        let kept = random.chance(0.5) ? Array(bytes.prefix(random.below(65))) : []
        bytes = kept + random.bytes(random.below(4097))
    }

    /// Appends 1 to 1024 bytes of random data, zeros, or a copy of the input's start.
    static let appendJunk = Mutation("append junk") { bytes, random in
        let count = random.in(1...1024)
        switch random.below(3) {
        case 0: bytes += random.bytes(count)
        case 1: bytes += [UInt8](repeating: 0, count: count)
        default: bytes += Array(bytes.prefix(count))
        }
    }
}

extension SeededRandom {
    /// Uniform in 0..<bound (bound > 0).
    mutating func below(_ bound: Int) -> Int { Int.random(in: 0..<bound, using: &self) }
    /// Uniform in `range`.
    mutating func `in`(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &self) }
    /// True with probability `probability`.
    mutating func chance(_ probability: Double) -> Bool { Double.random(in: 0..<1, using: &self) < probability }
    /// A uniformly random byte.
    mutating func byte() -> UInt8 { UInt8.random(in: 0...255, using: &self) }
    /// `count` uniformly random bytes.
    mutating func bytes(_ count: Int) -> [UInt8] { (0..<count).map { _ in byte() } }
    /// A uniformly chosen element of `elements` (not empty).
    mutating func element<T>(of elements: [T]) -> T { elements[below(elements.count)] }
}

/// Writes `value` big-endian into 4 bytes of `bytes` at `offset`.
func setBigEndian32(_ value: UInt32, in bytes: inout [UInt8], at offset: Int) {
    for index in 0..<4 { bytes[offset + index] = UInt8(truncatingIfNeeded: value >> (24 - 8 * UInt32(index))) }
}

/// The big-endian 32-bit value at `offset`.
func bigEndian32(_ bytes: [UInt8], at offset: Int) -> UInt32 {
    (0..<4).reduce(0) { $0 << 8 | UInt32(bytes[offset + $1]) }
}

/// Special values for a 32-bit size field, around zero, the sign bit and the top, plus
/// plausible-but-wrong neighbours of `original`.
func sizeFieldValues(original: UInt32) -> [UInt32] {
    [0, 1, 2, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF, 0xFFFF_FFFE, 0x0001_0000, 0x00FF_FFFF,
     original &+ 1, original &- 1, original &* 2, original / 2, original &+ 256, original.byteSwapped]
}

/// The first bytes of `bytes` as hex, for failure messages.
func hexPrefix(_ bytes: [UInt8], count: Int = 48) -> String {
    let digits = Array("0123456789abcdef")
    let shown = bytes.prefix(count).map { String([digits[Int($0 >> 4)], digits[Int($0 & 0x0F)]]) }.joined()
    return bytes.count > count ? shown + "…" : shown
}

/// All of `bytes` as hex (for writing reproducers out).
func hex(_ bytes: [UInt8]) -> String { hexPrefix(bytes, count: bytes.count) }

/// Picks and applies mutations: one per input most of the time, 2 to 4 stacked otherwise
/// (damage a single mutation cannot reach, e.g. a renamed key *and* a huge shape).
struct Mutator {
    /// The mutations to choose from, uniformly.
    let mutations: [Mutation]
    /// Fraction of inputs that get 2 to 4 stacked mutations.
    var stackedFraction = 0.25

    /// `input` mutated with choices drawn from `random`; `names` lists what was applied, in order.
    func mutate(_ input: [UInt8], random: inout SeededRandom) -> (bytes: [UInt8], names: [String]) {
        var bytes = input
        var names: [String] = []
        let count = random.chance(stackedFraction) ? random.in(2...4) : 1
        for _ in 0..<count {
            let mutation = random.element(of: mutations)
            mutation.apply(&bytes, &random)
            names.append(mutation.name)
        }
        return (bytes, names)
    }
}
