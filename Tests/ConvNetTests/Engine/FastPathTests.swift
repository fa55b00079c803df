import CVectorMath
import XCTest
@testable import ConvNet

/// The vectorised element-wise paths against plain reference loops: bit-identical results,
/// ties and NaN included.
final class FastPathTests: XCTestCase {
    override func tearDown() { Parallelism.threads = 1 }

    /// Max pooling 2×2 / 2 (eight windows at a time, then one by one) against a naive loop: the
    /// same maxima, the first maximum in row-major order on ties (values drawn from a few levels,
    /// so ties are common), NaN never chosen over a number after it, and the same backward routing;
    /// and inference image by image, which skips the argmax, gives the same maxima.
    func testMaxPoolTwoByTwoAgainstNaiveLoop() {
        for (shape, threads) in [([2, 3, 24, 24], 1), ([1, 2, 17, 35], 2), ([3, 1, 8, 8], 2), ([1, 1, 2, 34], 1)] {
            Parallelism.threads = threads
            let x = randomTensor(shape, seed: 5)
            for i in 0..<x.count { x[i] = (x[i] * 2).rounded() / 2 }  // a few levels: many ties
            x[3] = .nan
            x[shape[3] + 5] = .nan
            let layer = MaxPool2D(size: 2)
            let y = layer.forward(x, phase: .training).values
            let dy = randomTensor([shape[0], shape[1], shape[2] / 2, shape[3] / 2], seed: 6)
            let dx = layer.backward(dy).values
            // Reference: scan each window in row-major order, keep the first strictly greater.
            var expectedY: [Float] = [], expectedDX = [Float](repeating: 0, count: x.count)
            let (height, width) = (shape[2], shape[3])
            for plane in 0..<(shape[0] * shape[1]) {
                for row in 0..<(height / 2) {
                    for column in 0..<(width / 2) {
                        var best = plane * height * width + 2 * row * width + 2 * column
                        for offset in [1, width, width + 1] where x[plane * height * width + 2 * row * width + 2 * column + offset] > x[best] {
                            best = plane * height * width + 2 * row * width + 2 * column + offset
                        }
                        expectedDX[best] += dy[expectedY.count]
                        expectedY.append(x[best])
                    }
                }
            }
            XCTAssertEqual(y.map(\.bitPattern), expectedY.map(\.bitPattern), "\(shape)")
            XCTAssertEqual(dx, expectedDX, "\(shape)")
            let imageShape = Array(shape.dropFirst()), imageCount = imageShape.reduce(1, *)
            let pooledCount = shape[1] * (shape[2] / 2) * (shape[3] / 2)
            layer.prepareImageInference(batch: shape[0], inputShape: imageShape)
            var imageByImage = [Float](repeating: 7, count: shape[0] * pooledCount)
            for image in 0..<shape[0] {
                imageByImage.withUnsafeMutableBufferPointer { pooled in
                    layer.inferImage(image, from: x.data + image * imageCount, into: pooled.baseAddress! + image * pooledCount, worker: 0)
                }
            }
            XCTAssertEqual(imageByImage.map(\.bitPattern), expectedY.map(\.bitPattern), "\(shape), image by image")
        }
    }

    /// A convolution's bias with ReLU or leaky ReLU in one pass against the scalar definitions,
    /// over lengths with and without a tail, with NaN, ±0 and values on both sides of −bias.
    func testBiasAndActivationAgainstScalarDefinitions() {
        for count in [1, 15, 16, 37, 64] {
            var input = (0..<count).map { Float($0 % 7) - 3.25 }
            input[0] = .nan
            if count > 2 { input[1] = -0.0; input[2] = 0.25 }
            var output = [Float](repeating: 7, count: count)
            ReLU().forward(input, adding: -0.25, into: &output, count: count)
            XCTAssertEqual(output.map(\.bitPattern), input.map { max($0 - 0.25, 0).bitPattern }, "relu, \(count)")
            LeakyReLU(slope: 0.1).forward(input, adding: 0.5, into: &output, count: count)
            XCTAssertEqual(output.map(\.bitPattern), input.map { x -> Float in let v = x + 0.5; return v > 0 ? v : 0.1 * v }.map(\.bitPattern),
                           "leaky relu, \(count)")
        }
    }

    /// Adam's 16-lane square root (the vector instruction, through CVectorMath) against
    /// `Float.squareRoot()` lane by lane: the same bits for zeros, subnormals, ordinary values,
    /// the largest float and infinity, and NaN for negative lanes and NaN.
    func testVectorSquareRootAgainstScalar() {
        var values: [Float] = [0, -0.0, .leastNonzeroMagnitude, .leastNormalMagnitude, 1e-30, 0.5, 1, 2, 3, 1e-8, 1e10,
                               .greatestFiniteMagnitude, .infinity, -1, -.infinity, .nan]
        var random = SeededRandom(seed: 9)
        for _ in 0..<64 { values.append(abs(random.nextGaussian()) * Float(1 << random.nextIndex(below: 20))) }
        for start in stride(from: 0, to: values.count, by: 16) {
            var lanes = SIMD16<Float>()
            for lane in 0..<16 { lanes[lane] = values[start + lane] }
            let roots = convnet_square_root16(lanes)
            for lane in 0..<16 {
                let expected = values[start + lane].squareRoot()
                if expected.isNaN {
                    XCTAssertTrue(roots[lane].isNaN, "√\(values[start + lane])")
                } else {
                    XCTAssertEqual(roots[lane].bitPattern, expected.bitPattern, "√\(values[start + lane])")
                }
            }
        }
    }

    /// The optimizers' last group of fewer than 16 values (zero-filled lanes) against the same
    /// values updated inside full groups: the same bits, for SGD with Nesterov momentum and
    /// weight decay, Adam and AdamW, over three steps. Both arenas hold 32 values (a parameter's
    /// slot is a multiple of 16); three workers share one as 10, 11 and 11 values, every share
    /// ending in a partial group, while one worker takes the other as two full groups.
    func testOptimizerLastGroupMatchesFullGroups() {
        typealias Make = (ParameterArena) -> any Optimizer
        let optimizers: [(String, Make)] = [
            ("sgd", { SGD(arena: $0, momentum: 0.9, weightDecay: 0.01, nesterov: true) }),
            ("adam", { Adam(arena: $0, weightDecay: 0.02) }),
            ("adamw", { Adam(arena: $0, weightDecay: 0.02, decoupledWeightDecay: true) }),
        ]
        for (name, make) in optimizers {
            let (shared, whole) = (Parameter(name: "a", shape: [32]), Parameter(name: "b", shape: [32]))
            let (first, second) = (make(ParameterArena([shared])), make(ParameterArena([whole])))
            var random = SeededRandom(seed: 21)
            for i in 0..<32 { shared.value[i] = random.nextGaussian() }
            for i in 0..<32 { whole.value[i] = shared.value[i] }
            for step in 1...3 {
                for i in 0..<32 { shared.gradient[i] = random.nextGaussian() * Float(step) }
                for i in 0..<32 { whole.gradient[i] = shared.gradient[i] }
                Parallelism.threads = 3
                first.step(learningRate: 0.05)
                Parallelism.threads = 1
                second.step(learningRate: 0.05)
            }
            XCTAssertEqual(shared.value.values.map(\.bitPattern), whole.value.values.map(\.bitPattern), name)
        }
    }
}
