import Foundation
import XCTest
@testable import ConvNet

final class Conv2DTests: XCTestCase {
    struct Case {
        var batch: Int, channels: Int, height: Int, width: Int
        var filters: Int, kernel: (Int, Int), stride: (Int, Int), padding: (Int, Int)
    }

    static let cases: [Case] = [
        Case(batch: 1, channels: 1, height: 8, width: 8, filters: 2, kernel: (3, 3), stride: (1, 1), padding: (0, 0)),
        Case(batch: 3, channels: 2, height: 9, width: 7, filters: 4, kernel: (3, 3), stride: (2, 2), padding: (1, 1)),
        Case(batch: 2, channels: 3, height: 10, width: 12, filters: 5, kernel: (2, 2), stride: (3, 3), padding: (0, 0)),
        Case(batch: 4, channels: 1, height: 28, width: 28, filters: 6, kernel: (5, 5), stride: (1, 1), padding: (2, 2)),
        Case(batch: 2, channels: 3, height: 6, width: 11, filters: 3, kernel: (3, 5), stride: (1, 2), padding: (1, 2)),
        Case(batch: 5, channels: 2, height: 7, width: 5, filters: 1, kernel: (1, 1), stride: (1, 1), padding: (0, 0)),
    ]

    override func tearDown() { Parallelism.threads = 1 }

    /// The reference itself, by hand: x = [[1, 2, 3], [4, 5, 6], [7, 8, 9]], W = [[1, 0], [0, -1]], b = 10
    /// gives y = [[1 − 5, 2 − 6], [4 − 8, 5 − 9]] + 10 = [[6, 6], [6, 6]]; with padding 1 and
    /// stride 2 the windows' corners are (pad, 1), (pad, 3), (pad, 7), (5, 9), so
    /// y = [[−1 + 10, −3 + 10], [−7 + 10, 5 − 9 + 10]].
    func testDirectConvolutionByHand() {
        let x: [Float] = [1, 2, 3, 4, 5, 6, 7, 8, 9], w: [Float] = [1, 0, 0, -1]
        XCTAssertEqual(naiveConvolution(input: x, inputShape: [1, 1, 3, 3], weight: w, bias: [10], filters: 1,
                                        kernel: (2, 2), stride: (1, 1), padding: (0, 0)), [6, 6, 6, 6])
        XCTAssertEqual(naiveConvolution(input: x, inputShape: [1, 1, 3, 3], weight: w, bias: [10], filters: 1,
                                        kernel: (2, 2), stride: (2, 2), padding: (1, 1)), [9, 7, 3, 6])
    }

    /// im2col + SGEMM against the direct convolution loop, with columns retained or not, on
    /// 1, 2 and 3 workers (3 splits batches unevenly, and splits rows when N < 3).
    func testForwardAgainstDirectConvolution() {
        for (index, c) in Self.cases.enumerated() {
            for (workspaceLimit, threads) in [(1 << 30, 1), (1, 1), (1 << 30, 2), (1 << 30, 3)] {
                Parallelism.threads = threads
                var random = SeededRandom(seed: UInt64(index))
                let layer = Conv2D(inputChannels: c.channels, filters: c.filters,
                                   kernelHeight: c.kernel.0, kernelWidth: c.kernel.1,
                                   strideHeight: c.stride.0, strideWidth: c.stride.1,
                                   paddingHeight: c.padding.0, paddingWidth: c.padding.1,
                                   workspaceLimit: workspaceLimit, random: &random)
                for f in 0..<c.filters { layer.bias!.value[f] = Float(f) * 0.25 - 0.3 }
                let shape = [c.batch, c.channels, c.height, c.width]
                let x = randomTensor(shape, seed: UInt64(100 + index))
                let y = layer.forward(x, phase: .inference)
                let expected = naiveConvolution(input: x.values, inputShape: shape, weight: layer.weight.value.values,
                                                bias: layer.bias!.value.values, filters: c.filters,
                                                kernel: c.kernel, stride: c.stride, padding: c.padding)
                let specification = Conv2D.Specification(filters: c.filters, kernel: SizePair(c.kernel.0, c.kernel.1),
                                                         stride: SizePair(c.stride.0, c.stride.1), padding: .size(SizePair(c.padding.0, c.padding.1)))
                XCTAssertEqual(y.shape, [c.batch] + (try! specification.outputShape(forInput: Array(shape[1...]))))
                assertClose(y.values, expected, tolerance: 1e-5, "case \(index) workspace \(workspaceLimit) threads \(threads)")
            }
        }
    }

    /// Backward with recomputed columns, and on 2 and 3 workers (partial dW summed), equals
    /// backward on one worker reusing the columns from forward.
    func testBackwardVariantsAgree() {
        var gradients: [[Float]] = []
        for (workspaceLimit, threads) in [(1 << 30, 1), (1, 1), (1 << 30, 2), (1, 3)] {
            Parallelism.threads = threads
            var random = SeededRandom(seed: 7)
            let layer = Conv2D(inputChannels: 3, filters: 4, kernelHeight: 2, kernelWidth: 2,
                               workspaceLimit: workspaceLimit, random: &random)
            let x = randomTensor([5, 3, 8, 8], seed: 8)
            let y = layer.forward(x, phase: .training)
            let dx = layer.backward(randomTensor(y.shape, seed: 9))
            gradients.append(dx.values + layer.weight.gradient.values + layer.bias!.gradient.values)
        }
        for other in gradients.dropFirst() { assertClose(other, gradients[0], tolerance: 1e-5) }
    }

    /// Every registered activation absorbed by the convolution gives bit-identical outputs and
    /// gradients to the separate activation layer.
    func testFusedActivationsMatchSeparateLayers() throws {
        var activations: [LayerSpec] = []
        for (_, cases) in GradientCheckTests.registeredCases.sorted(by: { $0.key < $1.key }) {
            for testCase in cases {
                let spec = try JSONDecoder().decode(LayerSpec.self, from: Data(testCase.json.utf8))
                var random = SeededRandom(seed: 1)
                if spec.specification.makeLayer(inputShape: Array(testCase.input.dropFirst()), random: &random).fusibleActivation != nil {
                    activations.append(spec)
                }
            }
        }
        XCTAssertGreaterThanOrEqual(activations.count, 2)
        for activation in activations {
            let description = ModelDescription(input: [2, 9, 9], layers: [
                .conv(filters: 3, kernel: SizePair(3), stride: SizePair(1), padding: SizePair(1), bias: true),
                activation, .maxPool(size: SizePair(2), stride: nil),
                .conv(filters: 4, kernel: SizePair(3), stride: SizePair(1), padding: SizePair(0), bias: true),
                activation, .flatten, .dense(units: 3),
            ])
            var results: [[Float]] = []
            for fuse in [false, true] {
                let model = try Sequential(description, seed: 3, fuseActivations: fuse)
                XCTAssertEqual((model.layers[0] as! Conv2D).activation != nil, fuse)
                XCTAssertEqual(model.runsLayer[1], !fuse)
                let loss = SoftmaxCrossEntropy()
                let logits = model.forward(randomTensor([4, 2, 9, 9], seed: 4), phase: .training).values
                loss.forward(logits: Tensor(shape: [4, 3], values: logits), labels: [0, 1, 2, 1])
                model.zeroGradients()
                model.backward(loss.backward())
                results.append(logits + model.parameters.flatMap(\.gradient.values))
            }
            XCTAssertEqual(results[0], results[1], activation.description)
        }
    }

    func testShapes() throws {
        let layer = Conv2D.Specification(filters: 2, kernel: SizePair(5))
        XCTAssertEqual(try layer.outputShape(forInput: [1, 28, 28]), [2, 24, 24])
        XCTAssertThrowsError(try layer.outputShape(forInput: [1, 4, 4]))
        XCTAssertThrowsError(try layer.outputShape(forInput: [784]))
        XCTAssertEqual(layer.parameterCount(forInput: [3, 28, 28]), 2 * 3 * 25 + 2)
        XCTAssertEqual(layer.multiplyAccumulates(forInput: [3, 28, 28]), 2 * 3 * 25 * 24 * 24)
        // "same" padding keeps the size for odd kernels at stride 1, and is refused otherwise.
        let same = try JSONDecoder().decode(LayerSpec.self, from: Data(#"{"type": "conv", "filters": 4, "kernel": [5, 3], "padding": "same"}"#.utf8))
        XCTAssertEqual(try same.specification.outputShape(forInput: [2, 9, 7]), [4, 9, 7])
        XCTAssertEqual(String(decoding: try JSONEncoder().encode(same), as: UTF8.self).contains(#""padding":"same""#), true)
        for json in [#"{"type": "conv", "filters": 4, "kernel": 4, "padding": "same"}"#,
                     #"{"type": "conv", "filters": 4, "kernel": 3, "stride": 2, "padding": "same"}"#,
                     #"{"type": "conv", "filters": 4, "kernel": 3, "padding": "valid"}"#] {
            XCTAssertThrowsError(try JSONDecoder().decode(LayerSpec.self, from: Data(json.utf8)), json)
        }
    }

    /// He initialisation: weights have mean ≈ 0 and variance ≈ 2 / fan-in; same seed, same weights.
    func testHeInitialisation() {
        var random = SeededRandom(seed: 3)
        let layer = Conv2D(inputChannels: 20, filters: 50, kernelHeight: 5, kernelWidth: 5, random: &random)
        let w = layer.weight.value.values
        let mean = w.reduce(0, +) / Float(w.count)
        let variance = w.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Float(w.count)
        XCTAssertEqual(mean, 0, accuracy: 0.005)
        XCTAssertEqual(variance, 2.0 / 500, accuracy: 2.0 / 500 * 0.05)
        var again = SeededRandom(seed: 3)
        XCTAssertEqual(Conv2D(inputChannels: 20, filters: 50, kernelHeight: 5, kernelWidth: 5, random: &again).weight.value.values, w)
    }
}
