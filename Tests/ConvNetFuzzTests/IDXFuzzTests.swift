import ConvNet
import XCTest

/// Mutated IDX files, raw (`IDXArray.parse`) and gzip-compressed (`IDXArray.read` on a file,
/// and `Dataset.loadIDX` with the mutated file and its valid partner).
final class IDXFuzzTests: XCTestCase {
    /// A valid IDX file of a two-file dataset.
    struct Seed {
        /// The file.
        let bytes: [UInt8]
        /// 3 for images `[N, H, W]`, 1 for labels `[N]`.
        let dimensionCount: Int
        /// Index in `seeds` of the other file of the same dataset.
        let partner: Int
    }

    /// Two small datasets: images `[3, 5, 4]` with labels `[3]`, images `[2, 7, 7]` with labels `[2]`.
    static let seeds: [Seed] = {
        var random = SeededRandom(seed: 7)
        return [
            Seed(bytes: idxBytes(dimensions: [3, 5, 4], values: random.bytes(60)), dimensionCount: 3, partner: 1),
            Seed(bytes: idxBytes(dimensions: [3], values: [7, 0, 9]), dimensionCount: 1, partner: 0),
            Seed(bytes: idxBytes(dimensions: [2, 7, 7], values: random.bytes(98)), dimensionCount: 3, partner: 3),
            Seed(bytes: idxBytes(dimensions: [2], values: [1, 2]), dimensionCount: 1, partner: 2),
        ]
    }()

    /// Class names for `Dataset.loadIDX`: labels 0…9 are valid.
    static let classNames = (0..<10).map(String.init)

    /// How many dimensions the header of `bytes` has room for and claims (at most 255).
    private static func headerDimensions(_ bytes: [UInt8]) -> Int {
        bytes.count < 8 ? 0 : min(Int(bytes[3]), (bytes.count - 4) / 4)
    }

    /// Sets one dimension to 0, 1, 0x7FFFFFFF, 0xFFFFFFFF, … or a plausible wrong count.
    static let dimension = Mutation("IDX dimension") { bytes, random in
        let count = headerDimensions(bytes)
        guard count > 0 else { return }
        let offset = 4 + 4 * random.below(count)
        setBigEndian32(random.element(of: sizeFieldValues(original: bigEndian32(bytes, at: offset))), in: &bytes, at: offset)
    }

    /// Swaps two dimensions; with one dimension, writes it little-endian instead.
    static let swapDimensions = Mutation("IDX swap dimensions") { bytes, random in
        let count = headerDimensions(bytes)
        guard count > 0 else { return }
        let first = 4 + 4 * random.below(count)
        if count == 1 {
            bytes[first..<(first + 4)].reverse()
            return
        }
        let second = 4 + 4 * random.below(count)
        let saved = bigEndian32(bytes, at: first)
        setBigEndian32(bigEndian32(bytes, at: second), in: &bytes, at: first)
        setBigEndian32(saved, in: &bytes, at: second)
    }

    /// Damages the magic number: its zero bytes, the type byte or the dimension count.
    static let headerByte = Mutation("IDX magic number") { bytes, random in
        guard bytes.count >= 4 else { return }
        switch random.below(3) {
        case 0: bytes[random.below(2)] = UInt8(random.in(1...255))
        case 1: bytes[2] = random.element(of: [0x00, 0x07, 0x09, 0x0B, 0x0C, 0x0D, 0x0E, 0xFF])
        default: bytes[3] = random.element(of: [0, 1, 2, 3, 4, 255].filter { $0 != bytes[3] })
        }
    }

    static let headerMutations = [dimension, swapDimensions, headerByte]

    /// Every seed unchanged, then with each dimension set to each special size value.
    static let fixedInputs: [(name: String, seedIndex: Int, bytes: [UInt8])] = {
        var inputs: [(name: String, seedIndex: Int, bytes: [UInt8])] = []
        for (index, seed) in seeds.enumerated() {
            inputs.append(("valid input \(index)", index, seed.bytes))
            for dimension in 0..<seed.dimensionCount {
                let offset = 4 + 4 * dimension
                for value in sizeFieldValues(original: bigEndian32(seed.bytes, at: offset)) {
                    var bytes = seed.bytes
                    setBigEndian32(value, in: &bytes, at: offset)
                    inputs.append(("input \(index), dimension \(dimension + 1) = \(value)", index, bytes))
                }
            }
        }
        return inputs
    }()

    /// Checks a loaded array against the header and data of the file it came from.
    static func checkLoaded(_ array: IDXArray, from bytes: [UInt8], dimensionCount: Int, _ input: FuzzInput) {
        let headerLength = 4 + 4 * dimensionCount
        input.check(array.dimensions.count == dimensionCount, "loaded \(array.dimensions.count) dimensions, asked for \(dimensionCount)")
        input.check(array.dimensions.allSatisfy { $0 > 0 }, "loaded a zero dimension: \(array.dimensions)")
        input.check(array.dimensions.reduce(1, *) == array.bytes.count,
                    "dimensions \(array.dimensions) do not multiply to the \(array.bytes.count) bytes loaded")
        guard bytes.count >= headerLength else { return input.fail("loaded from \(bytes.count) bytes, shorter than a header") }
        input.check(bytes[0..<4].elementsEqual([0, 0, 8, UInt8(dimensionCount)]), "loaded despite magic number \(hexPrefix(Array(bytes[0..<4])))")
        input.check(array.dimensions == (0..<dimensionCount).map { Int(bigEndian32(bytes, at: 4 + 4 * $0)) },
                    "dimensions \(array.dimensions) are not the header's")
        input.check(array.bytes.elementsEqual(bytes[headerLength...]), "the values are not the file's data section")
    }

    func testRawIDXMutationsLoadOrThrowDataError() {
        var campaign = FuzzCampaign(reader: "IDX raw", defaultSeed: 1, seeds: Self.seeds.map(\.bytes),
                                    mutations: Mutation.byteLevel + Self.headerMutations)
        campaign.fixedInputs = Self.fixedInputs
        campaign.run { input in
            let dimensionCount = Self.seeds[input.seedIndex].dimensionCount
            do throws(DataError) {
                let array = try IDXArray.parse(input.bytes, file: "fuzz.idx", dimensionCount: dimensionCount)
                Self.checkLoaded(array, from: input.bytes, dimensionCount: dimensionCount, input)
                return .loaded
            } catch {
                return input.rejected(error, files: ["fuzz.idx"])
            }
        }
    }

    // MARK: - gzip

    /// Applies `mutation` to the IDX data inside the gzip stream and compresses it again
    /// (to the compressed bytes when an earlier mutation already broke the stream).
    static func insideGzip(_ mutation: Mutation) -> Mutation {
        Mutation("in gzip: \(mutation.name)") { bytes, random in
            guard var contents = gunzip(bytes) else { return mutation.apply(&bytes, &random) }
            mutation.apply(&contents, &random)
            bytes = gzip(contents)
        }
    }

    /// A decompression bomb: 64 KB to 4 MB of zeros after the data, which compress to a few KB.
    static let bomb = insideGzip(Mutation("long zero tail") { bytes, random in
        bytes += [UInt8](repeating: 0, count: random.in(64 << 10 ... 4 << 20))
    })

    /// Corrupts the gzip trailer: the CRC-32 or the length of the contents (both little-endian).
    static let trailer = Mutation("gzip trailer") { bytes, random in
        guard bytes.count >= 8 else { return }
        let offset = bytes.count - (random.chance(0.5) ? 8 : 4)
        let value = bytes[offset..<(offset + 4)].reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        let replaced = random.element(of: [0, 1, 0xFFFF_FFFF, value &+ 1, value &- 1, value ^ 0x8000_0000, UInt32(truncatingIfNeeded: random.next())])
        for index in 0..<4 { bytes[offset + index] = UInt8(truncatingIfNeeded: replaced >> (8 * UInt32(index))) }
    }

    /// Damages the gzip header: compression method, flags (extra field, name, comment, header
    /// CRC, reserved bits), or a real extra field with a huge or exact length.
    static let gzipHeader = Mutation("gzip header") { bytes, random in
        guard bytes.count >= 10 else { return }
        switch random.below(3) {
        case 0: bytes[2] = UInt8(random.element(of: [0, 7, 9, 255].map(UInt8.init)))
        case 1: bytes[3] = random.byte()
        default:
            bytes[3] |= 0x04
            let length = random.element(of: [0, 4, 0xFFFF])
            bytes.insert(contentsOf: [UInt8(length & 0xFF), UInt8(length >> 8)] + random.bytes(min(length, 4)), at: 10)
        }
    }

    /// Appends a second gzip member (zlib would continue; the reader must say no, or read it right).
    static let secondMember = Mutation("gzip second member") { bytes, random in
        bytes += gzip(random.chance(0.5) ? random.bytes(random.below(100)) : bytes)
    }

    /// The image count of a valid 3-dimensional IDX images header (magic, type, sizes all
    /// acceptable), else nil.
    static func announcedImageCount(_ header: [UInt8]) -> Int? {
        guard header.count >= 16, header[0..<4].elementsEqual([0, 0, 8, 3]) else { return nil }
        let dimensions = (0..<3).map { Int(bigEndian32(header, at: 4 + 4 * $0)) }
        var size = 1
        for dimension in dimensions {
            let (product, overflow) = size.multipliedReportingOverflow(by: dimension)
            guard dimension > 0, !overflow, product <= IDXArray.sizeLimit else { return nil }
            size = product
        }
        return dimensions[0]
    }

    func testGzipIDXMutationsLoadOrThrowDataError() {
        let directory = temporaryDirectory(self)
        let seeds = Self.seeds
        let names = ["images-a.gz", "labels-a.gz", "images-b.gz", "labels-b.gz"]
        for (seed, name) in zip(seeds, names) { writeBytes(gzip(seed.bytes), to: directory + "/" + name) }
        let mutations = Mutation.byteLevel + [Self.trailer, Self.gzipHeader, Self.secondMember, Self.bomb]
            + (Self.headerMutations + [Mutation.truncate, Mutation.flipBits, Mutation.appendJunk]).map(Self.insideGzip)
        var campaign = FuzzCampaign(reader: "IDX gzip", defaultSeed: 2, seeds: seeds.map { gzip($0.bytes) }, mutations: mutations)
        campaign.fixedInputs = Self.fixedInputs.map { ($0.name, $0.seedIndex, gzip($0.bytes)) }
        campaign.run { input in
            let seed = seeds[input.seedIndex]
            let path = directory + "/mutated-" + names[input.seedIndex]
            let partner = directory + "/" + names[seed.partner]
            writeBytes(input.bytes, to: path)
            let outcome: Outcome
            var array: IDXArray?
            do throws(DataError) {
                let loaded = try IDXArray.read(contentsOf: path, dimensionCount: seed.dimensionCount)
                let contents = isGzip(input.bytes) ? gunzip(input.bytes) ?? [] : input.bytes
                Self.checkLoaded(loaded, from: contents, dimensionCount: seed.dimensionCount, input)
                array = loaded
                outcome = .loaded
            } catch {
                outcome = input.rejected(error, files: [path])
            }
            let (imagesPath, labelsPath) = seed.dimensionCount == 3 ? (path, partner) : (partner, path)
            do throws(DataError) {
                let dataset = try Dataset.loadIDX(images: imagesPath, labels: labelsPath, classNames: Self.classNames)
                guard let array else {
                    input.fail("Dataset.loadIDX loaded a file IDXArray.read rejects")
                    return outcome
                }
                if seed.dimensionCount == 3 {
                    input.check(dataset.images == array.bytes && dataset.sampleShape == [1] + array.dimensions[1...],
                                "Dataset.loadIDX images differ from IDXArray.read's")
                } else {
                    input.check(dataset.labels == array.bytes, "Dataset.loadIDX labels differ from IDXArray.read's")
                }
                input.check(dataset.images.count == dataset.count * dataset.sampleSize, "dataset sizes disagree")
                input.check(dataset.labels.allSatisfy { Int($0) < Self.classNames.count }, "a label is not below the class count")
            } catch {
                _ = input.rejected(error, files: [imagesPath, labelsPath])
                // A readable images header announcing another count than the labels is
                // refused from the header, before the images' data is read (or found broken).
                if seed.dimensionCount == 3, isGzip(input.bytes), let count = Self.announcedImageCount(gunzipPrefix(input.bytes, count: 16)),
                   count != Int(bigEndian32(seeds[seed.partner].bytes, at: 4)) {
                    input.check(error.file == labelsPath && error.message.contains("labels but"),
                                "the header announces \(count) images, not the labels' count, but the error is: \(error)")
                }
                if let array {
                    // The mutated file alone loaded: the pair may only disagree on the count or a label.
                    let countsDiffer = array.dimensions[0] != Int(bigEndian32(seeds[seed.partner].bytes, at: 4))
                    let labelTooLarge = seed.dimensionCount == 1 && array.bytes.contains { Int($0) >= Self.classNames.count }
                    input.check(error.file == labelsPath && (countsDiffer || labelTooLarge),
                                "Dataset.loadIDX rejected a pair whose files both load: \(error)")
                }
            }
            return outcome
        }
    }
}
