import Dispatch

/// Threads used for the element-wise work around the GEMMs (im2col, col2im,
/// pooling, activations). OpenBLAS threads the GEMMs themselves.
public enum Parallelism {
    /// Worker count for `parallelFor`; 1 runs everything on the calling thread.
    nonisolated(unsafe) public static var threads = 1
}

/// Runs `body(i)` for `i` in `0..<count`, split into at most `Parallelism.threads`
/// contiguous ranges run concurrently. Bodies must write disjoint memory.
@inline(__always)
func parallelFor(_ count: Int, _ body: (Int) -> Void) {
    let workers = min(Parallelism.threads, count)
    if workers <= 1 {
        for i in 0..<count { body(i) }
        return
    }
    withoutActuallyEscaping(body) { body in
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            let lower = count * worker / workers, upper = count * (worker + 1) / workers
            for i in lower..<upper { body(i) }
        }
    }
}
