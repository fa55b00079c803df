import ArgumentParser
import CommandLineSupport
import ConvNet
import Foundation

/// `swift run -c release bench`: measures training and inference speed, convolution
/// layers, the SGEMM ceiling and peak memory, all in one run, and prints a table.
@main
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure ConvNet's speed and memory on this machine.",
        version: ConvNetVersion.string)

    /// A usage error is one line: `error: unknown option '--foo'; see bench --help`.
    static func main() { mainReportingOneLine() }

    @Option(name: [.customShort("c"), .long], help: "Config whose model and data are benchmarked.")
    var config = "configs/mnist.json"

    @Option(name: [.short, .long], parsing: .unconditional, help: "Threads (BLAS and element-wise work).")
    var threads = 2

    @Flag(help: "A short run (fewer steps and repetitions).")
    var quick = false

    @Option(help: ArgumentHelp("Run only one part: sgemm, train, infer, conv, naive, memory.", valueName: "part"))
    var only: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("Conv2D workspace limit in MB (default: the library's, 1 MB).", valueName: "MB"))
    var workspace: Int?

    @Option(parsing: .unconditional, help: ArgumentHelp("Run only the 227×227 conv layer on N images (forward, or forward+backward with --train) and print its time and peak memory (the memory part runs bench so).", valueName: "N", visibility: .hidden))
    var isolatedConv: Int?

    @Option(help: ArgumentHelp("The SGEMM of convolution and dense layers: own (ConvNet's AVX-512 kernel, the default where the CPU has AVX-512) or openblas.", valueName: "gemm"))
    var gemm: String?

    @Flag(help: "Train without the config's augmentation (the same work as benchmarks/pytorch_models.py, which does not augment).")
    var noAugmentation = false

    @Flag(help: ArgumentHelp("With --isolated-conv, run forward and backward.", visibility: .hidden))
    var train = false

    func validate() throws {
        guard (1...256).contains(threads) else { throw ValidationError("--threads must be in 1...256, found \(threads)") }
        let parts = ["sgemm", "train", "infer", "conv", "naive", "memory"]
        if let only, !parts.contains(only) {
            throw ValidationError("--only must be one of \(parts.joined(separator: ", ")), found \"\(only)\"")
        }
        if let workspace, !(1...(1 << 20)).contains(workspace) {
            throw ValidationError("--workspace must be in 1...1048576 MB, found \(workspace)")
        }
        if let gemm {
            let names = GEMMBackend.allCases.map(\.rawValue)
            guard let backend = GEMMBackend(rawValue: gemm) else {
                throw ValidationError("--gemm must be one of \(names.joined(separator: ", ")), found \"\(gemm)\"")
            }
            if backend == .matrixKernels && !MatrixKernels.isAvailable {
                throw ValidationError("--gemm own needs AVX-512, which this CPU does not have")
            }
        }
        if let isolatedConv, !(1...4096).contains(isolatedConv) {
            throw ValidationError("--isolated-conv must be in 1...4096 images, found \(isolatedConv)")
        }
    }

    func run() throws {
        BLAS.threads = threads
        Parallelism.threads = threads
        if let backend = gemm.flatMap(GEMMBackend.init(rawValue:)) { GEMMBackend.preferred = backend }
        let workspaceBytes = workspace.map { $0 << 20 } ?? Conv2D.defaultWorkspaceLimit
        if let isolatedConv {
            let result = Measurements.convolution(batch: isolatedConv, channels: 3, height: 227, width: 227, filters: 96,
                                                   kernel: 11, stride: 4, workspaceLimit: workspaceBytes,
                                                   repetitions: quick ? 2 : 4, forwardOnly: !train)
            print(String(format: "%.3f %.1f", train ? result.trainingMilliseconds : result.forwardMilliseconds,
                         Measurements.peakResidentMegabytes()))
            return
        }
        let table = ResultTable()
        let layerGEMM = GEMMBackend.preferred == .matrixKernels ? "ConvNet's AVX-512 kernel" : "OpenBLAS"
        print("ConvNet bench: \(threads) thread\(threads == 1 ? "" : "s"), OpenBLAS core \(BLAS.coreName), layers on \(layerGEMM)\(quick ? ", quick" : "")")
        if let choice = BLAS.kernelChoice { print(choice) }
        let want = { (part: String) in only == nil || only == part }
        // The config and its data first, so a bad config is one line before any measuring.
        var model: (settings: ConvNet.Configuration, data: TrainingData)?
        if want("train") || want("infer") {
            var settings = try ConvNet.Configuration.load(contentsOf: config)
            settings.training.threads = threads  // the trainer sets the pool's size from the config
            if noAugmentation { settings.training.augmentation = nil }
            model = (settings, try TrainingData.load(settings, configurationFile: config))
        }

        if let (settings, data) = model {
            if want("train") {
                let result = try Measurements.training(settings, data: data, warmupSteps: quick ? 20 : 50, steps: quick ? 150 : 600)
                table.add("train \(settings.name) batch \(settings.training.batchSize)",
                          value: String(format: "%.0f images/s (%.1f s/epoch)", result.imagesPerSecond, Double(data.train.count) / result.imagesPerSecond),
                          gigaflops: nil)
                table.add("  achieved GFLOP/s (conv + dense MACs × 2)", value: String(format: "%.1f", result.gigaflops), gigaflops: result.gigaflops)
                table.add("  heap allocations per step after warm-up", value: String(format: "%.2f", result.allocationsPerStep), gigaflops: nil)
                for line in result.layerShares { table.add("  " + line.name, value: String(format: "%.1f%% of step", line.share * 100), gigaflops: nil) }
                let batch = settings.training.batchSize
                let step = Double(batch) / result.imagesPerSecond
                let epoch = Double(data.train.count) / result.imagesPerSecond + result.report.evaluation
                table.add("  writing report.html and report.json after an epoch", value: String(format: "%.1f ms, %.2f%% of an epoch (%.1f s)",
                          result.report.report * 1e3, result.report.report / epoch * 100, epoch), gigaflops: nil)
                let loading = Measurements.augmentation(data, batch: batch, repetitions: quick ? 2 : 5)
                table.add("  loading a batch as it is", value: String(format: "%.3f ms, %.1f%% of a step", loading.plain * 1e3, loading.plain / step * 100), gigaflops: nil)
                table.add("  loading a batch with augmentation", value: String(format: "%.3f ms, %.1f%% of a step (+%.1f%%)", loading.augmented * 1e3,
                                                                                   loading.augmented / step * 100, (loading.augmented - loading.plain) / step * 100), gigaflops: nil)
            }
            if want("infer") {
                let result = try Measurements.inference(settings, data: data, batches: quick ? 10 : 40)
                table.add("inference batch 256", value: String(format: "%.0f images/s", result.imagesPerSecond), gigaflops: nil)
                table.add("  the same, layer by layer", value: String(format: "%.0f images/s (image by image: %.2f×)", result.layerByLayerImagesPerSecond,
                                                                  result.imagesPerSecond / result.layerByLayerImagesPerSecond), gigaflops: nil)
                table.add("inference 1 image latency", value: String(format: "%.3f ms", result.singleImageMilliseconds), gigaflops: nil)
            }
        }
        if want("conv") {
            let shapes: [(String, Int, Int, Int, Int, Int, Int, Int)] = [
                ("conv 96@11×11/4 on 3×227×227, N=1", 1, 3, 227, 227, 96, 11, 4),
                ("conv 96@11×11/4 on 3×227×227, N=16", 16, 3, 227, 227, 96, 11, 4),
                ("LeNet conv 20@5×5 on 1×28×28, N=64", 64, 1, 28, 28, 20, 5, 1),
                ("LeNet conv 50@5×5 on 20×12×12, N=64", 64, 20, 12, 12, 50, 5, 1),
            ]
            for (name, n, c, h, w, f, k, s) in shapes {
                let result = Measurements.convolution(batch: n, channels: c, height: h, width: w, filters: f, kernel: k,
                                                       stride: s, workspaceLimit: workspaceBytes, repetitions: quick ? 3 : 10)
                table.add(name + " forward", value: String(format: "%.2f ms, %.1f GFLOP/s", result.forwardMilliseconds, result.forwardGigaflops),
                          gigaflops: result.forwardGigaflops)
                table.add(name + " fwd+bwd", value: String(format: "%.2f ms, %.1f GFLOP/s", result.trainingMilliseconds, result.trainingGigaflops),
                          gigaflops: result.trainingGigaflops)
            }
        }
        if want("naive") {
            let (naive, fast) = Measurements.naiveVersusIm2col(channels: 3, size: 227, filters: 96, kernel: 11, stride: 4)
            table.add("227×227 conv, 1 image: direct loop", value: String(format: "%.1f ms", naive * 1e3), gigaflops: nil)
            table.add("227×227 conv, 1 image: im2col + SGEMM", value: String(format: "%.2f ms (%.0f× faster)", fast * 1e3, naive / fast), gigaflops: nil)
        }
        if want("memory") {
            // Each in its own process, so each peak RSS is its own.
            let batch = quick ? 16 : 64
            for (label, arguments) in [
                ("forward, workspace 1 MB", ["--isolated-conv", "\(batch)"]),
                ("forward+backward, workspace 1 MB", ["--isolated-conv", "\(batch)", "--train"]),
                ("forward+backward, workspace unbounded", ["--isolated-conv", "\(batch)", "--train", "--workspace", "100000"]),
            ] {
                let (milliseconds, megabytes) = try Measurements.runIsolated(arguments + ["--threads", "\(threads)"] + (quick ? ["--quick"] : []))
                table.add("227×227 conv N=\(batch) \(label)", value: String(format: "%.0f ms, peak %.0f MB", milliseconds, megabytes), gigaflops: nil)
            }
        }
        table.add("peak memory (max RSS)", value: String(format: "%.0f MB", Measurements.peakResidentMegabytes()), gigaflops: nil)
        // The ceiling last: OpenBLAS's own threads, which it runs on, go on spinning for a while
        // after their last call (measured first, it slowed the inference measured right after it
        // from 68,000 to 53,000 images/s in about half the runs).
        table.ceiling = (quick ? 1024 : 2048, Measurements.sgemmCeiling(size: quick ? 1024 : 2048, repetitions: quick ? 3 : 5))
        table.print()
    }
}

/// Rows of name, value and fraction of the SGEMM ceiling, printed under the ceiling's row.
final class ResultTable {
    private var rows: [(String, String, Double?)] = []
    /// The ceiling's matrix size and GFLOP/s, or nil before it is measured.
    var ceiling: (size: Int, gigaflops: Double)?

    /// A row; `gigaflops`, when given, is shown as a share of the ceiling.
    func add(_ name: String, value: String, gigaflops: Double?) { rows.append((name, value, gigaflops)) }

    func print() {
        var rows = self.rows.map { row in (row.0, row.1, row.2.flatMap { value in ceiling.map { value / $0.gigaflops } }) }
        if let ceiling {
            rows.insert(("SGEMM \(ceiling.size)³ (ceiling)", String(format: "%.1f GFLOP/s", ceiling.gigaflops), 1), at: 0)
        }
        let width = rows.map(\.0.count).max() ?? 10
        let valueWidth = rows.map(\.1.count).max() ?? 10
        Swift.print("| " + "measurement".padding(toLength: width, withPad: " ", startingAt: 0) + " | "
                    + "result".padding(toLength: valueWidth, withPad: " ", startingAt: 0) + " | of SGEMM ceiling |")
        Swift.print("|" + String(repeating: "-", count: width + 2) + "|" + String(repeating: "-", count: valueWidth + 2) + "|------------------|")
        for (name, value, share) in rows {
            let shareText = share.map { String(format: "%.0f%%", $0 * 100) } ?? ""
            Swift.print("| " + name.padding(toLength: width, withPad: " ", startingAt: 0) + " | "
                        + value.padding(toLength: valueWidth, withPad: " ", startingAt: 0) + " | "
                        + shareText.padding(toLength: 16, withPad: " ", startingAt: 0) + " |")
        }
    }
}
