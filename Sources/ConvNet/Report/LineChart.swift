import Foundation

/// A line chart of one or more series against epochs, as SVG: axes with round ticks, a
/// legend, and an optional dashed vertical line (the best epoch).
struct LineChart {
    /// One curve: its name in the legend, colour, whether dashed, and (epoch, value) points.
    struct Series {
        var name: String
        var colour: String
        var dashed = false
        var points: [(Double, Double)]
    }

    var title: String
    var series: [Series]
    /// Value formatter for the vertical axis (percentages, losses, learning rates).
    var format: (Double) -> String = { String(format: "%.3g", $0) }
    /// Draw the vertical axis on a log scale (learning rates).
    var logarithmic = false
    /// The epoch marked with a dashed line and its label.
    var marker: (epoch: Double, label: String)?
    var width = 380.0, height = 270.0

    /// The chart as an SVG document.
    var svg: String {
        var image = SVG(width: width, height: height)
        let (left, right, top, bottom) = (64.0, width - 16, 34.0, height - 56)
        image.text(left, 20, title, size: 14, bold: true)
        let points = series.flatMap(\.points).filter { $0.1.isFinite && (!logarithmic || $0.1 > 0) }
        guard !points.isEmpty else {
            image.text(width / 2, height / 2, "no data yet", anchor: "middle", colour: "#888")
            return image.document
        }
        let transform: (Double) -> Double = logarithmic ? { log10($0) } : { $0 }
        var (low, high) = (points.map { transform($0.1) }.min()!, points.map { transform($0.1) }.max()!)
        if high - low < 1e-12 { (low, high) = (low - 0.5, high + 0.5) }
        let padding = (high - low) * 0.06
        (low, high) = (low - padding, high + padding)
        let firstEpoch = points.map(\.0).min()!, lastEpoch = max(points.map(\.0).max()!, firstEpoch + 1)
        func x(_ epoch: Double) -> Double { left + (epoch - firstEpoch) / (lastEpoch - firstEpoch) * (right - left) }
        func y(_ value: Double) -> Double { bottom - (transform(value) - low) / (high - low) * (bottom - top) }
        // Grid and ticks.
        for tick in Self.ticks(low: low, high: high, logarithmic: logarithmic) {
            let value = logarithmic ? pow(10, tick) : tick
            let position = y(value)
            image.line(left, position, right, position, colour: "#e4e4e4")
            image.text(left - 6, position + 4, format(value), size: 11, anchor: "end", colour: "#555")
        }
        for epoch in Self.ticks(low: firstEpoch, high: lastEpoch, logarithmic: false, integers: true) {
            image.line(x(epoch), bottom, x(epoch), bottom + 4, colour: "#555")
            image.text(x(epoch), bottom + 17, String(Int(epoch)), size: 11, anchor: "middle", colour: "#555")
        }
        image.line(left, bottom, right, bottom, colour: "#555")
        image.line(left, top, left, bottom, colour: "#555")
        image.text((left + right) / 2, bottom + 34, "epoch", size: 11, anchor: "middle", colour: "#555")
        if let marker {
            image.line(x(marker.epoch), top, x(marker.epoch), bottom, colour: "#2a7", width: 1.5, dashed: true)
            image.text(x(marker.epoch) + 4, top + 12, marker.label, size: 11, colour: "#2a7")
        }
        for curve in series {
            let kept = curve.points.filter { $0.1.isFinite && (!logarithmic || $0.1 > 0) }
            image.polyline(kept.map { (x($0.0), y($0.1)) }, colour: curve.colour, dashed: curve.dashed)
            if kept.count == 1 { image.circle(x(kept[0].0), y(kept[0].1), radius: 3, colour: curve.colour) }
        }
        // Legend along the bottom.
        var legendX = left
        for curve in series {
            image.line(legendX, height - 8, legendX + 18, height - 8, colour: curve.colour, width: 2, dashed: curve.dashed)
            image.text(legendX + 22, height - 4, curve.name, size: 11)
            legendX += 30 + Double(curve.name.count) * 6.5
        }
        return image.document
    }

    /// About five round tick values covering [low, high] (exponents for a log scale).
    static func ticks(low: Double, high: Double, logarithmic: Bool, integers: Bool = false) -> [Double] {
        if logarithmic {
            let first = Int(low.rounded(.up)), last = Int(high.rounded(.down))
            if first <= last {
                let step = max(1, (last - first) / 5 + 1)
                return stride(from: first, through: last, by: step).map(Double.init)
            }
            return [(low + high) / 2]
        }
        let span = high - low
        let raw = span / 5
        let magnitude = pow(10, (log10(raw)).rounded(.down))
        var step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? 10 * magnitude
        if integers { step = max(1, step.rounded()) }
        let first = (low / step).rounded(.up) * step
        // + 0 turns a −0 (a range starting just below zero) into 0, which prints as "0", not "-0".
        return stride(from: first, through: high + step * 1e-9, by: step).map { $0 + 0 }
    }
}
