import Foundation
@testable import ConvNet

/// A test double of a data-parallel run's processes: P ranks as P threads of this process,
/// summing through shared memory behind a barrier. Every rank's `ThreadedProcessGroup` shares
/// one `Exchange`. Sums are done at once (`start…` does the whole sum), which is allowed: a
/// started sum may finish any time before `waitForAll()`.
final class ThreadedProcessGroup: ProcessGroup, @unchecked Sendable {
    // @unchecked Sendable: each instance is used by its own rank's thread only; the shared
    // `Exchange` is synchronised by its barrier.

    /// Where the ranks meet: each rank's buffer, and a barrier for all of them.
    final class Exchange: @unchecked Sendable {
        // @unchecked Sendable: `floats`/`doubles` slots are written by their own rank before the
        // first barrier and read by the others between the first and the second.
        let size: Int
        var floats: [UnsafeMutableBufferPointer<Float>?]
        var doubles: [UnsafeMutableBufferPointer<Double>?]
        private var barrier = pthread_barrier_t()

        init(size: Int) {
            self.size = size
            floats = Array(repeating: nil, count: size)
            doubles = Array(repeating: nil, count: size)
            pthread_barrier_init(&barrier, nil, UInt32(size))
        }

        deinit { pthread_barrier_destroy(&barrier) }

        func wait() { pthread_barrier_wait(&barrier) }
    }

    let rank: Int
    let exchange: Exchange
    var size: Int { exchange.size }
    var failure: CommunicationError? { nil }
    /// Sums this rank has taken part in.
    private(set) var sums = 0

    init(rank: Int, exchange: Exchange) {
        self.rank = rank
        self.exchange = exchange
    }

    /// One group per rank, sharing an exchange.
    static func ranks(_ size: Int) -> [ThreadedProcessGroup] {
        let exchange = Exchange(size: size)
        return (0..<size).map { ThreadedProcessGroup(rank: $0, exchange: exchange) }
    }

    func allReduceSum(_ values: UnsafeMutableBufferPointer<Float>) {
        exchange.floats[rank] = values
        exchange.wait()
        let total = (0..<values.count).map { index in (0..<size).reduce(Float(0)) { $0 + exchange.floats[$1]![index] } }
        exchange.wait()
        for index in 0..<values.count { values[index] = total[index] }
        sums += 1
    }

    func allReduceSum(_ values: UnsafeMutableBufferPointer<Double>) {
        exchange.doubles[rank] = values
        exchange.wait()
        let total = (0..<values.count).map { index in (0..<size).reduce(0.0) { $0 + exchange.doubles[$1]![index] } }
        exchange.wait()
        for index in 0..<values.count { values[index] = total[index] }
        sums += 1
    }

    func startAllReduceSum(_ values: UnsafeMutableBufferPointer<Float>) { allReduceSum(values) }
    func startAllReduceSum(_ values: UnsafeMutableBufferPointer<Double>) { allReduceSum(values) }
    func progress() {}
    func waitForAll() {}
}

/// Runs `body(rank)` on `count` threads at once and returns the results by rank.
///
/// `body` is not `@Sendable`: the ranks of a test share models and tensors the way processes
/// would share nothing, each rank touching only its own (and the exchange, behind its barrier).
func onThreads<Value>(_ count: Int, _ body: @escaping (Int) -> Value) -> [Value] {
    let results = UnsafeMutableBufferPointer<Value?>.allocate(capacity: count)
    results.initialize(repeating: nil)
    defer { results.deinitialize(); results.deallocate() }
    nonisolated(unsafe) let (body, slots) = (body, results)  // each thread writes only its own slot
    let group = DispatchGroup()
    for rank in 0..<count {
        group.enter()
        Thread.detachNewThread {
            slots[rank] = body(rank)
            group.leave()
        }
    }
    group.wait()
    return results.map { $0! }
}
