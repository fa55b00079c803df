import Foundation

/// How much memory a run or an inference may plan on: the machine's physical memory, or the
/// control group's limit (`/sys/fs/cgroup/memory.max`, as in a container) when that is lower.
/// Estimates (`ModelPlan.memoryEstimate`) are checked against it before anything large is
/// allocated, because on Linux an allocation that cannot be backed does not fail: the process
/// is killed later.
public enum MemoryBudget {
    /// Bytes this process can expect to use at most.
    public static let machineBytes: Int = {
        let physical = Int(clamping: ProcessInfo.processInfo.physicalMemory)
        guard let bytes = try? readFileBytes("/sys/fs/cgroup/memory.max", limit: 64),
              let limit = Int(String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)),
              limit > 0 else { return physical }
        return min(physical, limit)
    }()

    /// Memory the process takes before any model or data: the runtimes, OpenBLAS's buffers.
    public static let processBaseBytes = 64 << 20

    /// Parses a memory size as the command line gives it: `512M`, `2G`, `1.5G`, `800` (MB).
    public static func parse(_ text: String) -> Int? {
        var number = text.trimmingCharacters(in: .whitespaces).uppercased()
        var unit = 1 << 20
        if number.hasSuffix("B") { number.removeLast() }
        if number.hasSuffix("G") { unit = 1 << 30; number.removeLast() } else if number.hasSuffix("M") { number.removeLast() }
        guard let value = Double(number), value.isFinite, value > 0, value * Double(unit) < Double(Int.max / 2) else { return nil }
        return Int(value * Double(unit))
    }
}
