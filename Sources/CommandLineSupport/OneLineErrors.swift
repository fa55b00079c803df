import ArgumentParser
import ConvNet
import Foundation

extension ParsableCommand {
    /// Parses the command line and runs the command, as ArgumentParser's `main()` does, but
    /// reports a usage error as one line on stderr and exits with status 64 (EX_USAGE):
    /// `error: unknown option '--foo'; see train --help`. `--help` and `--version` print as
    /// usual; an error escaping `run()` is one line too, with exit status 1 (or its `ExitCode`).
    /// Output that cannot be written (`>/dev/full`, stdout closed) is an error too: see
    /// `finishStandardOutput`.
    public static func mainReportingOneLine() {
        requireStandardOutput()
        var command: ParsableCommand
        do {
            command = try parseAsRoot()
        } catch {
            guard exitCode(for: error) != .success else { exit(withError: error) }
            let name = configuration.commandName ?? "\(self)".lowercased()
            FileHandle.standardError.write(Data("error: \(usageMessage(message(for: error))); see \(name) --help\n".utf8))
            Foundation.exit(ExitCode.validationFailure.rawValue)
        }
        do {
            try command.run()
            finishStandardOutput()
        } catch {
            let code = exitCode(for: error)
            let text = message(for: error)
            if code == .success || text.isEmpty { exit(withError: error) }
            FileHandle.standardError.write(Data("error: \(oneLine(text))\n".utf8))
            Foundation.exit(code.rawValue)
        }
    }
}

/// ArgumentParser's message as one clause: `Unknown option '--foo'.` becomes
/// `unknown option '--foo'`, `… Did you mean '--lr'?` becomes `… (did you mean '--lr'?)`,
/// and a message of several lines is joined with `; `.
func usageMessage(_ text: String) -> String {
    let lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    var message = oneLine(lines.joined(separator: "; "))
    if let suggestion = message.range(of: ". Did you mean ") {
        message = message[..<suggestion.lowerBound] + " (did you mean " + message[suggestion.upperBound...] + ")"
    }
    while message.hasSuffix(".") { message.removeLast() }
    // Lower-case a leading capital of an ordinary word, not of an option or a name in quotes.
    if let first = message.first, first.isUppercase, message.dropFirst().first?.isLowercase ?? false {
        message = first.lowercased() + message.dropFirst()
    }
    return message
}
