import Foundation

/// Everything a run's report shows, as data: what `train` writes to `report.json` after each
/// epoch and renders as `report.html`, and what `report` reads back to render one run or
/// compare several.
public struct RunReport: Codable, Equatable, Sendable {
    /// The run's name (the config's `name`).
    public var name: String
    /// running, finished, interrupted, stopped early.
    public var status: String
    /// Total epochs the run is set to.
    public var totalEpochs: Int
    /// Class names by index.
    public var classNames: [String]
    /// One row per finished epoch.
    public var epochs: [Epoch]
    /// The best epoch (1-based) and whether it was judged on validation or test accuracy.
    public var bestEpoch: Int, selection: String
    /// Test confusion matrices `[K][K]` (rows true, columns predicted) of the last and the best epoch.
    public var lastConfusion: [[Int]], bestConfusion: [[Int]]
    /// The last epoch's most confidently wrong test images.
    public var mistakes: [Mistake]
    /// The first convolution's filters as PNG images (RGB for 3 input channels), `[F, C, KH, KW]`.
    public var filters: Filters?
    /// The model table.
    public var layers: [Layer]
    /// Input shape `[C, H, W]`.
    public var inputShape: [Int]
    /// The config, as JSON.
    public var configuration: String
    /// The machine: processor, cores, threads used, BLAS kernel.
    public var machine: [String: String]

    /// One epoch's figures.
    public struct Epoch: Codable, Equatable, Sendable {
        public var epoch: Int
        public var learningRate: Double
        public var trainLoss: Double, trainAccuracy: Double
        public var validationLoss: Double?, validationAccuracy: Double?
        public var testLoss: Double, testAccuracy: Double
        public var seconds: Double, imagesPerSecond: Double

        public init(_ metrics: EpochMetrics) {
            epoch = metrics.epoch
            learningRate = metrics.learningRate
            (trainLoss, trainAccuracy) = (metrics.trainLoss, metrics.trainAccuracy)
            (validationLoss, validationAccuracy) = (metrics.validation?.loss, metrics.validation?.accuracy)
            (testLoss, testAccuracy) = (metrics.test.loss, metrics.test.accuracy)
            (seconds, imagesPerSecond) = (metrics.seconds, metrics.imagesPerSecond)
        }

        /// An epoch read back from a `metrics.csv` row (see `Trainer.metricsHeader`); nil if malformed.
        public init?(metricsRow row: String) {
            let fields = row.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            guard fields.count == 10, let epoch = Int(fields[0]), let values = Optional(fields[1...7].compactMap(Double.init)),
                  values.count == 7 else { return nil }
            self.epoch = epoch
            learningRate = values[0]
            (trainLoss, trainAccuracy, testLoss, testAccuracy) = (values[1], values[2], values[3], values[4])
            (seconds, imagesPerSecond) = (values[5], values[6])
            (validationLoss, validationAccuracy) = (Double(fields[8]), Double(fields[9]))
        }
    }

    /// A wrong prediction with its image.
    public struct Mistake: Codable, Equatable, Sendable {
        /// The image as a base64 PNG.
        public var png: String
        /// Index in the test set.
        public var index: Int
        public var truth: String, predicted: String
        public var probability: Double
    }

    /// The first convolution's filters.
    public struct Filters: Codable, Equatable, Sendable {
        /// `[F, C, KH, KW]`.
        public var shape: [Int]
        /// One base64 PNG per filter: grey for 1 channel, RGB for 3, otherwise each filter's channel mean.
        public var images: [String]
    }

    /// One line of the model table.
    public struct Layer: Codable, Equatable, Sendable {
        public var index: Int
        public var summary: String
        public var outputShape: [Int]
        public var parameters: Int
        public var multiplyAccumulates: Int
    }

    /// The most confidently wrong images kept in a report.
    public static let mistakeCount = 24

    /// Layers as in a model plan.
    static func layers(of plan: ModelPlan) -> [Layer] {
        plan.layers.map { Layer(index: $0.index, summary: $0.summary, outputShape: $0.outputShape, parameters: $0.parameters,
                                multiplyAccumulates: $0.multiplyAccumulates) }
    }

    /// The mistakes of `result` on `dataset` with their images.
    static func mistakes(_ result: EvaluationResult, dataset: Dataset) -> [Mistake] {
        result.mistakes.compactMap { mistake in
            let shape = dataset.sampleShape
            guard shape.count == 3, shape[0] == 1 || shape[0] == 3 else { return nil }
            let pixels = Array(dataset.images[(mistake.index * dataset.sampleSize)..<((mistake.index + 1) * dataset.sampleSize)])
            guard let png = try? PNG.encode(Image(channels: shape[0], height: shape[1], width: shape[2], pixels: pixels)) else { return nil }
            return Mistake(png: Data(png).base64EncodedString(), index: mistake.index, truth: dataset.classNames[mistake.truth],
                           predicted: dataset.classNames[mistake.predicted], probability: mistake.probability)
        }
    }

    /// The first 4-dimensional parameter of `model` (its first convolution's kernel) as images,
    /// each filter scaled so that 0 is mid-grey and its largest |w| is black or white.
    static func filters(of model: Sequential) -> Filters? {
        guard let kernel = model.parameters.first(where: { $0.value.shape.count == 4 }) else { return nil }
        let shape = kernel.value.shape
        let (count, channels, height, width) = (shape[0], shape[1], shape[2], shape[3])
        let size = channels * height * width
        var images: [String] = []
        for filter in 0..<count {
            let values = (0..<size).map { kernel.value.data[filter * size + $0] }
            let largest = max(values.map(abs).max() ?? 0, 1e-12)
            func level(_ value: Float) -> UInt8 { UInt8(max(0, min(255, (127.5 + 127.5 * value / largest).rounded()))) }
            let image: Image
            if channels == 3 {
                image = Image(channels: 3, height: height, width: width, pixels: values.map(level))
            } else {
                let plane = height * width
                let mean = (0..<plane).map { position in (0..<channels).reduce(Float(0)) { $0 + values[$1 * plane + position] } / Float(channels) }
                let meanLargest = max(mean.map(abs).max() ?? 0, 1e-12)
                image = Image(channels: 1, height: height, width: width,
                              pixels: mean.map { UInt8(max(0, min(255, (127.5 + 127.5 * $0 / meanLargest).rounded()))) })
            }
            guard let png = try? PNG.encode(image) else { return nil }
            images.append(Data(png).base64EncodedString())
        }
        return Filters(shape: shape, images: images)
    }

    /// This machine: processor model, cores, operating system.
    static func machine(threads: Int) -> [String: String] {
        var information: [String: String] = ["threads": String(threads), "BLAS kernel": BLAS.coreName,
                                             "cores": String(ProcessInfo.processInfo.activeProcessorCount),
                                             "memory": String(format: "%.1f GiB", Double(ProcessInfo.processInfo.physicalMemory) / Double(1 << 30))]
        if let cpuInfo = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
           let line = cpuInfo.split(separator: "\n").first(where: { $0.hasPrefix("model name") }),
           let colon = line.firstIndex(of: ":") {
            information["processor"] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        information["system"] = ProcessInfo.processInfo.operatingSystemVersionString
        return information
    }

    /// Reads `report.json` of a run directory.
    public static func read(directory: String) throws(DataError) -> RunReport {
        let path = "\(directory)/report.json"
        let bytes = try readFileBytes(path, limit: 64 << 20)
        let report: RunReport
        do {
            report = try JSONDecoder().decode(RunReport.self, from: Data(bytes))
        } catch let error as DecodingError {
            throw DataError(file: path, "is not a ConvNet report: \(describe(error))")
        } catch {
            throw DataError(file: path, "is not a ConvNet report: \(error)")
        }
        if let problem = report.problem { throw DataError(file: path, "is not a ConvNet report: \(problem)") }
        return report
    }

    /// What in a report read from a file the page could not show (sizes that do not agree,
    /// numbers out of range), or nil: `report` reads files anyone may have edited.
    var problem: String? {
        let classes = classNames.count, count = 0...(1 << 40)
        guard (1...Dataset.maximumClasses).contains(classes) else { return "classNames has \(classes) names, expected 1 to \(Dataset.maximumClasses)" }
        for (name, matrix) in [("lastConfusion", lastConfusion), ("bestConfusion", bestConfusion)] where !matrix.isEmpty {
            guard matrix.count == classes, matrix.allSatisfy({ $0.count == classes && $0.allSatisfy(count.contains) }) else {
                return "\(name) must be \(classes)×\(classes) counts (one row and column per class)"
            }
        }
        for (index, epoch) in epochs.enumerated() {
            let numbers = [epoch.learningRate, epoch.trainLoss, epoch.trainAccuracy, epoch.testLoss, epoch.testAccuracy,
                           epoch.validationLoss ?? 0, epoch.validationAccuracy ?? 0]
            guard (1...100_000).contains(epoch.epoch), numbers.allSatisfy({ $0.isFinite }),
                  (0...1e9).contains(epoch.seconds), (0...1e12).contains(epoch.imagesPerSecond) else {
                return "epochs[\(index)] holds a number out of range"
            }
        }
        guard (0...100_000).contains(totalEpochs), (0...100_000).contains(bestEpoch) else { return "totalEpochs or bestEpoch is out of range" }
        if let filters, filters.shape.count != 4 || !filters.shape.allSatisfy((1...4096).contains) {
            return "filters.shape must be 4 sizes [F, C, KH, KW], found \(filters.shape)"
        }
        guard layers.allSatisfy({ count.contains($0.parameters) && (0...(1 << 50)).contains($0.multiplyAccumulates) }) else {
            return "layers holds a count out of range"
        }
        guard mistakes.allSatisfy({ $0.probability.isFinite }) else { return "mistakes holds a probability that is not a number" }
        // The page pastes these into `src="data:image/png;base64,…"`: only base64 of a PNG may go there.
        for (index, mistake) in mistakes.enumerated() where !RunReport.isBase64PNG(mistake.png) {
            return "mistakes[\(index)].png is not a base64 PNG image"
        }
        for (index, image) in (filters?.images ?? []).enumerated() where !RunReport.isBase64PNG(image) {
            return "filters.images[\(index)] is not a base64 PNG image"
        }
        return nil
    }

    /// Whether `text` is base64 (letters, digits, `+`, `/`, `=` only) of bytes that start with
    /// the PNG signature.
    static func isBase64PNG(_ text: String) -> Bool {
        let alphabet = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=".utf8)
        guard text.utf8.allSatisfy(alphabet.contains), let bytes = Data(base64Encoded: text) else { return false }
        return bytes.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
    }

    /// Writes `report.json` and `report.html` of this run into `directory`, atomically.
    public func write(to directory: String) throws(DataError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = (try? encoder.encode(self)) ?? Data()
        try writeFileAtomically(Array(json), to: "\(directory)/report.json")
        try writeFileAtomically(Array(HTMLReport.page(for: [self]).utf8), to: "\(directory)/report.html")
    }
}

extension RunReport {
    /// The report of a run of `configuration` training `model` on `data`: `epochs` so far, the
    /// best epoch and its test confusion matrix, the last test evaluation (with its mistakes).
    public init(status: String, configuration: Configuration, model: Sequential, data: TrainingData, epochs: [Epoch],
                bestEpoch: Int, bestConfusion: [[Int]], lastTest: EvaluationResult) {
        let plan = (try? ModelPlan(configuration.model)).map(RunReport.layers) ?? []
        self.init(name: configuration.name, status: status, totalEpochs: configuration.training.epochs, classNames: data.classNames,
                  epochs: epochs, bestEpoch: bestEpoch, selection: data.validation == nil ? "test" : "validation",
                  lastConfusion: lastTest.confusion, bestConfusion: bestConfusion, mistakes: RunReport.mistakes(lastTest, dataset: data.test),
                  filters: RunReport.filters(of: model), layers: plan, inputShape: configuration.model.input,
                  configuration: configuration.jsonString(), machine: RunReport.machine(threads: configuration.training.threads))
    }
}
