import Foundation
import LoupeModel
import LoupeRender

/// Drawing the page, and writing it and its panels.
extension Dashboard {
    /// Draws the whole page: title, panel labels (a), (b), … and every panel,
    /// all in one theme, so the text has one typographic scale.
    public func draw(_ canvas: Canvas, layout: Layout) throws {
        let theme = spec.theme
        canvas.fill(Rect(x: 0, y: 0, width: layout.page.width, height: layout.page.height), theme.background)
        if let t = layout.title {
            canvas.text(spec.title, at: t, font: theme.titleFont, color: theme.foreground, anchor: TextAnchor(.center, .top),
                        maxWidth: layout.page.width - 2 * theme.margin)
        }
        for line in layout.header {
            canvas.text(line.text, at: line.at, font: theme.tickFont, color: theme.muted, anchor: TextAnchor(.center, .top),
                        maxWidth: layout.page.width - 2 * theme.gap)
        }
        for (i, record) in records.enumerated() {
            PanelLabel.draw(i, canvas, at: layout.labels[i], theme: theme)
            try canvas.clipped(to: layout.frames[i]) {
                try spec.panels[i].view.draw(record.data, record.options, canvas, layout.frames[i], theme)
            }
        }
    }

    var metadata: FigureMetadata {
        FigureMetadata(title: spec.title.isEmpty ? "Loupe dashboard: \(prompt)" : spec.title,
                       entries: [("loupe:dashboard", (spec.file as NSString).lastPathComponent), ("loupe:prompt", prompt),
                                 ("loupe:model", records.first?.modelCaption ?? ""), ("loupe:version", FigurePipeline.version),
                                 ("loupe:views", spec.panels.map(\.view.info.id).joined(separator: ", "))],
                       software: "Loupe \(FigurePipeline.version)")
    }

    /// Writes the page as one PNG, SVG or PDF (atomically).
    public func writePage(to path: String, format: FigureFormat, in transaction: FileTransaction? = nil) throws {
        let layout = try layout(measure: try Canvas.measuring())
        try FigureWriter.write(to: path, format: format, size: layout.page, dpi: spec.dpi, metadata: metadata, in: transaction) { canvas in
            try draw(canvas, layout: layout)
        }
    }

    /// Files written for one panel of an HTML page.
    public struct PanelFiles: Sendable {
        public var label: String
        public var view: RegisteredView
        public var size: Size
        public var files: [FigureFormat: String]
        public var data: String
        public var hits: [HitRegion]
    }

    /// Writes each panel on its own, at the size it has on the page (so its
    /// text has the page's sizes), in `formats`, with its data JSON, into
    /// `folder`; returns what was written, with each panel's hit regions.
    /// Everything is staged in `transaction`, which the caller commits.
    public func writePanels(into folder: String, formats: [FigureFormat], latex: Bool,
                            in transaction: FileTransaction) throws -> (page: [FigureFormat: String], panels: [PanelFiles]) {
        let measure = try Canvas.measuring()
        let layout = try layout(measure: measure)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        var page: [FigureFormat: String] = [:]
        for f in formats {
            let path = (folder as NSString).appendingPathComponent("page." + f.rawValue)
            try FigureWriter.write(to: path, format: f, size: layout.page, dpi: spec.dpi, metadata: metadata, in: transaction) {
                try draw($0, layout: layout)
            }
            if f == .pdf, latex { try LaTeX.writeSnippet(for: path, size: layout.page, in: transaction) }
            page[f] = path
        }
        var panels: [PanelFiles] = []
        for (i, record) in records.enumerated() {
            let view = spec.panels[i].view
            let frame = layout.frames[i]
            // The panel's own file adds the model line below the panel as drawn on the page.
            let line = ModelLine(record.modelCaption, width: frame.width, theme: spec.theme, measure: measure)
            let style = FigureStyle(theme: spec.theme, width: frame.width, height: frame.height + line.height, dpi: spec.dpi)
            let base = (folder as NSString).appendingPathComponent(String(PanelLabel.text(i).dropFirst().dropLast()) + "-" + view.info.id)
            var files: [FigureFormat: String] = [:]
            for (k, f) in formats.enumerated() {
                let path = base + "." + f.rawValue
                try FigurePipeline.write(record, view: view, to: path, format: f, style: style, writeData: k == 0, in: transaction)
                if f == .pdf, latex { try LaTeX.writeSnippet(for: path, size: frame.size, in: transaction) }
                files[f] = path
            }
            let origin = Rect(x: 0, y: 0, width: frame.width, height: frame.height)
            let hits = try view.hitRegions(record.data, record.options, origin, spec.theme, measure)
            panels.append(PanelFiles(label: PanelLabel.text(i), view: view, size: frame.size, files: files,
                                     data: FigurePipeline.dataPath(for: base + ".png"), hits: hits))
        }
        return (page, panels)
    }
}
