import ConvNet
import Foundation
import XCTest

/// Mutated config JSON through `Configuration.parse`, then the parsed model through
/// `Sequential` with a small parameter limit.
final class ConfigurationFuzzTests: XCTestCase {
    /// Models over this many parameters are refused, so an accepted mutation never builds a big one.
    static let parameterLimit = 1_000_000

    /// The bundled configs, plus two small ones that use every key, layer option and schedule type.
    static let seeds: [[UInt8]] = {
        let bundled = ["mnist", "fashion-mnist", "mnist-png"].map {
            Array(FileManager.default.contents(atPath: "\(repositoryRoot)/configs/\($0).json")!)
        }
        let everyOption = """
            {"name": "fuzz-small", "description": "every option",
             "data": {"format": "idx", "train": {"images": "a.gz", "labels": "b.gz"}, "test": {"images": "c", "labels": "d"},
                      "classes": ["x", "y", "z"], "validation": 2, "trainLimit": 10, "testLimit": 5,
                      "normalize": {"mean": 0.5, "std": 0.25}},
             "model": {"input": [1, 12, 10], "layers": [
                {"type": "conv", "filters": 3, "kernel": [3, 2], "stride": [1, 2], "padding": [1, 0], "bias": false},
                {"type": "relu"}, {"type": "maxpool", "size": 2, "stride": 1}, {"type": "avgpool", "size": [2, 1]},
                {"type": "flatten"}, {"type": "dropout", "rate": 0.25}, {"type": "dense", "units": 3}]},
             "training": {"epochs": 2, "batchSize": 4, "seed": 9, "threads": 1,
                          "optimizer": {"type": "sgd", "learningRate": 0.1, "momentum": 0.5, "weightDecay": 0.001, "nesterov": true},
                          "schedule": {"type": "step", "every": 1, "factor": 0.5}},
             "checkpoint": {"directory": "/tmp/x", "every": 2, "keep": 0}}
            """
        let otherSchedules = """
            {"name": "fuzz-folders", "data": {"format": "png-folders", "root": "data/x", "classes": ["a", "b"]},
             "model": {"input": [2, 5, 5], "layers": [{"type": "conv", "filters": 2, "kernel": 5, "padding": 2, "stride": 2},
                       {"type": "avgpool", "size": 3, "stride": [1, 2]}, {"type": "flatten"}, {"type": "dense", "units": 2}]},
             "training": {"epochs": 1, "batchSize": 1, "optimizer": {"learningRate": 1e-3},
                          "schedule": {"type": "inv", "gamma": 0.0001, "power": 0.75}}}
            """
        return bundled + [Array(everyOption.utf8), Array(otherSchedules.utf8)]
    }()

    /// The JSON-aware edits, as mutations of the whole file.
    static let jsonMutations: [Mutation] = JSONEdit.all.map { edit in
        Mutation(edit.name) { bytes, random in bytes = edit.edit(bytes, &random) }
    }

    /// Checks a parsed config: it survives writing and parsing again, and its model either
    /// builds within the parameter limit or throws `ModelError` with a one-line description.
    static func checkLoaded(_ configuration: Configuration, _ input: FuzzInput) {
        do throws(ConfigError) {
            let again = try Configuration.parse(Data(configuration.jsonString().utf8), file: "re-encoded")
            input.check(again == configuration, "writing and parsing the config again changes it")
        } catch {
            input.fail("parsed, but its own JSON does not parse again: \(error)")
        }
        do throws(ModelError) {
            let model = try Sequential(configuration.model, seed: 1, parameterLimit: parameterLimit)
            let parameterCount = model.parameters.reduce(0) { $0 + $1.value.count }
            input.check(parameterCount <= parameterLimit, "built \(parameterCount) parameters, over the \(parameterLimit) limit")
            input.check(model.outputCount >= 1 && model.shapes.allSatisfy { $0.allSatisfy { $0 > 0 } },
                        "built a model with shapes \(model.shapes)")
        } catch {
            input.check(!error.description.isEmpty && !error.description.contains(where: \.isNewline),
                        "the model error is not one non-empty line: \(error.description.debugDescription)")
        }
    }

    func testConfigurationMutationsParseOrThrowConfigError() {
        var campaign = FuzzCampaign(reader: "Config", defaultSeed: 5, seeds: Self.seeds,
                                    mutations: Mutation.byteLevel + Self.jsonMutations)
        campaign.fixedInputs = Self.seeds.enumerated().map { ("valid input \($0.offset)", $0.offset, $0.element) }
        campaign.run { input in
            do throws(ConfigError) {
                let configuration = try Configuration.parse(Data(input.bytes), file: "fuzz.json")
                Self.checkLoaded(configuration, input)
                return .loaded
            } catch {
                return input.rejected(error, files: ["fuzz.json"])
            }
        }
    }
}
