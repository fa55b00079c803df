import Foundation

/// What a model description amounts to, worked out from the layer specifications alone,
/// before anything is allocated: each layer's output shape, parameters and multiply-adds.
/// `Sequential` checks a description with it; `train` prints it as the model table.
public struct ModelPlan: Sendable {
    /// One layer's line.
    public struct Layer: Sendable {
        /// 0-based index, as in the state dictionary's names.
        public var index: Int
        /// e.g. `conv 20@5×5`.
        public var summary: String
        /// Per-image output shape.
        public var outputShape: [Int]
        /// Learnable values.
        public var parameters: Int
        /// Multiply-adds of one image's forward pass.
        public var multiplyAccumulates: Int
        /// Working memory per worker thread for one image, in values (see `LayerSpecification.scratchValues`).
        public var scratchValues: Int = 0
    }

    /// Per-image shape entering each layer, then the model's output (`layers.count + 1` shapes).
    public let shapes: [[Int]]
    /// The layers' lines.
    public let layers: [Layer]

    /// The plan of `description`. Throws `ModelError` naming the first layer whose input shape
    /// does not fit, whose output is over `Sequential.activationLimit` values, or that would take
    /// the model over `parameterLimit` parameters; and when the model does not end flat.
    public init(_ description: ModelDescription, parameterLimit: Int = 1 << 28) throws(ModelError) {
        var shapes = [description.input]
        var layers: [Layer] = []
        var parameterCount = 0
        for (index, layer) in description.layers.enumerated() {
            let specification = layer.specification, inputShape = shapes[index]
            do throws(ShapeError) {
                let outputShape = try specification.outputShape(forInput: inputShape)
                guard outputShape.allSatisfy({ $0 > 0 }) else {
                    throw ShapeError("input \(inputShape.shapeDescription) gives an empty output \(outputShape.shapeDescription)")
                }
                guard let size = checkedProduct(outputShape), size <= Sequential.activationLimit else {
                    throw ShapeError("output \(outputShape.shapeDescription) per image is over the limit of \(Sequential.activationLimit) values")
                }
                shapes.append(outputShape)
            } catch {
                throw ModelError(layer: index + 1, summary: specification.summary, message: error.message)
            }
            guard let count = specification.parameterCount(forInput: inputShape), count <= parameterLimit - parameterCount else {
                throw ModelError(layer: index + 1, summary: specification.summary,
                                 message: "the model would have over \(parameterLimit) parameters")
            }
            parameterCount += count
            layers.append(Layer(index: index, summary: specification.summary, outputShape: shapes[index + 1], parameters: count,
                                multiplyAccumulates: specification.multiplyAccumulates(forInput: inputShape),
                                scratchValues: specification.scratchValues(forInput: inputShape)))
        }
        guard let outputShape = shapes.last, outputShape.count == 1 else {
            throw ModelError(layer: description.layers.count, summary: description.layers.last?.specification.summary ?? "",
                             message: "the model must end with flat class scores, found \(shapes.last?.shapeDescription ?? "nothing"); end with a dense layer")
        }
        self.shapes = shapes
        self.layers = layers
    }

    /// Learnable values of the whole model.
    public var parameters: Int { layers.reduce(0) { $0 + $1.parameters } }
    /// Multiply-adds of one image's forward pass through the whole model.
    public var multiplyAccumulates: Int { layers.reduce(0) { $0 &+ $1.multiplyAccumulates } }

    /// Values of every layer's output for one image, summed (saturating).
    public var activationValuesPerImage: Int {
        layers.reduce(shapes[0].reduce(1, *)) { sum, layer in sum.addingSaturating(layer.outputShape.reduce(1, *)) }
    }

    /// An estimate, in bytes, of the memory the model needs: its parameters (with their
    /// gradients and `optimizerStates` values each when `training`), every layer's output for
    /// `batchSize` images (three times over when training: outputs, their gradients and what
    /// backward keeps, e.g. pooling indices or normalised inputs), and the largest working
    /// memory (im2col columns) for `threads` workers. Data and the process itself come on top.
    /// Checked before a run or an inference allocates anything, so a model or batch that could
    /// not fit is refused with the numbers instead of failing half-way.
    public func memoryEstimate(batchSize: Int, training: Bool, optimizerStates: Int = 1, threads: Int = 1) -> Int {
        let parameterCopies = training ? 2 + optimizerStates : 1
        let parameterBytes = parameters.multipliedSaturating(by: 4 * parameterCopies)
        let activationBytes = activationValuesPerImage.multipliedSaturating(by: batchSize).multipliedSaturating(by: training ? 12 : 4)
        let scratch = (layers.map(\.scratchValues).max() ?? 0).multipliedSaturating(by: 4 * max(1, threads))
        return parameterBytes.addingSaturating(activationBytes).addingSaturating(scratch)
    }

    /// The model table, as Keras' `model.summary()` prints it:
    /// ```
    /// #   layer          output      parameters  multiply-adds
    /// 0   conv 20@5×5    20×24×24           520        288,000
    /// …
    /// total                             431,080      2,293,000
    /// ```
    public var table: String {
        let header = ["#", "layer", "output", "parameters", "multiply-adds"]
        var rows = [["", "input", shapes[0].shapeDescription, "", ""]]
        rows += layers.map { [String($0.index), $0.summary, $0.outputShape.shapeDescription, Report.grouped($0.parameters), Report.grouped($0.multiplyAccumulates)] }
        rows.append(["", "total", "", Report.grouped(parameters), Report.grouped(multiplyAccumulates)])
        let widths = (0..<header.count).map { column in (rows + [header]).map { $0[column].count }.max() ?? 0 }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { column, cell in
                let pad = String(repeating: " ", count: widths[column] - cell.count)
                return column >= 3 ? pad + cell : cell + pad  // numbers right-aligned
            }.joined(separator: "  ").trimmingCharacters(in: .whitespaces)
        }
        let rule = String(repeating: "─", count: widths.reduce(0, +) + 2 * (widths.count - 1))
        return ([line(header), rule] + rows.dropLast().map(line) + [rule, line(rows.last!)]).joined(separator: "\n")
    }
}

extension Int {
    /// `self + other`, or `Int.max` when that overflows.
    func addingSaturating(_ other: Int) -> Int {
        let (sum, overflow) = addingReportingOverflow(other)
        return overflow ? .max : sum
    }

    /// `self × other`, or `Int.max` when that overflows.
    func multipliedSaturating(by other: Int) -> Int {
        let (product, overflow) = multipliedReportingOverflow(by: other)
        return overflow ? .max : product
    }
}
