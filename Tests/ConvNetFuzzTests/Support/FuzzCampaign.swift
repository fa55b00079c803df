import ConvNet
import Dispatch
import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// What a reader did with one input.
enum Outcome {
    /// It loaded, and the test checked the result.
    case loaded
    /// It threw its reader's typed error, with this description.
    case rejected(description: String)
}

/// The readers' error types: which file, and what is wrong in one line.
protocol ReaderError: Error, CustomStringConvertible {
    /// The path or name the caller gave.
    var file: String { get }
    /// What is wrong, without the file name.
    var message: String { get }
}

extension DataError: ReaderError {}
extension ImageError: ReaderError {}
extension CheckpointError: ReaderError {}
extension ConfigError: ReaderError {}

/// Environment settings shared by every campaign.
///
/// - `CONVNET_FUZZ_ITERATIONS`: mutated inputs per reader (default 2,000; e.g. 100000 for a long local run).
/// - `CONVNET_FUZZ_SEED`: the campaign seed (default: a fixed seed per reader).
/// - `CONVNET_FUZZ_ITERATION`: run only this iteration, to reproduce a failure.
/// - `CONVNET_FUZZ_FIRST_ITERATION`: start here (default 0), e.g. to continue past a crash.
enum FuzzSettings {
    static let defaultIterations = 2_000

    static var iterations: Int { environmentInteger("CONVNET_FUZZ_ITERATIONS").map { max(0, $0) } ?? defaultIterations }
    static var seed: UInt64? { environmentInteger("CONVNET_FUZZ_SEED").map { UInt64(truncatingIfNeeded: $0) } }
    static var onlyIteration: Int? { environmentInteger("CONVNET_FUZZ_ITERATION") }
    static var firstIteration: Int { environmentInteger("CONVNET_FUZZ_FIRST_ITERATION").map { max(0, $0) } ?? 0 }

    /// The iterations to run.
    static var iterationRange: Range<Int> {
        if let onlyIteration { return onlyIteration..<(onlyIteration + 1) }
        return firstIteration..<(firstIteration + iterations)
    }

    /// Whether this is a whole default-shaped run (fixed inputs and coverage checks apply).
    static var isFullRun: Bool { onlyIteration == nil && firstIteration == 0 }

    private static func environmentInteger(_ name: String) -> Int? {
        ProcessInfo.processInfo.environment[name].flatMap { Int($0) }
    }
}

/// One mutated input handed to a reader, with what is needed to report and reproduce a failure.
struct FuzzInput {
    /// The bytes to read.
    let bytes: [UInt8]
    /// Which valid input (index into the campaign's `seeds`) it was made from.
    let seedIndex: Int
    /// Reader, seed, iteration and mutations, e.g. `PNG seed 3 iteration 17 [flip bits]`.
    let label: String
    fileprivate let failures: FailureCount
    fileprivate let file: StaticString
    fileprivate let line: UInt

    /// Fails the test, naming this input, unless `condition` holds.
    func check(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
        if !condition() { fail(message()) }
    }

    /// Fails the test naming this input and showing its first bytes.
    func fail(_ message: String) {
        failures.count += 1
        XCTFail("\(label): \(message); input \(bytes.count) bytes: \(hexPrefix(bytes))", file: file, line: line)
    }

    /// The outcome for a typed reader error, after checking it names one of `files` and
    /// has a message (the one-line check is made for every rejection by the campaign).
    func rejected(_ error: some ReaderError, files: [String]) -> Outcome {
        check(files.contains(error.file), "the error names \"\(error.file)\", expected one of \(files)")
        check(!error.message.trimmingCharacters(in: .whitespaces).isEmpty, "the error has an empty message: \(error)")
        return .rejected(description: error.description)
    }
}

/// Failed checks so far in a campaign (a class so every `FuzzInput` can add to it).
private final class FailureCount { var count = 0 }

/// Feeds a reader thousands of mutated versions of valid inputs and checks that each one
/// either loads (the test then sanity-checks the result) or throws the reader's typed error
/// with a non-empty one-line description.
///
/// Besides each input's outcome, a campaign checks three things a reader must not do:
/// - crash: any trap ends the test process. The input being read is always in
///   `$TMPDIR/convnet-fuzz-<reader>.last-input` (and its label in `….last-input.txt`), so a
///   crash leaves its reproducer behind.
/// - hang: the slowest input must take under `hangLimit` (5 s) and a watchdog ends the
///   process after 60 s on one input. This is a hang detector, not a performance test:
///   inputs are kilobytes and normally take well under a millisecond.
/// - allocate without bound: the process's peak resident size (getrusage `ru_maxrss`)
///   must stay under `memoryLimit`. Inputs are kilobytes, so a reader that trusted a size
///   field would go far beyond it. The high-water mark is reset at the start of a campaign
///   (Linux `/proc/self/clear_refs`), so each reader is measured on its own.
///
/// Then it checks the mutations did their job: with enough iterations, every mutation kind
/// must have produced at least one rejection (so the fuzzer does not feed only valid inputs)
/// and some mutated inputs must have loaded (so not everything is trivially rejected).
///
/// Input `i` is made by a `SeededRandom` seeded from the campaign seed and `i` alone, so
/// `CONVNET_FUZZ_SEED=s CONVNET_FUZZ_ITERATION=i` reproduces it by itself.
struct FuzzCampaign {
    /// Reader name for messages, e.g. "PNG".
    let reader: String
    /// The campaign seed (`CONVNET_FUZZ_SEED` or the reader's default).
    let seed: UInt64
    /// Valid inputs the mutations start from.
    let seeds: [[UInt8]]
    /// The mutations.
    let mutator: Mutator
    /// Hand-made inputs read before the random ones (size-field edge cases), with names.
    var fixedInputs: [(name: String, seedIndex: Int, bytes: [UInt8])] = []
    /// Mutations exempt from "produced at least one error", with the format's reason.
    var mutationsThatMayAlwaysLoad: Set<String> = []
    /// Longest time one input may take, in seconds (4× under a sanitizer).
    var hangLimit = runningUnderSanitizer ? 20.0 : 5.0
    /// Largest peak resident size allowed, in kilobytes: 600 MB, or 2 GB under a sanitizer,
    /// whose shadow memory and quarantine of freed blocks (256 MB for ASan) count in the RSS.
    /// Either is far below what trusting a hostile size field would take.
    var memoryLimit = (runningUnderSanitizer ? 2048 : 600) * 1024

    /// A campaign over `seeds` with `mutations`, seeded by `CONVNET_FUZZ_SEED` or `defaultSeed`.
    init(reader: String, defaultSeed: UInt64, seeds: [[UInt8]], mutations: [Mutation]) {
        self.reader = reader
        self.seed = FuzzSettings.seed ?? defaultSeed
        self.seeds = seeds
        self.mutator = Mutator(mutations: mutations)
    }

    /// Runs the fixed inputs, then `FuzzSettings.iterations` mutated ones, through `body`.
    func run(file: StaticString = #filePath, line: UInt = #line, _ body: (FuzzInput) -> Outcome) {
        precondition(!seeds.isEmpty)
        resetPeakMemory()
        let slug = reader.lowercased().filter { $0.isLetter || $0.isNumber }
        let lastInputPath = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("convnet-fuzz-\(slug).last-input").path
        let watchdog = Watchdog(limit: 60, lastInputPath: lastInputPath)
        defer { watchdog.stop() }
        let failures = FailureCount()
        var tallies: [String: Tally] = [:]
        var slowest = (seconds: 0.0, label: "")
        var inputCount = 0
        var memoryReported = false
        let started = DispatchTime.now().uptimeNanoseconds

        func read(_ bytes: [UInt8], seedIndex: Int, label: String, tally: String) {
            let input = FuzzInput(bytes: bytes, seedIndex: seedIndex, label: label, failures: failures, file: file, line: line)
            _ = FileManager.default.createFile(atPath: lastInputPath, contents: Data(bytes))
            _ = FileManager.default.createFile(atPath: lastInputPath + ".txt", contents: Data((label + "\n").utf8))
            watchdog.begin(label)
            let start = DispatchTime.now().uptimeNanoseconds
            let outcome = body(input)
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            watchdog.end()
            inputCount += 1
            if seconds > slowest.seconds { slowest = (seconds, label) }
            input.check(seconds < hangLimit, "took \(seconds) s, over the \(hangLimit) s hang limit")
            // The first input that takes the peak over the limit is named; later ones are not news.
            if !memoryReported, peakMemory() >= memoryLimit {
                memoryReported = true
                input.fail("the peak resident size went over \(memoryLimit / 1024) MB while reading this input")
            }
            switch outcome {
            case .loaded:
                tallies[tally, default: Tally()].loaded += 1
            case .rejected(let description):
                tallies[tally, default: Tally()].rejected += 1
                input.check(!description.isEmpty, "the error description is empty")
                input.check(!description.contains(where: \.isNewline),
                            "the error description is not one line: \(description.debugDescription)")
            }
        }

        if FuzzSettings.isFullRun {
            for fixed in fixedInputs {
                read(fixed.bytes, seedIndex: fixed.seedIndex, label: "\(reader) fixed input \"\(fixed.name)\"", tally: "fixed inputs")
                if failures.count >= 25 { break }
            }
        }
        for iteration in FuzzSettings.iterationRange where failures.count < 25 {
            var random = SeededRandom(seed: seed &* 0x1_0000_0001 &+ UInt64(iteration))
            let seedIndex = random.below(seeds.count)
            let (bytes, names) = mutator.mutate(seeds[seedIndex], random: &random)
            let label = "\(reader) seed \(seed) iteration \(iteration) [\(names.joined(separator: " + "))] of valid input \(seedIndex)"
                + " (rerun alone: CONVNET_FUZZ_SEED=\(seed) CONVNET_FUZZ_ITERATION=\(iteration))"
            read(bytes, seedIndex: seedIndex, label: label, tally: names.count == 1 ? names[0] : "stacked")
        }
        if failures.count >= 25 { XCTFail("\(reader): stopped after \(failures.count) failed inputs", file: file, line: line) }
        try? FileManager.default.removeItem(atPath: lastInputPath)
        try? FileManager.default.removeItem(atPath: lastInputPath + ".txt")

        let peak = peakMemory()
        let total = tallies.values.reduce(Tally()) { Tally(loaded: $0.loaded + $1.loaded, rejected: $0.rejected + $1.rejected) }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        let kinds = tallies.keys.sorted().map { "\($0) \(tallies[$0]!.loaded)/\(tallies[$0]!.rejected)" }.joined(separator: ", ")
        print("""
            [fuzz] \(reader), seed \(seed): \(inputCount) inputs in \(String(format: "%.2f", seconds)) s, \
            \(total.loaded) loaded, \(total.rejected) rejected; slowest \(String(format: "%.4f", slowest.seconds)) s \
            (\(slowest.label)); peak RSS \(peak / 1024) MB; loaded/rejected per mutation: \(kinds)
            """)

        XCTAssertLessThan(slowest.seconds, hangLimit, "\(reader): slowest input \(slowest.label)", file: file, line: line)
        XCTAssertLessThan(peak, memoryLimit,
                          "\(reader): peak resident size \(peak / 1024) MB is over \(memoryLimit / 1024) MB: "
                          + "some input made the reader allocate far more than its size", file: file, line: line)
        // Coverage checks need enough inputs per mutation kind to be meaningful.
        guard FuzzSettings.isFullRun, FuzzSettings.iterations >= 40 * mutator.mutations.count else { return }
        for mutation in mutator.mutations where !mutationsThatMayAlwaysLoad.contains(mutation.name) {
            let tally = tallies[mutation.name] ?? Tally()
            XCTAssertGreaterThan(tally.rejected, 0,
                                 "\(reader): mutation \"\(mutation.name)\" never produced an error in \(tally.loaded) inputs",
                                 file: file, line: line)
        }
        let mutatedLoads = total.loaded - (tallies["fixed inputs"]?.loaded ?? 0)
        XCTAssertGreaterThan(mutatedLoads, 0, "\(reader): no mutated input loaded", file: file, line: line)
    }
}

/// Inputs that loaded and that were rejected.
private struct Tally {
    var loaded = 0
    var rejected = 0
}

/// Resets the process's peak resident size (Linux: writing 5 to `/proc/self/clear_refs`);
/// where that is not allowed the peak includes what ran before.
private func resetPeakMemory() {
    let descriptor = open("/proc/self/clear_refs", O_WRONLY)
    guard descriptor >= 0 else { return }
    _ = write(descriptor, "5", 1)
    close(descriptor)
}

/// True when AddressSanitizer or ThreadSanitizer is linked in (`swift test --sanitize=…`).
let runningUnderSanitizer: Bool = {
    guard let process = dlopen(nil, RTLD_NOW) else { return false }
    defer { dlclose(process) }
    return dlsym(process, "__asan_init") != nil || dlsym(process, "__tsan_init") != nil
}()

/// The process's peak resident size in kilobytes (`ru_maxrss`, kilobytes on Linux).
func peakMemory() -> Int {
    var usage = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    return Int(usage.ru_maxrss)
}

/// Ends the test process when one input has run for more than `limit` seconds: a reader
/// stuck in a loop would otherwise hang the whole test run with nothing said.
private final class Watchdog: @unchecked Sendable {
    private let lock = NSLock()
    private var current: (label: String, start: UInt64)?
    private var stopped = false

    init(limit: Double, lastInputPath: String) {
        let thread = Thread { [self] in
            while true {
                Thread.sleep(forTimeInterval: 0.5)
                lock.lock()
                let (isStopped, current) = (stopped, current)
                lock.unlock()
                if isStopped { return }
                if let current, Double(DispatchTime.now().uptimeNanoseconds - current.start) / 1e9 > limit {
                    FileHandle.standardError.write(Data("[fuzz] HANG: \(current.label) has run for over \(limit) s; the input is in \(lastInputPath)\n".utf8))
                    _exit(70)
                }
            }
        }
        thread.start()
    }

    func begin(_ label: String) {
        lock.lock(); current = (label, DispatchTime.now().uptimeNanoseconds); lock.unlock()
    }

    func end() {
        lock.lock(); current = nil; lock.unlock()
    }

    func stop() {
        lock.lock(); stopped = true; lock.unlock()
    }
}
