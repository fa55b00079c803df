import XCTest
@testable import ConvNet

/// A tensor of the given shape with entries drawn uniformly from [-1, 1).
func randomTensor(_ shape: [Int], seed: UInt64) -> Tensor {
    var random = SeededRandom(seed: seed)
    let tensor = Tensor(shape: shape)
    for i in 0..<tensor.count { tensor[i] = random.nextUniform() * 2 - 1 }
    return tensor
}

/// Asserts two arrays are equal within `tolerance · max(1, |expected|)` element-wise.
func assertClose(_ actual: [Float], _ expected: [Float], tolerance: Float = 1e-4,
                 _ message: @autoclosure () -> String = "", file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(actual.count, expected.count, "count \(message())", file: file, line: line)
    guard actual.count == expected.count else { return }
    var worst: (index: Int, error: Float) = (0, 0)
    for i in 0..<actual.count {
        let error = abs(actual[i] - expected[i]) / max(1, abs(expected[i]))
        if !(error <= worst.error) { worst = (i, error) }
    }
    XCTAssertLessThanOrEqual(worst.error, tolerance,
        "element \(worst.index): \(actual[worst.index]) vs expected \(expected[worst.index]) \(message())",
        file: file, line: line)
}

/// The library's direct convolution (`directConvolution`) on arrays: the reference for im2col + GEMM.
func naiveConvolution(input x: [Float], inputShape: [Int], weight: [Float], bias: [Float]?,
                      filters: Int, kernel: (Int, Int), stride: (Int, Int), padding: (Int, Int)) -> [Float] {
    let g = ConvolutionGeometry(channels: inputShape[1], height: inputShape[2], width: inputShape[3],
                                kernelHeight: kernel.0, kernelWidth: kernel.1, strideHeight: stride.0, strideWidth: stride.1,
                                paddingHeight: padding.0, paddingWidth: padding.1)
    var y = [Float](repeating: .nan, count: inputShape[0] * filters * g.outputHeight * g.outputWidth)
    y.withUnsafeMutableBufferPointer { output in
        directConvolution(input: x, batch: inputShape[0], geometry: g, weight: weight, bias: bias, filters: filters,
                          output: output.baseAddress!)
    }
    return y
}

/// The column matrix [C·KH·KW, OH·OW] of one image by the definition, entry by entry.
func naiveIm2col(_ x: [Float], _ g: ConvolutionGeometry) -> [Float] {
    var columns = [Float](repeating: 0, count: g.columnRows * g.columnsPerImage)
    for c in 0..<g.channels {
        for kh in 0..<g.kernelHeight {
            for kw in 0..<g.kernelWidth {
                let row = (c * g.kernelHeight + kh) * g.kernelWidth + kw
                for oh in 0..<g.outputHeight {
                    for ow in 0..<g.outputWidth {
                        let ih = oh * g.strideHeight - g.paddingHeight + kh
                        let iw = ow * g.strideWidth - g.paddingWidth + kw
                        if ih >= 0, ih < g.height, iw >= 0, iw < g.width {
                            columns[row * g.columnsPerImage + oh * g.outputWidth + ow] = x[(c * g.height + ih) * g.width + iw]
                        }
                    }
                }
            }
        }
    }
    return columns
}

/// How many coordinates a finite-difference check compared, and how many it skipped as kinks.
struct GradientCheckCount {
    var checked = 0
    var skipped = 0
}

/// Compares an analytic gradient with central differences of `objective`, coordinate by coordinate.
///
/// - `values`: the tensor perturbed (an input or a parameter).
/// - `analytic`: the gradient computed by backward, same count.
/// - `objective`: recomputes the scalar (in Double) from the current `values`.
/// A coordinate is a kink, and skipped, when the one-sided slopes (f(x+ε)−f(x))/ε and
/// (f(x)−f(x−ε))/ε disagree: a ReLU or max-pool switch lies within ε of it. At most
/// 10% of the coordinates may be skipped, so a wrong gradient cannot hide as a kink.
@discardableResult
func checkGradient(of values: Tensor, analytic: [Float], objective: () -> Double,
                   step: Float = 1e-2, tolerance: Double = 1e-2, maximumChecks: Int = 300,
                   _ label: String, file: StaticString = #filePath, line: UInt = #line) -> GradientCheckCount {
    var count = GradientCheckCount()
    let stride = max(1, values.count / maximumChecks)
    for i in Swift.stride(from: 0, to: values.count, by: stride) {
        let original = values[i]
        let center = objective()
        values[i] = original + step
        let plus = objective()
        values[i] = original - step
        let minus = objective()
        values[i] = original
        let right = (plus - center) / Double(step), left = (center - minus) / Double(step)
        let numeric = (plus - minus) / (2 * Double(step))
        let scale = max(abs(numeric), abs(Double(analytic[i])), 0.1)
        if abs(right - left) > 0.05 * scale {
            count.skipped += 1
            continue
        }
        count.checked += 1
        let error = abs(numeric - Double(analytic[i])) / scale
        if error > tolerance {
            XCTFail("\(label)[\(i)]: analytic \(analytic[i]) vs numeric \(numeric) (relative error \(error))",
                    file: file, line: line)
            return count
        }
    }
    XCTAssertGreaterThan(count.checked, 0, "\(label): no coordinate was checked", file: file, line: line)
    XCTAssertLessThanOrEqual(count.skipped * 10, count.checked + count.skipped,
                             "\(label): more than 10% of coordinates sit at kinks (\(count.skipped))",
                             file: file, line: line)
    return count
}

/// Checks a layer's input gradient and every parameter gradient against finite differences
/// of f(x) = Σ y(x) · R for a fixed random R. `beforeForward` runs before every forward
/// pass (dropout uses it to reuse one mask).
func checkLayerGradients(_ layer: any Layer, input: Tensor, phase: Phase = .training,
                         beforeForward: () -> Void = {}, step: Float = 1e-2,
                         file: StaticString = #filePath, line: UInt = #line) {
    beforeForward()
    let output = layer.forward(input, phase: phase)
    let projection = randomTensor(output.shape, seed: 99)
    for parameter in layer.parameters { parameter.gradient.fill(0) }
    let inputGradient = layer.backward(projection).values
    XCTAssertEqual(inputGradient.count, input.count, "input gradient size", file: file, line: line)
    let parameterGradients = layer.parameters.map(\.gradient.values)
    func objective() -> Double {
        beforeForward()
        let y = layer.forward(input, phase: phase)
        var total = 0.0
        for i in 0..<y.count { total += Double(y[i]) * Double(projection[i]) }
        return total
    }
    checkGradient(of: input, analytic: inputGradient, objective: objective, step: step,
                  "\(layer.summary) input", file: file, line: line)
    for (parameter, gradient) in zip(layer.parameters, parameterGradients) {
        checkGradient(of: parameter.value, analytic: gradient, objective: objective, step: step,
                      "\(layer.summary) \(parameter.name)", file: file, line: line)
    }
}
