import Foundation
import XCTest
@testable import ConvNet

/// `mpirun -np 2 train …`: the built executable run data-parallel by Open MPI (installed by
/// scripts/setup), on this machine. Runs as root with --allow-run-as-root --oversubscribe.
final class MPITrainingTests: XCTestCase {
    private let mpirun = "/usr/bin/mpirun"

    override func setUpWithError() throws {
        guard FileManager.default.isExecutableFile(atPath: mpirun) else {
            XCTFail("\(mpirun) not found: run scripts/setup (it installs openmpi-bin and libopenmpi-dev)")
            throw XCTSkip("no mpirun")
        }
    }

    /// LeNet with tanh and average pooling for the runs whose metrics are compared across process
    /// counts. One and two processes add the same gradients in a different order, and with ReLU and
    /// max pooling a last-bit difference can flip a decision (which input is a window's maximum)
    /// that SGD then carries on: 2-epoch runs on 3,000 images ended up to 2.5% of the loss and 6
    /// of 500 test images apart, depending on the seed, with the previous build's arithmetic as
    /// with today's. With smooth functions nothing flips, and the runs agree to 6 digits over 3 epochs.
    private static let smoothLeNetLayers = lenetLayers.replacingOccurrences(of: #"{"type": "relu"}"#, with: #"{"type": "tanh"}"#)
        .replacingOccurrences(of: #""maxpool""#, with: #""avgpool""#)

    /// A LeNet run on `trainLimit` MNIST images, one thread per process.
    private func config(in directory: String, trainLimit: Int, epochs: Int, layers: String = lenetLayers, batchSize: Int = 32) -> String {
        let json = mnistConfigJSON(name: "mpi", trainLimit: trainLimit, testLimit: 500, epochs: epochs, layers: layers,
                                   batchSize: batchSize, seed: 3, threads: 1, schedule: #"{"type": "step", "every": 1, "factor": 0.7}"#)
        writeBytes(Array(json.utf8), to: directory + "/config.json")
        return directory + "/config.json"
    }

    /// mpirun's arguments for `processes` copies of train with `arguments`.
    private func mpirunArguments(_ processes: Int, _ arguments: [String], quiet: Bool = false) -> [String] {
        ["--allow-run-as-root", "--oversubscribe"] + (quiet ? ["-q"] : []) + ["-np", String(processes),
         productsDirectory.appendingPathComponent("train").path] + arguments
    }

    /// Starts mpirun; `lines` receives the output as it comes.
    private func start(_ arguments: [String], environment: [String: String] = [:]) throws -> (Process, OutputCollector) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: mpirun)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let collector = OutputCollector(process)
        try process.run()
        return (process, collector)
    }

    private func run(_ arguments: [String], environment: [String: String] = [:]) throws -> ProcessOutput {
        let (process, collector) = try start(arguments, environment: environment)
        return collector.finish(process, timeout: 300)
    }

    /// The rows of a run's metrics.csv as columns, the timing columns (seconds, images/s) dropped.
    private func metrics(_ directory: String) throws -> [[String]] {
        try String(contentsOfFile: directory + "/metrics.csv", encoding: .utf8).split(separator: "\n").dropFirst().map { row in
            row.split(separator: ",", omittingEmptySubsequences: false).enumerated().filter { ![6, 7].contains($0.offset) }.map { String($0.element) }
        }
    }

    /// Two processes with half a batch each end where one process does with the same global
    /// batch (training loss within 1e-4 relative, accuracies within 0.1 points), and only one set
    /// of files is written. The two sum the weight gradients in a different order (one sum over
    /// the batch, against two halves added by the all-reduce); on the smooth LeNet the runs agree
    /// to the 6 digits metrics.csv has. A lost or doubled share moves them far more: training this
    /// model with half or twice the learning rate ends 28% and 22% away.
    func testTwoProcessesMatchOneProcess() throws {
        let directory = temporaryDirectory(self)
        let configPath = config(in: directory, trainLimit: 3_000, epochs: 2, layers: Self.smoothLeNetLayers)
        let single = try runProduct("train", [configPath, "-o", directory + "/one", "--quiet"])
        XCTAssertEqual(single.status, 0, single.standardError)
        let parallel = try run(mpirunArguments(2, [configPath, "-o", directory + "/two", "--progress", "none"]))
        XCTAssertEqual(parallel.status, 0, parallel.standardError)
        XCTAssertTrue(parallel.standardOutput.contains("1 thread × 2 processes (16 images each per step)"), parallel.standardOutput)
        XCTAssertEqual(parallel.standardOutput.components(separatedBy: "Training mpi:").count, 2, "one process prints")

        let (one, two) = (try metrics(directory + "/one"), try metrics(directory + "/two"))
        XCTAssertEqual(one.count, 2)
        XCTAssertEqual(two.count, 2)
        for (a, b) in zip(one, two) {
            for column in [2] {  // train_loss
                XCTAssertEqual(Double(b[column])!, Double(a[column])!, accuracy: 1e-4 * Double(a[column])!, "column \(column): \(a) vs \(b)")
            }
            for column in [3, 5] {  // train_accuracy, test_accuracy
                XCTAssertEqual(Double(b[column])!, Double(a[column])!, accuracy: 0.001, "column \(column): \(a) vs \(b)")
            }
        }
        let files = { (path: String) in try FileManager.default.contentsOfDirectory(atPath: path).sorted() }
        XCTAssertEqual(try files(directory + "/two"), try files(directory + "/one"))
        XCTAssertEqual(try files(directory + "/two").filter { $0.hasSuffix(".safetensors") },
                       ["best.safetensors", "epoch-0001.safetensors", "epoch-0002.safetensors", "last.safetensors", "model.safetensors"])
    }

    /// Ctrl-C to mpirun (SIGINT: a second later it sends SIGTERM to every process, and SIGKILL a
    /// second after that) stops all processes at the same step with one checkpoint; resuming it
    /// with two processes gives exactly the metrics of an uninterrupted two-process run, and
    /// resuming it with one process gives them up to the order of floating-point sums.
    func testInterruptedRunResumesWithTheSameOrAnotherProcessCount() throws {
        let directory = temporaryDirectory(self)
        let configPath = config(in: directory, trainLimit: 16_000, epochs: 3, layers: Self.smoothLeNetLayers)
        let (process, collector) = try start(mpirunArguments(2, [configPath, "-o", directory + "/stopped", "--progress", "none"]))
        XCTAssertTrue(collector.wait(for: "epoch 1/3", timeout: 120), collector.output)
        kill(process.processIdentifier, SIGINT)
        let stopped = collector.finish(process, timeout: 120)
        XCTAssertNotEqual(stopped.status, 0)
        XCTAssertTrue(stopped.standardError.contains("mpirun is ending the job (Ctrl-C, or a process failed)"), stopped.standardError)
        let resumeLine = try XCTUnwrap(stopped.standardOutput.split(separator: "\n").first { $0.hasPrefix("Resume with: mpirun -np 2 ") },
                                       stopped.standardOutput)
        XCTAssertTrue(resumeLine.hasSuffix("--resume \(directory)/stopped/last.safetensors"), String(resumeLine))
        let checkpoint = try Checkpoint.read(contentsOf: directory + "/stopped/last.safetensors")
        XCTAssertTrue((1...2).contains(checkpoint.epoch) && checkpoint.epoch * 100_000 + checkpoint.step > 100_000,
                      "stopped after the first epoch and before the end: epoch \(checkpoint.epoch), step \(checkpoint.step)")
        XCTAssertNotNil(checkpoint.trainingState)
        try FileManager.default.copyItem(atPath: directory + "/stopped", toPath: directory + "/stopped-one")

        let resumed = try run(mpirunArguments(2, [configPath, "-o", directory + "/stopped", "--quiet",
                                                  "--resume", directory + "/stopped/last.safetensors"]))
        XCTAssertEqual(resumed.status, 0, resumed.standardError)
        let straight = try run(mpirunArguments(2, [configPath, "-o", directory + "/straight", "--quiet"]))
        XCTAssertEqual(straight.status, 0, straight.standardError)
        XCTAssertEqual(try metrics(directory + "/stopped"), try metrics(directory + "/straight"))
        XCTAssertEqual(try metrics(directory + "/straight").count, 3)

        let single = try runProduct("train", [configPath, "-o", directory + "/stopped-one", "--quiet",
                                              "--resume", directory + "/stopped-one/last.safetensors"])
        XCTAssertEqual(single.status, 0, single.standardError)
        // From the stop on, one process sums in another order than two; on the smooth LeNet the
        // rounding differences stay far below these bounds (the runs agree to 6 digits), while a
        // resume from the wrong step, batch share or optimizer state moves the loss by percents.
        for (a, b) in zip(try metrics(directory + "/straight"), try metrics(directory + "/stopped-one")) {
            XCTAssertEqual(Double(b[2])!, Double(a[2])!, accuracy: 1e-4 * Double(a[2])!, "train loss: \(a) vs \(b)")
            XCTAssertEqual(Double(b[5])!, Double(a[5])!, accuracy: 0.001, "test accuracy (500 images): \(a) vs \(b)")
        }
    }

    /// A process killed with SIGKILL ends the whole job within seconds, with mpirun's message
    /// naming it, instead of leaving the other waiting.
    func testKilledProcessEndsTheJob() throws {
        let directory = temporaryDirectory(self)
        let configPath = config(in: directory, trainLimit: 60_000, epochs: 3)
        let (process, collector) = try start(mpirunArguments(2, [configPath, "-o", directory + "/run", "--progress", "lines",
                                                                 "--progress-interval", "0.2"]))
        XCTAssertTrue(collector.wait(for: "img/s", timeout: 120), collector.output)  // training steps are running
        let rankOne = try XCTUnwrap(childProcesses(of: process.processIdentifier).first { environment(of: $0).contains("OMPI_COMM_WORLD_RANK=1") })
        let killed = Date()
        kill(rankOne, SIGKILL)
        let result = collector.finish(process, timeout: 60)
        XCTAssertLessThan(Date().timeIntervalSince(killed), 15, "the job ended within seconds")
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.standardError.contains("rank 1") && result.standardError.contains("signal 9"), result.standardError)
    }

    /// A process count that does not divide the batch is refused with one line (with mpirun -q,
    /// which leaves out mpirun's own banner about the non-zero exit).
    func testIndivisibleBatchIsRefusedWithOneLine() throws {
        let directory = temporaryDirectory(self)
        let configPath = config(in: directory, trainLimit: 600, epochs: 1)
        let result = try run(mpirunArguments(3, [configPath, "-o", directory + "/run"], quiet: true))
        assertFailsWithOneLine(result, "\(configPath): training.batchSize 32 does not split evenly over 3 processes; give a multiple of 3, e.g. --batch-size 30 or 33")
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory + "/run/last.safetensors"))
    }

    private func childProcesses(of pid: Int32) -> [Int32] {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        return tasks.flatMap { task in
            ((try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/children", encoding: .utf8)) ?? "").split(separator: " ").compactMap { Int32($0) }
        }
    }

    private func environment(of pid: Int32) -> [String] {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { return [] }
        return data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
    }
}

/// Collects a process's standard output and error as they arrive, so a test can wait for a
/// line and still read everything at the end.
final class OutputCollector: @unchecked Sendable {
    // @unchecked Sendable: the texts are guarded by `condition`.
    private let condition = NSCondition()
    private var standardOutput = Data(), standardError = Data(), openStreams = 2
    private let exited = DispatchSemaphore(value: 0)

    init(_ process: Process) {
        let output = Pipe(), error = Pipe()
        process.standardOutput = output
        process.standardError = error
        process.terminationHandler = { [exited] _ in exited.signal() }
        for (pipe, isOutput) in [(output, true), (error, false)] {
            pipe.fileHandleForReading.readabilityHandler = { [weak self] handle in
                let chunk = handle.availableData
                guard let self else { return }
                self.condition.lock()
                if chunk.isEmpty {
                    handle.readabilityHandler = nil
                    self.openStreams -= 1
                } else if isOutput {
                    self.standardOutput.append(chunk)
                } else {
                    self.standardError.append(chunk)
                }
                self.condition.broadcast()
                self.condition.unlock()
            }
        }
    }

    /// Everything so far, output then error.
    var output: String {
        condition.lock()
        defer { condition.unlock() }
        return String(decoding: standardOutput, as: UTF8.self) + String(decoding: standardError, as: UTF8.self)
    }

    /// Waits until the output holds `text`; false if the streams closed or `timeout` passed first.
    func wait(for text: String, timeout: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        condition.lock()
        defer { condition.unlock() }
        while !String(decoding: standardOutput + standardError, as: UTF8.self).contains(text) {
            if openStreams == 0 || !condition.wait(until: deadline) { return false }
        }
        return true
    }

    /// Waits for the process to exit (killing it after `timeout` seconds, a failure) and for
    /// its streams to close; returns what it printed.
    func finish(_ process: Process, timeout: Double) -> ProcessOutput {
        if exited.wait(timeout: .now() + timeout) == .timedOut {
            XCTFail("the process did not exit within \(timeout) s")
            process.terminate()
            exited.wait()
        }
        let deadline = Date().addingTimeInterval(10)
        condition.lock()
        while openStreams > 0 && condition.wait(until: deadline) {}
        defer { condition.unlock() }
        return ProcessOutput(status: process.terminationStatus, standardOutput: String(decoding: standardOutput, as: UTF8.self),
                             standardError: String(decoding: standardError, as: UTF8.self))
    }
}
