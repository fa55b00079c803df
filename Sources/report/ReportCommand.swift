import ArgumentParser
import CommandLineSupport
import ConvNet
import Foundation

/// `swift run report RUN_DIR [RUN_DIR …]`: renders a run's report.html again, or compares runs.
@main
struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Render the HTML report of a training run, or compare several runs.",
        discussion: """
            Each run directory holds the report.json that train writes after every epoch. With one \
            directory, its report.html is written again; with several, one page overlays their \
            curves and shows each run (default file: comparison.html).
            """,
        version: ConvNetVersion.string)

    /// A usage error is one line: `error: unknown option '--foo'; see report --help`.
    static func main() { mainReportingOneLine() }

    @Argument(help: ArgumentHelp("Run directories (a train --output or checkpoint.directory).", valueName: "run-dir"))
    var runs: [String]

    @Option(name: [.short, .long], help: ArgumentHelp("Write the page here instead.", valueName: "file"))
    var output: String?

    func validate() throws {
        guard !runs.isEmpty else { throw ValidationError("Give at least one run directory.") }
    }

    func run() throws {
        do {
            try execute()
        } catch {
            Report.fail(error.description)
        }
    }

    private func execute() throws(DataError) {
        var reports: [RunReport] = []
        for directory in runs { reports.append(try RunReport.read(directory: directory)) }
        let path = output ?? (runs.count == 1 ? "\(runs[0])/report.html" : "comparison.html")
        try writeFileAtomically(Array(HTMLReport.page(for: reports).utf8), to: path)
        print("Wrote \(oneLine(path))")
    }
}
