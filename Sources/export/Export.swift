import ArgumentParser
import CommandLineSupport
import ConvNet
import Foundation

/// `swift run export checkpoints/mnist/model.safetensors --onnx mnist.onnx`: writes a trained
/// model as an ONNX model that ONNX Runtime (and anything else that reads ONNX) runs.
@main
struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Export a trained model to ONNX.",
        discussion: """
            The ONNX model (IR version \(ONNX.irVersion), opset \(ONNX.opsetVersion)) takes "input" [N, C, H, W] \
            float32 (N any) and gives "logits" [N, classes] (or "probabilities" with --softmax). Its \
            input is normalised as the checkpoint's normalization says, unless --normalize-inside \
            puts that in the graph so it takes pixels scaled to [0, 1]. Class names, normalisation \
            and preprocessing are in the model's metadata_props. Batch norm is exported in its \
            inference form; dropout is left out.
            """,
        version: ConvNetVersion.string)

    /// A usage error is one line: `error: unknown option '--foo'; see export --help`.
    static func main() { mainReportingOneLine() }

    @Argument(help: ArgumentHelp("A model or training checkpoint written by train.", valueName: "checkpoint"))
    var checkpoint: String

    @Option(name: [.customShort("o"), .customLong("onnx")], help: ArgumentHelp("The ONNX file to write.", valueName: "file"))
    var onnx: String

    @Flag(help: "End the graph with a Softmax: output \"probabilities\" rather than \"logits\".")
    var softmax = false

    @Flag(help: "Apply the input normalisation inside the graph, so the model takes pixels scaled to [0, 1].")
    var normalizeInside = false

    func run() throws {
        do {
            try execute()
        } catch {
            Report.fail(error.description)
        }
    }

    private func execute() throws(ExportFailure) {
        guard !isSameFile(onnx, checkpoint) else {
            throw ExportFailure("\(onnx): is the checkpoint being exported; give the ONNX model another name, e.g. \((checkpoint as NSString).deletingPathExtension).onnx")
        }
        let model: Checkpoint
        do { model = try Checkpoint.read(contentsOf: checkpoint) } catch { throw ExportFailure(error.description) }
        let bytes: [UInt8]
        do {
            bytes = try ONNXExporter.export(model, softmax: softmax, normalizeInside: normalizeInside,
                                            name: (checkpoint as NSString).deletingPathExtension.split(separator: "/").last.map(String.init) ?? "convnet",
                                            source: checkpoint)
        } catch {
            throw ExportFailure("\(checkpoint): \(error.message)")
        }
        do { try writeFileAtomically(bytes, to: onnx) } catch { throw ExportFailure("\(onnx): cannot write the ONNX model: \(error.message)") }
        print("Wrote \(oneLine(onnx)): \(Report.grouped(bytes.count)) bytes, input [N, \(model.model.input.map(String.init).joined(separator: ", "))], "
              + "\(softmax ? "probabilities" : "logits") [N, \(model.classNames.count)]\(normalizeInside ? ", normalisation inside" : "")")
    }
}

/// Whether two paths name the same existing file (same device and inode).
private func isSameFile(_ first: String, _ second: String) -> Bool {
    var a = stat(), b = stat()
    guard stat(first, &a) == 0, stat(second, &b) == 0 else { return false }
    return a.st_dev == b.st_dev && a.st_ino == b.st_ino
}

/// One line for the user.
struct ExportFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = oneLine(description) }
}
