import Foundation
import XCTest
@testable import ConvNet

final class TrainerTests: XCTestCase {
    /// The data is shared by the tests (loading MNIST takes a moment).
    static func data(_ configuration: Configuration) throws -> TrainingData {
        var train = MNIST.train.slice(0..<(configuration.data.trainLimit ?? 60_000))
        var validation: Dataset?
        if configuration.data.validation > 0 {
            validation = train.slice((train.count - configuration.data.validation)..<train.count)
            train = train.slice(0..<(train.count - configuration.data.validation))
        }
        return TrainingData(train: train, validation: validation, test: MNIST.test.slice(0..<(configuration.data.testLimit ?? 10_000)))
    }

    /// Accuracy on real data: LeNet on 20,000 MNIST images for two epochs reaches ≥ 96% on
    /// 2,000 test images, and the saved checkpoint, loaded back, gives exactly that accuracy.
    func testShortRunReachesAccuracyAndCheckpointReproducesIt() throws {
        let configuration = try mnistConfiguration(trainLimit: 20_000, testLimit: 2_000, epochs: 2)
        let directory = temporaryDirectory(self)
        let trainer = try Trainer(configuration: configuration, data: Self.data(configuration), checkpointDirectory: directory)
        let result = try trainer.run()
        let accuracy = try XCTUnwrap(result.epochs.last).test.accuracy
        XCTAssertGreaterThanOrEqual(accuracy, 0.96)  // measured 96.95% (seed 7, 2 threads)
        XCTAssertFalse(result.interrupted)

        let checkpoint = try Checkpoint.read(contentsOf: directory + "/model.safetensors")
        let reloaded = try checkpoint.makeModel()
        let again = Evaluator(normalization: checkpoint.normalization).evaluate(reloaded, on: MNIST.test.slice(0..<2_000))
        XCTAssertEqual(again.accuracy, accuracy)
        XCTAssertEqual(again.correct, result.epochs.last!.test.correct)
        for file in ["model.safetensors", "last.safetensors", "epoch-0001.safetensors", "epoch-0002.safetensors", "metrics.csv"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: directory + "/" + file), file)
        }
        let csv = try String(contentsOfFile: directory + "/metrics.csv", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(csv.first.map(String.init), Trainer.metricsHeader)
        XCTAssertEqual(csv.count, 3)
    }

    /// Training 2 epochs straight equals 1 epoch, then resuming for the second, and equals an
    /// interrupted-mid-epoch run resumed from its checkpoint: same weights, same metrics.
    func testResumeIsExact() throws {
        let layers = """
            {"type": "conv", "filters": 4, "kernel": 5}, {"type": "relu"}, {"type": "maxpool", "size": 2},
            {"type": "flatten"}, {"type": "dense", "units": 32}, {"type": "relu"}, {"type": "dropout", "rate": 0.25},
            {"type": "dense", "units": 10}
            """
        let two = try mnistConfiguration(trainLimit: 1_200, testLimit: 300, epochs: 2, validation: 200, layers: layers)
        let one = try mnistConfiguration(trainLimit: 1_200, testLimit: 300, epochs: 1, validation: 200, layers: layers)
        let data = try Self.data(two)

        let straightDirectory = temporaryDirectory(self)
        let straight = try Trainer(configuration: two, data: data, checkpointDirectory: straightDirectory)
        let straightResult = try straight.run()

        let splitDirectory = temporaryDirectory(self)
        _ = try Trainer(configuration: one, data: data, checkpointDirectory: splitDirectory).run()
        let afterOne = try Checkpoint.read(contentsOf: splitDirectory + "/last.safetensors")
        XCTAssertEqual(afterOne.epoch, 1)
        let resumed = try Trainer(configuration: two, data: data, checkpointDirectory: splitDirectory,
                                  resume: (afterOne, splitDirectory + "/last.safetensors"))
        let resumedResult = try resumed.run()

        XCTAssertEqual(resumed.model.parameters.map(\.value.values), straight.model.parameters.map(\.value.values))
        XCTAssertEqual(resumed.optimizer.state, straight.optimizer.state)
        XCTAssertEqual(resumedResult.epochs.map(\.trainLoss), [straightResult.epochs[1].trainLoss])
        XCTAssertEqual(resumedResult.epochs.last?.test, straightResult.epochs.last?.test)
        XCTAssertEqual(resumedResult.epochs.last?.validation, straightResult.epochs.last?.validation)
        XCTAssertEqual(try metricsWithoutTiming(splitDirectory), try metricsWithoutTiming(straightDirectory))

        // Interrupted after 7 steps of epoch 1, then resumed from the step.
        let interruptedDirectory = temporaryDirectory(self)
        let interrupted = try Trainer(configuration: two, data: data, checkpointDirectory: interruptedDirectory)
        var steps = 0
        interrupted.shouldStop = { steps += 1; return steps == 7 }
        let stopped = try interrupted.run()
        XCTAssertTrue(stopped.interrupted)
        let midEpoch = try Checkpoint.read(contentsOf: stopped.lastCheckpoint)
        XCTAssertEqual(midEpoch.epoch, 0)
        XCTAssertEqual(midEpoch.step, 7)
        // The stored config reads back as the config, and a mid-epoch position needs the same batch size.
        XCTAssertEqual(try Configuration.parse(Data(midEpoch.configuration!.utf8), file: "stored"), two)
        var otherBatch = two
        otherBatch.training.batchSize = 32
        assertThrows("\(stopped.lastCheckpoint): stopped in the middle of an epoch with batch size 64; resume it with --batch-size 64, not 32") {
            try Trainer(configuration: otherBatch, data: data, checkpointDirectory: interruptedDirectory, resume: (midEpoch, stopped.lastCheckpoint))
        }
        let continued = try Trainer(configuration: two, data: data, checkpointDirectory: interruptedDirectory,
                                    resume: (midEpoch, stopped.lastCheckpoint))
        _ = try continued.run()
        XCTAssertEqual(continued.model.parameters.map(\.value.values), straight.model.parameters.map(\.value.values))
        XCTAssertEqual(try metricsWithoutTiming(interruptedDirectory), try metricsWithoutTiming(straightDirectory))
    }

    /// metrics.csv without the seconds and images-per-second columns.
    private func metricsWithoutTiming(_ directory: String) throws -> [String] {
        try String(contentsOfFile: directory + "/metrics.csv", encoding: .utf8).split(separator: "\n").map { row in
            row.split(separator: ",", omittingEmptySubsequences: false).enumerated()
                .filter { ![6, 7].contains($0.offset) }.map { String($0.element) }.joined(separator: ",")
        }
    }

    func testSameSeedSameRun() throws {
        let configuration = try mnistConfiguration(trainLimit: 640, testLimit: 100, epochs: 1)
        let data = try Self.data(configuration)
        let first = try Trainer(configuration: configuration, data: data, checkpointDirectory: temporaryDirectory(self))
        let second = try Trainer(configuration: configuration, data: data, checkpointDirectory: temporaryDirectory(self))
        let (a, b) = (try first.run(), try second.run())
        XCTAssertEqual(a.epochs.map(\.trainLoss), b.epochs.map(\.trainLoss))
        XCTAssertEqual(first.model.parameters.map(\.value.values), second.model.parameters.map(\.value.values))
    }

    func testDivergenceStopsWithoutOverwritingTheCheckpoint() throws {
        var configuration = try mnistConfiguration(trainLimit: 640, testLimit: 100, epochs: 1)
        let directory = temporaryDirectory(self)
        let data = try Self.data(configuration)
        _ = try Trainer(configuration: configuration, data: data, checkpointDirectory: directory).run()
        let before = FileManager.default.contents(atPath: directory + "/last.safetensors")
        configuration.training.epochs = 2
        configuration.training.optimizer.learningRate = 10
        let resumeFrom = try Checkpoint.read(contentsOf: directory + "/last.safetensors")
        let trainer = try Trainer(configuration: configuration, data: data, checkpointDirectory: directory,
                                  resume: (resumeFrom, directory + "/last.safetensors"))
        assertThrows("training diverged: the loss became", contains: true) { try trainer.run() }
        assertThrows("(learning rate 5.0); try a lower learning rate, e.g. --learning-rate 0.5. The last good checkpoint was not overwritten.", contains: true) { try trainer.run() }
        XCTAssertEqual(FileManager.default.contents(atPath: directory + "/last.safetensors"), before)
    }

    func testMismatchesAreRefused() throws {
        let configuration = try mnistConfiguration(trainLimit: 640, testLimit: 100, epochs: 1)
        let data = try Self.data(configuration)
        let directory = temporaryDirectory(self)
        _ = try Trainer(configuration: configuration, data: data, checkpointDirectory: directory).run()
        let checkpoint = try Checkpoint.read(contentsOf: directory + "/last.safetensors")
        // A different architecture cannot resume this checkpoint.
        let other = try mnistConfiguration(trainLimit: 640, testLimit: 100, epochs: 2, layers: """
            {"type": "flatten"}, {"type": "dense", "units": 10}
            """)
        assertThrows("\(directory)/last.safetensors: was trained with a different model than the config's: checkpoint [1×28×28: conv 20@5×5, relu, maxpool 2, conv 50@5×5, relu, maxpool 2, flatten, dense 500, relu, dense 10], config [1×28×28: flatten, dense 10]") {
            try Trainer(configuration: other, data: data, checkpointDirectory: directory, resume: (checkpoint, directory + "/last.safetensors"))
        }
        // A finished run is not resumed silently.
        assertThrows("\(directory)/last.safetensors: has already completed 1 epochs; pass --epochs N with N > 1 to train further") {
            try Trainer(configuration: configuration, data: data, checkpointDirectory: directory, resume: (checkpoint, directory + "/last.safetensors"))
        }
        // A model-only checkpoint holds no training state.
        let model = try Checkpoint.read(contentsOf: directory + "/model.safetensors")
        var longer = configuration
        longer.training.epochs = 2
        assertThrows("holds a model only, not a training state", contains: true) {
            try Trainer(configuration: longer, data: data, checkpointDirectory: directory, resume: (model, directory + "/model.safetensors"))
        }
        // The last layer must match the number of classes.
        let wrongClasses = try mnistConfiguration(trainLimit: 640, testLimit: 100, epochs: 1, layers: """
            {"type": "flatten"}, {"type": "dense", "units": 7}
            """)
        assertThrows("test.json: the model ends with 7 outputs but the data has 10 classes; make the last dense layer's units 10") {
            try Trainer(configuration: wrongClasses, data: data, checkpointDirectory: directory, configurationFile: "test.json")
        }
        // An unwritable checkpoint location is found before training.
        let blocked = directory + "/model.safetensors/sub"
        assertThrows("\(blocked): cannot create the checkpoint directory: a parent of this path is not a directory") {
            try Trainer(configuration: configuration, data: data, checkpointDirectory: blocked)
        }
    }

    func testModelMustFitTheData() throws {
        var configuration = try mnistConfiguration(trainLimit: 100, testLimit: 100, epochs: 1)
        configuration.model.input = [1, 32, 32]
        assertThrows("test.json: model.input is 1×32×32 but \(MNIST.trainImages) holds 1×28×28 images; set model.input to [1, 28, 28]") {
            try TrainingData.load(configuration, configurationFile: "test.json")
        }
        configuration.model.input = [1, 28, 28]
        configuration.data.validation = 100
        assertThrows("test.json: data.validation holds out 100 images but only 100 training images are loaded") {
            try TrainingData.load(configuration, configurationFile: "test.json")
        }
    }

    /// A training checkpoint written by the first release (format version 1) resumes exactly:
    /// one more epoch from it gives, bit for bit, the weights the first release itself reached
    /// (`resumed-model.safetensors`, written by that release from the same checkpoint). Its
    /// layers ran on OpenBLAS, so these do too (ConvNet's own kernel rounds differently).
    func testResumesAVersion1Checkpoint() throws {
        let backend = GEMMBackend.preferred
        GEMMBackend.preferred = .openBLAS
        defer { GEMMBackend.preferred = backend }
        let directory = repositoryRoot + "/Tests/Data/checkpoint-v1"
        let text = try String(contentsOfFile: directory + "/config.json", encoding: .utf8)
            .replacingOccurrences(of: "\"data/mnist/", with: "\"\(repositoryRoot)/data/mnist/")
        var configuration = try Configuration.parse(Data(text.utf8), file: "config.json")
        configuration.training.epochs = 2
        let checkpoint = try Checkpoint.read(contentsOf: directory + "/last.safetensors")
        let output = temporaryDirectory(self)
        let trainer = try Trainer(configuration: configuration, data: Self.data(configuration), checkpointDirectory: output,
                                  resume: (checkpoint, directory + "/last.safetensors"))
        let result = try trainer.run()
        XCTAssertEqual(result.epochs.map(\.epoch), [2])
        let reference = try Checkpoint.read(contentsOf: directory + "/resumed-model.safetensors")
        XCTAssertEqual(trainer.model.stateDictionary, reference.modelState)
    }

    /// `best.safetensors` holds the best epoch's model; early stopping ends the run `patience`
    /// epochs after it, and resuming such a run has nothing left to do.
    func testBestCheckpointAndEarlyStopping() throws {
        var configuration = try mnistConfiguration(trainLimit: 640, testLimit: 200, epochs: 5, layers: tinyLayers)
        // Nothing can gain half the accuracy again: epoch 1 stays the best.
        configuration.training.earlyStopping = .init(patience: 2, minimumImprovement: 0.5)
        let directory = temporaryDirectory(self)
        let data = try Self.data(configuration)
        let result = try Trainer(configuration: configuration, data: data, checkpointDirectory: directory).run()
        XCTAssertTrue(result.stoppedEarly)
        XCTAssertFalse(result.interrupted)
        XCTAssertEqual(result.epochs.map(\.epoch), [1, 2, 3])
        XCTAssertEqual(result.bestEpoch, 1)
        let best = try Checkpoint.read(contentsOf: directory + "/best.safetensors")
        XCTAssertEqual(best.epoch, 1)
        XCTAssertNil(best.trainingState)
        XCTAssertEqual(best.modelState, try Checkpoint.read(contentsOf: directory + "/epoch-0001.safetensors").modelState)
        XCTAssertNotEqual(best.modelState, try Checkpoint.read(contentsOf: directory + "/model.safetensors").modelState)
        let last = try Checkpoint.read(contentsOf: directory + "/last.safetensors")
        let again = try Trainer(configuration: configuration, data: data, checkpointDirectory: directory, resume: (last, directory + "/last.safetensors")).run()
        XCTAssertEqual(again.epochs.count, 0)
        XCTAssertTrue(again.stoppedEarly)
    }

    /// `initialize(from:)` takes every tensor whose name and shape match and leaves the last
    /// layer of a model for five classes afresh.
    func testInitializeFromATrainedModel() throws {
        let ten = try mnistConfiguration(trainLimit: 640, testLimit: 100, epochs: 1, layers: tinyLayers)
        let directory = temporaryDirectory(self)
        _ = try Trainer(configuration: ten, data: Self.data(ten), checkpointDirectory: directory).run()
        let trained = try Checkpoint.read(contentsOf: directory + "/model.safetensors")

        var five = ten
        five.model.layers[4] = .dense(units: 5)
        func firstFive(_ dataset: Dataset) -> Dataset {
            let kept = (0..<dataset.count).filter { dataset.labels[$0] < 5 }
            return Dataset(images: kept.flatMap { dataset.images[($0 * 784)..<(($0 + 1) * 784)] }, labels: kept.map { dataset.labels[$0] },
                           sampleShape: dataset.sampleShape, classNames: Array(dataset.classNames.prefix(5)))
        }
        let data = TrainingData(train: firstFive(MNIST.train.slice(0..<640)), validation: nil, test: firstFive(MNIST.test.slice(0..<100)))
        let trainer = try Trainer(configuration: five, data: data, checkpointDirectory: temporaryDirectory(self))
        let initialization = try trainer.initialize(from: trained, path: "trained.safetensors")
        XCTAssertEqual(initialization.loaded, ["0.weight", "0.bias"])
        XCTAssertEqual(initialization.fresh.map(\.name), ["4.weight", "4.bias"])
        XCTAssertEqual(initialization.fresh[0].reason, "the checkpoint has 10×576, the model needs 5×576")
        let state = Dictionary(uniqueKeysWithValues: trainer.model.stateDictionary.map { ($0.name, $0) })
        XCTAssertEqual(state["0.weight"], trained.modelState.first { $0.name == "0.weight" })
        // A checkpoint of an unrelated model has nothing to give.
        let other = try Sequential(ModelDescription(input: [1, 28, 28], layers: [.flatten, .dense(units: 5)]), seed: 1)
        assertThrows("other.safetensors: has no tensor of this model's names and shapes to start from") {
            try trainer.initialize(from: Checkpoint(model: other, classNames: (0..<5).map(String.init), normalization: .none), path: "other.safetensors")
        }
    }

    /// A batch-norm model trained with Adam (and one with AdamW) resumes exactly: straight
    /// 2 epochs equal stopped after 5 steps of the first epoch and resumed: the same state
    /// dictionary (running statistics included), optimizer state and metrics.csv.
    func testResumeIsExactForBatchNormAndAdam() throws {
        let layers = """
            {"type": "conv", "filters": 4, "kernel": 3, "padding": "same", "bias": false}, {"type": "batchnorm"}, {"type": "relu"},
            {"type": "maxpool", "size": 2}, {"type": "flatten"}, {"type": "dense", "units": 16}, {"type": "batchnorm"},
            {"type": "relu"}, {"type": "dropout", "rate": 0.2}, {"type": "dense", "units": 10}
            """
        for optimizer in [#"{"type": "adam", "learningRate": 0.002}"#, #"{"type": "adamw", "learningRate": 0.002, "weightDecay": 0.05}"#] {
            var json = mnistConfigJSON(trainLimit: 700, testLimit: 200, epochs: 2, validation: 100, layers: layers)
            json = json.replacingOccurrences(of: #""optimizer": {"learningRate": 0.01, "momentum": 0.9, "weightDecay": 0.0005}"#,
                                             with: #""augmentation": {"crop": {"padding": 2}, "affine": {"rotation": 10, "scale": [0.9, 1.1]}, "erasing": {"probability": 0.3}}, "optimizer": "# + optimizer)
            let configuration = try Configuration.parse(Data(json.utf8), file: "test.json")
            XCTAssertNotEqual(configuration.training.optimizer.typeName, "sgd")
            XCTAssertEqual(configuration.training.augmentation?.isActive, true)
            let data = try Self.data(configuration)

            let straightDirectory = temporaryDirectory(self)
            let straight = try Trainer(configuration: configuration, data: data, checkpointDirectory: straightDirectory)
            _ = try straight.run()

            let interruptedDirectory = temporaryDirectory(self)
            let interrupted = try Trainer(configuration: configuration, data: data, checkpointDirectory: interruptedDirectory)
            var steps = 0
            interrupted.shouldStop = { steps += 1; return steps == 5 }
            let stopped = try interrupted.run()
            XCTAssertTrue(stopped.interrupted)
            let checkpoint = try Checkpoint.read(contentsOf: stopped.lastCheckpoint)
            let resumed = try Trainer(configuration: configuration, data: data, checkpointDirectory: interruptedDirectory,
                                      resume: (checkpoint, stopped.lastCheckpoint))
            _ = try resumed.run()
            XCTAssertEqual(resumed.model.stateDictionary, straight.model.stateDictionary, optimizer)
            XCTAssertEqual(resumed.optimizer.state, straight.optimizer.state, optimizer)
            XCTAssertEqual(try metricsWithoutTiming(interruptedDirectory), try metricsWithoutTiming(straightDirectory), optimizer)

            // Another optimizer type cannot continue this state.
            var other = configuration
            other.training.optimizer = OptimizerSettings(SGD.Specification(learningRate: 0.01))
            assertThrows("was trained with optimizer \(configuration.training.optimizer.typeName) but the config's is sgd", contains: true) {
                try Trainer(configuration: other, data: data, checkpointDirectory: interruptedDirectory, resume: (checkpoint, stopped.lastCheckpoint))
            }
        }
    }
}
