/// A seeded, reproducible random number generator (xoshiro256**, seeded by SplitMix64).
///
/// Used for weight initialisation, dropout masks and data shuffling, so the same
/// seed gives the same run on every machine. Its `state` can be saved in a
/// checkpoint and restored to continue the exact sequence.
public struct SeededRandom: RandomNumberGenerator {
    /// The four 64-bit words of xoshiro256** state.
    public var state: (UInt64, UInt64, UInt64, UInt64)

    /// A generator whose sequence is determined by `seed`.
    public init(seed: UInt64) {
        var mixer = seed
        func splitMix() -> UInt64 {
            mixer &+= 0x9E37_79B9_7F4A_7C15
            var z = mixer
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        state = (splitMix(), splitMix(), splitMix(), splitMix())
    }

    /// A generator continuing from a saved `state`.
    public init(state: [UInt64]) {
        precondition(state.count == 4)
        self.state = (state[0], state[1], state[2], state[3])
    }

    /// The state as four words, for saving.
    public var stateWords: [UInt64] { [state.0, state.1, state.2, state.3] }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        let result = rotateLeft(state.1 &* 5, 7) &* 9
        let t = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= t
        state.3 = rotateLeft(state.3, 45)
        return result
    }

    /// Uniform in [0, 1), with 24 random bits.
    public mutating func nextUniform() -> Float {
        Float(next() >> 40) * (1.0 / 16_777_216.0)
    }

    /// Standard normal N(0, 1), by the Box–Muller transform.
    public mutating func nextGaussian() -> Float {
        let u1 = Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
        let u2 = Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
        let radius = (-2.0 * log(1.0 - u1)).squareRoot()
        return Float(radius * cos(2.0 * Double.pi * u2))
    }

    /// Uniform integer in `0..<bound` without modulo bias (Lemire's method).
    public mutating func nextIndex(below bound: Int) -> Int {
        precondition(bound > 0)
        let range = UInt64(bound)
        var product = next().multipliedFullWidth(by: range)
        if product.low < range {
            let threshold = (0 &- range) % range
            while product.low < threshold { product = next().multipliedFullWidth(by: range) }
        }
        return Int(product.high)
    }

    /// A uniformly random permutation of `0..<count` (Fisher–Yates), stable across
    /// Swift versions, unlike `shuffled(using:)`.
    public mutating func permutation(_ count: Int) -> [Int32] {
        var order = (0..<count).map { Int32($0) }
        if count < 2 { return order }
        for i in stride(from: count - 1, to: 0, by: -1) {
            order.swapAt(i, nextIndex(below: i + 1))
        }
        return order
    }

    @inline(__always)
    private func rotateLeft(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }
}

/// Counter-based random numbers: the bits drawn for (key, counter) are a fixed function of
/// the two (SplitMix64's output function applied to key + counter·γ), so draws can be made
/// in any order and on any thread. Dropout masks use them: the mask of element j of image n
/// is the same whichever worker, batch share or resumed process computes it.
public enum CounterRandom {
    /// 64 random bits for `counter` in the stream `key`.
    @inline(__always)
    public static func bits(key: UInt64, counter: UInt64) -> UInt64 {
        var z = key &+ (counter &+ 1) &* 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1), with 24 random bits.
    @inline(__always)
    public static func uniform(key: UInt64, counter: UInt64) -> Float {
        Float(bits(key: key, counter: counter) >> 40) * (1.0 / 16_777_216.0)
    }

    /// A key for the sub-stream `part` of the stream `key` (e.g. one step of a layer's stream).
    @inline(__always)
    public static func key(_ key: UInt64, _ part: UInt64) -> UInt64 {
        bits(key: key ^ 0xD1B5_4A32_D192_ED03, counter: part)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
