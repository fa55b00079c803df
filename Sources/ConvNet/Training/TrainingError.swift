/// Why a training or evaluation run stopped before finishing, as one line for the user.
public enum TrainingError: ConvNetError {
    /// The config is invalid or does not fit the data.
    case configuration(ConfigError)
    /// A data file is missing or malformed.
    case data(DataError)
    /// The model description does not fit its input (config file, error).
    case model(String, ModelError)
    /// A checkpoint cannot be read, written or used.
    case checkpoint(CheckpointError)
    /// A tensor the next checkpoint would hold (weights, batch-norm statistics, optimizer
    /// state) has NaN or infinite values, though the losses seen were finite: the last updates
    /// exploded. Nothing is written.
    case nonFiniteState(epoch: Int, step: Int, learningRate: Double, tensor: String)
    /// The loss became NaN, infinite or exploded (see `Trainer.divergedLoss`); `largestInput` is
    /// the largest |x| a normalised pixel can have (`Normalization.largestMagnitude`).
    case diverged(epoch: Int, step: Int, learningRate: Double, loss: Float, largestInput: Double)
    /// The processes of a data-parallel run could not work together (a collective failed, or
    /// they do not share the same config, data or starting state).
    case communication(CommunicationError)
    /// The processes of a data-parallel run do not share `part` (config, data, checkpoint, the
    /// settings of the gradient sums): `rank` differs from rank 0. Every process finds the same.
    case processesDiffer(part: String, rank: Int)

    /// The message, one line.
    public var description: String {
        switch self {
        case .configuration(let error): return error.description
        case .data(let error): return error.description
        case let .model(file, error): return oneLine("\(file): model: \(error)")
        case .checkpoint(let error): return error.description
        case .communication(let error): return error.description
        case let .processesDiffer(part, rank):
            return "data-parallel training: rank \(rank)'s \(part) differs from rank 0's; every process needs the same config, data files, --resume checkpoint and train options (copy them to every machine)"
        case let .nonFiniteState(epoch, step, learningRate, tensor):
            return oneLine("training diverged: tensor \"\(tensor)\" holds NaN or infinite values \(step == 0 ? "at the end of epoch \(epoch)" : "at epoch \(epoch), step \(step)") (learning rate \(learningRate)); "
                + "try a lower learning rate, e.g. --learning-rate \(formatRate(learningRate / 10)). No checkpoint was written; the last good one is unchanged.")
        case let .diverged(epoch, step, learningRate, loss, largestInput):
            let value = loss.isNaN ? "NaN" : loss.isInfinite ? "infinite" : String(format: "%.4g", loss)
            // Inputs far from [-3, 3] come from a tiny normalisation std, which no learning rate cures.
            let advice = largestInput > TrainingError.largestUsualInput
                ? "the normalised inputs reach ±\(String(format: "%.0f", largestInput)): the normalisation's std is far too small "
                    + "for pixels in [0, 1]; check data.normalize before lowering the learning rate"
                : "try a lower learning rate, e.g. --learning-rate \(formatRate(learningRate / 10))"
            return "training diverged: the loss became \(value) at epoch \(epoch), step \(step) (learning rate \(learningRate)); "
                + "\(advice). The last good checkpoint was not overwritten."
        }
    }
}

extension TrainingError {
    /// Normalised inputs beyond ± this (std below about a thirtieth of the pixel range) point
    /// at the normalisation when training diverges.
    static let largestUsualInput = 30.0
}

private func formatRate(_ rate: Double) -> String {
    var text = String(rate)
    if text.hasSuffix(".0") { text.removeLast(2) }
    return text
}

