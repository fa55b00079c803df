import Foundation

/// A small SVG writer: an image of `width`×`height` user units, built element by element.
/// Text and attribute values are escaped, so class names and run names cannot break the page.
struct SVG {
    let width: Double, height: Double
    private(set) var elements: [String] = []

    init(width: Double, height: Double) {
        self.width = width
        self.height = height
    }

    /// A straight line.
    mutating func line(_ x1: Double, _ y1: Double, _ x2: Double, _ y2: Double, colour: String, width: Double = 1, dashed: Bool = false) {
        elements.append("<line x1=\"\(number(x1))\" y1=\"\(number(y1))\" x2=\"\(number(x2))\" y2=\"\(number(y2))\" stroke=\"\(escapeXML(colour))\" stroke-width=\"\(number(width))\"\(dashed ? " stroke-dasharray=\"4 3\"" : "")/>")
    }

    /// A polyline through `points`.
    mutating func polyline(_ points: [(Double, Double)], colour: String, width: Double = 2, dashed: Bool = false) {
        guard !points.isEmpty else { return }
        let list = points.map { "\(number($0.0)),\(number($0.1))" }.joined(separator: " ")
        elements.append("<polyline points=\"\(list)\" fill=\"none\" stroke=\"\(escapeXML(colour))\" stroke-width=\"\(number(width))\" stroke-linejoin=\"round\"\(dashed ? " stroke-dasharray=\"6 4\"" : "")/>")
    }

    /// A filled circle.
    mutating func circle(_ x: Double, _ y: Double, radius: Double, colour: String) {
        elements.append("<circle cx=\"\(number(x))\" cy=\"\(number(y))\" r=\"\(number(radius))\" fill=\"\(escapeXML(colour))\"/>")
    }

    /// A filled rectangle, with an optional hover title.
    mutating func rectangle(_ x: Double, _ y: Double, _ width: Double, _ height: Double, fill: String, stroke: String? = nil, title: String? = nil) {
        let outline = stroke.map { " stroke=\"\(escapeXML($0))\"" } ?? ""
        let tooltip = title.map { "<title>\(escapeXML($0))</title>" } ?? ""
        elements.append("<rect x=\"\(number(x))\" y=\"\(number(y))\" width=\"\(number(width))\" height=\"\(number(height))\" fill=\"\(escapeXML(fill))\"\(outline)>\(tooltip)</rect>")
    }

    /// Text; `anchor` start, middle or end; `rotated` turns it a quarter counter-clockwise (vertical axis labels).
    mutating func text(_ x: Double, _ y: Double, _ content: String, size: Double = 12, anchor: String = "start", colour: String = "#333",
                       bold: Bool = false, rotated: Bool = false) {
        let transform = rotated ? " transform=\"rotate(-90 \(number(x)) \(number(y)))\"" : ""
        elements.append("<text x=\"\(number(x))\" y=\"\(number(y))\" font-size=\"\(number(size))\" text-anchor=\"\(anchor)\" fill=\"\(escapeXML(colour))\"\(bold ? " font-weight=\"bold\"" : "")\(transform)>\(escapeXML(content))</text>")
    }

    /// The document, scaling to the width of its container.
    var document: String {
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(number(width)) \(number(height))\" width=\"\(number(width))\" height=\"\(number(height))\" font-family=\"sans-serif\" role=\"img\">"
            + elements.joined() + "</svg>"
    }

    /// A coordinate with at most 2 decimals.
    private func number(_ value: Double) -> String {
        let rounded = (value * 100).rounded() / 100
        guard rounded.isFinite, abs(rounded) < 1e15 else { return "0" }  // never Int(±∞): a wild value draws at the origin
        return rounded == rounded.rounded() ? String(Int(rounded)) : String(format: "%.2f", rounded)
    }
}

/// `text` with `&`, `<`, `>`, `"` and `'` escaped, and control characters (which XML forbids)
/// shown as `\u{…}`, line breaks too unless `keepingLineBreaks`.
func escapeXML(_ text: String, keepingLineBreaks: Bool = false) -> String {
    var result = ""
    let lines = keepingLineBreaks ? text.split(separator: "\n", omittingEmptySubsequences: false).map { oneLine(String($0)) }.joined(separator: "\n")
        : oneLine(text)
    for scalar in lines.unicodeScalars {
        switch scalar {
        case "&": result += "&amp;"
        case "<": result += "&lt;"
        case ">": result += "&gt;"
        case "\"": result += "&quot;"
        case "'": result += "&#39;"
        default: result.unicodeScalars.append(scalar)
        }
    }
    return result
}
