import ConvNet
import Foundation
import XCTest

/// Mutated checkpoints (safetensors) through `Checkpoint.decode`.
final class CheckpointFuzzTests: XCTestCase {
    /// A model checkpoint, a training checkpoint (SGD velocities, config) and a model
    /// checkpoint using strides, padding, pooling and non-square sizes.
    static let seeds: [[UInt8]] = {
        let small = ModelDescription(input: [1, 6, 6], layers: [
            .conv(filters: 2, kernel: SizePair(3), stride: SizePair(1), padding: SizePair(0), bias: true),
            .relu, .flatten, .dropout(rate: 0.5), .dense(units: 3),
        ])
        let strided = ModelDescription(input: [1, 8, 8], layers: [
            .conv(filters: 2, kernel: SizePair(3, 2), stride: SizePair(1, 2), padding: SizePair(1), bias: false),
            .maxPool(size: SizePair(2), stride: SizePair(1)), .avgPool(size: SizePair(2, 1), stride: nil),
            .flatten, .dense(units: 4),
        ])
        let model = try! Sequential(small, seed: 1)
        let settings = OptimizerSettings(SGD.Specification(learningRate: 0.1, momentum: 0.9))
        let optimizer = settings.makeOptimizer(for: model.arena)
        for parameter in model.parameters { parameter.gradient.fill(0.25) }
        optimizer.step(learningRate: 0.1)
        let state = Checkpoint.TrainingState(epochLossSum: 1.5, epochCorrect: 3, epochSeen: 4, epochSeconds: 0.5,
                                             bestAccuracy: 0.75, bestEpoch: 2)
        return [
            Checkpoint(model: model, classNames: ["a", "b", "c"], normalization: Normalization(mean: 0.1, std: 0.3)).encoded(),
            Checkpoint(model: model, classNames: ["a", "b", "c"], normalization: .none, configuration: "{\"name\": \"fuzz\"}",
                       epoch: 2, step: 1, optimizer: (settings, optimizer), trainingState: state).encoded(),
            Checkpoint(model: try! Sequential(strided, seed: 2), classNames: ["w", "x", "y", "z"], normalization: .none).encoded(),
        ]
    }()

    /// The 8-byte little-endian header length, if the header fits in `bytes`.
    private static func headerLength(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 8 else { return nil }
        let length = (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[$1]) << (8 * UInt64($1)) }
        return length <= UInt64(bytes.count - 8) ? Int(length) : nil
    }

    private static func setHeaderLength(_ length: UInt64, in bytes: inout [UInt8]) {
        for index in 0..<8 { bytes[index] = UInt8(truncatingIfNeeded: length >> (8 * UInt64(index))) }
    }

    /// `bytes` with the JSON header replaced by `edit(header)` and the length field updated.
    private static func editingHeader(_ bytes: inout [UInt8], _ edit: ([UInt8]) -> [UInt8]) {
        guard let length = headerLength(bytes) else { return }
        let header = edit(Array(bytes[8..<(8 + length)]))
        bytes.replaceSubrange(8..<(8 + length), with: header)
        setHeaderLength(UInt64(header.count), in: &bytes)
    }

    /// Sets the header length to 0, off by a few, the whole file, the 100 MB limit, 2³², 2⁶³, 2⁶⁴ − 1, …
    static let headerLengthField = Mutation("header length") { bytes, random in
        guard bytes.count >= 8 else { return }
        let length = UInt64(headerLength(bytes) ?? 0)
        let values: [UInt64] = [0, 1, 7, 8, length &- 1, length &+ 1, length &- 8, length &+ 8, length &+ UInt64(random.in(2...7)),
                                UInt64(bytes.count - 8), UInt64(bytes.count - 7), 100_000_000, 100_000_001,
                                0xFFFF_FFFF, 1 << 32, UInt64(Int64.max), 1 << 63, UInt64.max]
        setHeaderLength(random.element(of: values), in: &bytes)
    }

    /// Sets one tensor's `shape` or `data_offsets` to empty, negative, huge, swapped or shifted values.
    static let tensorEntry = Mutation("tensor shape or offsets") { bytes, random in
        editingHeader(&bytes) { header in
            guard var object = parseJSON(header) as? [String: Any] else { return header }
            let names = object.keys.filter { $0 != "__metadata__" }.sorted()
            guard !names.isEmpty else { return header }
            let name = random.element(of: names)
            guard var entry = object[name] as? [String: Any] else { return header }
            let shape = entry["shape"] as? [Int] ?? []
            let offsets = entry["data_offsets"] as? [Int] ?? [0, 0]
            let (begin, end) = (offsets.first ?? 0, offsets.last ?? 0)
            if random.chance(0.5) {
                let shapes: [[Int]] = [[], [0], [-1], [1 << 31], [(1 << 31) + 1], [Int.max], [1 << 32, 1 << 32], [Int.max, 2],
                                       shape.reversed(), shape + [1], shape.map { $0 &* 2 }, Array(repeating: 1, count: 9),
                                       shape.dropLast() + [(shape.last ?? 1) &+ 1]]
                entry["shape"] = random.element(of: shapes)
            } else {
                let offsetPairs: [[Int]] = [[0, 0], [-1, end], [end, begin], [begin, Int.max], [Int.max - 3, Int.max],
                                            [begin, end &+ 4], [begin &+ 4, end &+ 4], [begin &- 4, end &- 4],
                                            [begin, end, 0], [begin], [Int.min, Int.max], [1 << 62, (1 << 62) + 8]]
                entry["data_offsets"] = random.element(of: offsetPairs)
            }
            object[name] = entry
            return serializeJSON(object) ?? header
        }
    }

    /// Damages the tensor data and, half the time, writes the matching checksum into the
    /// metadata, so the file must load (with different weights, possibly NaN or infinite).
    static let dataSection = Mutation("tensor data") { bytes, random in
        guard let length = headerLength(bytes), bytes.count > 8 + length else { return }
        for _ in 0..<random.in(1...8) { bytes[8 + length + random.below(bytes.count - 8 - length)] = random.byte() }
        guard random.chance(0.5) else { return }
        let checksum = Array(String(format: "%08x", crc32(of: bytes[(8 + length)...])).utf8)
        let marker = Array("crc32:".utf8)
        guard length >= marker.count + 8,
              let start = (8...(length - marker.count)).first(where: { bytes[$0..<($0 + marker.count)].elementsEqual(marker) })
        else { return }
        bytes.replaceSubrange((start + marker.count)..<(start + marker.count + 8), with: checksum)
    }

    /// The JSON-aware edits, applied to the header (and the JSON documents inside its metadata strings).
    static let headerEdits: [Mutation] = JSONEdit.all.map { edit in
        Mutation("header: \(edit.name)") { bytes, random in
            editingHeader(&bytes) { edit.edit($0, &random) }
        }
    }

    /// Every seed unchanged, then the first seed with each special header length.
    static let fixedInputs: [(name: String, seedIndex: Int, bytes: [UInt8])] = {
        var inputs = seeds.enumerated().map { (name: "valid input \($0.offset)", seedIndex: $0.offset, bytes: $0.element) }
        let length = UInt64(headerLength(seeds[0])!)
        for value: UInt64 in [0, 1, length - 1, length + 1, 100_000_000, 100_000_001, 1 << 32, 1 << 63, UInt64.max] {
            var bytes = seeds[0]
            setHeaderLength(value, in: &bytes)
            inputs.append(("input 0 with header length \(value)", 0, bytes))
        }
        // A flood of empty tensor entries, far under the header's byte limit.
        var flood = seeds[0]
        editingHeader(&flood) { header in
            Array("{".utf8) + Array(String(repeating: "\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]},", count: 40_000).utf8)
                + header.dropFirst()
        }
        inputs.append(("input 0 with 40,000 empty tensor entries", 0, flood))
        return inputs
    }()

    /// Checks that a decoded checkpoint is consistent: its model builds, the tensors have the
    /// model's shapes, the class names match the outputs, and it survives encoding again.
    static func checkLoaded(_ checkpoint: Checkpoint, _ input: FuzzInput) {
        let model: Sequential
        do throws(CheckpointError) {
            model = try checkpoint.makeModel()
        } catch {
            return input.fail("decoded, but its model cannot be built: \(error)")
        }
        input.check(checkpoint.modelState.map(\.shape) == model.stateEntries.map(\.shape),
                    "state shapes \(checkpoint.modelState.map(\.shape)) are not the model's")
        input.check(checkpoint.modelState.allSatisfy { $0.values.count == $0.shape.reduce(1, *) }, "a tensor's values do not fill its shape")
        if let optimizer = checkpoint.optimizer {
            let expected = optimizer.makeOptimizer(for: model.arena).stateEntries
            input.check(checkpoint.optimizerState.map(\.shape) == expected.map(\.shape),
                        "optimizer state shapes \(checkpoint.optimizerState.map(\.shape)) are not the optimizer's")
        }
        input.check((checkpoint.trainingState == nil) == (checkpoint.optimizer == nil), "an optimizer without training state or the reverse")
        input.check(checkpoint.classNames.count == model.outputCount, "\(checkpoint.classNames.count) class names, \(model.outputCount) outputs")
        input.check(checkpoint.epoch >= 0 && checkpoint.step >= 0, "epoch \(checkpoint.epoch), step \(checkpoint.step)")
        input.check((checkpoint.modelState + checkpoint.optimizerState).allSatisfy { ($0.values.floats ?? []).allSatisfy(\.isFinite) },
                    "a tensor holding NaN or infinite values was accepted")
        do throws(CheckpointError) {
            let again = try Checkpoint.decode(checkpoint.encoded(), name: "re-encoded")
            input.check(again.model == checkpoint.model && again.classNames == checkpoint.classNames
                        && again.modelState.map { $0.values.floats?.map(\.bitPattern) } == checkpoint.modelState.map { $0.values.floats?.map(\.bitPattern) },
                        "encoding the decoded checkpoint again does not give it back")
        } catch {
            input.fail("decoded, but encoding it again gives a file that does not decode: \(error)")
        }
    }

    /// Every single-bit flip anywhere in a training checkpoint's header (class names, the
    /// model, normalisation, epoch and step, the tensor table) is refused: the checksum covers
    /// the header, not only the data.
    func testEveryHeaderBitFlipIsRefused() throws {
        let seed = Self.seeds[1]
        let length = try XCTUnwrap(Self.headerLength(seed))
        var accepted: [Int] = []
        for offset in 8..<(8 + length) {
            for bit in [0, 5] {
                var bytes = seed
                bytes[offset] ^= UInt8(1 << bit)
                if let checkpoint = try? Checkpoint.decode(bytes, name: "flip.safetensors"),
                   checkpoint.encoded() != seed { accepted.append(offset) }
            }
        }
        // A flip that decodes to the same checkpoint (JSON spacing, a key's letter case the
        // reader ignores) is harmless; none may change what the checkpoint says.
        XCTAssertEqual(accepted, [], "header bytes whose flip changed the checkpoint and was accepted")
    }

    func testCheckpointMutationsDecodeOrThrowCheckpointError() {
        var campaign = FuzzCampaign(reader: "Checkpoint", defaultSeed: 4, seeds: Self.seeds,
                                    mutations: Mutation.byteLevel + [Self.headerLengthField, Self.tensorEntry, Self.dataSection] + Self.headerEdits)
        campaign.fixedInputs = Self.fixedInputs
        campaign.run { input in
            do throws(CheckpointError) {
                let checkpoint = try Checkpoint.decode(input.bytes, name: "fuzz.safetensors")
                Self.checkLoaded(checkpoint, input)
                return .loaded
            } catch {
                return input.rejected(error, files: ["fuzz.safetensors"])
            }
        }
    }
}
