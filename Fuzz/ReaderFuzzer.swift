// Coverage-guided fuzzing of ConvNet's readers with libFuzzer. Not a SwiftPM target:
// `scripts/fuzz-libfuzzer` compiles this file together with Sources/ConvNet/**/*.swift into
// one module, so the internal `gunzip` is reachable.
//
// CONVNET_FUZZ_READER selects the reader: idx1, idx3 (raw IDX), gzip (IDX inside gzip),
// png, checkpoint, config. For png the chunk CRCs are recomputed before decoding, so mutations
// reach libpng's parser instead of its CRC check (the XCTest campaign covers bad CRCs).
// Each input either loads or throws the reader's typed error;
// anything else (a trap, an ASan report, a timeout, an allocation over -malloc_limit_mb)
// is a finding, which libFuzzer saves as crash-*, timeout-* or oom-*.
//
// CONVNET_FUZZ_SKIP_ONE_LINE=1 skips the one-line check of error descriptions, so a known
// multi-line message does not hide deeper findings.
//
// With CONVNET_FUZZ_WRITE_SEEDS=<directory>, the fuzzer writes valid inputs for the selected
// reader there and exits: the starting corpus.

import CZlib
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The readers this fuzzer can drive.
enum FuzzedReader: String {
    case idx1, idx3, gzip, png, checkpoint, config
}

/// The reader chosen by CONVNET_FUZZ_READER (default png).
let fuzzedReader: FuzzedReader = {
    let name = ProcessInfo.processInfo.environment["CONVNET_FUZZ_READER"] ?? "png"
    guard let reader = FuzzedReader(rawValue: name) else {
        fputs("CONVNET_FUZZ_READER must be one of idx1, idx3, gzip, png, checkpoint, config; found \(name)\n", stderr)
        exit(2)
    }
    return reader
}()

/// Fails loudly (libFuzzer records it as a crash) when a reader breaks its contract.
func require(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition {
        fputs("contract broken: \(message())\n", stderr)
        abort()
    }
}

/// Whether CONVNET_FUZZ_SKIP_ONE_LINE=1 turned off `requireOneLine`.
let skipsOneLineCheck = ProcessInfo.processInfo.environment["CONVNET_FUZZ_SKIP_ONE_LINE"] == "1"

/// Requires the error description to be one non-empty line.
func requireOneLine(_ description: String) {
    if skipsOneLineCheck { return }
    require(!description.isEmpty && !description.contains(where: \.isNewline),
            "error description is not one non-empty line: \(description.debugDescription)")
}

@_cdecl("LLVMFuzzerInitialize")
public func fuzzerInitialize(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    _ = fuzzedReader
    if let directory = ProcessInfo.processInfo.environment["CONVNET_FUZZ_WRITE_SEEDS"] {
        for (index, seed) in seedInputs(fuzzedReader).enumerated() {
            _ = FileManager.default.createFile(atPath: "\(directory)/seed-\(index)", contents: Data(seed))
        }
        exit(0)
    }
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size))
    switch fuzzedReader {
    case .idx1, .idx3:
        let dimensionCount = fuzzedReader == .idx1 ? 1 : 3
        do throws(DataError) {
            let array = try IDXArray.parse(bytes, file: "fuzz", dimensionCount: dimensionCount)
            require(array.dimensions.count == dimensionCount && array.dimensions.reduce(1, *) == array.bytes.count,
                    "dimensions \(array.dimensions) for \(array.bytes.count) bytes")
        } catch {
            requireOneLine(error.description)
        }
    case .gzip:
        do throws(DataError) {
            let contents = try gunzip(bytes, file: "fuzz", limit: IDXArray.sizeLimit) { (prefix) throws(DataError) -> Int? in
                try IDXArray.expectedLength(prefix, file: "fuzz", dimensionCount: 3)
            }
            let array = try IDXArray.parse(contents, file: "fuzz", dimensionCount: 3)
            require(array.dimensions.reduce(1, *) == array.bytes.count, "dimensions \(array.dimensions) for \(array.bytes.count) bytes")
        } catch {
            requireOneLine(error.description)
        }
    case .png:
        do throws(ImageError) {
            let image = try PNG.decode(withChunkCRCsFixed(bytes), name: "fuzz")
            require(image.width >= 1 && image.width <= PNG.maximumDimension && image.height >= 1 && image.height <= PNG.maximumDimension
                    && image.pixels.count == image.width * image.height, "decoded \(image.width)×\(image.height)")
        } catch {
            requireOneLine(error.description)
        }
    case .checkpoint:
        do throws(CheckpointError) {
            let checkpoint = try Checkpoint.decode(bytes, name: "fuzz")
            let model = try checkpoint.makeModel()
            require(checkpoint.modelState.map(\.shape) == model.stateEntries.map(\.shape), "state shapes differ from the model's")
        } catch {
            requireOneLine(error.description)
        }
    case .config:
        do throws(ConfigError) {
            let configuration = try Configuration.parse(Data(bytes), file: "fuzz")
            do throws(ModelError) {
                _ = try Sequential(configuration.model, seed: 1, parameterLimit: 1_000_000)
            } catch {
                requireOneLine(error.description)
            }
        } catch {
            requireOneLine(error.description)
        }
    }
    return 0
}

/// `bytes` with the CRC of every complete chunk after the 8-byte PNG signature recomputed
/// (CRC-32 of the chunk type and data, big-endian after the data).
func withChunkCRCsFixed(_ bytes: [UInt8]) -> [UInt8] {
    var bytes = bytes
    var offset = 8
    while offset + 12 <= bytes.count {
        let length = bytes[offset..<(offset + 4)].reduce(0) { $0 << 8 | Int($1) }
        guard length <= bytes.count - offset - 12 else { break }
        let end = offset + 8 + length
        let crc = bytes[(offset + 4)..<end].withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress, uInt($0.count))) }
        for index in 0..<4 { bytes[end + index] = UInt8(truncatingIfNeeded: crc >> (24 - 8 * UInt32(index))) }
        offset = end + 4
    }
    return bytes
}

/// A non-interlaced PNG with patterned samples, filter type 0 on every row.
func rawPNG(width: Int, height: Int, bitDepth: UInt8, colorType: UInt8, channels: Int) -> [UInt8] {
    func bigEndian(_ value: Int) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: value >> (24 - 8 * $0)) } }
    func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] { bigEndian(data.count) + Array(type.utf8) + data + [0, 0, 0, 0] }
    let rowBytes = (width * channels * Int(bitDepth) + 7) / 8
    let scanlines = (0..<height).flatMap { row in [UInt8(0)] + (0..<rowBytes).map { UInt8(truncatingIfNeeded: $0 * 37 + row * 11) } }
    var compressedSize = compressBound(uLong(scanlines.count))
    var compressed = [UInt8](repeating: 0, count: Int(compressedSize))
    precondition(compress2(&compressed, &compressedSize, scanlines, uLong(scanlines.count), 9) == Z_OK)
    let header = bigEndian(width) + bigEndian(height) + [bitDepth, colorType, 0, 0, 0]
    let file = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + chunk("IHDR", header)
        + chunk("IDAT", Array(compressed[0..<Int(compressedSize)])) + chunk("IEND", [])
    return withChunkCRCsFixed(file)
}

/// Small valid inputs for `reader`, written with the library's own encoders (and `rawPNG`).
func seedInputs(_ reader: FuzzedReader) -> [[UInt8]] {
    func idx(_ dimensions: [Int]) -> [UInt8] {
        var bytes: [UInt8] = [0, 0, 8, UInt8(dimensions.count)]
        for size in dimensions { bytes += [0, 0, UInt8(size >> 8), UInt8(size & 0xFF)] }
        return bytes + (0..<dimensions.reduce(1, *)).map { UInt8($0 % 10) }
    }
    switch reader {
    case .idx1: return [idx([3]), idx([12])]
    case .idx3: return [idx([3, 5, 4]), idx([1, 28, 28])]
    case .gzip:
        // The raw contents; scripts/fuzz-libfuzzer compresses them with the gzip tool.
        return [idx([3, 5, 4]), idx([2, 7, 7])]
    case .png:
        var random = SeededRandom(seed: 1)
        let encoded = [(7, 5), (16, 16), (1, 1)].map { size in
            try! PNG.encode(GrayImage(width: size.0, height: size.1, pixels: (0..<(size.0 * size.1)).map { _ in UInt8(random.next() & 0xFF) }))
        }
        // 16-bit grey, 16-bit grey+alpha and 8-bit RGBA, which libpng's simplified writer does not make here.
        return encoded + [rawPNG(width: 5, height: 4, bitDepth: 16, colorType: 0, channels: 1),
                          rawPNG(width: 3, height: 3, bitDepth: 16, colorType: 4, channels: 2),
                          rawPNG(width: 4, height: 2, bitDepth: 8, colorType: 6, channels: 4)]
    case .checkpoint:
        let description = ModelDescription(input: [1, 6, 6], layers: [
            Conv2D.Specification(filters: 2, kernel: SizePair(3), padding: .size(SizePair(1))),
            ReLU.Specification(), MaxPool2D.Specification(size: SizePair(2)), Flatten.Specification(),
            Dropout.Specification(rate: 0.5), Dense.Specification(units: 3),
        ])
        let model = try! Sequential(description, seed: 1)
        return [Checkpoint(model: model, classNames: ["a", "b", "c"], normalization: .none).encoded()]
    case .config:
        let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().path + "/configs"
        return ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted().compactMap {
            FileManager.default.contents(atPath: "\(directory)/\($0)").map(Array.init)
        }
    }
}
