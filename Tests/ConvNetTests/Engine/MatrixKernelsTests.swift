import CMatrixKernels
import XCTest
@testable import ConvNet

/// ConvNet's own SGEMM (`MatrixKernels`) against a triple loop in Double, and convolution and
/// dense layers on it against the same layers on OpenBLAS.
final class MatrixKernelsTests: XCTestCase {
    override func tearDown() {
        Parallelism.threads = 1
        convnet_matrix_kernels_allow_avx512(1)
    }

    /// C (+)= A·B for shapes around the tile (6 rows × 64 columns, vectors of 16) and deeper than
    /// one depth block (512), with A read from a row-major matrix and from the transpose of one,
    /// leading dimensions wider than the matrices, and what lies outside C's columns left alone.
    /// Run on the AVX-512 kernel (where the CPU has it) and on the plain loops.
    func testProductsAgainstTripleLoop() {
        let shapes = [(1, 1, 1), (6, 64, 5), (7, 65, 3), (5, 17, 9), (13, 130, 600), (50, 64, 500),
                      (25, 20, 576), (500, 50, 64), (12, 48, 1), (2, 16, 1030)]
        for avx512 in [true, false] {
            convnet_matrix_kernels_allow_avx512(avx512 ? 1 : 0)
            for (m, n, k) in shapes {
                let (lda, ldb, ldc) = (k + 3, n + 5, n + 2)
                let a = randomTensor([m, lda], seed: 1), b = randomTensor([k, ldb], seed: 2)
                let transposedA = Tensor(shape: [k, m + 1])  // Aᵀ stored row-major [k, m], rows m + 1 apart
                for i in 0..<m { for p in 0..<k { transposedA[p * (m + 1) + i] = a[i * lda + p] } }
                var expected = [Double](repeating: 0, count: m * n), scale = [Double](repeating: 0, count: m * n)
                for i in 0..<m {
                    for j in 0..<n {
                        for p in 0..<k {
                            expected[i * n + j] += Double(a[i * lda + p]) * Double(b[p * ldb + j])
                            scale[i * n + j] += abs(Double(a[i * lda + p]) * Double(b[p * ldb + j]))
                        }
                    }
                }
                for (transposed, accumulate) in [(false, false), (false, true), (true, false), (true, true)] {
                    let c = randomTensor([m, ldc], seed: 3)
                    let before = c.values
                    if transposed {
                        MatrixKernels.multiply(m: m, n: n, k: k, a: transposedA.data, rowStride: 1, depthStride: m + 1,
                                               b: b.data, ldb: ldb, c: c.data, ldc: ldc, accumulate: accumulate)
                    } else {
                        MatrixKernels.multiply(m: m, n: n, k: k, a: a.data, rowStride: lda, depthStride: 1,
                                               b: b.data, ldb: ldb, c: c.data, ldc: ldc, accumulate: accumulate)
                    }
                    let form = "transposed A \(transposed), accumulate \(accumulate), avx512 \(avx512), [\(m), \(n), \(k)]"
                    guard checkProduct(c, before: before, m: m, n: n, ldc: ldc, form: form, expected: { i, j in
                        (expected[i * n + j] + (accumulate ? Double(before[i * ldc + j]) : 0), scale[i * n + j] + 1)
                    }) else { return }
                }
            }
        }
    }

    /// C (+)= A·Bᵀ for shapes around the 5 × 5 tile and the 16-float vector along the depth
    /// (tails of 1 to 15), leading dimensions wider than the rows, what lies outside C's columns
    /// left alone; on the AVX-512 kernel (where the CPU has it) and on the plain loops.
    func testTransposedProductsAgainstTripleLoop() {
        let shapes = [(1, 1, 1), (5, 5, 16), (20, 25, 576), (6, 7, 17), (11, 3, 31), (4, 9, 15), (32, 75, 784), (2, 26, 1)]
        for avx512 in [true, false] {
            convnet_matrix_kernels_allow_avx512(avx512 ? 1 : 0)
            for (m, n, k) in shapes {
                let (lda, ldb, ldc) = (k + 3, k + 1, n + 2)
                let a = randomTensor([m, lda], seed: 4), b = randomTensor([n, ldb], seed: 5)
                for accumulate in [false, true] {
                    let c = randomTensor([m, ldc], seed: 6)
                    let before = c.values
                    MatrixKernels.multiplyTransposedB(m: m, n: n, k: k, a: a.data, lda: lda, b: b.data, ldb: ldb,
                                                      c: c.data, ldc: ldc, accumulate: accumulate)
                    let form = "accumulate \(accumulate), avx512 \(avx512), [\(m), \(n), \(k)]"
                    guard checkProduct(c, before: before, m: m, n: n, ldc: ldc, form: form, expected: { i, j in
                        var (want, scale) = (accumulate ? Double(before[i * ldc + j]) : 0, 1.0)
                        for p in 0..<k {
                            want += Double(a[i * lda + p]) * Double(b[j * ldb + p])
                            scale += abs(Double(a[i * lda + p]) * Double(b[j * ldb + p]))
                        }
                        return (want, scale)
                    }) else { return }
                }
            }
            // An empty depth: C = 0, or C unchanged when accumulating.
            let c = randomTensor([2, 3], seed: 7), before = c.values, unused = Tensor(shape: [1])
            MatrixKernels.multiplyTransposedB(m: 2, n: 3, k: 0, a: unused.data, lda: 1, b: unused.data, ldb: 1, c: c.data, ldc: 3, accumulate: true)
            XCTAssertEqual(c.values, before)
            MatrixKernels.multiplyTransposedB(m: 2, n: 3, k: 0, a: unused.data, lda: 1, b: unused.data, ldb: 1, c: c.data, ldc: 3)
            XCTAssertEqual(c.values, [Float](repeating: 0, count: 6))
        }
    }

    /// Whether C `[m, ldc]` holds `expected(i, j)`'s value (given with the sum of its terms' sizes)
    /// within 1e-6 of that size in its first `n` columns, and its other columns as they were `before`.
    private func checkProduct(_ c: Tensor, before: [Float], m: Int, n: Int, ldc: Int, form: String,
                              expected: (Int, Int) -> (value: Double, scale: Double)) -> Bool {
        for i in 0..<m {
            for j in 0..<ldc {
                let index = i * ldc + j
                guard j < n else {
                    XCTAssertEqual(c[index], before[index], "\(form) wrote outside C at (\(i), \(j))")
                    continue
                }
                let (want, scale) = expected(i, j)
                if abs(Double(c[index]) - want) > 1e-6 * scale {
                    XCTFail("\(form) at (\(i), \(j)): \(c[index]) against \(want)")
                    return false
                }
            }
        }
        return true
    }

    /// An empty depth: C = 0, or C unchanged when accumulating.
    func testEmptyDepth() {
        let c = randomTensor([3, 4], seed: 1), before = c.values
        let unused = Tensor(shape: [1])
        MatrixKernels.multiply(m: 3, n: 4, k: 0, a: unused.data, rowStride: 1, depthStride: 1, b: unused.data, ldb: 4,
                               c: c.data, ldc: 4, accumulate: true)
        XCTAssertEqual(c.values, before)
        MatrixKernels.multiply(m: 3, n: 4, k: 0, a: unused.data, rowStride: 1, depthStride: 1, b: unused.data, ldb: 4, c: c.data, ldc: 4)
        XCTAssertEqual(c.values, [Float](repeating: 0, count: 12))
    }

    /// A convolution on MatrixKernels against the same convolution on OpenBLAS: output, dX, dW
    /// and db, for the three forms of dW (dY·rows, dWᵀ = cols·dYᵀ, dY·colsᵀ), padding and stride, an absorbed ReLU,
    /// one and two threads, a batch smaller than the threads (rows split), and no dX wanted. On
    /// the AVX-512 kernel where the CPU has it, and on the plain loops (so the layer's own
    /// bookkeeping is checked on any CPU).
    func testConvolutionMatchesOpenBLAS() {
        for avx512 in MatrixKernels.isAvailable ? [true, false] : [false] {
            convnet_matrix_kernels_allow_avx512(avx512 ? 1 : 0)
            convolutionsMatchOpenBLAS(avx512: avx512)
        }
    }

    private func convolutionsMatchOpenBLAS(avx512: Bool) {
        let cases: [(input: [Int], filters: Int, kernel: Int, stride: Int, padding: Int, relu: Bool)] = [
            ([4, 20, 12, 12], 50, 5, 1, 0, true),   // LeNet's conv 50@5×5: dW = dY·rows, im2row's 8-float moves (C·KH·KW = 500)
            ([4, 1, 28, 28], 20, 5, 1, 0, false),   // LeNet's conv 20@5×5: dW = dY·colsᵀ as dot products (25)
            ([3, 6, 11, 9], 7, 3, 2, 1, true),
            ([1, 8, 10, 10], 33, 5, 1, 2, false),   // batch 1: rows split over two threads; padded: im2row's general loop (200)
            ([3, 16, 9, 9], 32, 3, 1, 1, true),     // 32 filters: dWᵀ += cols·dYᵀ (144)
        ]
        var forms: Set<String> = []
        for threads in [1, 2] {
            Parallelism.threads = threads
            for (index, c) in cases.enumerated() {
                var results: [[[Float]]] = []
                for backend in [GEMMBackend.openBLAS, .matrixKernels] {
                    var random = SeededRandom(seed: 7)
                    let layer = Conv2D(inputChannels: c.input[1], filters: c.filters, kernelHeight: c.kernel, kernelWidth: c.kernel,
                                       strideHeight: c.stride, strideWidth: c.stride, paddingHeight: c.padding, paddingWidth: c.padding,
                                       random: &random)
                    layer.backend = backend
                    let g = ConvolutionGeometry(channels: c.input[1], height: c.input[2], width: c.input[3], kernelHeight: c.kernel,
                                                kernelWidth: c.kernel, strideHeight: c.stride, strideWidth: c.stride,
                                                paddingHeight: c.padding, paddingWidth: c.padding)
                    forms.insert("\(layer.weightGradientForm(for: g))")
                    for i in 0..<(layer.bias?.value.count ?? 0) { layer.bias?.value[i] = Float(i % 5) * 0.1 - 0.2 }
                    if c.relu { _ = layer.absorb(ReLU()) }
                    let x = randomTensor(c.input, seed: 11)
                    let inference = layer.forward(x, phase: .inference).values
                    let y = layer.forward(x, phase: .training)
                    let dy = randomTensor(y.shape, seed: 12)
                    let dx = layer.backward(dy, needsInputGradient: true)?.values ?? []
                    _ = layer.forward(x, phase: .training)
                    _ = layer.backward(dy, needsInputGradient: false)  // dW and db add up: twice the gradient
                    results.append([inference, y.values, dx, layer.weight.gradient.values, layer.bias?.gradient.values ?? []])
                }
                for (part, name) in ["inference output", "training output", "dX", "dW", "db"].enumerated() {
                    assertClose(results[1][part], results[0][part], tolerance: 1e-4, "case \(index), \(threads) threads, avx512 \(avx512), \(name)")
                }
            }
        }
        XCTAssertEqual(forms, ["rows", "transposed", "dotProducts"], "every form of dW on MatrixKernels, and OpenBLAS's")
    }

    /// A dense layer on MatrixKernels against the same layer on OpenBLAS: output, dX, dW and db,
    /// with workers' shares of 16 rows or more (yᵀ = W·xᵀ) and fewer (y = x·Wᵀ as dot products), on the
    /// AVX-512 kernel where the CPU has it and on the plain loops.
    func testDenseMatchesOpenBLAS() {
        for avx512 in MatrixKernels.isAvailable ? [true, false] : [false] {
            convnet_matrix_kernels_allow_avx512(avx512 ? 1 : 0)
            denseMatchesOpenBLAS(avx512: avx512)
        }
    }

    private func denseMatchesOpenBLAS(avx512: Bool) {
        for (threads, batch) in [(1, 40), (2, 64), (2, 20), (2, 1)] {
            Parallelism.threads = threads
            var results: [[[Float]]] = []
            for backend in [GEMMBackend.openBLAS, .matrixKernels] {
                var random = SeededRandom(seed: 5)
                let layer = Dense(inputFeatures: 37, outputFeatures: 70, random: &random)
                layer.backend = backend
                for i in 0..<layer.bias.value.count { layer.bias.value[i] = Float(i % 7) * 0.1 - 0.3 }
                let x = randomTensor([batch, 37], seed: 13)
                let y = layer.forward(x, phase: .training)
                let dy = randomTensor(y.shape, seed: 14)
                let dx = layer.backward(dy, needsInputGradient: true)?.values ?? []
                results.append([y.values, dx, layer.weight.gradient.values, layer.bias.gradient.values])
            }
            for (part, name) in ["output", "dX", "dW", "db"].enumerated() {
                assertClose(results[1][part], results[0][part], tolerance: 1e-5, "\(threads) threads, batch \(batch), avx512 \(avx512), \(name)")
            }
        }
    }

    /// An empty batch (a process's share of a small last batch in data-parallel training) through
    /// a convolution whose backward unfolds rows (C·KH·KW ≥ 128) and a dense layer, on
    /// both backends and two threads: empty outputs and input gradients, gradients left at zero.
    func testEmptyBatch() {
        Parallelism.threads = 2
        for backend in [GEMMBackend.openBLAS, .matrixKernels] {
            var random = SeededRandom(seed: 3)
            let convolution = Conv2D(inputChannels: 8, filters: 16, kernelHeight: 5, kernelWidth: 5, random: &random)
            let dense = Dense(inputFeatures: 16 * 4 * 4, outputFeatures: 10, random: &random)
            convolution.backend = backend
            dense.backend = backend
            let y = convolution.forward(Tensor(shape: [0, 8, 8, 8]), phase: .training)
            XCTAssertEqual(y.shape, [0, 16, 4, 4])
            let z = dense.forward(Tensor(shape: [0, 256]), phase: .training)
            XCTAssertEqual(z.shape, [0, 10])
            XCTAssertEqual(dense.backward(Tensor(shape: [0, 10])).shape, [0, 256])
            XCTAssertEqual(convolution.backward(Tensor(shape: [0, 16, 4, 4])).shape, [0, 8, 8, 8])
            for parameter in convolution.parameters + dense.parameters {
                XCTAssertEqual(parameter.gradient.values, [Float](repeating: 0, count: parameter.gradient.count), "\(backend) \(parameter.name)")
            }
        }
    }
}
