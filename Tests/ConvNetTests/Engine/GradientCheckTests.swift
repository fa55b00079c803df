import Foundation
import XCTest
@testable import ConvNet

/// Finite-difference checks of every layer's input gradient and parameter gradients.
final class GradientCheckTests: XCTestCase {
    override func tearDown() { Parallelism.threads = 1 }

    /// Cases for every registered layer type: a specification (as JSON) and the input shape
    /// `[N, …]` it is checked on. A layer type added to `LayerRegistry` without a case here
    /// fails `testEveryRegisteredLayerHasACase`.
    static let registeredCases: [String: [(json: String, input: [Int])]] = [
        "conv": [(#"{"type": "conv", "filters": 3, "kernel": 3, "stride": 2, "padding": 1}"#, [2, 2, 7, 7]),
                 (#"{"type": "conv", "filters": 2, "kernel": [3, 1], "padding": "same", "bias": false}"#, [2, 2, 5, 4])],
        "relu": [(#"{"type": "relu"}"#, [3, 2, 4, 4])],
        "tanh": [(#"{"type": "tanh"}"#, [3, 2, 4, 4])],
        "sigmoid": [(#"{"type": "sigmoid"}"#, [3, 2, 4, 4])],
        "leakyrelu": [(#"{"type": "leakyrelu"}"#, [3, 2, 4, 4]), (#"{"type": "leakyrelu", "slope": 0.2}"#, [4, 9])],
        "maxpool": [(#"{"type": "maxpool", "size": 3, "stride": 2}"#, [2, 2, 9, 9])],
        "avgpool": [(#"{"type": "avgpool", "size": [2, 3]}"#, [2, 2, 6, 6])],
        "flatten": [(#"{"type": "flatten"}"#, [3, 2, 3, 4])],
        "dense": [(#"{"type": "dense", "units": 5}"#, [4, 7])],
        "dropout": [(#"{"type": "dropout", "rate": 0.4}"#, [4, 30]), (#"{"type": "dropout", "rate": 0.3}"#, [2, 3, 4, 4])],
        "globalavgpool": [(#"{"type": "globalavgpool"}"#, [3, 4, 5, 3])],
        "batchnorm": [(#"{"type": "batchnorm"}"#, [3, 4, 3, 3]), (#"{"type": "batchnorm", "momentum": 0.3, "epsilon": 0.001}"#, [5, 6])],
    ]

    func testEveryRegisteredLayerHasACase() {
        for name in LayerRegistry.typeNames {
            XCTAssertNotNil(Self.registeredCases[name], "layer type \"\(name)\" has no gradient-check case in GradientCheckTests.registeredCases")
        }
    }

    /// Every registered layer, built from its JSON specification as a model builds it, on 1 and 2 workers.
    func testRegisteredLayers() throws {
        for threads in [1, 2] {
            Parallelism.threads = threads
            for (name, cases) in Self.registeredCases.sorted(by: { $0.key < $1.key }) {
                for (index, testCase) in cases.enumerated() {
                    let spec = try JSONDecoder().decode(LayerSpec.self, from: Data(testCase.json.utf8))
                    XCTAssertEqual(type(of: spec.specification).typeName, name)
                    var random = SeededRandom(seed: UInt64(40 + index))
                    let layer = spec.specification.makeLayer(inputShape: Array(testCase.input.dropFirst()), random: &random)
                    for parameter in layer.parameters where parameter.name == "bias" { parameter.value.fill(0.1) }
                    checkLayerGradients(layer, input: randomTensor(testCase.input, seed: UInt64(50 + index)))
                }
            }
        }
    }

    /// Every registered layer takes an empty batch `[0, …]` (a data-parallel process's share of a
    /// last, small batch can be empty): forward gives `[0, …]` of the right per-image shape, backward
    /// `[0, …]` of the input's, and no parameter gradient changes.
    func testRegisteredLayersTakeAnEmptyBatch() throws {
        for threads in [1, 2] {
            Parallelism.threads = threads
            for (name, cases) in Self.registeredCases.sorted(by: { $0.key < $1.key }) {
                let testCase = cases[0]
                let spec = try JSONDecoder().decode(LayerSpec.self, from: Data(testCase.json.utf8))
                let imageShape = Array(testCase.input.dropFirst())
                var random = SeededRandom(seed: 1)
                let layer = spec.specification.makeLayer(inputShape: imageShape, random: &random)
                _ = layer.forward(randomTensor(testCase.input, seed: 2), phase: .training)  // a full batch first, then an empty one
                for parameter in layer.parameters { parameter.gradient.fill(0) }
                let output = layer.forward(Tensor(shape: [0] + imageShape), context: ForwardContext(phase: .training))
                XCTAssertEqual(output.shape, [0] + (try spec.specification.outputShape(forInput: imageShape)), name)
                let inputGradient = layer.backward(Tensor(shape: output.shape))
                XCTAssertEqual(inputGradient.shape, [0] + imageShape, name)
                for parameter in layer.parameters { XCTAssertEqual(Set(parameter.gradient.values), [0], "\(name) \(parameter.name)") }
            }
        }
    }

    /// The layers that split work across threads, checked on two workers.
    func testTwoWorkers() {
        Parallelism.threads = 2
        var random = SeededRandom(seed: 30)
        let conv = Conv2D(inputChannels: 2, filters: 3, kernelHeight: 3, kernelWidth: 3, paddingHeight: 1, paddingWidth: 1, random: &random)
        checkLayerGradients(conv, input: randomTensor([3, 2, 5, 5], seed: 31))
        XCTAssertTrue(conv.absorb(ReLU()))  // kinks: a smaller step keeps most points away from them
        checkLayerGradients(conv, input: randomTensor([3, 2, 5, 5], seed: 32), step: 1e-3)
        checkLayerGradients(Dense(inputFeatures: 9, outputFeatures: 5, random: &random), input: randomTensor([3, 9], seed: 33))
        checkLayerGradients(MaxPool2D(size: 3, stride: 2), input: randomTensor([3, 2, 7, 7], seed: 34))
        checkLayerGradients(AvgPool2D(size: 2), input: randomTensor([3, 2, 6, 6], seed: 35))
        checkLayerGradients(ActivationLayer(ReLU()), input: randomTensor([3, 40], seed: 36))
    }

    func testConv2DStrideOne() {
        var random = SeededRandom(seed: 1)
        let layer = Conv2D(inputChannels: 2, filters: 3, kernelHeight: 3, kernelWidth: 3, random: &random)
        layer.bias!.value.fill(0.1)
        checkLayerGradients(layer, input: randomTensor([2, 2, 6, 6], seed: 2))
    }

    func testConv2DStrideTwoWithPadding() {
        var random = SeededRandom(seed: 3)
        let layer = Conv2D(inputChannels: 3, filters: 2, kernelHeight: 3, kernelWidth: 3,
                           strideHeight: 2, strideWidth: 2, paddingHeight: 1, paddingWidth: 1, random: &random)
        checkLayerGradients(layer, input: randomTensor([2, 3, 7, 7], seed: 4))
    }

    func testConv2DRectangularChunked() {
        var random = SeededRandom(seed: 5)
        let layer = Conv2D(inputChannels: 2, filters: 2, kernelHeight: 2, kernelWidth: 3,
                           strideHeight: 1, strideWidth: 2, paddingHeight: 1, paddingWidth: 0,
                           workspaceLimit: 1, random: &random)
        checkLayerGradients(layer, input: randomTensor([3, 2, 5, 7], seed: 6))
    }

    func testReLU() {
        checkLayerGradients(ActivationLayer(ReLU()), input: randomTensor([4, 3, 5, 5], seed: 7))
    }

    func testMaxPool() {
        checkLayerGradients(MaxPool2D(size: 2), input: randomTensor([2, 3, 6, 6], seed: 8))
    }

    /// 3×3 windows every 2 pixels overlap: a maximum shared by two windows gets both gradients.
    func testMaxPoolOverlapping() {
        checkLayerGradients(MaxPool2D(size: 3, stride: 2), input: randomTensor([2, 2, 9, 9], seed: 9))
    }

    func testAvgPool() {
        checkLayerGradients(AvgPool2D(size: 2), input: randomTensor([2, 3, 6, 6], seed: 10))
        checkLayerGradients(AvgPool2D(size: 3, stride: 2), input: randomTensor([1, 2, 7, 7], seed: 11))
    }

    func testDense() {
        var random = SeededRandom(seed: 12)
        let layer = Dense(inputFeatures: 13, outputFeatures: 7, random: &random)
        layer.bias.value.fill(-0.2)
        checkLayerGradients(layer, input: randomTensor([5, 13], seed: 13))
    }

    func testFlatten() {
        checkLayerGradients(Flatten(), input: randomTensor([3, 2, 4, 5], seed: 14))
    }

    /// The mask is a function of the pass's random key: fixed for one key, so the gradient
    /// check sees one function; another key gives another mask.
    func testDropoutMaskFollowsTheRandomKey() {
        let layer = Dropout(rate: 0.4, stream: 15)
        checkLayerGradients(layer, input: randomTensor([4, 30], seed: 16))
        let x = Tensor(shape: [4, 30])
        x.fill(1)
        let first = layer.forward(x, context: ForwardContext(phase: .training, randomKey: 1)).values
        XCTAssertEqual(layer.forward(x, context: ForwardContext(phase: .training, randomKey: 1)).values, first)
        XCTAssertNotEqual(layer.forward(x, context: ForwardContext(phase: .training, randomKey: 2)).values, first)
        // Inference is the identity.
        let y = randomTensor([2, 10], seed: 17)
        XCTAssertEqual(layer.forward(y, phase: .inference).values, y.values)
    }

    /// A share of a batch (images 2 and 3 of 4, `firstImage` 2) draws the masks the whole batch draws for them,
    /// on any number of workers.
    func testDropoutMaskOfABatchShare() {
        let layer = Dropout(rate: 0.5, stream: 3)
        let whole = Tensor(shape: [4, 3, 5])
        whole.fill(1)
        Parallelism.threads = 2
        let all = layer.forward(whole, context: ForwardContext(phase: .training, randomKey: 9)).values
        Parallelism.threads = 1
        let share = Tensor(shape: [2, 3, 5])
        share.fill(1)
        let part = layer.forward(share, context: ForwardContext(phase: .training, randomKey: 9, firstImage: 2)).values
        XCTAssertEqual(part, Array(all[30...]))
    }

    func testDropoutScalesKeptUnits() {
        let layer = Dropout(rate: 0.25, stream: 18)
        let x = Tensor(shape: [100, 100])
        x.fill(1)
        let y = layer.forward(x, phase: .training).values
        let kept = y.filter { $0 != 0 }
        XCTAssertTrue(kept.allSatisfy { abs($0 - 1 / 0.75) < 1e-6 })
        XCTAssertEqual(Double(kept.count) / 10_000, 0.75, accuracy: 0.02)
    }

    func testSoftmaxCrossEntropy() {
        let loss = SoftmaxCrossEntropy()
        let logits = randomTensor([6, 5], seed: 19)
        for i in 0..<logits.count { logits[i] *= 3 }
        let labels: [Int32] = [0, 4, 2, 2, 1, 3]
        loss.forward(logits: logits, labels: labels)
        let analytic = loss.backward().values
        checkGradient(of: logits, analytic: analytic,
                      objective: { Double(loss.forward(logits: logits, labels: labels)) },
                      step: 1e-2, "softmax cross-entropy logits")
    }

    /// With label smoothing the gradient still matches the loss, which equals its definition
    /// −Σ q log p with q = (1 − ε)·onehot + ε/K.
    func testSoftmaxCrossEntropyWithLabelSmoothing() {
        let loss = SoftmaxCrossEntropy(labelSmoothing: 0.1)
        let logits = randomTensor([4, 5], seed: 23)
        let labels: [Int32] = [3, 0, 4, 1]
        let value = loss.forward(logits: logits, labels: labels)
        var expected = 0.0
        for n in 0..<4 {
            let row = (0..<5).map { Double(logits[n * 5 + $0]) }
            let logSum = log(row.map(exp).reduce(0, +))
            for k in 0..<5 { expected -= (k == Int(labels[n]) ? 0.9 + 0.02 : 0.02) * (row[k] - logSum) }
        }
        XCTAssertEqual(Double(value), expected / 4, accuracy: 1e-5)
        let analytic = loss.backward().values
        checkGradient(of: logits, analytic: analytic, objective: { Double(loss.forward(logits: logits, labels: labels)) },
                      step: 1e-2, "label-smoothed cross-entropy logits")
    }

    /// log-sum-exp keeps huge logits finite, and the loss equals its definition.
    func testSoftmaxCrossEntropyStability() {
        let loss = SoftmaxCrossEntropy()
        let logits = Tensor(shape: [2, 3], values: [1000, 0, -1000, 1, 2, 3])
        let value = loss.forward(logits: logits, labels: [1, 2])
        let expected = (1000.0 + (log(exp(1.0 - 3) + exp(2.0 - 3) + 1) + 3 - 3)) / 2
        XCTAssertEqual(Double(value), expected, accuracy: 1e-3)
        XCTAssertTrue(loss.probabilities.values.allSatisfy(\.isFinite))
        let gradient = loss.backward().values
        // (p − onehot) / N: each row sums to zero.
        XCTAssertEqual(gradient[0] + gradient[1] + gradient[2], 0, accuracy: 1e-6)
        XCTAssertEqual(gradient[1], (0 - 1) / 2, accuracy: 1e-6)
    }

    /// conv → relu → maxpool → flatten → dense → softmax cross-entropy, every parameter.
    func testWholeNetwork() throws {
        let description = ModelDescription(input: [1, 8, 8], layers: [
            .conv(filters: 3, kernel: SizePair(3), stride: SizePair(1), padding: SizePair(1), bias: true),
            .relu,
            .maxPool(size: SizePair(2), stride: nil),
            .flatten,
            .dense(units: 4),
        ])
        let model = try Sequential(description, seed: 20)
        let loss = SoftmaxCrossEntropy()
        let x = randomTensor([3, 1, 8, 8], seed: 21)
        let labels: [Int32] = [0, 3, 1]
        func objective() -> Double { Double(loss.forward(logits: model.forward(x, phase: .training), labels: labels)) }
        _ = objective()
        model.zeroGradients()
        model.backward(loss.backward())
        let gradients = model.parameters.map(\.gradient.values)
        for (parameter, gradient) in zip(model.parameters, gradients) {
            checkGradient(of: parameter.value, analytic: gradient, objective: objective, step: 1e-3, parameter.name)
        }
    }

    /// Global average pooling equals the mean of each plane, and an average pool whose window is the whole image.
    func testGlobalAveragePoolIsTheMeanOfEachPlane() {
        let x = randomTensor([2, 3, 4, 5], seed: 60)
        let y = GlobalAvgPool().forward(x, phase: .inference)
        XCTAssertEqual(y.shape, [2, 3])
        let pooled = AvgPool2D(size: (4, 5)).forward(x, phase: .inference)
        for plane in 0..<6 {
            let mean = (0..<20).map { Double(x[plane * 20 + $0]) }.reduce(0, +) / 20
            XCTAssertEqual(Double(y[plane]), mean, accuracy: 1e-6)
            XCTAssertEqual(y[plane], pooled[plane], accuracy: 1e-6)
        }
    }

    /// Sigmoid stays finite and exact at extreme inputs (no overflow of e^(−x)).
    func testSigmoidAtExtremes() {
        let y = ActivationLayer(Sigmoid()).forward(Tensor(shape: [1, 5], values: [-1000, -20, 0, 20, 1000]), phase: .inference).values
        XCTAssertEqual(y[0], 0)
        XCTAssertEqual(y[1], 1 / (1 + exp(20)), accuracy: 1e-12)
        XCTAssertEqual(y[2], 0.5)
        XCTAssertEqual(y[3], 1, accuracy: 1e-8)
        XCTAssertEqual(y[4], 1)
    }
}
