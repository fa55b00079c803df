import Foundation
import XCTest

/// How much `body` raised the process's peak resident size, in bytes: the peak (VmHWM) is reset
/// to the current size first (Linux `/proc/self/clear_refs`), then read after `body`. Memory
/// the allocator already held counts only when touched again, so this is a lower bound for what
/// `body` allocated and touched, and fresh large buffers (mmap) always count. `body` always
/// runs; the result is nil where the peak cannot be reset, or under a sanitizer, whose shadow
/// memory and quarantine of freed blocks make the resident size mean something else.
func peakResidentGrowth(during body: () throws -> Void) throws -> Int? {
    let descriptor = underSanitizer ? -1 : open("/proc/self/clear_refs", O_WRONLY)
    let reset = descriptor >= 0 && write(descriptor, "5", 1) == 1
    if descriptor >= 0 { close(descriptor) }
    let before = reset ? try statusKilobytes("VmHWM") : 0
    try body()
    return reset ? (try statusKilobytes("VmHWM") - before) * 1024 : nil
}

/// A `kB` field of `/proc/self/status` (VmHWM, VmRSS, VmSize, …).
func statusKilobytes(_ field: String) throws -> Int {
    let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
    for line in status.split(separator: "\n") where line.hasPrefix(field + ":") {
        if let value = Int(line.dropFirst(field.count + 1).filter(\.isNumber)) { return value }
    }
    throw XCTSkip("/proc/self/status has no \(field)")
}

/// True when AddressSanitizer or ThreadSanitizer is linked in (`swift test --sanitize=…`):
/// their shadow memory and allocators make memory limits and peaks mean something else.
let underSanitizer: Bool = {
    guard let process = dlopen(nil, RTLD_NOW) else { return false }
    defer { dlclose(process) }
    return dlsym(process, "__asan_init") != nil || dlsym(process, "__tsan_init") != nil
}()

/// Runs `body` with the process's address space limited (RLIMIT_AS) to its current size plus
/// `headroom` bytes, so a larger allocation fails as it would under `ulimit -v`; the limit is
/// restored after. Skipped under a sanitizer, whose allocator stops the process instead.
func withAddressSpaceHeadroom<T>(_ headroom: Int, _ body: () throws -> T) throws -> T {
    guard !underSanitizer else { throw XCTSkip("a sanitizer's allocator does not return nil on failure") }
    let resource = __rlimit_resource_t(RLIMIT_AS.rawValue)
    var saved = rlimit()
    guard getrlimit(resource, &saved) == 0 else { throw XCTSkip("getrlimit failed") }
    let size = try statusKilobytes("VmSize") * 1024
    var limited = saved
    limited.rlim_cur = rlim_t(size + headroom)
    guard limited.rlim_cur < saved.rlim_cur, setrlimit(resource, &limited) == 0 else {
        throw XCTSkip("cannot lower RLIMIT_AS")
    }
    defer { setrlimit(resource, &saved) }
    return try body()
}
