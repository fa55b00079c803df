/// One axis of a separable resampling from `sourceCount` to `targetCount` samples:
/// `output[i] = Σ_k weights[k] · input[indices[k]]` for `k` in `starts[i]..<starts[i + 1]`.
///
/// - Shrinking (`targetCount ≤ sourceCount`) averages areas: output sample i covers the
///   source interval [i·s, (i+1)·s) with s = sourceCount / targetCount, and each source sample
///   j ∈ [j, j+1) weighs |[j, j+1) ∩ [i·s, (i+1)·s)| / s, so partly covered samples count
///   in proportion. This is the box filter that anti-aliases a downscale; weights sum to 1.
/// - Enlarging interpolates linearly between the two nearest sample centres:
///   x = (i + ½)·sourceCount/targetCount − ½, clamped to [0, sourceCount − 1].
///
/// Two axes applied one after the other give 2-D area averaging (the box is separable)
/// or bilinear interpolation.
struct ResamplingAxis {
    /// Output sample i uses taps `starts[i]..<starts[i + 1]`; `targetCount + 1` entries.
    var starts: [Int]
    /// The source sample of each tap.
    var indices: [Int]
    /// The weight of each tap.
    var weights: [Float]

    init(from sourceCount: Int, to targetCount: Int) {
        precondition(sourceCount > 0 && targetCount > 0, "resampling \(sourceCount) to \(targetCount) samples")
        starts = [0]
        indices = []
        weights = []
        let ratio = Double(sourceCount) / Double(targetCount)
        for target in 0..<targetCount {
            if targetCount <= sourceCount {
                let low = Double(target) * ratio, high = Double(target + 1) * ratio
                for source in Int(low)..<min(sourceCount, Int(high.rounded(.up))) {
                    let overlap = min(high, Double(source + 1)) - max(low, Double(source))
                    if overlap > 1e-9 {
                        indices.append(source)
                        weights.append(Float(overlap / ratio))
                    }
                }
            } else {
                let position = min(max((Double(target) + 0.5) * ratio - 0.5, 0), Double(sourceCount - 1))
                let left = Int(position), fraction = position - Double(left)
                indices.append(left)
                weights.append(Float(1 - fraction))
                if fraction > 0 {
                    indices.append(left + 1)
                    weights.append(Float(fraction))
                }
            }
            starts.append(indices.count)
        }
    }
}

/// Resamples a row-major `[sourceHeight, sourceWidth]` grid of values to `[targetHeight, targetWidth]`,
/// rows then columns, with `ResamplingAxis` weights (area average when shrinking, bilinear when enlarging).
func resample(_ source: UnsafeBufferPointer<Float>, height sourceHeight: Int, width sourceWidth: Int,
              toHeight targetHeight: Int, width targetWidth: Int) -> [Float] {
    precondition(source.count == sourceHeight * sourceWidth, "grid size")
    return resample(rows: source.baseAddress!, rowStride: sourceWidth, height: sourceHeight, width: sourceWidth,
                    toHeight: targetHeight, width: targetWidth) { $0 }
}

/// `resample` reading a region of a larger grid in place: source row r is the `sourceWidth`
/// samples at `rows + r · rowStride`, each turned into a Float by `value` as it is read, so a
/// large 8-bit image is not first copied into Floats (4 bytes a pixel). Memory: the result and
/// `[sourceHeight, targetWidth]` Floats.
func resample<Sample>(rows source: UnsafePointer<Sample>, rowStride: Int, height sourceHeight: Int, width sourceWidth: Int,
                      toHeight targetHeight: Int, width targetWidth: Int, _ value: (Sample) -> Float) -> [Float] {
    precondition(rowStride >= sourceWidth, "row stride")
    let across = ResamplingAxis(from: sourceWidth, to: targetWidth)
    let down = ResamplingAxis(from: sourceHeight, to: targetHeight)
    // [sourceHeight, targetWidth]: every source row resampled across.
    var horizontal = [Float](repeating: 0, count: sourceHeight * targetWidth)
    horizontal.withUnsafeMutableBufferPointer { output in
        across.indices.withUnsafeBufferPointer { indices in
            across.weights.withUnsafeBufferPointer { weights in
                for row in 0..<sourceHeight {
                    let input = source + row * rowStride
                    for column in 0..<targetWidth {
                        var total: Float = 0
                        for tap in across.starts[column]..<across.starts[column + 1] {
                            total += weights[tap] * value(input[indices[tap]])
                        }
                        output[row * targetWidth + column] = total
                    }
                }
            }
        }
    }
    // [targetHeight, targetWidth]: each output row is a weighted sum of whole rows.
    var result = [Float](repeating: 0, count: targetHeight * targetWidth)
    result.withUnsafeMutableBufferPointer { output in
        horizontal.withUnsafeBufferPointer { rows in
            for row in 0..<targetHeight {
                let destination = output.baseAddress! + row * targetWidth
                for tap in down.starts[row]..<down.starts[row + 1] {
                    let weight = down.weights[tap]
                    let input = rows.baseAddress! + down.indices[tap] * targetWidth
                    for column in 0..<targetWidth { destination[column] += weight * input[column] }
                }
            }
        }
    }
    return result
}
