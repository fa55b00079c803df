#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// How many cores the library uses.
///
/// ConvNet parallelises at its own level: each layer splits its batch (or its rows)
/// across a fixed pool of worker threads, and every SGEMM inside a worker runs
/// single-threaded in OpenBLAS. One pool for all the work avoids two thread pools
/// (OpenBLAS's and ours) spinning against each other on the same cores.
public enum Parallelism {
    /// Workers, counting the calling thread; setting it rebuilds the pool and sets
    /// OpenBLAS to one thread.
    public static var threads: Int {
        get { pool.workerCount }
        set {
            let count = max(1, min(newValue, 256))
            BLAS.threads = 1
            guard count != pool.workerCount else { return }
            pool = WorkerPool(workerCount: count)
        }
    }

    /// The pool. `nonisolated(unsafe)`: it is replaced only through `threads`, which the thread
    /// driving the model sets before work starts (a trainer's or classifier's set-up), never while
    /// a job runs; worker threads do not read it.
    nonisolated(unsafe) static var pool = WorkerPool(workerCount: 1)
}

/// Runs `job(w)` once for each worker index `w` in `0..<Parallelism.threads`, the
/// caller being worker 0, and returns when all are done. Jobs must write disjoint memory.
///
/// Pass a closure stored once (a layer builds its jobs in its initialiser): the workers
/// need an escaping closure, and a closure literal here would be allocated on every call
/// (so would `withoutActuallyEscaping`, measured with Swift 6.3), while a training step
/// must not allocate. Those stored jobs capture `[unowned(unsafe) self]`: no reference cycle
/// and no retain per call, and safe because an object runs its jobs only from its own
/// methods, while it is alive.
@inline(__always)
func forEachWorker(_ job: @escaping (Int) -> Void) {
    Parallelism.pool.run(job)
}

/// The `worker`-th of `workers` contiguous, near-equal parts of `0..<count`.
@inline(__always)
func partition(_ count: Int, worker: Int, of workers: Int) -> Range<Int> {
    (count * worker / workers)..<(count * (worker + 1) / workers)
}

/// A fork-join pool of `workerCount − 1` threads plus the caller.
///
/// Between jobs the threads spin briefly (a training step issues a few dozen jobs
/// a few hundred microseconds apart), then sleep on a condition variable.
///
/// `@unchecked Sendable`: its one mutable field, `job`, is written by the calling thread only
/// while no job runs, and published to the workers by the release/acquire on `generation`;
/// the counters are atomics and the condition variable is guarded by its mutex.
final class WorkerPool: @unchecked Sendable {
    let workerCount: Int
    /// Bumped once per job; workers run a job when they see a new value.
    private let generation = Atomic<Int>(0)
    /// Workers still running the current job.
    private let remaining = Atomic<Int>(0)
    /// Workers asleep (or about to sleep) on `wake`.
    private let sleepers = Atomic<Int>(0)
    private let stopping = Atomic<Bool>(false)
    /// The current job (a no-op between jobs).
    private var job: (Int) -> Void = { _ in }
    private var mutex = pthread_mutex_t()
    private var wake = pthread_cond_t()
    private var threads: [pthread_t] = []
    /// Spin iterations before sleeping (on the order of 100 µs).
    private let spinLimit = 200_000

    init(workerCount: Int) {
        self.workerCount = workerCount
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&wake, nil)
        for index in 1..<max(workerCount, 1) {
            let context = Unmanaged.passRetained(WorkerContext(pool: self, index: index)).toOpaque()
            var thread = pthread_t()
            let status = pthread_create(&thread, nil, { context in
                let worker = Unmanaged<WorkerContext>.fromOpaque(context!).takeRetainedValue()
                worker.pool.workerLoop(index: worker.index)
                return nil
            }, context)
            precondition(status == 0, "cannot start a worker thread: error \(status)")
            threads.append(thread)
        }
    }

    deinit {
        stopping.store(true, ordering: .sequentiallyConsistent)
        generation.add(1, ordering: .sequentiallyConsistent)
        pthread_mutex_lock(&mutex)
        pthread_cond_broadcast(&wake)
        pthread_mutex_unlock(&mutex)
        for thread in threads { pthread_join(thread, nil) }
        pthread_cond_destroy(&wake)
        pthread_mutex_destroy(&mutex)
    }

    /// Runs `job` on every worker (the caller is worker 0) and waits for all of them.
    func run(_ job: @escaping (Int) -> Void) {
        if workerCount == 1 {
            job(0)
            return
        }
        self.job = job
        remaining.store(workerCount - 1, ordering: .sequentiallyConsistent)
        generation.add(1, ordering: .sequentiallyConsistent)
        if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
            pthread_mutex_lock(&mutex)
            pthread_cond_broadcast(&wake)
            pthread_mutex_unlock(&mutex)
        }
        job(0)
        while remaining.load(ordering: .acquiring) > 0 { sched_yield() }
        self.job = Self.idle
    }

    private static let idle: @Sendable (Int) -> Void = { _ in }

    private func workerLoop(index: Int) {
        var seen = 0
        while true {
            var spins = 0
            while generation.load(ordering: .acquiring) == seen {
                spins += 1
                if spins < spinLimit { continue }
                pthread_mutex_lock(&mutex)
                sleepers.add(1, ordering: .sequentiallyConsistent)
                while generation.load(ordering: .sequentiallyConsistent) == seen {
                    pthread_cond_wait(&wake, &mutex)
                }
                sleepers.subtract(1, ordering: .sequentiallyConsistent)
                pthread_mutex_unlock(&mutex)
            }
            seen = generation.load(ordering: .acquiring)
            if stopping.load(ordering: .acquiring) { return }
            job(index)
            remaining.subtract(1, ordering: .releasing)
        }
    }
}

private final class WorkerContext {
    let pool: WorkerPool
    let index: Int
    init(pool: WorkerPool, index: Int) { self.pool = pool; self.index = index }
}
