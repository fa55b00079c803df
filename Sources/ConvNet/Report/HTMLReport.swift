import Foundation

/// A run's report (or several runs' comparison) as one self-contained HTML page: inline SVG
/// charts and base64 PNG images, inline CSS, no script and nothing fetched from the network,
/// so it opens from the file system anywhere.
public enum HTMLReport {
    /// Colours for curves and runs.
    static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"]

    /// The page for one run, or a comparison of several (overlaid curves and a summary table,
    /// then each run's own sections). It is well-formed XML too (XHTML syntax), so tests parse it.
    public static func page(for runs: [RunReport]) -> String {
        precondition(!runs.isEmpty)
        let title = runs.count == 1 ? "ConvNet report: \(runs[0].name)" : "ConvNet comparison: " + runs.map(\.name).joined(separator: ", ")
        var body = ""
        if runs.count == 1 {
            body += "<header><h1>\(escapeXML(runs[0].name))</h1><p class=\"summary\">\(escapeXML(summary(of: runs[0])))</p></header>"
            body += sections(of: runs[0])
        } else {
            body += "<header><h1>\(escapeXML(title))</h1></header>" + comparison(runs)
            for run in runs {
                body += "<section class=\"run\"><h2>\(escapeXML(run.name))</h2><p class=\"summary\">\(escapeXML(summary(of: run)))</p>\(sections(of: run))</section>"
            }
        }
        return """
            <!DOCTYPE html>
            <html lang="en" xmlns="http://www.w3.org/1999/xhtml"><head><meta charset="utf-8"/><meta name="viewport" content="width=device-width, initial-scale=1"/>
            <title>\(escapeXML(title))</title><style>\(style)</style></head>
            <body>\(body)<footer>Written by ConvNet. Self-contained: charts are inline SVG, images inline PNG.</footer></body></html>

            """
    }

    static let style = """
        body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:24px auto;max-width:1200px;padding:0 16px;color:#222;background:#fff}
        h1{font-size:26px;margin:0 0 4px}h2{font-size:19px;margin:28px 0 10px;border-bottom:1px solid #ddd;padding-bottom:4px}
        h3{font-size:15px;margin:14px 0 6px}.summary{font-size:15px;color:#444;margin:4px 0 8px}
        .charts{display:flex;flex-wrap:wrap;gap:12px}.charts svg{max-width:100%;height:auto;border:1px solid #eee;border-radius:4px}
        .grid{display:flex;flex-wrap:wrap;gap:10px}figure{margin:0;text-align:center;font-size:12px;width:92px}
        figure img{width:84px;height:84px;image-rendering:pixelated;border:1px solid #ccc;background:#000}
        .filters img{width:48px;height:48px;image-rendering:pixelated;border:1px solid #ccc}
        .filters figure{width:52px}figcaption{margin-top:2px;line-height:1.25}.wrong{color:#c0392b}
        table{border-collapse:collapse;font-size:13px}td,th{border-bottom:1px solid #eee;padding:3px 10px;text-align:left}
        td.number,th.number{text-align:right;font-variant-numeric:tabular-nums}pre{background:#f6f6f6;padding:10px;font-size:12px;overflow-x:auto}
        .heat svg{max-width:100%;height:auto}footer{margin-top:36px;font-size:12px;color:#888}
        """

    /// "finished · best test accuracy 99.33% at epoch 9 · …".
    static func summary(of run: RunReport) -> String {
        guard let last = run.epochs.last else { return "\(run.status) · no epoch finished yet" }
        let best = run.epochs.first { $0.epoch == run.bestEpoch }
        let bestAccuracy = run.selection == "validation" ? best?.validationAccuracy : best?.testAccuracy
        let seconds = run.epochs.reduce(0) { $0 + $1.seconds }
        let rate = run.epochs.reduce(0) { $0 + $1.imagesPerSecond } / Double(run.epochs.count)
        var parts = [run.status + " after \(last.epoch) of \(run.totalEpochs) epochs"]
        if let bestAccuracy { parts.append("best \(run.selection) accuracy \(Report.percent(bestAccuracy)) at epoch \(run.bestEpoch)") }
        parts.append("final test accuracy \(Report.percent(last.testAccuracy))")
        parts.append("training time \(Report.duration(seconds)) · \(Report.grouped(Int(rate.rounded()))) images/s")
        return parts.joined(separator: " · ")
    }

    /// The sections of one run.
    static func sections(of run: RunReport) -> String {
        var html = "<div class=\"charts\">\(accuracyChart(run))\(lossChart(run))\(learningRateChart(run))</div>"
        let lastEpoch = run.epochs.last?.epoch ?? 0
        html += "<h2>Confusion matrix</h2><div class=\"heat\">"
        html += confusionMatrix(run.lastConfusion, classNames: run.classNames, title: "test set, last epoch (\(lastEpoch))")
        if run.bestEpoch != lastEpoch && !run.bestConfusion.isEmpty {
            html += confusionMatrix(run.bestConfusion, classNames: run.classNames, title: "test set, best epoch (\(run.bestEpoch))")
        }
        html += "</div>"
        html += "<h2>Most confident mistakes (test set, last epoch)</h2>"
        if run.mistakes.isEmpty {
            html += "<p>None.</p>"
        } else {
            html += "<p>The \(run.mistakes.count) wrong answers the model was surest of: true class → predicted class, probability.</p><div class=\"grid\">"
            for mistake in run.mistakes {
                html += "<figure><img alt=\"test image \(mistake.index)\" src=\"data:image/png;base64,\(mistake.png)\"/>"
                html += "<figcaption>\(escapeXML(mistake.truth)) → <span class=\"wrong\">\(escapeXML(mistake.predicted))</span><br/>\(String(format: "%.1f%%", mistake.probability * 100)) · #\(mistake.index)</figcaption></figure>"
            }
            html += "</div>"
        }
        if let filters = run.filters {
            let shape = filters.shape
            html += "<h2>First-layer filters</h2><p>\(shape[0]) filters of \(shape[2])×\(shape[3]) over \(shape[1]) channel\(shape[1] == 1 ? "" : "s")"
            html += shape[1] == 3 ? " (as RGB)" : shape[1] == 1 ? "" : " (mean over channels)"
            html += "; mid-grey is 0, each filter scaled to its largest weight.</p><div class=\"grid filters\">"
            for (index, image) in filters.images.enumerated() {
                html += "<figure><img alt=\"filter \(index)\" src=\"data:image/png;base64,\(image)\"/><figcaption>\(index)</figcaption></figure>"
            }
            html += "</div>"
        }
        html += "<h2>Model</h2>" + modelTable(run)
        html += "<h2>Timing and machine</h2>" + timing(run)
        html += "<h2>Config</h2><pre>\(escapeXML(prettyJSON(run.configuration), keepingLineBreaks: true))</pre>"
        return html
    }

    static func accuracyChart(_ run: RunReport) -> String {
        var series = [LineChart.Series(name: "train", colour: palette[0], dashed: true, points: run.epochs.map { (Double($0.epoch), $0.trainAccuracy) })]
        if run.epochs.contains(where: { $0.validationAccuracy != nil }) {
            series.append(.init(name: "validation", colour: palette[2], points: run.epochs.compactMap { e in e.validationAccuracy.map { (Double(e.epoch), $0) } }))
        }
        series.append(.init(name: "test", colour: palette[1], points: run.epochs.map { (Double($0.epoch), $0.testAccuracy) }))
        return LineChart(title: "Accuracy", series: series, format: { String(format: "%.1f%%", $0 * 100) },
                         marker: run.bestEpoch > 0 ? (Double(run.bestEpoch), "best") : nil).svg
    }

    static func lossChart(_ run: RunReport) -> String {
        var series = [LineChart.Series(name: "train", colour: palette[0], dashed: true, points: run.epochs.map { (Double($0.epoch), $0.trainLoss) })]
        if run.epochs.contains(where: { $0.validationLoss != nil }) {
            series.append(.init(name: "validation", colour: palette[2], points: run.epochs.compactMap { e in e.validationLoss.map { (Double(e.epoch), $0) } }))
        }
        series.append(.init(name: "test", colour: palette[1], points: run.epochs.map { (Double($0.epoch), $0.testLoss) }))
        return LineChart(title: "Loss (cross-entropy)", series: series, format: { String(format: "%.3g", $0) },
                         marker: run.bestEpoch > 0 ? (Double(run.bestEpoch), "best") : nil).svg
    }

    static func learningRateChart(_ run: RunReport) -> String {
        LineChart(title: "Learning rate (at each epoch's last step)",
                  series: [.init(name: "learning rate", colour: palette[3], points: run.epochs.map { (Double($0.epoch), $0.learningRate) })],
                  format: { Report.shortNumber($0) }, logarithmic: true).svg
    }

    /// The confusion matrix as a heat map: cells shaded by their share of the true class's
    /// images (blue on the diagonal, red off it), counts written in, per-class accuracy at the right.
    static func confusionMatrix(_ confusion: [[Int]], classNames: [String], title: String) -> String {
        let classes = confusion.count
        guard classes > 0 else { return "" }
        let names = classNames.map { $0.count > 14 ? String($0.prefix(13)) + "…" : $0 }
        let cell = classes <= 12 ? 40.0 : classes <= 40 ? 18.0 : 8.0
        let left = 14 + Double(names.map(\.count).max() ?? 1) * 7, top = 64.0
        let width = left + cell * Double(classes) + 90, height = top + cell * Double(classes) + 44
        var image = SVG(width: width, height: height)
        image.text(left, 18, title, size: 13, bold: true)
        image.text(left + cell * Double(classes) / 2, 40, "predicted", size: 12, anchor: "middle", colour: "#555")
        image.text(12, top + cell * Double(classes) / 2, "true", size: 12, anchor: "middle", colour: "#555", rotated: true)
        for (row, counts) in confusion.enumerated() {
            let total = max(1, counts.reduce(0, +))
            for (column, count) in counts.enumerated() {
                let share = Double(count) / Double(total)
                let intensity = row == column ? share : min(1, share * 5)  // errors are rare: show them brighter
                let shade = Int(255 - 200 * intensity)
                let fill = row == column ? String(format: "#%02x%02xff", shade, shade) : String(format: "#ff%02x%02x", shade, shade)
                let x = left + Double(column) * cell, y = top + Double(row) * cell
                image.rectangle(x, y, cell, cell, fill: count == 0 ? "#ffffff" : fill, stroke: "#eeeeee",
                                title: "true \(classNames[row]), predicted \(classNames[column]): \(count)")
                if cell >= 18 && count > 0 {
                    image.text(x + cell / 2, y + cell / 2 + 4, String(count), size: cell >= 40 ? 11 : 8, anchor: "middle",
                               colour: intensity > 0.6 ? "#fff" : "#222")
                }
            }
            if cell >= 18 {
                image.text(left - 6, top + Double(row) * cell + cell / 2 + 4, names[row], size: 11, anchor: "end")
                let accuracy = Double(counts[row]) / Double(total)
                image.text(left + cell * Double(classes) + 8, top + Double(row) * cell + cell / 2 + 4, Report.percent(accuracy), size: 11,
                           colour: accuracy < 0.9 ? "#c0392b" : "#333")
            }
        }
        if cell >= 18 {
            for column in 0..<classes {
                image.text(left + Double(column) * cell + cell / 2, top - 6, String(names[column].prefix(cell >= 40 ? 6 : 2)), size: 10, anchor: "middle")
            }
        }
        image.text(left + cell * Double(classes) + 8, top - 6, "accuracy", size: 10)
        return image.document
    }

    static func modelTable(_ run: RunReport) -> String {
        var html = "<table><tr><th>#</th><th>layer</th><th>output</th><th class=\"number\">parameters</th><th class=\"number\">multiply-adds</th></tr>"
        html += "<tr><td></td><td>input</td><td>\(run.inputShape.shapeDescription)</td><td></td><td></td></tr>"
        for layer in run.layers {
            html += "<tr><td>\(layer.index)</td><td>\(escapeXML(layer.summary))</td><td>\(layer.outputShape.shapeDescription)</td>"
            html += "<td class=\"number\">\(Report.grouped(layer.parameters))</td><td class=\"number\">\(Report.grouped(layer.multiplyAccumulates))</td></tr>"
        }
        let parameters = run.layers.reduce(0) { $0 + $1.parameters }, multiplyAdds = run.layers.reduce(0) { $0 &+ $1.multiplyAccumulates }
        html += "<tr><th></th><th>total</th><th></th><th class=\"number\">\(Report.grouped(parameters))</th><th class=\"number\">\(Report.grouped(multiplyAdds))</th></tr></table>"
        return html
    }

    static func timing(_ run: RunReport) -> String {
        var html = "<table>"
        for key in run.machine.keys.sorted() {
            html += "<tr><th>\(escapeXML(key))</th><td>\(escapeXML(run.machine[key] ?? ""))</td></tr>"
        }
        html += "</table><h3>Per epoch</h3><table><tr><th class=\"number\">epoch</th><th class=\"number\">seconds</th><th class=\"number\">images/s</th>"
        html += "<th class=\"number\">learning rate</th><th class=\"number\">train loss</th><th class=\"number\">test accuracy</th></tr>"
        for epoch in run.epochs {
            html += "<tr><td class=\"number\">\(epoch.epoch)</td><td class=\"number\">\(String(format: "%.1f", epoch.seconds))</td>"
            html += "<td class=\"number\">\(Report.grouped(Int(epoch.imagesPerSecond.rounded())))</td><td class=\"number\">\(Report.shortNumber(epoch.learningRate))</td>"
            html += "<td class=\"number\">\(String(format: "%.4f", epoch.trainLoss))</td><td class=\"number\">\(Report.percent(epoch.testAccuracy))</td></tr>"
        }
        return html + "</table>"
    }

    /// Overlaid test accuracy and loss curves of several runs, and a summary table.
    static func comparison(_ runs: [RunReport]) -> String {
        func series(_ value: @escaping (RunReport.Epoch) -> Double) -> [LineChart.Series] {
            runs.enumerated().map { index, run in
                LineChart.Series(name: run.name, colour: palette[index % palette.count], dashed: index >= palette.count,
                                 points: run.epochs.map { (Double($0.epoch), value($0)) })
            }
        }
        var html = "<div class=\"charts\">"
        html += LineChart(title: "Test accuracy", series: series { $0.testAccuracy }, format: { String(format: "%.1f%%", $0 * 100) }).svg
        html += LineChart(title: "Test loss", series: series { $0.testLoss }, format: { String(format: "%.3g", $0) }).svg
        html += LineChart(title: "Train loss", series: series { $0.trainLoss }, format: { String(format: "%.3g", $0) }).svg
        html += "</div><table><tr><th>run</th><th>status</th><th class=\"number\">epochs</th><th class=\"number\">best</th>"
        html += "<th class=\"number\">final test accuracy</th><th class=\"number\">training time</th><th class=\"number\">parameters</th></tr>"
        for run in runs {
            let best = run.epochs.first { $0.epoch == run.bestEpoch }
            let bestAccuracy = run.selection == "validation" ? best?.validationAccuracy : best?.testAccuracy
            html += "<tr><td>\(escapeXML(run.name))</td><td>\(escapeXML(run.status))</td><td class=\"number\">\(run.epochs.count)</td>"
            html += "<td class=\"number\">\(bestAccuracy.map { "\(Report.percent($0)) (\(escapeXML(run.selection)), epoch \(run.bestEpoch))" } ?? "")</td>"
            html += "<td class=\"number\">\(run.epochs.last.map { Report.percent($0.testAccuracy) } ?? "")</td>"
            html += "<td class=\"number\">\(Report.duration(run.epochs.reduce(0) { $0 + $1.seconds }))</td>"
            html += "<td class=\"number\">\(Report.grouped(run.layers.reduce(0) { $0 + $1.parameters }))</td></tr>"
        }
        return html + "</table>"
    }

    /// `json` indented for reading (as given if it does not parse).
    static func prettyJSON(_ json: String) -> String {
        guard let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)),
              let data = try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        else { return json }
        return String(decoding: data, as: UTF8.self)
    }
}
