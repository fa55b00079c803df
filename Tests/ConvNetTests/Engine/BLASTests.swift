import CBLAS
import CMatrixKernels
import Foundation
import XCTest
@testable import ConvNet

final class BLASTests: XCTestCase {
    /// C = alpha·op(A)·op(B) + beta·C against a triple loop, all four transpose combinations.
    func testGemmAgainstTripleLoop() {
        let (m, n, k) = (7, 5, 11)
        for transposeA in [false, true] {
            for transposeB in [false, true] {
                let a = randomTensor(transposeA ? [k, m] : [m, k], seed: 1)
                let b = randomTensor(transposeB ? [n, k] : [k, n], seed: 2)
                let c = randomTensor([m, n], seed: 3)
                var expected = c.values
                for i in 0..<m {
                    for j in 0..<n {
                        var total: Float = 0
                        for p in 0..<k {
                            let left = transposeA ? a[p * m + i] : a[i * k + p]
                            let right = transposeB ? b[j * k + p] : b[p * n + j]
                            total += left * right
                        }
                        expected[i * n + j] = 1.5 * total + 0.5 * expected[i * n + j]
                    }
                }
                BLAS.gemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k,
                          alpha: 1.5, a: a.data, b: b.data, beta: 0.5, c: c.data)
                assertClose(c.values, expected, tolerance: 1e-5, "transposeA \(transposeA) transposeB \(transposeB)")
            }
        }
    }

    /// A sub-matrix multiply with explicit leading dimensions (how conv uses chunked columns).
    func testLeadingDimensions() {
        let a = randomTensor([3, 10], seed: 4)   // use the left 3×4 block
        let b = randomTensor([4, 9], seed: 5)    // use the left 4×2 block
        let c = Tensor(shape: [3, 6])            // write the left 3×2 block
        BLAS.gemm(m: 3, n: 2, k: 4, a: a.data, lda: 10, b: b.data, ldb: 9, c: c.data, ldc: 6)
        for i in 0..<3 {
            for j in 0..<6 {
                var expected: Float = 0
                if j < 2 { for p in 0..<4 { expected += a[i * 10 + p] * b[p * 9 + j] } }
                XCTAssertEqual(c[i * 6 + j], expected, accuracy: 1e-5)
            }
        }
    }

    /// The mechanism behind `BLAS.kernelChoice`: with OPENBLAS_CORETYPE set, OpenBLAS chooses its
    /// kernels again, in this process, and GEMM results stay right; then the first choice is restored.
    func testOpenBLASChoosesItsKernelsAgain() throws {
        let original = BLAS.coreName
        let target = convnet_cpu_has_avx512() == 1 ? "SkylakeX" : "Haswell"
        let previous = ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"]
        defer {
            setenv("OPENBLAS_CORETYPE", original, 1)
            _ = convnet_openblas_choose_kernels_again()
            if let previous { setenv("OPENBLAS_CORETYPE", previous, 1) } else { unsetenv("OPENBLAS_CORETYPE") }
            XCTAssertEqual(BLAS.coreName, original)
        }
        setenv("OPENBLAS_CORETYPE", target, 1)
        XCTAssertEqual(convnet_openblas_choose_kernels_again(), 1, "Debian's OpenBLAS is built with DYNAMIC_ARCH")
        XCTAssertEqual(BLAS.coreName, target)
        testGemmAgainstTripleLoop()
    }
}
