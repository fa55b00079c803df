/// The naive direct convolution, the reference that im2col + SGEMM is tested and
/// benchmarked against:
/// `y[n, f, oh, ow] = b[f] + Σ_{c,kh,kw} W[f, c, kh, kw] · x[n, c, oh·SH − PH + kh, ow·SW − PW + kw]`,
/// with x taken as 0 outside the image.
///
/// - Parameters:
///   - input: x `[N, C, H, W]` (`batch` images of `geometry`).
///   - weight: W `[F, C, KH, KW]`.
///   - bias: b `[F]`, or nil.
///   - output: y `[N, F, OH, OW]`, overwritten.
public func directConvolution(input: UnsafePointer<Float>, batch: Int, geometry g: ConvolutionGeometry,
                              weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?, filters: Int,
                              output: UnsafeMutablePointer<Float>) {
    let (outputHeight, outputWidth) = (g.outputHeight, g.outputWidth)
    for n in 0..<batch {
        for f in 0..<filters {
            for oh in 0..<outputHeight {
                for ow in 0..<outputWidth {
                    var total = bias?[f] ?? 0
                    for c in 0..<g.channels {
                        for kh in 0..<g.kernelHeight {
                            let ih = oh * g.strideHeight - g.paddingHeight + kh
                            guard ih >= 0 && ih < g.height else { continue }
                            for kw in 0..<g.kernelWidth {
                                let iw = ow * g.strideWidth - g.paddingWidth + kw
                                guard iw >= 0 && iw < g.width else { continue }
                                total += weight[((f * g.channels + c) * g.kernelHeight + kh) * g.kernelWidth + kw]
                                    * input[((n * g.channels + c) * g.height + ih) * g.width + iw]
                            }
                        }
                    }
                    output[((n * filters + f) * outputHeight + oh) * outputWidth + ow] = total
                }
            }
        }
    }
}
