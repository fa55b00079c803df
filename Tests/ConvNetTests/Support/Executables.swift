import Foundation
import XCTest

/// What a finished process printed and returned.
struct ProcessOutput {
    var status: Int32
    var standardOutput: String
    var standardError: String
}

/// The directory holding the built executables (`.build/<configuration>`).
let productsDirectory: URL = {
    for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
        return bundle.bundleURL.deletingLastPathComponent()
    }
    return Bundle.main.bundleURL
}()

/// Runs a built executable of this package (`train`, `infer`, `idx2png`) and waits for it.
@discardableResult
func runProduct(_ name: String, _ arguments: [String], in directory: String? = nil,
                file: StaticString = #filePath, line: UInt = #line) throws -> ProcessOutput {
    try runProcess(productsDirectory.appendingPathComponent(name), arguments, in: directory)
}

/// Runs `script` with `/bin/sh -c`, for redirections a `Process` cannot express (`>/dev/full`,
/// `>&-`, a pipe closed early); `$PRODUCTS` is the directory of the built executables.
@discardableResult
func runShell(_ script: String, in directory: String? = nil) throws -> ProcessOutput {
    try runProcess(URL(fileURLWithPath: "/bin/sh"), ["-c", "PRODUCTS='\(productsDirectory.path)'; " + script], in: directory)
}

private func runProcess(_ executable: URL, _ arguments: [String], in directory: String?) throws -> ProcessOutput {
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
    let output = Pipe(), error = Pipe()
    process.standardOutput = output
    process.standardError = error
    try process.run()
    // Read both pipes before waiting, so a chatty process cannot block on a full pipe.
    final class Box: @unchecked Sendable { var data = Data() }
    let errorData = Box()
    let group = DispatchGroup()
    group.enter()
    DispatchQueue.global().async { errorData.data = error.fileHandleForReading.readDataToEndOfFile(); group.leave() }
    let outputData = output.fileHandleForReading.readDataToEndOfFile()
    group.wait()
    process.waitUntilExit()
    return ProcessOutput(status: process.terminationStatus,
                         standardOutput: String(decoding: outputData, as: UTF8.self),
                         standardError: String(decoding: errorData.data, as: UTF8.self))
}

/// Asserts a run failed with exit status 1 and exactly one stderr line `error: <expected…>`.
func assertFailsWithOneLine(_ output: ProcessOutput, _ expected: String, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertNotEqual(output.status, 0, "exit status", file: file, line: line)
    let lines = output.standardError.split(separator: "\n", omittingEmptySubsequences: true)
    XCTAssertEqual(lines.count, 1, "stderr: \(output.standardError)", file: file, line: line)
    XCTAssertTrue(output.standardError.hasPrefix("error: " + expected),
                  "stderr \"\(output.standardError)\" does not start with \"error: \(expected)\"", file: file, line: line)
}
