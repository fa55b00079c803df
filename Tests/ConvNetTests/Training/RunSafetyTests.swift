import Foundation
import XCTest
@testable import ConvNet

/// What keeps a run's directory trustworthy: one run at a time, no silent mixing with an
/// earlier run, metrics that agree with the checkpoint whenever the run stopped, no checkpoint
/// of exploded weights, and no run started that cannot fit in memory.
final class RunSafetyTests: XCTestCase {
    /// The tiny model on a few hundred MNIST images; with `everyEpoch`, an `epoch-NNNN` file after each epoch.
    private func tinyConfiguration(epochs: Int = 1, trainLimit: Int = 320, batchSize: Int = 64, everyEpoch: Bool = false) throws -> Configuration {
        let json = mnistConfigJSON(trainLimit: trainLimit, testLimit: 100, epochs: epochs, layers: tinyLayers, batchSize: batchSize)
        var configuration = try Configuration.parse(Data(json.utf8), file: "test.json")
        if everyEpoch { (configuration.checkpoint.every, configuration.checkpoint.keep) = (1, 5) }
        return configuration
    }

    func testSecondRunIntoALockedDirectoryIsRefused() throws {
        let configuration = try tinyConfiguration()
        let data = try TrainerTests.data(configuration)
        let directory = temporaryDirectory(self)
        let first = try Trainer(configuration: configuration, data: data, checkpointDirectory: directory)
        assertThrows("\(directory): another training run (pid \(getpid())) is writing to this directory; wait for it, or give this run another one with --output") {
            try Trainer(configuration: configuration, data: data, checkpointDirectory: directory)
        }
        _ = try first.run()
        XCTAssertTrue(FileManager.default.fileExists(atPath: directory + "/last.safetensors"))
    }

    func testNewRunIntoAnEarlierRunsDirectoryNeedsOverwrite() throws {
        var configuration = try tinyConfiguration(epochs: 3, everyEpoch: true)
        let data = try TrainerTests.data(configuration)
        let directory = temporaryDirectory(self)
        _ = try Trainer(configuration: configuration, data: data, checkpointDirectory: directory).run()
        configuration.training.epochs = 1
        assertThrows("\(directory): holds an earlier run (best.safetensors, confusion-best.csv, confusion-last.csv, …); continue it with --resume \(directory)/last.safetensors, replace it with --overwrite, or give another --output") {
            try Trainer(configuration: configuration, data: data, checkpointDirectory: directory)
        }
        // --overwrite deletes the earlier run's files: no stale epoch-0002/0003 beside the new run.
        _ = try Trainer(configuration: configuration, data: data, checkpointDirectory: directory, overwrite: true).run()
        let files = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasPrefix("epoch-") }
        XCTAssertEqual(files, ["epoch-0001.safetensors"])
        XCTAssertEqual(try String(contentsOfFile: directory + "/metrics.csv", encoding: .utf8).split(separator: "\n").count, 2)
    }

    /// A run killed after writing metrics.csv but before its checkpoint (metrics one row
    /// ahead), or with metrics.csv lost: resuming rewrites metrics.csv from the rows the
    /// checkpoint carries, and the run ends with exactly an uninterrupted run's rows.
    func testMetricsAgreeWithTheCheckpointWheneverTheRunStopped() throws {
        let configuration = try tinyConfiguration(epochs: 3, everyEpoch: true)
        let data = try TrainerTests.data(configuration)
        let straight = temporaryDirectory(self)
        _ = try Trainer(configuration: configuration, data: data, checkpointDirectory: straight).run()
        let expected = try metricsWithoutTimes(straight)
        XCTAssertEqual(expected.count, 3)

        for damage in ["metrics ahead of the checkpoint", "metrics lost"] {
            let directory = temporaryDirectory(self)
            try FileManager.default.removeItem(atPath: directory)
            try FileManager.default.copyItem(atPath: straight, toPath: directory)
            if damage == "metrics lost" { try FileManager.default.removeItem(atPath: directory + "/metrics.csv") }
            let checkpoint = try Checkpoint.read(contentsOf: directory + "/epoch-0001.safetensors")
            XCTAssertEqual(checkpoint.trainingState?.metricsRows?.count, 1)
            let trainer = try Trainer(configuration: configuration, data: data, checkpointDirectory: directory,
                                      resume: (checkpoint, directory + "/epoch-0001.safetensors"))
            XCTAssertEqual(try metricsWithoutTimes(directory), Array(expected.prefix(1)), damage)
            _ = try trainer.run()
            XCTAssertEqual(try metricsWithoutTimes(directory), expected, damage)
        }
    }

    private func metricsWithoutTimes(_ directory: String) throws -> [String] {
        try String(contentsOfFile: directory + "/metrics.csv", encoding: .utf8).split(separator: "\n").dropFirst().map { row in
            row.split(separator: ",", omittingEmptySubsequences: false).enumerated()
                .filter { ![6, 7].contains($0.offset) }.map { String($0.element) }.joined(separator: ",")
        }
    }

    /// One step per epoch with an enormous learning rate: the step's loss is finite (it is
    /// computed before the update) but the update leaves NaN or infinite weights. No checkpoint
    /// is written, and a checkpoint holding such values is refused when read.
    func testExplodedWeightsAreNeverSaved() throws {
        var configuration = try tinyConfiguration(trainLimit: 64)
        configuration.training.optimizer.learningRate = 1e30
        let data = try TrainerTests.data(configuration)
        let directory = temporaryDirectory(self)
        let trainer = try Trainer(configuration: configuration, data: data, checkpointDirectory: directory)
        // Weights of about 1e30 are finite, but the logits they give are not: the evaluation after
        // the epoch finds it.
        assertThrows("training diverged: the loss became", contains: true) { try trainer.run() }
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory + "/last.safetensors"))
        // State the training loss never sees: batch norm's running variance (training normalises
        // with the batch's own statistics) gone NaN.
        let json = mnistConfigJSON(trainLimit: 64, testLimit: 100, epochs: 1, layers: """
            {"type": "conv", "filters": 4, "kernel": 5}, {"type": "batchnorm"}, {"type": "relu"}, {"type": "maxpool", "size": 2},
            {"type": "flatten"}, {"type": "dense", "units": 10}
            """)
        let normalised = try Configuration.parse(Data(json.utf8), file: "test.json")
        let quiet = temporaryDirectory(self)
        let poisoned = try Trainer(configuration: normalised, data: data, checkpointDirectory: quiet)
        guard let batchNorm = poisoned.model.layers[1] as? BatchNorm else { return XCTFail("layer 1 is batch norm") }
        guard case .float32(let variance) = batchNorm.runningVariance.storage else { return XCTFail("running_var is Float32") }
        variance[2] = .nan
        assertThrows("training diverged: tensor \"1.running_var\" holds NaN or infinite values at the end of epoch 1 (learning rate 0.01); try a lower learning rate, e.g. --learning-rate 0.001. No checkpoint was written; the last good one is unchanged.") {
            try poisoned.run()
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: quiet + "/last.safetensors"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory + "/last.safetensors"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory + "/model.safetensors"))

        let model = try Sequential(ModelDescription(input: [1, 28, 28], layers: try JSONDecoder().decode([LayerSpec].self, from: Data("[\(tinyLayers)]".utf8))), seed: 1)
        model.parameters[0].value[3] = .infinity
        let bytes = Checkpoint(model: model, classNames: MNIST.classes, normalization: .none).encoded()
        assertThrows("bad.safetensors: tensor \"0.weight\" holds NaN or infinite values: the run that wrote it had diverged") {
            try Checkpoint.decode(bytes, name: "bad.safetensors")
        }
    }

    /// The memory estimate is checked before the model is allocated: a batch that cannot fit
    /// under the limit is refused with the numbers.
    func testRunThatCannotFitIsRefusedBeforeAllocating() throws {
        var configuration = try tinyConfiguration()
        let data = try TrainerTests.data(configuration)
        let fits = try Trainer(configuration: configuration, data: data, checkpointDirectory: temporaryDirectory(self))
        XCTAssertGreaterThan(fits.memoryEstimate, MemoryBudget.processBaseBytes)
        XCTAssertLessThan(fits.memoryEstimate, 200 << 20)
        configuration.training.batchSize = 65_536
        assertThrows("test.json: the run would need about", contains: true) {
            try Trainer(configuration: configuration, data: data, checkpointDirectory: temporaryDirectory(self),
                        configurationFile: "test.json", memoryLimit: 1 << 30)
        }
        assertThrows("more than the 1.0 GB of --max-memory; lower training.batchSize (--batch-size) or the model's size, or raise --max-memory", contains: true) {
            try Trainer(configuration: configuration, data: data, checkpointDirectory: temporaryDirectory(self),
                        configurationFile: "test.json", memoryLimit: 1 << 30)
        }
    }

    /// The estimate follows the model: every layer's output per image, times the batch (three
    /// times over for training), the parameters with gradients and optimizer state, and the
    /// largest im2col columns per thread.
    func testMemoryEstimateAddsUpTheModel() throws {
        let plan = try ModelPlan(ModelDescription(input: [1, 28, 28], layers: try JSONDecoder().decode([LayerSpec].self, from: Data("[\(tinyLayers)]".utf8))))
        // input 784, conv 4×24×24 = 2304, relu 2304, pool 4×12×12 = 576, flatten 576, dense 10.
        XCTAssertEqual(plan.activationValuesPerImage, 784 + 2304 + 2304 + 576 + 576 + 10)
        let parameters = 4 * 25 + 4 + 576 * 10 + 10
        let columns = 25 * 24 * 24
        XCTAssertEqual(plan.memoryEstimate(batchSize: 8, training: false, threads: 2), parameters * 4 + 6554 * 8 * 4 + columns * 4 * 2)
        XCTAssertEqual(plan.memoryEstimate(batchSize: 8, training: true, optimizerStates: 2, threads: 1), parameters * 16 + 6554 * 8 * 12 + columns * 4)
    }

    /// A directory where a run was killed while writing its first checkpoint holds metrics.csv
    /// but no last.safetensors: the refusal does not suggest resuming from a file that is not there.
    func testEarlierRunWithoutACheckpointIsNotOfferedForResume() throws {
        let configuration = try tinyConfiguration()
        let data = try TrainerTests.data(configuration)
        let directory = temporaryDirectory(self)
        XCTAssertTrue(FileManager.default.createFile(atPath: directory + "/metrics.csv", contents: Data(Trainer.metricsHeader.utf8)))
        assertThrows("\(directory): holds an earlier run (metrics.csv); replace it with --overwrite, or give another --output") {
            try Trainer(configuration: configuration, data: data, checkpointDirectory: directory)
        }
    }

    /// Resuming with a config that asks for other normalisation values than the run was
    /// trained with is refused: the weights were made for the stored inputs.
    func testResumeWithAnotherNormalisationIsRefused() throws {
        var configuration = try tinyConfiguration(epochs: 2)
        let data = try TrainerTests.data(configuration)
        let directory = temporaryDirectory(self)
        _ = try Trainer(configuration: configuration, data: data, checkpointDirectory: directory).run()
        configuration.training.epochs = 3
        configuration.data.normalize = .fixed(Normalization(mean: 0.9, std: 0.05))
        let path = directory + "/last.safetensors"
        assertThrows("\(path): was trained with data.normalize {\"mean\":[0.1307],\"std\":[0.3081]} but the config says {\"mean\":[0.9],\"std\":[0.05]}; resume with the normalisation it was trained with") {
            try Trainer(configuration: configuration, data: data, checkpointDirectory: directory, resume: (try Checkpoint.read(contentsOf: path), path))
        }
    }
}
