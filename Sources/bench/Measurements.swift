import ConvNet
import Foundation
import MallocCounter

/// The individual measurements the bench prints.
enum Measurements {
    /// Best-of-`repetitions` GFLOP/s of a square SGEMM (2·n³ flops), the practical ceiling.
    static func sgemmCeiling(size: Int, repetitions: Int) -> Double {
        // OpenBLAS's own threading here: the ceiling is what the library can do on all the cores.
        let workers = Parallelism.threads
        BLAS.threads = workers
        defer { BLAS.threads = 1 }
        let a = Tensor(shape: [size, size]), b = Tensor(shape: [size, size]), c = Tensor(shape: [size, size])
        a.fill(0.5); b.fill(0.25)
        var best = Double.infinity
        for _ in 0..<repetitions {
            let seconds = time { BLAS.gemm(m: size, n: size, k: size, a: a.data, b: b.data, c: c.data) }
            best = min(best, seconds)
        }
        return 2 * pow(Double(size), 3) / best / 1e9
    }

    struct TrainingResult {
        var imagesPerSecond: Double
        var gigaflops: Double
        var allocationsPerStep: Double
        var layerShares: [(name: String, share: Double)]
        /// Seconds to write the report after an epoch, and to evaluate the test set.
        var report: (report: Double, evaluation: Double)
    }

    /// Training steps of the config's model on its data, timed after a warm-up.
    static func training(_ settings: ConvNet.Configuration, data: TrainingData, warmupSteps: Int, steps: Int) throws -> TrainingResult {
        let directory = NSTemporaryDirectory() + "convnet-bench-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let trainer = try Trainer(configuration: settings, data: data, checkpointDirectory: directory)
        let batch = settings.training.batchSize
        let order = Trainer.permutation(count: data.train.count, seed: 1, epoch: 0)
        let batches = data.train.count / batch
        func run(_ count: Int, from first: Int) {
            order.withUnsafeBufferPointer { order in
                for step in first..<(first + count) {
                    let start = (step % batches) * batch
                    _ = trainer.trainStep(on: UnsafeBufferPointer(rebasing: order[start..<(start + batch)]), learningRate: 0.01)
                }
            }
        }
        run(warmupSteps, from: 0)
        let allocationsBefore = convnet_allocation_count()
        let seconds = time { run(steps, from: warmupSteps) }
        let allocations = convnet_allocation_count() - allocationsBefore

        // A second pass with per-layer timers (kept apart so the timers do not slow the first).
        let profile = LayerProfile(layerCount: trainer.model.layers.count)
        trainer.model.profile = profile
        let profiledSeconds = time { run(steps / 2, from: 0) }
        trainer.model.profile = nil
        var shares: [(String, Double)] = []
        for (index, layer) in trainer.model.layers.enumerated() {
            shares.append(("\(index). \(layer.summary) forward", profile.forwardSeconds[index] / profiledSeconds))
            shares.append(("\(index). \(layer.summary) backward", profile.backwardSeconds[index] / profiledSeconds))
        }
        let accounted = (profile.forwardSeconds + profile.backwardSeconds).reduce(0, +)
        shares.append(("data, loss, zeroing, SGD update", max(0, 1 - accounted / profiledSeconds)))

        let reportTime = try report(trainer, epochs: settings.training.epochs)
        let imagesPerSecond = Double(steps * batch) / seconds
        let flopsPerImage = 2 * Double(multiplyAccumulates(trainer.model, training: true))
        return TrainingResult(imagesPerSecond: imagesPerSecond, gigaflops: flopsPerImage * imagesPerSecond / 1e9,
                              allocationsPerStep: Double(allocations) / Double(steps), layerShares: shares, report: reportTime)
    }

    /// Seconds to load (normalise) one batch of `batch` training images as they are, and with
    /// the augmentation a digit config uses (crop with padding 2, rotation ±10°, scale 0.9–1.1,
    /// shift ±10%, erasing half the images): best of `repetitions` × 50 batches, on the workers.
    static func augmentation(_ data: TrainingData, batch: Int, repetitions: Int) -> (plain: Double, augmented: Double) {
        let augmentation = Augmentation(crop: .init(padding: 2), affine: .init(rotation: 10, translation: 0.1, scale: [0.9, 1.1]),
                                        erasing: .init(probability: 0.5, area: [0.02, 0.2], aspect: [0.3, 3.3]))
        let loader = BatchLoader(normalization: data.normalization ?? .none)
        let order = Trainer.permutation(count: data.train.count, seed: 1, epoch: 0)
        func seconds(_ augmented: Bool) -> Double {
            var best = Double.infinity
            for repetition in 0..<repetitions {
                best = min(best, time {
                    order.withUnsafeBufferPointer { order in
                        for step in 0..<50 {
                            let start = (step * batch) % max(1, data.train.count - batch)
                            loader.load(data.train, indices: UnsafeBufferPointer(rebasing: order[start..<(start + batch)]),
                                        augmentation: augmented ? augmentation : nil, seed: 1, epoch: repetition)
                        }
                    }
                } / 50)
            }
            return best
        }
        return (seconds(false), seconds(true))
    }

    /// Seconds to build and write a run's report (report.json and report.html: curves of
    /// `epochs` epochs, the confusion matrices, 24 mistakes, the first layer's filters), best of 5,
    /// and of one epoch's evaluation for scale.
    static func report(_ trainer: Trainer, epochs: Int) throws -> (report: Double, evaluation: Double) {
        let directory = NSTemporaryDirectory() + "convnet-bench-report-\(getpid())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let evaluator = Evaluator(normalization: trainer.data.normalization ?? .none)
        var test = evaluator.evaluate(trainer.model, on: trainer.data.test, mistakes: RunReport.mistakeCount)
        let evaluation = time { test = evaluator.evaluate(trainer.model, on: trainer.data.test, mistakes: RunReport.mistakeCount) }
        let metrics = EpochMetrics(epoch: 1, learningRate: 0.01, trainLoss: 0.1, trainAccuracy: 0.9, validation: nil, test: test,
                                   seconds: 6, imagesPerSecond: 10_000)
        var best = Double.infinity
        for _ in 0..<5 {
            best = min(best, time {
                let rows = (1...epochs).map { epoch -> RunReport.Epoch in
                    var row = RunReport.Epoch(metrics)
                    row.epoch = epoch
                    return row
                }
                let report = RunReport(status: "running", configuration: trainer.configuration, model: trainer.model, data: trainer.data,
                                       epochs: rows, bestEpoch: 1, bestConfusion: test.confusion, lastTest: test)
                try? report.write(to: directory)
            })
        }
        return (best, evaluation)
    }

    struct InferenceResult {
        var imagesPerSecond: Double
        /// The same batches with every layer run over the whole batch in turn (no image-by-image chains).
        var layerByLayerImagesPerSecond: Double
        var singleImageMilliseconds: Double
    }

    /// Inference throughput at batch 256, image by image (as the library runs it) and layer by
    /// layer, alternating in rounds of `batches / 4`; and the latency of one image.
    static func inference(_ settings: ConvNet.Configuration, data: TrainingData, batches: Int) throws -> InferenceResult {
        let model = try Sequential(settings.model, seed: 1)
        let loader = BatchLoader(normalization: data.normalization ?? .none)
        let batch = 256
        loader.load(data.test, range: 0..<batch)
        var seconds = 0.0, layerByLayerSeconds = 0.0
        for imageByImage in [false, true] {
            model.runsImageByImage = imageByImage
            _ = model.forward(loader.images, phase: .inference)
        }
        let round = max(1, batches / 4)
        for _ in 0..<4 {
            for imageByImage in [true, false] {
                model.runsImageByImage = imageByImage
                let elapsed = time { for _ in 0..<round { _ = model.forward(loader.images, phase: .inference) } }
                if imageByImage { seconds += elapsed } else { layerByLayerSeconds += elapsed }
            }
        }
        model.runsImageByImage = true
        let single = BatchLoader(normalization: data.normalization ?? .none)
        single.load(data.test, range: 0..<1)
        _ = model.forward(single.images, phase: .inference)
        var best = Double.infinity
        for _ in 0..<200 { best = min(best, time { _ = model.forward(single.images, phase: .inference) }) }
        return InferenceResult(imagesPerSecond: Double(4 * round * batch) / seconds,
                               layerByLayerImagesPerSecond: Double(4 * round * batch) / layerByLayerSeconds,
                               singleImageMilliseconds: best * 1e3)
    }

    /// Multiply-adds per image: each layer's forward (from its specification), plus in training
    /// the weight gradient of layers with parameters and the input gradient of those after the
    /// first trainable layer (the first computes none), each as many as the forward.
    static func multiplyAccumulates(_ model: Sequential, training: Bool) -> Int {
        var total = 0
        var seenTrainable = false
        for (index, layer) in model.layers.enumerated() {
            let forward = model.description.layers[index].specification.multiplyAccumulates(forInput: model.shapes[index])
            total += forward
            guard training, !layer.parameters.isEmpty else { continue }
            total += forward + (seenTrainable ? forward : 0)
            seenTrainable = true
        }
        return total
    }

    struct ConvolutionResult {
        var forwardMilliseconds: Double
        var trainingMilliseconds: Double
        var forwardGigaflops: Double
        var trainingGigaflops: Double
    }

    /// One Conv2D layer on input `[N, C, H, W]`: forward (inference) and forward + backward
    /// (with the input gradient), best of `repetitions`.
    static func convolution(batch: Int, channels: Int, height: Int, width: Int, filters: Int, kernel: Int,
                            stride: Int, workspaceLimit: Int, repetitions: Int, forwardOnly: Bool = false) -> ConvolutionResult {
        var random = SeededRandom(seed: 1)
        let layer = Conv2D(inputChannels: channels, filters: filters, kernelHeight: kernel, kernelWidth: kernel,
                           strideHeight: stride, strideWidth: stride, workspaceLimit: workspaceLimit, random: &random)
        let input = Tensor(shape: [batch, channels, height, width])
        for i in 0..<input.count { input.data[i] = random.nextUniform() }
        let geometry = ConvolutionGeometry(channels: channels, height: height, width: width, kernelHeight: kernel, kernelWidth: kernel,
                                           strideHeight: stride, strideWidth: stride)
        let outputShape = [batch, filters, geometry.outputHeight, geometry.outputWidth]
        let outputGradient = Tensor(shape: forwardOnly ? [0] : outputShape)
        outputGradient.fill(0.001)
        var forward = Double.infinity, training = Double.infinity
        for _ in 0..<repetitions {
            forward = min(forward, time { _ = layer.forward(input, phase: .inference) })
            if forwardOnly { continue }
            training = min(training, time {
                _ = layer.forward(input, phase: .training)
                _ = layer.backward(outputGradient)
            })
        }
        let macs = Double(batch * filters * channels * kernel * kernel * outputShape[2] * outputShape[3])
        return ConvolutionResult(forwardMilliseconds: forward * 1e3, trainingMilliseconds: training * 1e3,
                                 forwardGigaflops: 2 * macs / forward / 1e9, trainingGigaflops: 6 * macs / training / 1e9)
    }

    /// Seconds for the direct convolution loop and for Conv2D's forward (im2col + SGEMM)
    /// on one image of the given shape (the naive loop runs once: it is slow).
    static func naiveVersusIm2col(channels: Int, size: Int, filters: Int, kernel: Int, stride: Int) -> (naive: Double, im2col: Double) {
        var random = SeededRandom(seed: 2)
        let layer = Conv2D(inputChannels: channels, filters: filters, kernelHeight: kernel, kernelWidth: kernel,
                           strideHeight: stride, strideWidth: stride, random: &random)
        let input = Tensor(shape: [1, channels, size, size])
        for i in 0..<input.count { input.data[i] = random.nextUniform() }
        let g = ConvolutionGeometry(channels: channels, height: size, width: size, kernelHeight: kernel, kernelWidth: kernel,
                                    strideHeight: stride, strideWidth: stride)
        let output = Tensor(shape: [1, filters, g.outputHeight, g.outputWidth])
        let naive = time {
            directConvolution(input: input.data, batch: 1, geometry: g, weight: layer.weight.value.data,
                              bias: layer.bias?.value.data, filters: filters, output: output.data)
        }
        _ = layer.forward(input, phase: .inference)
        var fast = Double.infinity
        for _ in 0..<10 { fast = min(fast, time { _ = layer.forward(input, phase: .inference) }) }
        return (naive, fast)
    }

    /// Runs this bench executable with `arguments` (an `--isolated-conv` run) and reads
    /// back its "milliseconds megabytes" line.
    static func runIsolated(_ arguments: [String]) throws -> (Double, Double) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL
        if !FileManager.default.isExecutableFile(atPath: process.executableURL!.path) {
            process.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        }
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let numbers = output.split(separator: " ").compactMap { Double($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        guard process.terminationStatus == 0, numbers.count == 2 else { return (.nan, .nan) }
        return (numbers[0], numbers[1])
    }

    /// Peak resident memory of this process so far (getrusage ru_maxrss), in MB.
    static func peakResidentMegabytes() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_maxrss) / 1024
    }

    /// Wall-clock seconds of `body`.
    static func time(_ body: () -> Void) -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        body()
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }
}
