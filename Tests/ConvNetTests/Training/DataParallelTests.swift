import Foundation
import XCTest
@testable import ConvNet

/// Data-parallel training's logic, with the processes played by threads (`ThreadedProcessGroup`):
/// gradient buckets, synchronised batch norm, and trainers whose shares add up to one process's
/// run. (MPITrainingTests runs the real thing under mpirun.)
final class DataParallelTests: XCTestCase {
    override func setUp() { Parallelism.threads = 1 }  // the rank threads each run their layers' jobs inline

    func testSharesSplitABatchInOrder() {
        for (count, size) in [(64, 2), (10, 3), (1, 2), (0, 4), (7, 7)] {
            let shares = ThreadedProcessGroup.ranks(size).map { $0.share(of: count) }
            XCTAssertEqual(shares.first?.lowerBound, 0)
            XCTAssertEqual(shares.last?.upperBound, count)
            for (previous, next) in zip(shares, shares.dropFirst()) { XCTAssertEqual(previous.upperBound, next.lowerBound) }
            XCTAssertLessThanOrEqual(shares.map(\.count).max()! - shares.map(\.count).min()!, 1)
        }
    }

    /// Buckets tile the gradient arena from its end back, cut at layer boundaries, each ready
    /// once backward has finished its first layer; big enough buckets hold whole layers.
    func testBucketsTileTheArenaFromTheLastLayer() throws {
        let description = try JSONDecoder().decode(ModelDescription.self, from: Data(#"{"input": [1, 28, 28], "layers": [\#(lenetLayers)]}"#.utf8))
        let model = try Sequential(description, seed: 1)
        let trainable = model.layers.indices.filter { !model.layers[$0].parameters.isEmpty }
        XCTAssertEqual(trainable, [0, 3, 7, 9])
        for (bucketBytes, expectedLayers) in [(1, [9, 7, 3, 0]), (512 << 10, [7, 0]), (1 << 30, [0])] {
            let synchronizer = GradientSynchronizer(model: model, processes: SingleProcess(), bucketBytes: bucketBytes)
            XCTAssertEqual(synchronizer.buckets.map(\.firstLayer), expectedLayers, "bucket size \(bucketBytes)")
            XCTAssertEqual(synchronizer.buckets.first?.range.upperBound, model.arena.count)
            XCTAssertEqual(synchronizer.buckets.last?.range.lowerBound, 0)
            for (later, earlier) in zip(synchronizer.buckets, synchronizer.buckets.dropFirst()) {
                XCTAssertEqual(earlier.range.upperBound, later.range.lowerBound)
                XCTAssertLessThan(earlier.firstLayer, later.firstLayer)
            }
            for bucket in synchronizer.buckets.dropLast() {
                // A bucket starts where its first layer's first parameter does.
                let parameter = try XCTUnwrap(model.layers[bucket.firstLayer].parameters.first)
                let index = try XCTUnwrap(model.parameters.firstIndex { $0 === parameter })
                XCTAssertEqual(bucket.range.lowerBound, model.arena.offsets[index])
                XCTAssertGreaterThanOrEqual(bucket.range.count * 4, min(bucketBytes, model.arena.count * 4))
            }
        }
    }

    /// Synchronised batch norm over shares of a batch (even, uneven, one of them empty) gives
    /// each share exactly what batch norm over the whole batch gives it: outputs, input
    /// gradients, the summed dγ and dβ, and the running estimates.
    func testSynchronisedBatchNormEqualsTheWholeBatch() {
        for (shape, size) in [([6, 3, 4, 4], 2), ([5, 4], 2), ([7, 2, 3, 3], 3), ([1, 3, 2, 2], 2)] {
            let channels = shape[1], perImage = shape.dropFirst().reduce(1, *)
            let x = randomTensor(shape, seed: 11), dy = randomTensor(shape, seed: 12)
            for index in 0..<x.count { x[index] = 2 * x[index] + 1 }
            func makeLayer() -> BatchNorm {
                let layer = BatchNorm(channels: channels)
                for c in 0..<channels { layer.weight.value[c] = 1 + 0.25 * Float(c); layer.bias.value[c] = 0.5 - Float(c) }
                return layer
            }
            let whole = makeLayer()
            let expectedOutput = whole.forward(x, context: ForwardContext(phase: .training)).values
            let expectedInputGradient = whole.backward(dy).values
            let groups = ThreadedProcessGroup.ranks(size)
            let layers = (0..<size).map { _ in makeLayer() }
            let results = onThreads(size) { rank in
                let share = groups[rank].share(of: shape[0])
                let part = { (tensor: Tensor) in
                    Tensor(shape: [share.count] + shape.dropFirst(), values: Array(tensor.values[(share.lowerBound * perImage)..<(share.upperBound * perImage)]))
                }
                let output = layers[rank].forward(part(x), context: ForwardContext(phase: .training, statisticsGroup: groups[rank])).values
                let inputGradient = layers[rank].backward(part(dy)).values
                return (output, inputGradient)
            }
            assertClose(results.flatMap(\.0), expectedOutput, tolerance: 1e-5)
            assertClose(results.flatMap(\.1), expectedInputGradient, tolerance: 1e-5)
            for parameter in [\BatchNorm.weight, \BatchNorm.bias] {
                let summed = (0..<channels).map { c in layers.reduce(Float(0)) { $0 + $1[keyPath: parameter].gradient[c] } }
                assertClose(summed, whole[keyPath: parameter].gradient.values, tolerance: 1e-4)
            }
            for layer in layers {
                guard case .float32(let mean) = layer.runningMean.storage, case .float32(let variance) = layer.runningVariance.storage,
                      case .float32(let expectedMean) = whole.runningMean.storage, case .float32(let expectedVariance) = whole.runningVariance.storage
                else { return XCTFail("buffer types") }
                assertClose(mean.values, expectedMean.values, tolerance: 1e-6)
                assertClose(variance.values, expectedVariance.values, tolerance: 1e-5)
            }
        }
    }

    /// Evaluation split over three ranks gives every rank the one-process result: the same
    /// counts, confusion matrix and most confident mistakes, and the loss to 1e-6.
    func testSplitEvaluationEqualsOneProcess() throws {
        let configuration = try configuration(layers: tinyLayers)
        let model = try Sequential(configuration.model, seed: 2)
        let test = MNIST.test.slice(0..<500)
        let normalization = Normalization(mean: 0.1307, std: 0.3081)
        let expected = Evaluator(normalization: normalization, batchSize: 64).evaluate(model, on: test, mistakes: 5)
        XCTAssertEqual(expected.mistakes.count, 5)
        let groups = ThreadedProcessGroup.ranks(3)
        let models = try (0..<3).map { _ in try Sequential(configuration.model, seed: 2) }
        let results = onThreads(3) { rank in
            Evaluator(normalization: normalization, batchSize: 64).evaluate(models[rank], on: test, mistakes: 5, processes: groups[rank])
        }
        for var result in results {
            // Batches of other sizes may round a few images' losses differently in the last bit.
            XCTAssertEqual(result.loss, expected.loss, accuracy: 1e-6 * expected.loss)
            result.loss = expected.loss
            XCTAssertEqual(result, expected)
        }
    }

    private func configuration(layers: String, syncBatchNorm: Bool = false, batchSize: Int = 20, seed: Int = 3) throws -> Configuration {
        // 601 images in batches of 20: the last batch is one image, so one share of it is empty.
        var json = mnistConfigJSON(trainLimit: 601, testLimit: 300, epochs: 2, validation: 0, layers: layers, batchSize: batchSize,
                                   seed: seed, threads: 1)
        if syncBatchNorm { json = json.replacingOccurrences(of: #""schedule": "#, with: #""syncBatchNorm": true, "schedule": "#) }
        return try Configuration.parse(Data(json.utf8), file: "test.json")
    }

    /// Runs `configuration` on `size` ranks (threads); returns each rank's result and directory.
    private func runRanks(_ configuration: Configuration, size: Int) throws -> [(TrainingResult, String)] {
        let data = try TrainerTests.data(configuration)
        let groups = ThreadedProcessGroup.ranks(size)
        let directories = (0..<size).map { _ in temporaryDirectory(self) }
        // Built on the rank threads too: the processes compare their inputs as the trainer is made.
        let results = onThreads(size) { rank in
            Result { try Trainer(configuration: configuration, data: data, checkpointDirectory: directories[rank], processes: groups[rank]).run() }
        }
        return try zip(results, directories).map { (try $0.get(), $1) }
    }

    /// Two ranks each training on half of every batch end where one process training on whole
    /// batches does (up to the order of floating-point sums), with dropout and an empty share in
    /// the last batch; only rank 0 writes files.
    func testTwoRanksMatchOneProcess() throws {
        let layers = """
            {"type": "conv", "filters": 4, "kernel": 5}, {"type": "relu"}, {"type": "maxpool", "size": 2},
            {"type": "flatten"}, {"type": "dense", "units": 32}, {"type": "relu"}, {"type": "dropout", "rate": 0.25},
            {"type": "dense", "units": 10}
            """
        let configuration = try configuration(layers: layers)
        let single = try Trainer(configuration: configuration, data: TrainerTests.data(configuration),
                                 checkpointDirectory: temporaryDirectory(self)).run()
        let ranks = try runRanks(configuration, size: 2)
        for (result, _) in ranks { assertSameRun(result, single) }
        XCTAssertTrue(FileManager.default.fileExists(atPath: ranks[0].1 + "/last.safetensors"))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: ranks[1].1), [], "rank 1 writes nothing")
    }

    /// With `syncBatchNorm`, a batch-norm model on two ranks matches one process; without it,
    /// each rank normalises its own half, which is a different (DDP's default) computation.
    func testSynchronisedBatchNormTrainingMatchesOneProcess() throws {
        let layers = """
            {"type": "conv", "filters": 4, "kernel": 5, "bias": false}, {"type": "batchnorm"}, {"type": "relu"},
            {"type": "maxpool", "size": 2}, {"type": "flatten"}, {"type": "dense", "units": 10}
            """
        let synchronised = try configuration(layers: layers, syncBatchNorm: true)
        let single = try Trainer(configuration: synchronised, data: TrainerTests.data(synchronised),
                                 checkpointDirectory: temporaryDirectory(self)).run()
        for (result, _) in try runRanks(synchronised, size: 2) { assertSameRun(result, single) }
        let perRank = try runRanks(try configuration(layers: layers), size: 2)
        XCTAssertNotEqual(perRank[0].0.epochs.last!.trainLoss, single.epochs.last!.trainLoss, "per-rank statistics differ")
        XCTAssertEqual(perRank[0].0.epochs.last!.test, perRank[1].0.epochs.last!.test, "both ranks evaluate the same averaged model")
    }

    private func assertSameRun(_ result: TrainingResult, _ single: TrainingResult, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(result.epochs.count, single.epochs.count, file: file, line: line)
        for (epoch, expected) in zip(result.epochs, single.epochs) {
            XCTAssertEqual(epoch.trainLoss, expected.trainLoss, accuracy: 1e-4 * expected.trainLoss, file: file, line: line)
            XCTAssertEqual(epoch.test.loss, expected.test.loss, accuracy: 1e-4 * expected.test.loss, file: file, line: line)
            XCTAssertEqual(epoch.trainAccuracy, expected.trainAccuracy, accuracy: 0.001, file: file, line: line)
            XCTAssertEqual(epoch.test.accuracy, expected.test.accuracy, accuracy: 0.001, file: file, line: line)
            XCTAssertEqual(epoch.test.count, expected.test.count, file: file, line: line)
        }
    }

    /// A batch that does not split evenly over the processes, and processes that do not share
    /// the same config, are refused with one line.
    func testMismatchedProcessesAreRefused() throws {
        let layers = tinyLayers
        let configuration = try configuration(layers: layers)
        let data = try TrainerTests.data(configuration)
        // The processes compare their inputs first (a collective), so every rank is made on its own thread.
        let trio = ThreadedProcessGroup.ranks(3)
        let splits = onThreads(3) { rank in
            Result { try Trainer(configuration: configuration, data: data, checkpointDirectory: temporaryDirectory(self),
                                 configurationFile: "test.json", processes: trio[rank]) }
        }
        for split in splits {
            XCTAssertThrowsError(try split.get()) { error in
                XCTAssertEqual("\(error)", "test.json: training.batchSize 20 does not split evenly over 3 processes; give a multiple of 3, e.g. --batch-size 18 or 21")
            }
        }
        // A batch smaller than the process count: the one multiple above it is the example.
        var small = configuration
        small.training.batchSize = 2
        let smallTrio = ThreadedProcessGroup.ranks(3)
        let smallSplits = onThreads(3) { rank in
            Result { try Trainer(configuration: small, data: data, checkpointDirectory: temporaryDirectory(self),
                                 configurationFile: "test.json", processes: smallTrio[rank]) }
        }
        for split in smallSplits {
            XCTAssertThrowsError(try split.get()) { error in
                XCTAssertEqual("\(error)", "test.json: training.batchSize 2 does not split evenly over 3 processes; give a multiple of 3, e.g. --batch-size 3")
            }
        }
        // Every rank finds the same first difference, as the trainer is made.
        let groups = ThreadedProcessGroup.ranks(3)
        let settings = [configuration, configuration, try self.configuration(layers: layers, seed: 4)]
        let datasets = [data, TrainingData(train: data.train.slice(0..<600), validation: nil, test: data.test), data]
        let directories = (0..<3).map { _ in temporaryDirectory(self) }
        let results = onThreads(3) { rank in
            Result { try Trainer(configuration: settings[rank], data: datasets[rank], checkpointDirectory: directories[rank], processes: groups[rank]) }
        }
        for result in results {
            XCTAssertThrowsError(try result.get()) { error in
                XCTAssertEqual("\(error)", "data-parallel training: rank 2's config differs from rank 0's; every process needs the same config, data files, --resume checkpoint and train options (copy them to every machine)")
            }
        }
        // Different gradient buckets (--bucket-kb) are found before the first step.
        let pair = ThreadedProcessGroup.ranks(2)
        let outcomes = onThreads(2) { rank in
            Result { try Trainer(configuration: configuration, data: data, checkpointDirectory: directories[rank], processes: pair[rank],
                                 gradientBucketBytes: rank == 0 ? 512 << 10 : 1).run() }
        }
        for outcome in outcomes {
            XCTAssertThrowsError(try outcome.get()) { error in
                XCTAssertEqual("\(error)", "data-parallel training: rank 1's gradient bucket layout (--bucket-kb, --no-overlap) differs from rank 0's; every process needs the same config, data files, --resume checkpoint and train options (copy them to every machine)")
            }
        }
    }
}
