/// Element-wise loops written with explicit SIMD, for the passes around the GEMMs.
/// Plain loops over `UnsafePointer`s often stay scalar (possible aliasing, short rows,
/// or a floating-point reduction the compiler may not reorder).
///
/// They are `@_transparent`, not `@inline(__always)`: `swift run train` builds this module
/// file by file (no whole-module optimisation in debug builds), where only transparent
/// functions are inlined across files; im2col calls `copyFloats` once per 8-float row.
/// Measured: the debug build went from 10–15% slower than release to within 4%.

/// Σ values[0..<count], with 16 independent partial sums so the additions vectorise
/// (a single running total is one long dependency chain, about 4× slower).
@_transparent
func sum(_ values: UnsafePointer<Float>, count: Int) -> Float {
    var partial = SIMD16<Float>()
    var i = 0
    let raw = UnsafeRawPointer(values)
    while i + 16 <= count {
        partial += raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
        i += 16
    }
    var total: Float = count >= 16 ? partial.sum() : 0  // all lanes 0 below 16: skip the reduction
    while i < count {
        total += values[i]
        i += 1
    }
    return total
}

/// destination[i] = source[i] for i < count (inline; rows are often a few floats long).
@_transparent
func copyFloats(from source: UnsafePointer<Float>, to destination: UnsafeMutablePointer<Float>, count: Int) {
    var i = 0
    let from = UnsafeRawPointer(source), to = UnsafeMutableRawPointer(destination)
    while i + 8 <= count {
        to.storeBytes(of: from.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self), toByteOffset: i * 4, as: SIMD8<Float>.self)
        i += 8
    }
    while i < count {
        destination[i] = source[i]
        i += 1
    }
}

/// destination[i] += source[i] for i < count.
@_transparent
func addFloats(from source: UnsafePointer<Float>, into destination: UnsafeMutablePointer<Float>, count: Int) {
    var i = 0
    let from = UnsafeRawPointer(source), to = UnsafeMutableRawPointer(destination)
    while i + 8 <= count {
        let sum = to.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
            + from.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
        to.storeBytes(of: sum, toByteOffset: i * 4, as: SIMD8<Float>.self)
        i += 8
    }
    while i < count {
        destination[i] += source[i]
        i += 1
    }
}

/// output[i] = y[i] > 0 ? gradient[i] : 0 for i < count (ReLU's backward).
@_transparent
func maskByPositive(_ gradient: UnsafePointer<Float>, where y: UnsafePointer<Float>,
                    into output: UnsafeMutablePointer<Float>, count: Int) {
    var i = 0
    let g = UnsafeRawPointer(gradient), values = UnsafeRawPointer(y), out = UnsafeMutableRawPointer(output)
    while i + 16 <= count {
        let kept = g.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
            .replacing(with: 0, where: values.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self) .<= 0)
        out.storeBytes(of: kept, toByteOffset: i * 4, as: SIMD16<Float>.self)
        i += 16
    }
    while i < count {
        output[i] = y[i] > 0 ? gradient[i] : 0
        i += 1
    }
}

/// Σ a[i]·b[i] for i < count, with 16 independent partial sums (see `sum`).
@_transparent
func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float {
    var partial = SIMD16<Float>()
    var i = 0
    let left = UnsafeRawPointer(a), right = UnsafeRawPointer(b)
    while i + 16 <= count {
        partial += left.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
            * right.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
        i += 16
    }
    var total: Float = count >= 16 ? partial.sum() : 0  // all lanes 0 below 16: skip the reduction
    while i < count {
        total += a[i] * b[i]
        i += 1
    }
    return total
}

/// Σ (values[i] − centre)² for i < count, with 16 independent partial sums (see `sum`).
@_transparent
func sumOfSquares(_ values: UnsafePointer<Float>, around centre: Float, count: Int) -> Float {
    var partial = SIMD16<Float>()
    var i = 0
    let raw = UnsafeRawPointer(values)
    let shift = SIMD16<Float>(repeating: centre)
    while i + 16 <= count {
        let deviation = raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self) - shift
        partial += deviation * deviation
        i += 16
    }
    var total: Float = count >= 16 ? partial.sum() : 0  // all lanes 0 below 16: skip the reduction
    while i < count {
        let deviation = values[i] - centre
        total += deviation * deviation
        i += 1
    }
    return total
}

/// output[i] = max(input[i] + bias, 0) for i < count (a convolution's bias and ReLU in one pass;
/// NaN stays NaN, as `max` keeps it).
@_transparent
func addBiasClampingAtZero(_ input: UnsafePointer<Float>, bias: Float, into output: UnsafeMutablePointer<Float>, count: Int) {
    var i = 0
    let from = UnsafeRawPointer(input), to = UnsafeMutableRawPointer(output)
    let shift = SIMD16<Float>(repeating: bias)
    while i + 16 <= count {
        let x = from.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self) + shift
        to.storeBytes(of: x.replacing(with: 0, where: x .<= 0), toByteOffset: i * 4, as: SIMD16<Float>.self)
        i += 16
    }
    while i < count {
        output[i] = max(input[i] + bias, 0)
        i += 1
    }
}

/// output[i] = max(scale·input[i] + shift, 0) for i < count (batch norm's output and its ReLU in
/// one pass): the values of `scaleAndShift` followed by `addBiasClampingAtZero` with bias 0.
@_transparent
func scaleShiftClampingAtZero(_ input: UnsafePointer<Float>, scale: Float, shift: Float, into output: UnsafeMutablePointer<Float>, count: Int) {
    var i = 0
    let (scales, shifts) = (SIMD16<Float>(repeating: scale), SIMD16<Float>(repeating: shift))
    while i + 16 <= count {
        let x = scales * load16(input + i) + shifts
        store16(x.replacing(with: 0, where: x .<= 0), output + i)
        i += 16
    }
    while i < count {
        output[i] = max(scale * input[i] + shift + 0, 0)
        i += 1
    }
}

/// output[i] = x > 0 ? x : slope·x with x = input[i] + bias, for i < count (leaky ReLU).
@_transparent
func addBiasLeaky(_ input: UnsafePointer<Float>, bias: Float, slope: Float, into output: UnsafeMutablePointer<Float>, count: Int) {
    var i = 0
    let from = UnsafeRawPointer(input), to = UnsafeMutableRawPointer(output)
    let shift = SIMD16<Float>(repeating: bias)
    while i + 16 <= count {
        let x = from.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self) + shift
        to.storeBytes(of: (slope * x).replacing(with: x, where: x .> 0), toByteOffset: i * 4, as: SIMD16<Float>.self)
        i += 16
    }
    while i < count {
        let x = input[i] + bias
        output[i] = x > 0 ? x : slope * x
        i += 1
    }
}

/// pointer[0..<16] as one vector (unaligned).
@_transparent
func load16(_ pointer: UnsafePointer<Float>) -> SIMD16<Float> {
    UnsafeRawPointer(pointer).loadUnaligned(as: SIMD16<Float>.self)
}

/// pointer[0..<16] = value (unaligned).
@_transparent
func store16(_ value: SIMD16<Float>, _ pointer: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(pointer).storeBytes(of: value, as: SIMD16<Float>.self)
}

/// output[i] = scale·input[i] + shift for i < count (batch norm's y = γ·x̂ + β as one multiply-add).
@_transparent
func scaleAndShift(_ input: UnsafePointer<Float>, scale: Float, shift: Float, into output: UnsafeMutablePointer<Float>, count: Int) {
    var i = 0
    let (scales, shifts) = (SIMD16<Float>(repeating: scale), SIMD16<Float>(repeating: shift))
    while i + 16 <= count {
        store16(scales * load16(input + i) + shifts, output + i)
        i += 16
    }
    while i < count {
        output[i] = scale * input[i] + shift
        i += 1
    }
}

/// output[i] = a·x[i] + b·y[i] + c for i < count (batch norm's input gradient).
@_transparent
func linearCombination(_ a: Float, _ x: UnsafePointer<Float>, _ b: Float, _ y: UnsafePointer<Float>, _ c: Float,
                       into output: UnsafeMutablePointer<Float>, count: Int) {
    var i = 0
    let (aLanes, bLanes, cLanes) = (SIMD16<Float>(repeating: a), SIMD16<Float>(repeating: b), SIMD16<Float>(repeating: c))
    while i + 16 <= count {
        store16(aLanes * load16(x + i) + bLanes * load16(y + i) + cLanes, output + i)
        i += 16
    }
    while i < count {
        output[i] = a * x[i] + b * y[i] + c
        i += 1
    }
}

/// (Σ g[i], Σ g[i]·x[i]) for i < count, with g[i] = gradient[i] where z[i] = scale·x[i] + shift is
/// positive and 0 where it is not: ReLU's backward through batch norm's output y = max(z, 0),
/// the mask taken from z recomputed as the output pass computed it (y > 0 exactly where z > 0),
/// so neither y nor the masked gradient is read or written. Same predicates and the same 16
/// partial sums as `maskByPositive` then `sum` and `dot`: the same results, bit for bit.
@_transparent
func sumsMaskedByPositive(_ gradient: UnsafePointer<Float>, _ x: UnsafePointer<Float>, scale: Float, shift: Float,
                          count: Int) -> (gradient: Float, gradientInput: Float) {
    var (partial, partialInput) = (SIMD16<Float>(), SIMD16<Float>())
    let (scales, shifts) = (SIMD16<Float>(repeating: scale), SIMD16<Float>(repeating: shift))
    var i = 0
    while i + 16 <= count {
        let input = load16(x + i)
        let kept = load16(gradient + i).replacing(with: 0, where: scales * input + shifts .<= 0)
        partial += kept
        partialInput += kept * input
        i += 16
    }
    var (total, totalInput): (Float, Float) = count >= 16 ? (partial.sum(), partialInput.sum()) : (0, 0)
    while i < count {
        let kept = scale * x[i] + shift > 0 ? gradient[i] : 0
        total += kept
        totalInput += kept * x[i]
        i += 1
    }
    return (total, totalInput)
}

/// output[i] = a·g[i] + b·x[i] + c for i < count, with g masked as in `sumsMaskedByPositive`
/// (batch norm's input gradient through an absorbed ReLU; the same results as `maskByPositive`
/// then `linearCombination`).
@_transparent
func linearCombinationMaskedByPositive(_ a: Float, _ gradient: UnsafePointer<Float>, _ b: Float, _ x: UnsafePointer<Float>, _ c: Float,
                                       scale: Float, shift: Float, into output: UnsafeMutablePointer<Float>, count: Int) {
    var i = 0
    let (aLanes, bLanes, cLanes) = (SIMD16<Float>(repeating: a), SIMD16<Float>(repeating: b), SIMD16<Float>(repeating: c))
    let (scales, shifts) = (SIMD16<Float>(repeating: scale), SIMD16<Float>(repeating: shift))
    while i + 16 <= count {
        let input = load16(x + i)
        let kept = load16(gradient + i).replacing(with: 0, where: scales * input + shifts .<= 0)
        store16(aLanes * kept + bLanes * input + cLanes, output + i)
        i += 16
    }
    while i < count {
        let kept = scale * x[i] + shift > 0 ? gradient[i] : 0
        output[i] = a * kept + b * x[i] + c
        i += 1
    }
}

/// transposed[c, r] = matrix[r, c] for a row-major `[rows, columns]` matrix, in 16 × 16 blocks so
/// that both sides stay in cache, with wrapping index arithmetic (checked arithmetic per element
/// made the plain loop about 3× slower).
@inline(__always)
func transpose(_ matrix: UnsafePointer<Float>, rows: Int, columns: Int, into transposed: UnsafeMutablePointer<Float>) {
    let block = 16
    var rowStart = 0
    while rowStart < rows {
        let rowEnd = min(rowStart &+ block, rows)
        var columnStart = 0
        while columnStart < columns {
            let columnEnd = min(columnStart &+ block, columns)
            for row in rowStart..<rowEnd {
                let source = matrix + row &* columns
                var target = transposed + (columnStart &* rows &+ row)
                for column in columnStart..<columnEnd {
                    target.pointee = source[column]
                    target += rows
                }
            }
            columnStart = columnEnd
        }
        rowStart = rowEnd
    }
}
