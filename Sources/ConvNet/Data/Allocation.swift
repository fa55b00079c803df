#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Whether a buffer of `count` bytes can be allocated now.
///
/// Swift stops the process when it cannot allocate an array, so a reader checks its large
/// buffers (a decoded image, an IDX data section) here first and reports a refusal as its own
/// error: a memory limit (`ulimit -v`, a container's) or a size beyond what the system will
/// commit. The probe maps that much memory and unmaps it at once, as `malloc` does for a large
/// buffer, so the array allocated just after gets the same; another thread allocating in
/// between could still take it first. (A `malloc` and `free` pair would not do: the optimizer
/// removes an allocation that is never used and takes it to have succeeded.)
func canAllocate(_ count: Int) -> Bool {
    // An array's header and malloc's own bookkeeping come on top of the elements.
    let length = count + 4096
    guard count >= 0, let probe = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
          probe != MAP_FAILED else { return false }
    munmap(probe, length)
    return true
}

/// "needs 1.2 GB, which could not be allocated": the message of a buffer `canAllocate` refused.
func allocationFailure(_ count: Int, for what: String) -> String {
    "\(what) needs \(formatBytes(count)), which could not be allocated"
}
