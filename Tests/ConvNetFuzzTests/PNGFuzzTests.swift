import ConvNet
import XCTest

/// Mutated PNG files through `PNG.decode` (and, for one input in eight, `PNG.read` on a file).
final class PNGFuzzTests: XCTestCase {
    /// Small PNGs covering the decoder's paths: libpng's own 8-bit grey output, 1/4/8/16-bit
    /// grey, RGB, a palette with transparency, grey+alpha and RGBA, interlaced and not.
    static let seeds: [[UInt8]] = {
        var random = SeededRandom(seed: 11)
        let palette = (0..<16).flatMap { _ in random.bytes(3) }
        let gamma: [UInt8] = [0, 0, 0xB1, 0x8F]  // gAMA 45455 = 1/2.2
        return [
            try! PNG.encode(GrayImage(width: 7, height: 5, pixels: random.bytes(35))),
            makePNG(width: 16, height: 16, colorType: 0, bitDepth: 8, interlaced: false, random: &random),
            makePNG(width: 9, height: 3, colorType: 0, bitDepth: 1, interlaced: false, random: &random),
            makePNG(width: 4, height: 4, colorType: 2, bitDepth: 8, interlaced: true, random: &random),
            makePNG(width: 6, height: 6, colorType: 3, bitDepth: 4, interlaced: false,
                    extraChunks: [("PLTE", palette), ("tRNS", random.bytes(16))], random: &random),
            makePNG(width: 5, height: 9, colorType: 0, bitDepth: 16, interlaced: true, extraChunks: [("gAMA", gamma)], random: &random),
            makePNG(width: 3, height: 3, colorType: 6, bitDepth: 8, interlaced: false, random: &random),
            makePNG(width: 4, height: 4, colorType: 4, bitDepth: 16, interlaced: false, random: &random),
        ]
    }()

    /// The IHDR chunk of a file that starts with the signature and IHDR, else nil.
    private static func headerChunk(_ bytes: [UInt8]) -> PNGChunkLocation? {
        pngChunks(bytes).first.flatMap { $0.type == "IHDR" && $0.length == 13 ? $0 : nil }
    }

    /// Sets IHDR width and height (offsets 16 and 20 of the file) and recomputes the CRC.
    private static func withSize(_ bytes: [UInt8], width: UInt32?, height: UInt32?) -> [UInt8] {
        guard let header = headerChunk(bytes) else { return bytes }
        var bytes = bytes
        if let width { setBigEndian32(width, in: &bytes, at: header.offset + 8) }
        if let height { setBigEndian32(height, in: &bytes, at: header.offset + 12) }
        fixCRC(&bytes, of: header)
        return bytes
    }

    /// Sets the IHDR width, height or both to 0, the 16384 limit and around it, 2³¹, 2³² − 1, …,
    /// with a correct CRC so the decoder's own size check is what stops it.
    static let headerSize = Mutation("IHDR size") { bytes, random in
        guard let header = headerChunk(bytes) else { return }
        func value(at offset: Int) -> UInt32 {
            let original = bigEndian32(bytes, at: offset)
            return random.element(of: [0, 1, 16_383, 16_384, 16_385, 65_535, 1_000_001, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF,
                                       original &+ 1, original &- 1, original &* 2, original &* 16])
        }
        switch random.below(3) {
        case 0: bytes = withSize(bytes, width: value(at: header.offset + 8), height: nil)
        case 1: bytes = withSize(bytes, width: nil, height: value(at: header.offset + 12))
        default: bytes = withSize(bytes, width: value(at: header.offset + 8), height: value(at: header.offset + 12))
        }
    }

    /// Sets IHDR bit depth, colour type, compression, filter or interlace method to a valid or
    /// invalid value, with a correct CRC.
    static let headerFields = Mutation("IHDR fields") { bytes, random in
        guard let header = headerChunk(bytes) else { return }
        let field = random.below(5)
        let values: [[UInt8]] = [[0, 1, 2, 3, 4, 8, 16, 32, 255], [0, 1, 2, 3, 4, 5, 6, 7, 255], [0, 1, 255], [0, 1, 255], [0, 1, 2, 255]]
        bytes[header.offset + 16 + field] = random.element(of: values[field])
        fixCRC(&bytes, of: header)
    }

    /// Sets a chunk's length field to 0, a neighbour of the truth, 2³¹ − 1, 2³² − 1, … (the CRC
    /// does not cover the length).
    static let chunkLength = Mutation("chunk length") { bytes, random in
        let chunks = pngChunks(bytes)
        guard !chunks.isEmpty else { return }
        let chunk = random.element(of: chunks)
        setBigEndian32(random.element(of: sizeFieldValues(original: UInt32(chunk.length))), in: &bytes, at: chunk.offset)
    }

    /// Damages a chunk's data (IHDR, PLTE, tRNS, the compressed IDAT, …) and recomputes the CRC,
    /// so the damage reaches the parser and the inflater instead of the CRC check.
    static let chunkData = Mutation("chunk data with valid CRC") { bytes, random in
        let chunks = pngChunks(bytes).filter { $0.length > 0 }
        guard !chunks.isEmpty else { return }
        let chunk = random.element(of: chunks)
        for _ in 0..<random.in(1...8) {
            let offset = chunk.offset + 8 + random.below(chunk.length)
            if random.chance(0.5) { bytes[offset] ^= 1 << UInt8(random.below(8)) } else { bytes[offset] = random.byte() }
        }
        fixCRC(&bytes, of: chunk)
    }

    /// Removes, duplicates or swaps whole chunks (no IHDR, two IHDRs, IDAT before PLTE, no IEND, …).
    static let chunkOrder = Mutation("chunk order") { bytes, random in
        let chunks = pngChunks(bytes)
        guard chunks.count >= 2 else { return }
        let index = random.below(chunks.count)
        let range = chunks[index].offset..<(chunks[index].checkedRange.upperBound + 4)
        let chunk = Array(bytes[range])
        switch random.below(3) {
        case 0: bytes.removeSubrange(range)
        case 1: bytes.insert(contentsOf: chunk, at: chunks[random.below(chunks.count)].offset)
        default:
            bytes.removeSubrange(range)
            let others = pngChunks(bytes)
            bytes.insert(contentsOf: chunk, at: others.isEmpty ? 8 : others[random.below(others.count)].offset)
        }
    }

    /// Renames a chunk (to an unknown critical or ancillary type, or another known one), with a correct CRC.
    static let chunkType = Mutation("chunk type") { bytes, random in
        let chunks = pngChunks(bytes)
        guard !chunks.isEmpty else { return }
        let chunk = random.element(of: chunks)
        let type = random.element(of: ["IHDR", "PLTE", "IDAT", "IEND", "tRNS", "gAMA", "iCCP", "zTXt", "ABCD", "abcd", "IDAt", "\0\0\0\0"])
        bytes.replaceSubrange((chunk.offset + 4)..<(chunk.offset + 8), with: Array(type.utf8))
        fixCRC(&bytes, of: chunk)
    }

    /// Every seed unchanged, then with sizes at and beyond the limits, correct CRCs; then with
    /// a text, ICC or unknown chunk after IHDR claiming 2³¹ − 1 bytes (libpng would allocate
    /// that before reading), alone or followed by the rest of the file.
    static let fixedInputs: [(name: String, seedIndex: Int, bytes: [UInt8])] = {
        let sizes: [(UInt32, UInt32)] = [(16_384, 16_384), (16_385, 1), (1, 16_385), (0, 1), (1, 0), (1_000_001, 1),
                                         (0x7FFF_FFFF, 0x7FFF_FFFF), (0x8000_0000, 1), (0xFFFF_FFFF, 0xFFFF_FFFF)]
        var inputs: [(name: String, seedIndex: Int, bytes: [UInt8])] = []
        for (index, seed) in seeds.enumerated() {
            inputs.append(("valid input \(index)", index, seed))
            for (width, height) in sizes {
                inputs.append(("input \(index) claiming \(width)×\(height)", index, withSize(seed, width: width, height: height)))
            }
            guard let header = headerChunk(seed) else { continue }
            let afterHeader = header.checkedRange.upperBound + 4
            for type in ["tEXt", "zTXt", "iTXt", "iCCP", "abCd"] {
                let lie = RawPNG.bigEndian(0x7FFF_FFFF) + Array(type.utf8)
                inputs.append(("input \(index) cut after a \(type) chunk claiming 2³¹ − 1 bytes", index, Array(seed[..<afterHeader]) + lie))
                inputs.append(("input \(index) with a \(type) chunk claiming 2³¹ − 1 bytes", index,
                               Array(seed[..<afterHeader]) + lie + Array(seed[afterHeader...])))
            }
        }
        return inputs
    }()

    func testPNGMutationsDecodeOrThrowImageError() {
        let directory = temporaryDirectory(self)
        var campaign = FuzzCampaign(reader: "PNG", defaultSeed: 3, seeds: Self.seeds,
                                    mutations: Mutation.byteLevel + [Self.headerSize, Self.headerFields, Self.chunkLength,
                                                                     Self.chunkData, Self.chunkOrder, Self.chunkType])
        campaign.fixedInputs = Self.fixedInputs
        // libpng stops reading at IEND and ignores whatever follows, so junk appended to a valid
        // PNG loads (unless another mutation damaged it first).
        campaign.mutationsThatMayAlwaysLoad = ["append junk"]
        campaign.run { input in
            // One input in eight goes through a file, so `read`'s own checks are fuzzed too.
            let throughFile = input.bytes.count % 8 == 0
            let name = throughFile ? directory + "/fuzz.png" : "fuzz.png"
            do throws(ImageError) {
                let image: GrayImage
                if throughFile {
                    writeBytes(input.bytes, to: name)
                    image = try PNG.read(contentsOf: name)
                } else {
                    image = try PNG.decode(input.bytes, name: name)
                }
                input.check((1...PNG.maximumDimension).contains(image.width) && (1...PNG.maximumDimension).contains(image.height),
                            "decoded a \(image.width)×\(image.height) image")
                input.check(image.pixels.count == image.width * image.height,
                            "\(image.pixels.count) pixels for \(image.width)×\(image.height)")
                if let header = Self.headerChunk(input.bytes) {
                    let width = Int(bigEndian32(input.bytes, at: header.offset + 8))
                    let height = Int(bigEndian32(input.bytes, at: header.offset + 12))
                    input.check(image.width == width && image.height == height,
                                "decoded \(image.width)×\(image.height), IHDR says \(width)×\(height)")
                }
                return .loaded
            } catch {
                // A chunk length running past the end of the file is refused before libpng
                // reads (and allocates for) the chunk.
                if input.bytes.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]),
                   let lie = overlongChunkBeforeImageData(input.bytes) {
                    input.check(error.message.hasPrefix("truncated or corrupt PNG: the ")
                                && error.message.contains("at byte \(lie.offset) claims \(lie.length) bytes"),
                                "a chunk at byte \(lie.offset) claims \(lie.length) bytes, past the end, but the error is: \(error)")
                }
                return input.rejected(error, files: [name])
            }
        }
    }
}
