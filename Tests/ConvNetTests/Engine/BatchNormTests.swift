import Foundation
import XCTest
@testable import ConvNet

/// Batch norm against its definition (PyTorch's BatchNorm2d/1d), computed naively in Double.
final class BatchNormTests: XCTestCase {
    override func tearDown() { Parallelism.threads = 1 }

    /// Per channel c of x `[N, C, S]`: mean, biased variance and the values.
    private func channelValues(_ x: [Float], shape: [Int], channel: Int) -> [Double] {
        let spatial = shape.dropFirst(2).reduce(1, *)
        return (0..<shape[0]).flatMap { n in (0..<spatial).map { Double(x[(n * shape[1] + channel) * spatial + $0]) } }
    }

    func testTrainingForwardAndRunningStatisticsFollowTheDefinition() {
        for (shape, threads) in [([4, 3, 5, 5], 1), ([6, 7], 2), ([3, 2, 4, 6], 3)] {
            Parallelism.threads = threads
            let channels = shape[1]
            let layer = BatchNorm(channels: channels, momentum: 0.1, epsilon: 1e-5)
            for c in 0..<channels { layer.weight.value[c] = 0.5 + Float(c); layer.bias.value[c] = Float(c) - 1 }
            let x = randomTensor(shape, seed: 3)
            for i in 0..<x.count { x[i] = x[i] * 3 + 2 }
            let y = layer.forward(x, phase: .training).values
            for _ in 0..<2 { _ = layer.forward(x, phase: .training) }  // three steps in all
            guard case .float32(let runningMean) = layer.runningMean.storage,
                  case .float32(let runningVariance) = layer.runningVariance.storage,
                  case .int64(let tracked) = layer.batchesTracked.storage else { return XCTFail("buffer types") }
            XCTAssertEqual(tracked.values, [3])
            let spatial = shape.dropFirst(2).reduce(1, *)
            for c in 0..<channels {
                let values = channelValues(x.values, shape: shape, channel: c)
                let n = Double(values.count)
                let mean = values.reduce(0, +) / n
                let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / n
                for (index, value) in values.enumerated() {
                    let (image, s) = (index / spatial, index % spatial)
                    let expected = Double(layer.weight.value[c]) * (value - mean) / (variance + 1e-5).squareRoot() + Double(layer.bias.value[c])
                    XCTAssertEqual(Double(y[(image * channels + c) * spatial + s]), expected, accuracy: 1e-4)
                }
                // Three updates from (0, 1) with m = 0.1, the unbiased variance n/(n−1)·σ².
                var (expectedMean, expectedVariance) = (0.0, 1.0)
                for _ in 0..<3 {
                    expectedMean = 0.9 * expectedMean + 0.1 * mean
                    expectedVariance = 0.9 * expectedVariance + 0.1 * variance * n / (n - 1)
                }
                XCTAssertEqual(Double(runningMean[c]), expectedMean, accuracy: 1e-5)
                XCTAssertEqual(Double(runningVariance[c]), expectedVariance, accuracy: 1e-4)
            }
        }
    }

    /// Inference uses the running estimates, not the batch: one image is normalised the same
    /// alone or in any batch.
    /// An activation absorbed by batch norm (conv → batchnorm → relu, the usual block) gives
    /// bit-identical outputs, gradients and running statistics to the separate layer, in
    /// training and in inference, on images and on flat features.
    func testFusedActivationsMatchSeparateLayers() throws {
        for activation in [#"{"type": "relu"}"#, #"{"type": "leakyrelu", "slope": 0.1}"#, #"{"type": "tanh"}"#] {
            let json = """
                {"input": [2, 9, 9], "layers": [
                  {"type": "conv", "filters": 3, "kernel": 3, "bias": false}, {"type": "batchnorm"}, \(activation),
                  {"type": "flatten"}, {"type": "dense", "units": 6}, {"type": "batchnorm"}, \(activation), {"type": "dense", "units": 3}]}
                """
            let description = try JSONDecoder().decode(ModelDescription.self, from: Data(json.utf8))
            var results: [[Float]] = []
            for fuse in [false, true] {
                let model = try Sequential(description, seed: 3, fuseActivations: fuse)
                XCTAssertEqual((model.layers[1] as! BatchNorm).activation != nil, fuse)
                XCTAssertEqual(model.runsLayer[2], !fuse)
                XCTAssertTrue(model.runsLayer[6], "over flat features the activation stays a layer")
                let loss = SoftmaxCrossEntropy()
                var values: [Float] = []
                for step in 0..<2 {
                    let logits = model.forward(randomTensor([4, 2, 9, 9], seed: UInt64(4 + step)), phase: .training).values
                    loss.forward(logits: Tensor(shape: [4, 3], values: logits), labels: [0, 1, 2, 1])
                    model.zeroGradients()
                    model.backward(loss.backward())
                    values += logits + model.parameters.flatMap(\.gradient.values)
                }
                values += model.forward(randomTensor([4, 2, 9, 9], seed: 9), phase: .inference).values
                values += model.stateDictionary.flatMap { tensor -> [Float] in
                    if case .float32(let floats) = tensor.values { return floats } else { return [] }
                }
                results.append(values)
            }
            XCTAssertEqual(results[0], results[1], activation)
        }
    }

    func testInferenceUsesRunningEstimates() {
        let layer = BatchNorm(channels: 2)
        guard case .float32(let mean) = layer.runningMean.storage, case .float32(let variance) = layer.runningVariance.storage else {
            return XCTFail("buffer types")
        }
        mean[0] = 1; mean[1] = -2; variance[0] = 4; variance[1] = 0.25
        layer.weight.value[1] = 3; layer.bias.value[0] = 0.5
        let x = Tensor(shape: [1, 2, 1, 2], values: [3, 5, -2, 0])
        let y = layer.forward(x, phase: .inference).values
        let expected: [Double] = [(3 - 1) / (4 + 1e-5).squareRoot() + 0.5, (5 - 1) / (4 + 1e-5).squareRoot() + 0.5,
                                  3 * 0 / (0.25 + 1e-5).squareRoot(), 3 * 2 / (0.25 + 1e-5).squareRoot()]
        for (actual, wanted) in zip(y, expected) { XCTAssertEqual(Double(actual), wanted, accuracy: 1e-5) }
        guard case .int64(let tracked) = layer.batchesTracked.storage else { return XCTFail("buffer type") }
        XCTAssertEqual(tracked.values, [0], "inference does not count as a training step")
        // In inference the statistics are constants: backward is dy·γ/√(running_var + ε).
        checkLayerGradients(layer, input: randomTensor([2, 2, 3, 3], seed: 4), phase: .inference)
    }

    /// The state dictionary has PyTorch's names and dtypes for a conv–BN–ReLU block and a dense–BN one.
    func testStateDictionaryNames() throws {
        let description = ModelDescription(input: [1, 6, 6], layers: [
            .conv(filters: 4, kernel: SizePair(3)), LayerSpec(BatchNorm.Specification()), .relu,
            .flatten, .dense(units: 8), LayerSpec(BatchNorm.Specification()), .relu, .dense(units: 2),
        ])
        let model = try Sequential(description, seed: 1)
        XCTAssertEqual(model.stateEntries.map(\.name), [
            "0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var", "1.num_batches_tracked",
            "4.weight", "4.bias", "5.weight", "5.bias", "5.running_mean", "5.running_var", "5.num_batches_tracked",
            "7.weight", "7.bias",
        ])
        XCTAssertEqual(model.stateEntries.filter { $0.dtype == "I64" }.map(\.shape), [[], []])
        XCTAssertEqual(model.shapes[2], [4, 4, 4])
    }
}
