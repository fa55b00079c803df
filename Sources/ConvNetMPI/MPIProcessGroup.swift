#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CMPI
import ConvNet
import Foundation

/// The processes started by `mpirun`, as a `ProcessGroup`: the one file that talks to MPI.
///
/// Sums are `MPI_Iallreduce` with `MPI_SUM` in place on `MPI_COMM_WORLD`. MPI is initialised
/// with `MPI_THREAD_FUNNELED` (only the thread driving the model calls it; the worker threads
/// never do) and errors return codes (`MPI_ERRORS_RETURN`) instead of aborting, so a failure
/// becomes `failure` and one line. Waiting polls `MPI_Test` (which also progresses the sums in
/// flight) up to `timeout` seconds: a process that stopped answering without its launcher
/// noticing (a machine gone from the network) ends the run with a message instead of a hang.
/// (When a process dies, `mpirun` itself notices within a second or two and ends the others.)
public final class MPIProcessGroup: ProcessGroup, @unchecked Sendable {
    // @unchecked Sendable: used only from the thread driving the model (MPI_THREAD_FUNNELED);
    // its mutable state (`requests`, `failure`) is never touched by another thread.

    public let rank: Int
    public let size: Int
    /// Seconds a wait may last before the run is declared stuck.
    public var timeout: Double
    /// The sums started and not yet known to be finished.
    private var requests: [MPI_Request?] = []
    public private(set) var failure: CommunicationError?
    private let communicator = convnet_mpi_comm_world()

    /// True when this process was started by an MPI launcher (`mpirun`, `mpiexec`, srun with
    /// PMIx) for a job of more than one process; false for a plain start, which must not touch MPI.
    public static var isLaunchedForSeveralProcesses: Bool {
        let environment = ProcessInfo.processInfo.environment
        for key in ["OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "PMI_SIZE"] {
            if let value = environment[key].flatMap({ Int($0) }) { return value > 1 }
        }
        return false
    }

    /// Initialises MPI. Throws when MPI cannot start or cannot give the thread support needed.
    public init(timeout: Double = 300) throws(CommunicationError) {
        self.timeout = timeout
        var provided: Int32 = 0
        guard MPI_Init_thread(nil, nil, Int32(MPI_THREAD_FUNNELED), &provided) == MPI_SUCCESS else {
            throw CommunicationError("MPI_Init_thread failed; is this process started by mpirun?")
        }
        guard provided >= Int32(MPI_THREAD_FUNNELED) else {
            throw CommunicationError("this MPI library does not support MPI_THREAD_FUNNELED, which training's worker threads need")
        }
        MPI_Comm_set_errhandler(communicator, convnet_mpi_errors_return())
        var rank: Int32 = 0, size: Int32 = 0
        MPI_Comm_rank(communicator, &rank)
        MPI_Comm_size(communicator, &size)
        self.rank = Int(rank)
        self.size = Int(size)
    }

    /// The name of this machine as MPI knows it.
    public var hostName: String {
        var name = [CChar](repeating: 0, count: Int(MPI_MAX_PROCESSOR_NAME) + 1)
        var length: Int32 = 0
        MPI_Get_processor_name(&name, &length)
        return String(decoding: name.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public func allReduceSum(_ values: UnsafeMutableBufferPointer<Float>) {
        let first = requests.count
        startAllReduceSum(values)
        wait(from: first)
    }

    public func allReduceSum(_ values: UnsafeMutableBufferPointer<Double>) {
        let first = requests.count
        startAllReduceSum(values)
        wait(from: first)
    }

    public func startAllReduceSum(_ values: UnsafeMutableBufferPointer<Float>) {
        start(UnsafeMutableRawPointer(values.baseAddress), count: values.count, type: convnet_mpi_float(), size: MemoryLayout<Float>.size)
    }

    public func startAllReduceSum(_ values: UnsafeMutableBufferPointer<Double>) {
        start(UnsafeMutableRawPointer(values.baseAddress), count: values.count, type: convnet_mpi_double(), size: MemoryLayout<Double>.size)
    }

    public func progress() {
        guard !requests.isEmpty && failure == nil else { return }
        var done: Int32 = 0
        let code = MPI_Testall(Int32(requests.count), &requests, &done, nil)
        if code != MPI_SUCCESS { return fail("MPI_Testall", code) }
        if done != 0 { requests.removeAll(keepingCapacity: true) }
    }

    public func waitForAll() {
        wait(from: 0)
    }

    /// Aborts every process of the job with `code` (MPI_Abort): for an error on one process,
    /// so that the others do not wait for it.
    public func abort(code: Int32) -> Never {
        MPI_Abort(communicator, code)
        exit(code)
    }

    /// Ends MPI after a run that finished, stopped or failed on every process alike.
    public func finalize() {
        MPI_Finalize()
    }

    /// Starts an in-place sum of `count` values, in pieces of at most 2³⁰ (MPI counts are 32-bit).
    private func start(_ base: UnsafeMutableRawPointer?, count: Int, type: MPI_Datatype?, size elementSize: Int) {
        guard failure == nil, let base, count > 0 else { return }
        var offset = 0
        while offset < count {
            let length = min(count - offset, 1 << 30)
            var request: MPI_Request?
            let code = MPI_Iallreduce(convnet_mpi_in_place(), base + offset * elementSize, Int32(length), type,
                                      convnet_mpi_sum(), communicator, &request)
            if code != MPI_SUCCESS { return fail("MPI_Iallreduce", code) }
            requests.append(request)
            offset += length
        }
    }

    /// Waits for the requests from index `first` on (those started later than the others),
    /// polling with MPI_Test up to `timeout` seconds; then forgets them.
    ///
    /// The first 10 ms poll as fast as they can (a step's sums take well under that); after that,
    /// 100 µs apart, so a process waiting for rank 0 to write a checkpoint does not hold a core.
    /// Time this process itself spent stopped (SIGSTOP, a suspended machine) does not count.
    private func wait(from first: Int) {
        var waited = 0.0, last = Date()
        var index = first
        while index < requests.count && failure == nil {
            var done: Int32 = 0
            let code = MPI_Test(&requests[index], &done, convnet_mpi_status_ignore())
            if code != MPI_SUCCESS { return fail("MPI_Test", code) }
            if done != 0 {
                index += 1
                continue
            }
            let now = Date(), step = now.timeIntervalSince(last)
            last = now
            if step < 1 { waited += step }  // a longer gap: this process was not running
            if waited > timeout {
                failure = CommunicationError(
                    "rank \(rank) waited \(String(format: "%g", timeout)) s for the other processes; one of them has stopped or hangs (see mpirun's messages; --collective-timeout sets the limit)")
            } else if waited > 0.01 {
                usleep(100)
            } else {
                sched_yield()
            }
        }
        requests.removeSubrange(first...)
    }

    private func fail(_ call: String, _ code: Int32) {
        var text = [CChar](repeating: 0, count: Int(MPI_MAX_ERROR_STRING) + 1)
        var length: Int32 = 0
        MPI_Error_string(code, &text, &length)
        let message = String(decoding: text.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        failure = CommunicationError("\(call) failed on rank \(rank): \(message)")
    }
}
