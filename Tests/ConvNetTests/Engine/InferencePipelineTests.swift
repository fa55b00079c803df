import Foundation
import XCTest
@testable import ConvNet

/// Inference image by image (`InferencePipeline`) against the same model layer by layer.
final class InferencePipelineTests: XCTestCase {
    override func tearDown() { Parallelism.threads = 1 }

    /// The model's JSON and the chains of image-wise layers it should run image by image.
    private static let models: [(name: String, json: String, chains: [Range<Int>])] = [
        ("LeNet", ModelTests.lenetJSON, [0..<7]),
        ("batch norm", """
         {"input": [1, 16, 16], "layers": [
           {"type": "conv", "filters": 6, "kernel": 3, "bias": false}, {"type": "batchnorm"}, {"type": "relu"},
           {"type": "maxpool", "size": 2}, {"type": "conv", "filters": 8, "kernel": 3}, {"type": "batchnorm"}, {"type": "relu"},
           {"type": "maxpool", "size": 2}, {"type": "flatten"}, {"type": "dense", "units": 12}, {"type": "batchnorm"},
           {"type": "relu"}, {"type": "dropout", "rate": 0.4}, {"type": "dense", "units": 5}]}
         """, [0..<9, 10..<13]),
        ("padding, strides and other activations", """
         {"input": [3, 13, 11], "layers": [
           {"type": "conv", "filters": 5, "kernel": [3, 5], "stride": 2, "padding": [1, 2]}, {"type": "leakyrelu", "slope": 0.1},
           {"type": "avgpool", "size": 2, "stride": 1}, {"type": "tanh"}, {"type": "conv", "filters": 7, "kernel": 3, "padding": "same"},
           {"type": "sigmoid"}, {"type": "maxpool", "size": 3, "stride": 1}, {"type": "globalavgpool"}, {"type": "dense", "units": 4}]}
         """, [0..<7]),
    ]

    /// The same bits, for every thread count and batch size, with running estimates away from 0 and 1.
    func testImageByImageMatchesLayerByLayerBitForBit() throws {
        for (name, json, chains) in Self.models {
            let description = try JSONDecoder().decode(ModelDescription.self, from: Data(json.utf8))
            for threads in [1, 2, 3] {
                Parallelism.threads = threads
                let model = try Sequential(description, seed: 5)
                XCTAssertEqual(model.inferenceChains, chains, name)
                for (index, layer) in model.layers.enumerated() {
                    for buffer in layer.buffers {
                        guard case .float32(let values) = buffer.storage else { continue }
                        let random = randomTensor(values.shape, seed: UInt64(index))
                        for i in 0..<values.count { values.data[i] = buffer.name.hasSuffix("var") ? 0.5 + abs(random.data[i]) : random.data[i] }
                    }
                }
                for batch in [1, 2, 3, 7] {
                    let input = randomTensor([batch] + model.inputShape, seed: UInt64(10 * threads + batch))
                    model.runsImageByImage = false
                    let expected = model.forward(input, phase: .inference).values
                    model.runsImageByImage = true
                    let actual = model.forward(input, phase: .inference)
                    XCTAssertEqual(actual.shape, [batch, model.outputCount], name)
                    XCTAssertEqual(actual.values, expected, "\(name), \(threads) threads, batch \(batch)")
                    XCTAssertTrue(expected.allSatisfy(\.isFinite), name)
                }
            }
        }
    }

    /// An evaluation between training steps leaves training as it was: weights, running
    /// statistics and what the next steps compute.
    func testInferenceBetweenTrainingStepsChangesNothing() throws {
        let description = try JSONDecoder().decode(ModelDescription.self, from: Data(Self.models[1].json.utf8))
        Parallelism.threads = 2
        var results: [[Float]] = []
        for evaluates in [false, true] {
            let model = try Sequential(description, seed: 8)
            let loss = SoftmaxCrossEntropy()
            var values: [Float] = []
            for step in 0..<2 {
                let logits = model.forward(randomTensor([4, 1, 16, 16], seed: UInt64(step)), phase: .training).values
                loss.forward(logits: Tensor(shape: [4, 5], values: logits), labels: [0, 1, 2, 3])
                model.zeroGradients()
                model.backward(loss.backward())
                values += logits + model.parameters.flatMap(\.gradient.values)
                if evaluates { _ = model.forward(randomTensor([6, 1, 16, 16], seed: 99), phase: .inference) }
            }
            results.append(values)
        }
        XCTAssertEqual(results[0], results[1])
    }

    /// Gradients after an inference pass (a fresh model, and one after a training step) are the
    /// same whether that pass ran image by image or layer by layer: an image-by-image chain keeps
    /// nothing for backward, so the model runs the pass again layer by layer first.
    func testBackwardAfterImageByImageInference() throws {
        let description = try JSONDecoder().decode(ModelDescription.self, from: Data(Self.models[1].json.utf8))
        for threads in [1, 2] {
            Parallelism.threads = threads
            for trainedFirst in [false, true] {
                var results: [[Float]] = []
                for imageByImage in [false, true] {
                    let model = try Sequential(description, seed: 11)
                    model.runsImageByImage = imageByImage
                    if trainedFirst {
                        _ = model.forward(randomTensor([4, 1, 16, 16], seed: 1), phase: .training)
                        model.backward(randomTensor([4, 5], seed: 2))
                    }
                    let logits = model.forward(randomTensor([4, 1, 16, 16], seed: 3), phase: .inference).values
                    model.zeroGradients()
                    model.backward(randomTensor([4, 5], seed: 4))
                    results.append(logits + model.parameters.flatMap(\.gradient.values))
                }
                XCTAssertEqual(results[1], results[0], "\(threads) threads, trained first \(trainedFirst)")
            }
        }
    }
}
