import Foundation
import XCTest
@testable import ConvNet

/// The built `train` executable under signals, kill -9 and a full disk.
final class InterruptionTests: XCTestCase {
    /// A config for a small model over many small steps, so signals land mid-epoch.
    private func config(in directory: String, epochs: Int = 3, batchSize: Int = 8, filters: Int = 4) -> String {
        let json = mnistConfigJSON(name: "interrupted", trainLimit: 20_000, testLimit: 200, epochs: epochs,
                                   layers: tinyLayers.replacingOccurrences(of: "\"filters\": 4", with: "\"filters\": \(filters)"),
                                   batchSize: batchSize, seed: 5, threads: 1, schedule: #"{"type": "constant"}"#,
                                   checkpointDirectory: directory + "/checkpoints")
        writeBytes(Array(json.utf8), to: directory + "/config.json")
        return directory + "/config.json"
    }

    /// Starts `train` with `arguments` and returns once it printed its first line (training has started).
    private func startTraining(_ arguments: [String]) throws -> (Process, Pipe, Pipe) {
        let process = Process()
        process.executableURL = productsDirectory.appendingPathComponent("train")
        process.arguments = arguments
        let output = Pipe(), error = Pipe()
        process.standardOutput = output
        process.standardError = error
        try process.run()
        var seen = Data()
        while !String(decoding: seen, as: UTF8.self).contains("Checkpoints go to") {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            seen.append(chunk)
        }
        return (process, output, error)
    }

    private func finish(_ process: Process, _ output: Pipe, _ error: Pipe) -> ProcessOutput {
        let standardOutput = output.fileHandleForReading.readDataToEndOfFile()
        let standardError = error.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return ProcessOutput(status: process.terminationStatus,
                             standardOutput: String(decoding: standardOutput, as: UTF8.self),
                             standardError: String(decoding: standardError, as: UTF8.self))
    }

    /// SIGINT stops at a step boundary, writes a resumable checkpoint and prints the exact
    /// resume command; running that command finishes the run.
    func testInterruptSavesAndResumes() throws {
        let directory = temporaryDirectory(self)
        let configPath = config(in: directory)
        for signal in [SIGINT, SIGTERM] {
            // Training has started (the handlers are installed before its first line): the signal
            // lands during a step, however fast the steps are.
            let (process, output, error) = try startTraining(["--config", configPath])
            kill(process.processIdentifier, signal)
            let run = finish(process, output, error)
            XCTAssertEqual(run.status, 130, run.standardError)
            XCTAssertTrue(run.standardError.contains("Stopping after this step and saving a checkpoint"), run.standardError)
            let resumeLine = try XCTUnwrap(run.standardOutput.split(separator: "\n").first { $0.hasPrefix("Resume with: swift run train ") })
            XCTAssertTrue(resumeLine.hasSuffix("--config \(configPath) --resume \(directory)/checkpoints/last.safetensors"), String(resumeLine))
            let checkpoint = try Checkpoint.read(contentsOf: directory + "/checkpoints/last.safetensors")
            XCTAssertNotNil(checkpoint.trainingState)
            XCTAssertGreaterThan(checkpoint.epoch * 10_000 + checkpoint.step, 0, "stopped after some steps")
            try? FileManager.default.removeItem(atPath: directory + "/checkpoints")
        }
        // Interrupt, then run the printed command: the run completes all 3 epochs.
        let (process, output, error) = try startTraining(["--config", configPath, "--epochs", "2"])
        kill(process.processIdentifier, SIGINT)
        XCTAssertEqual(finish(process, output, error).status, 130)
        let resumed = try runProduct("train", ["--config", configPath, "--epochs", "2", "--resume", directory + "/checkpoints/last.safetensors", "--quiet"])
        XCTAssertEqual(resumed.status, 0, resumed.standardError)
        XCTAssertTrue(resumed.standardOutput.contains("after 2 epochs"), resumed.standardOutput)
        XCTAssertEqual(try Checkpoint.read(contentsOf: directory + "/checkpoints/last.safetensors").epoch, 2)
    }

    /// A second Ctrl-C exits at once, without writing anything more. (Steps of 5,000 images
    /// take a good fraction of a second, so the second signal arrives during the first's step.)
    func testSecondInterruptExitsAtOnce() throws {
        let directory = temporaryDirectory(self)
        let (process, output, error) = try startTraining(["--config", config(in: directory, batchSize: 5_000, filters: 32)])
        kill(process.processIdentifier, SIGINT)
        var errorText = ""
        while !errorText.contains("Stopping after this step") {
            let chunk = error.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            errorText += String(decoding: chunk, as: UTF8.self)
        }
        kill(process.processIdentifier, SIGINT)
        let run = finish(process, output, error)
        XCTAssertEqual(run.status, 130)
        XCTAssertTrue((errorText + run.standardError).contains("Interrupted again: exiting now without saving."), errorText + run.standardError)
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory + "/checkpoints/last.safetensors"))
    }

    /// kill -9 at any moment leaves the last completed checkpoint loadable (atomic replace),
    /// and resuming from it finishes the run.
    func testKillNineLeavesALoadableCheckpoint() throws {
        let directory = temporaryDirectory(self)
        let configPath = config(in: directory, epochs: 2)
        // Checkpoints are written after every epoch: kill at several moments around them.
        for delay in [400_000, 900_000, 1_500_000] as [useconds_t] {
            let (process, output, error) = try startTraining(["--config", configPath, "--quiet"])
            usleep(delay)
            kill(process.processIdentifier, SIGKILL)
            _ = finish(process, output, error)
            let path = directory + "/checkpoints/last.safetensors"
            guard FileManager.default.fileExists(atPath: path) else { continue }  // killed before the first checkpoint
            XCTAssertNoThrow(try Checkpoint.read(contentsOf: path), "after kill -9 at \(delay) µs")
        }
        let path = directory + "/checkpoints/last.safetensors"
        if FileManager.default.fileExists(atPath: path), try Checkpoint.read(contentsOf: path).epoch < 2 {
            let resumed = try runProduct("train", ["--config", configPath, "--resume", path, "--quiet"])
            XCTAssertEqual(resumed.status, 0, resumed.standardError)
        }
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: directory + "/checkpoints").filter { $0.contains(".tmp-") }
        XCTAssertEqual(leftovers, [], "temporary files of killed writers are cleaned up on the next start")
    }

    /// A full disk stops training with one line naming the file, and the previous checkpoint
    /// stays intact. Uses a 1 MB tmpfs (needs root; skipped otherwise).
    func testFullDiskKeepsThePreviousCheckpoint() throws {
        let mountPoint = temporaryDirectory(self) + "/small-disk"
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        guard geteuid() == 0, (try? runCommand("/bin/mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", mountPoint])) == 0 else {
            throw XCTSkip("mounting a small tmpfs needs root")
        }
        defer { _ = try? runCommand("/bin/umount", [mountPoint]) }
        let configPath = config(in: temporaryDirectory(self), epochs: 2)
        let output = mountPoint + "/run"
        let first = try runProduct("train", ["--config", configPath, "--epochs", "1", "--output", output, "--quiet"])
        XCTAssertEqual(first.status, 0, first.standardError)
        let before = FileManager.default.contents(atPath: output + "/last.safetensors")

        // Fill the disk, leaving less room than a checkpoint needs.
        writeBytes([], to: mountPoint + "/filler")
        let filler = try XCTUnwrap(FileHandle(forWritingAtPath: mountPoint + "/filler"))
        let block = Data(repeating: 1, count: 4096)
        while (try? filler.write(contentsOf: block)) != nil {}
        try? filler.close()
        _ = try runCommand("/bin/sh", ["-c", "truncate -s -8K \(mountPoint)/filler"])

        let second = try runProduct("train", ["--config", configPath, "--output", output, "--resume", output + "/last.safetensors", "--quiet"])
        assertFailsWithOneLine(second, "\(output)/")
        XCTAssertTrue(second.standardError.contains("the disk is full"), second.standardError)
        XCTAssertEqual(FileManager.default.contents(atPath: output + "/last.safetensors"), before, "the previous checkpoint is unchanged")
        XCTAssertEqual(try Checkpoint.read(contentsOf: output + "/last.safetensors").epoch, 1)
    }

    @discardableResult
    private func runCommand(_ path: String, _ arguments: [String]) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }
}
