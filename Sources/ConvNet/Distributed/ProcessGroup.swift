/// The processes of one data-parallel training run, as the trainer and synchronised batch
/// norm see them: a rank, a size and element-wise sums across all processes (all-reduce).
///
/// One process is `SingleProcess`, where every sum is the value itself. The MPI implementation
/// (module `ConvNetMPI`, used by `train` when started by `mpirun`) is the only code that talks
/// to MPI. Collectives are called from the thread driving the model, in the same order on every
/// rank. A failed or timed-out collective does not trap: it records `failure`, later collectives
/// return at once, and the trainer throws `TrainingError.communication` at the next step boundary.
///
/// `Sendable` so a `ForwardContext` can carry one to synchronised batch norm; implementations
/// are used from one thread at a time (the one driving the model).
public protocol ProcessGroup: AnyObject, Sendable {
    /// This process's index, 0 ..< size; rank 0 writes checkpoints, metrics and output.
    var rank: Int { get }
    /// The number of processes P.
    var size: Int { get }

    /// values[i] ← Σ over ranks of values[i], waiting until every rank has contributed.
    func allReduceSum(_ values: UnsafeMutableBufferPointer<Float>)
    /// values[i] ← Σ over ranks of values[i] (Double), waiting.
    func allReduceSum(_ values: UnsafeMutableBufferPointer<Double>)

    /// Starts values[i] ← Σ over ranks of values[i] without waiting; `values` must stay untouched
    /// until `waitForAll()` returns. (MPI_Iallreduce.)
    func startAllReduceSum(_ values: UnsafeMutableBufferPointer<Float>)
    /// Starts a Double sum without waiting (see the Float one).
    func startAllReduceSum(_ values: UnsafeMutableBufferPointer<Double>)
    /// Lets started sums move on (MPI progresses non-blocking collectives inside its calls);
    /// called between layers during backward. Never waits.
    func progress()
    /// Waits until every started sum has finished.
    func waitForAll()

    /// The first collective that failed (a peer gone, a timeout), if any.
    var failure: CommunicationError? { get }
}

/// A failed collective: what happened, for one line.
public struct CommunicationError: ConvNetError, Equatable {
    /// What failed and why, e.g. "no answer from the other ranks in 300 s".
    public var message: String
    /// The error with its message.
    public init(_ message: String) { self.message = message }
    public var description: String { oneLine("data-parallel training: \(message)") }
}

/// One process: every sum over ranks is the value itself.
public final class SingleProcess: ProcessGroup {
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public func allReduceSum(_ values: UnsafeMutableBufferPointer<Float>) {}
    public func allReduceSum(_ values: UnsafeMutableBufferPointer<Double>) {}
    public func startAllReduceSum(_ values: UnsafeMutableBufferPointer<Float>) {}
    public func startAllReduceSum(_ values: UnsafeMutableBufferPointer<Double>) {}
    public func progress() {}
    public func waitForAll() {}
    public var failure: CommunicationError? { nil }
}

extension ProcessGroup {
    /// `values` summed over ranks (a copy), waiting.
    public func sum(_ values: [Double]) -> [Double] {
        var values = values
        if size > 1 { values.withUnsafeMutableBufferPointer { allReduceSum($0) } }
        return values
    }

    /// Checks that every process has the same fingerprint for each named part (config, data,
    /// …): each process puts its fingerprints in its own row of a table, the table is summed,
    /// and every process compares every row with rank 0's, so all reach the same verdict. Returns
    /// the first part (in order) some rank differs on, with the lowest such rank; nil when all
    /// agree, or when the sum failed (then `failure` says why).
    public func firstDisagreement(_ parts: [(name: String, fingerprint: UInt32)]) -> (part: String, rank: Int)? {
        guard size > 1 else { return nil }
        var table = [Double](repeating: 0, count: parts.count * size)
        for (index, part) in parts.enumerated() { table[rank * parts.count + index] = Double(part.fingerprint) }
        table = sum(table)
        guard failure == nil else { return nil }
        for (index, part) in parts.enumerated() {
            for other in 1..<size where table[other * parts.count + index] != table[index] { return (part.name, other) }
        }
        return nil
    }

    /// This rank's contiguous share of `count` items: the `rank`-th of `size` near-equal parts
    /// (sizes differ by at most one; a share is empty when count < size).
    public func share(of count: Int) -> Range<Int> {
        partition(count, worker: rank, of: size)
    }
}
