/// Labelled images (1 or 3 channels) held as bytes: `images` `[N, C, H, W]`, `labels` `[N]`.
///
/// Pixels stay 8-bit in memory (MNIST's 60,000 training images are 47 MB, not
/// 188 MB as Float); `BatchLoader` converts a batch at a time to Float.
public struct Dataset: Sendable {
    /// Pixels `[N, C, H, W]`, 0 = black … 255 = white.
    public var images: [UInt8]
    /// Class index per image `[N]`, each below `classNames.count`.
    public var labels: [UInt8]
    /// Per-image shape `[C, H, W]`.
    public var sampleShape: [Int]
    /// Names of the classes, by index.
    public var classNames: [String]

    /// The most classes a data set can have: labels are bytes.
    public static let maximumClasses = 256

    /// A dataset from its parts (sizes must agree).
    public init(images: [UInt8], labels: [UInt8], sampleShape: [Int], classNames: [String]) {
        precondition(images.count == labels.count * Tensor.elementCount(sampleShape))
        self.images = images
        self.labels = labels
        self.sampleShape = sampleShape
        self.classNames = classNames
    }

    /// Number of images N.
    public var count: Int { labels.count }
    /// Bytes per image C·H·W.
    public var sampleSize: Int { Tensor.elementCount(sampleShape) }

    /// Images `range` as a dataset of their own.
    public func slice(_ range: Range<Int>) -> Dataset {
        Dataset(images: Array(images[(range.lowerBound * sampleSize)..<(range.upperBound * sampleSize)]),
                labels: Array(labels[range]), sampleShape: sampleShape, classNames: classNames)
    }

    /// The first `count` images alone, without copying them when this is the only copy and
    /// they are at least half of it (the storage beyond is kept, unused, rather than copied).
    public mutating func keepFirst(_ count: Int) {
        precondition(count >= 0 && count <= self.count)
        if count * 2 < self.count {
            self = slice(0..<count)
        } else {
            images.removeLast((self.count - count) * sampleSize)
            labels.removeLast(self.count - count)
        }
    }

    /// Loads an MNIST-style pair of IDX files (raw or .gz): images `[N, H, W]` (grey) or with a
    /// channel dimension of 1 or 3, `[N, H, W, C]` (as numpy image stacks are) or `[N, C, H, W]`;
    /// and labels `[N]`.
    ///
    /// Checks that the counts agree and that every label is below `classNames.count`, from the
    /// labels file and the images file's header, before the images are read (see `IDXSource`).
    public static func loadIDX(images imagesPath: String, labels labelsPath: String,
                               classNames: [String]) throws(DataError) -> Dataset {
        try IDXSource(images: imagesPath, labels: labelsPath, classNames: classNames).load()
    }

    /// An IDX pair whose labels are read and checked and whose images file's header agrees
    /// with them, the images themselves not yet read: so a run can check counts and shapes
    /// against each other and against its model before reading and decompressing the large file.
    ///
    /// Memory: the labels file, then in `load` the images' data section (see `IDXFile`); an
    /// `[N, H, W, C]` file is reordered to `[N, C, H, W]` in place, one image at a time.
    public struct IDXSource {
        /// The labels, one per image, each below the number of classes.
        public let labels: [UInt8]
        /// Per-image shape `[C, H, W]` the images will have.
        public let sampleShape: [Int]
        /// Names of the classes, by index.
        public let classNames: [String]
        private let images: IDXFile
        /// Whether the file stores `[N, H, W, C]`, to be reordered.
        private let channelsLast: Bool

        /// Number of images N.
        public var count: Int { labels.count }
        /// The images file.
        public var imagesPath: String { images.path }

        /// Reads the labels and the images file's header and checks them against each other
        /// and the classes.
        public init(images imagesPath: String, labels labelsPath: String, classNames: [String]) throws(DataError) {
            let labels = try IDXArray.read(contentsOf: labelsPath, dimensionCount: 1)
            if let index = labels.bytes.firstIndex(where: { Int($0) >= classNames.count }) {
                throw DataError(file: labelsPath, "label \(labels.bytes[index]) of image \(index) is not below the number of classes, \(classNames.count)")
            }
            let images = try IDXFile.open(imagesPath, dimensionCounts: [3, 4])
            let dimensions = images.dimensions
            guard dimensions[0] == labels.dimensions[0] else {
                throw DataError(file: labelsPath, "has \(labels.dimensions[0]) labels but \(imagesPath) has \(dimensions[0]) images")
            }
            if dimensions.count == 3 {
                (sampleShape, channelsLast) = ([1, dimensions[1], dimensions[2]], false)
            } else if dimensions[3] == 1 || dimensions[3] == 3 {
                (sampleShape, channelsLast) = ([dimensions[3], dimensions[1], dimensions[2]], dimensions[3] == 3)
            } else if dimensions[1] == 1 || dimensions[1] == 3 {
                (sampleShape, channelsLast) = (Array(dimensions[1...]), false)
            } else {
                throw DataError(file: imagesPath, "has dimensions \(dimensions.shapeDescription): a 4-dimensional IDX image file must be N×H×W×C or N×C×H×W with C = 1 or 3")
            }
            self.labels = labels.bytes
            self.classNames = classNames
            self.images = images
        }

        /// Reads the images, checking the file holds exactly what its header announces.
        public func load() throws(DataError) -> Dataset {
            var pixels = try images.readData()
            if channelsLast {
                // [N, H, W, C] → [N, C, H, W], image by image through one image's worth of scratch.
                let (channels, plane) = (sampleShape[0], sampleShape[1] * sampleShape[2])
                let sampleSize = channels * plane
                var interleaved = [UInt8](repeating: 0, count: sampleSize)
                pixels.withUnsafeMutableBufferPointer { pixels in
                    interleaved.withUnsafeMutableBufferPointer { scratch in
                        for image in 0..<count {
                            let base = pixels.baseAddress! + image * sampleSize
                            scratch.baseAddress!.update(from: base, count: sampleSize)
                            for position in 0..<plane {
                                for channel in 0..<channels {
                                    base[channel * plane + position] = scratch[position * channels + channel]
                                }
                            }
                        }
                    }
                }
            }
            return Dataset(images: pixels, labels: labels, sampleShape: sampleShape, classNames: classNames)
        }
    }
}

/// Fills preallocated batches from a dataset: pixels → normalised Float `[B, C, H, W]`,
/// labels → `[B]`, optionally augmenting each training image (`Augmentation`). Workers split
/// the batch's images.
public final class BatchLoader {
    /// The batch images `[B, C, H, W]`, reused for every batch.
    public let images = Tensor(shape: [0])
    /// The batch labels `[B]`; the storage is reused for every batch.
    public var labels: UnsafeBufferPointer<Int32> { UnsafeBufferPointer(start: labelStorage, count: labelCount) }
    private var labelStorage: UnsafeMutablePointer<Int32>
    private var labelCount = 0, labelCapacity = 0
    /// The Float value of each byte 0…255, per channel: `[C][256]` (one table when the normalisation has one value).
    private let tables: [[Float]]
    /// value = scale · byte + offset per channel, for augmented pixels between bytes.
    private let scales: [Float], offsets: [Float]

    /// The request in progress, for the worker jobs: the data set, where the images come from
    /// (`indices`, or consecutive from `first`), and the augmentation with its seed and epoch.
    private var dataset: Dataset?, indices: UnsafeBufferPointer<Int32>?, first = 0
    private var augmentation: Augmentation?, seed: UInt64 = 0, epoch = 0
    private var loadJob: (Int) -> Void = { _ in }

    /// A loader applying `normalization` to every pixel.
    public init(normalization: Normalization) {
        tables = normalization.lookupTables
        scales = normalization.std.map { Float(1 / (255 * $0)) }
        offsets = zip(normalization.mean, normalization.std).map { Float(-$0 / $1) }
        labelStorage = .allocate(capacity: 1)
        loadJob = { [unowned(unsafe) self] worker in self.loadShare(worker) }
    }

    deinit { labelStorage.deallocate() }

    /// Loads the images at `indices` of `dataset` (in that order) into `images` and `labels`;
    /// with an active `augmentation`, each image is changed by the draws of (`seed`, `epoch`, its index).
    public func load(_ dataset: Dataset, indices: UnsafeBufferPointer<Int32>, augmentation: Augmentation? = nil,
                     seed: UInt64 = 0, epoch: Int = 0) {
        self.indices = indices
        self.augmentation = augmentation?.isActive == true ? augmentation : nil
        (self.seed, self.epoch) = (seed, epoch)
        load(dataset, count: indices.count)
    }

    /// Loads images `range` of `dataset`, in order, as they are.
    public func load(_ dataset: Dataset, range: Range<Int>) {
        indices = nil
        first = range.lowerBound
        augmentation = nil
        load(dataset, count: range.count)
    }

    private func load(_ dataset: Dataset, count: Int) {
        let sample = dataset.sampleShape
        if sample.count == 3 { images.reshape(count, sample[0], sample[1], sample[2]) } else { images.reshape(to: [count] + sample) }
        if count > labelCapacity {
            labelStorage.deallocate()
            labelStorage = .allocate(capacity: count)
            labelCapacity = count
        }
        labelCount = count
        let channels = sample.count == 3 ? sample[0] : 1
        precondition(tables.count == 1 || tables.count == channels,
                     "normalisation has \(tables.count) channels, the images \(channels)")
        self.dataset = dataset
        forEachWorker(loadJob)
        self.dataset = nil
    }

    private func loadShare(_ worker: Int) {
        guard let dataset else { return }
        let sampleSize = dataset.sampleSize, sample = dataset.sampleShape
        let (channels, height, width) = sample.count == 3 ? (sample[0], sample[1], sample[2]) : (1, 1, sampleSize)
        let plane = sampleSize / channels
        let destination = images.data, labels = labelStorage
        dataset.images.withUnsafeBufferPointer { pixels in
            for slot in partition(labelCount, worker: worker, of: Parallelism.threads) {
                let image = indices.map { Int($0[slot]) } ?? first + slot
                let source = pixels.baseAddress! + image * sampleSize
                let target = destination + slot * sampleSize
                if let augmentation {
                    let draw = augmentation.draw(key: Augmentation.key(seed: seed, epoch: epoch, image: image), height: height, width: width)
                    Augmentation.apply(draw, source: source, channels: channels, height: height, width: width,
                                       tables: tables, scale: scales, offset: offsets, into: target)
                } else {
                    for channel in 0..<channels {
                        tables[tables.count == 1 ? 0 : channel].withUnsafeBufferPointer { table in
                            let (from, to) = (source + channel * plane, target + channel * plane)
                            for i in 0..<plane { to[i] = table[Int(from[i])] }
                        }
                    }
                }
                labels[slot] = Int32(dataset.labels[image])
            }
        }
    }
}
