import Foundation
import LoupeModel
import LoupeRender
import Yams

/// A dashboard: several views of one model on one prompt, laid out on a
/// grid as one page.
///
/// ```yaml
/// title: Where the answer forms
/// prompt: "The Eiffel Tower is located in the city of"
/// theme: paper
/// layout: {columns: 2, width: 6.75in}
/// panels:
///   - view: logit-lens
///     options: {first: -8}
///     span: {columns: 2}
///   - view: attention
///     options: {mode: scores, score: induction}
/// ```
public struct DashboardSpec: Sendable {
    public struct Panel: Sendable {
        public var view: RegisteredView
        /// The options as written, checked against the view.
        public var options: [String: String]
        public var columnSpan: Int
        public var rowSpan: Int
    }

    public var file: String
    public var title: String
    /// A model path; nil for the default model.
    public var model: String?
    /// The prompt; a gallery supplies its own.
    public var prompt: String?
    public var theme: Theme
    public var columns: Int
    /// Page width in points; the height follows the panels unless given.
    public var width: Double
    public var height: Double?
    /// Resolution of PNG output.
    public var dpi: Double
    public var panels: [Panel]

    static let keys = ["title", "model", "prompt", "theme", "dpi", "layout", "panels"]

    /// Reads and checks a spec; every problem found is in the error.
    public static func read(_ path: String, registry: ViewRegistry) throws -> DashboardSpec {
        let reader = SpecReader(file: path)
        let spec = reader.load().flatMap { parse($0, reader: reader, registry: registry) }
        try reader.check()
        return spec!
    }

    /// Parses a spec from text (for tests and programs that build specs).
    public static func parse(_ text: String, file: String, registry: ViewRegistry) throws -> DashboardSpec {
        let reader = SpecReader(file: file)
        let spec = reader.parse(text).flatMap { parse($0, reader: reader, registry: registry) }
        try reader.check()
        return spec!
    }

    static func parse(_ root: Node, reader r: SpecReader, registry: ViewRegistry) -> DashboardSpec? {
        guard let entries = r.mapping(root, "the dashboard", allowed: keys, required: ["panels"]) else { return nil }
        var spec = DashboardSpec(file: r.file, title: "", model: nil, prompt: nil, theme: .light, columns: 2, width: 6.75 * 72,
                                 height: nil, dpi: 200, panels: [])
        var panelsNode: Node?
        for e in entries {
            switch e.key {
            case "title": spec.title = r.string(e.node, "title") ?? ""
            case "model": spec.model = r.string(e.node, "model").map { $0 == "default" ? nil : r.path($0) } ?? nil
            case "prompt":
                spec.prompt = r.string(e.node, "prompt")
                if spec.prompt?.isEmpty == true { r.problem(e.node, "the prompt is empty") }
            case "theme":
                spec.theme = r.choice(e.node, "theme", allowed: Theme.all.map(\.name)).flatMap(Theme.named) ?? .light
            case "dpi": spec.dpi = r.number(e.node, "dpi", range: 10 ... 2400) ?? 200
            case "layout":
                guard let layout = r.mapping(e.node, "layout", allowed: ["columns", "width", "height"]) else { continue }
                var widthNode: Node?
                for l in layout {
                    switch l.key {
                    case "columns": spec.columns = r.int(l.node, "layout columns", range: 1 ... 12) ?? 1
                    case "width": spec.width = r.length(l.node, "layout width") ?? spec.width; widthNode = l.node
                    default: spec.height = r.length(l.node, "layout height")
                    }
                }
                if spec.width / Double(spec.columns) < 54 {
                    r.problem(widthNode ?? e.node, "layout width \(ColorScale.format(spec.width / 72)) in gives \(spec.columns) columns less than 0.75 in each; use fewer columns or a wider page")
                }
            default: panelsNode = e.node
            }
        }
        guard let panelsNode else { return spec }
        guard let list = panelsNode.sequence, !list.isEmpty else {
            r.problem(panelsNode, "panels must be a list of {view, options, span}")
            return spec
        }
        for (i, node) in list.enumerated() {
            if let panel = parsePanel(node, index: i, columns: spec.columns, reader: r, registry: registry) { spec.panels.append(panel) }
        }
        if spec.panels.count > 26 { r.problem(panelsNode, "a dashboard holds at most 26 panels, (a) to (z)") }
        return spec
    }

    static func parsePanel(_ node: Node, index: Int, columns: Int, reader r: SpecReader, registry: ViewRegistry) -> Panel? {
        let what = "panel \(PanelLabel.text(index))"
        guard let entries = r.mapping(node, what, allowed: ["view", "options", "span"], required: ["view"]) else { return nil }
        var view: RegisteredView?
        var optionsNode: Node?
        var columnSpan = 1, rowSpan = 1
        for e in entries {
            switch e.key {
            case "view":
                guard let id = r.string(e.node, "view") else { continue }
                do { view = try registry.view(id) } catch { r.problem(e.node, "\(what): \(error)") }
            case "options": optionsNode = e.node
            default:
                if e.node.scalar != nil {
                    columnSpan = r.int(e.node, "\(what) span", range: 1 ... columns) ?? 1
                } else if let span = r.mapping(e.node, "\(what) span", allowed: ["columns", "rows"]) {
                    for s in span {
                        if s.key == "columns" { columnSpan = r.int(s.node, "\(what) span columns", range: 1 ... columns) ?? 1 }
                        else { rowSpan = r.int(s.node, "\(what) span rows", range: 1 ... 12) ?? 1 }
                    }
                }
            }
        }
        guard let view else { return nil }
        let options = r.options(optionsNode, view: view, what: "\(what) (\(view.info.id))")
        for (k, v) in options where v.contains("${") {
            r.problem(optionsNode, "\(what) option '\(k)': references such as '\(v)' work only in a gallery")
        }
        return Panel(view: view, options: options, columnSpan: columnSpan, rowSpan: rowSpan)
    }

    /// The hooks every panel reads, for one shared forward pass.
    public var hooks: HookFilter {
        panels.reduce(HookFilter.none) { $0.union($1.view.info.hookFilter) }
    }
}

/// A dashboard's panels analysed: ready to lay out and draw.
public struct Dashboard: Sendable {
    public var spec: DashboardSpec
    public var prompt: String
    public var records: [FigureRecord]

    /// Analyses every panel on one shared forward pass (`input`, made with
    /// at least `spec.hooks`).
    public init(spec: DashboardSpec, input: AnalysisInput) throws {
        self.spec = spec
        prompt = input.prompt
        records = try spec.panels.map { p in
            try FigurePipeline.analyze(p.view, input: input, options: try p.view.resolveOptions(p.options))
        }
    }

    /// Panels already analysed (for programs that keep records, and tests).
    public init(spec: DashboardSpec, prompt: String, records: [FigureRecord]) {
        self.spec = spec; self.prompt = prompt; self.records = records
    }

    /// Where everything goes on the page, in points.
    public struct Layout: Sendable {
        public var page: Size
        /// The title's top centre, when there is a title.
        public var title: Point?
        public var labels: [Point]
        /// Each panel's frame: the view draws within it.
        public var frames: [Rect]
    }

    /// Panels fill the grid row by row, each in the first free place its
    /// spans fit (as CSS grid's dense auto-placement does, which the HTML
    /// page uses). Every panel gets its view's natural
    /// height at its width; a row is as tall as its tallest panel, and a
    /// panel spanning rows shares its extra height among them and fills
    /// them. Shorter panels stretch to their row by at most a quarter. A given page height scales
    /// the rows to fit.
    public func layout(measure: Canvas) throws -> Layout {
        let theme = spec.theme
        let pad = theme.gap, gutter = theme.margin
        let labelHeight = PanelLabel.size(0, measure, theme: theme).height + theme.gap / 2
        let titleHeight = spec.title.isEmpty ? 0 : measure.measure(spec.title, theme.titleFont).height + theme.margin
        let columnWidth = (spec.width - 2 * pad - Double(spec.columns - 1) * gutter) / Double(spec.columns)

        var occupied: [[Bool]] = []
        var places: [(row: Int, column: Int)] = []
        for p in spec.panels {
            var row = 0
            search: while true {
                while occupied.count < row + p.rowSpan { occupied.append(Array(repeating: false, count: spec.columns)) }
                for c in 0 ... (spec.columns - p.columnSpan) {
                    let free = (row ..< row + p.rowSpan).allSatisfy { r in (c ..< c + p.columnSpan).allSatisfy { !occupied[r][$0] } }
                    if free {
                        for r in row ..< row + p.rowSpan { for k in c ..< c + p.columnSpan { occupied[r][k] = true } }
                        places.append((row, c))
                        break search
                    }
                }
                row += 1
            }
        }
        let rows = places.indices.map { places[$0].row + spec.panels[$0].rowSpan }.max() ?? 0
        let widths = spec.panels.map { Double($0.columnSpan) * columnWidth + Double($0.columnSpan - 1) * gutter }
        let heights = try zip(spec.panels, records).enumerated().map { i, pr in
            try pr.0.view.size(pr.1.data, pr.1.options, theme, widths[i], measure).height + labelHeight
        }
        var rowHeights = Array(repeating: 0.0, count: rows)
        for (i, p) in spec.panels.enumerated() where p.rowSpan == 1 {
            rowHeights[places[i].row] = max(rowHeights[places[i].row], heights[i])
        }
        for (i, p) in spec.panels.enumerated() where p.rowSpan > 1 {
            let span = places[i].row ..< places[i].row + p.rowSpan
            let have = span.reduce(0.0) { $0 + rowHeights[$1] } + Double(p.rowSpan - 1) * gutter
            if heights[i] > have { for r in span { rowHeights[r] += (heights[i] - have) / Double(p.rowSpan) } }
        }
        if let height = spec.height {
            // Only the figures are scaled, not the label above each row.
            let available = height - 2 * pad - titleHeight - Double(rows - 1) * gutter - Double(rows) * labelHeight
            let figures = rowHeights.map { max(0, $0 - labelHeight) }
            let total = figures.reduce(0, +)
            let scaled = figures.map { $0 * available / max(total, 1) }
            guard available > 0, scaled.allSatisfy({ $0 >= 36 }) else {
                throw CoreError.badOptions(source: "'\(spec.file)'",
                                           detail: "layout height \(ColorScale.format(height / 72)) in leaves a row of panels less than half an inch; make it taller or leave it out")
            }
            rowHeights = scaled.map { $0 + labelHeight }
        }
        var rowTops: [Double] = []
        var y = pad + titleHeight
        for h in rowHeights { rowTops.append(y); y += h + gutter }
        let page = Size(spec.width, y - gutter + pad)
        var labels: [Point] = [], frames: [Rect] = []
        for (i, p) in spec.panels.enumerated() {
            let x = pad + Double(places[i].column) * (columnWidth + gutter)
            let top = rowTops[places[i].row]
            let bottom = rowTops[places[i].row + p.rowSpan - 1] + rowHeights[places[i].row + p.rowSpan - 1]
            labels.append(Point(x + theme.margin, top))
            // A panel in one row stretches to the row (so that axes line up)
            // by at most a quarter of its natural height; a much shorter one
            // (a short prompt's head beside 30-block score maps) keeps its
            // proportions at the top of its cell. A panel spanning rows fills them.
            let cell = bottom - top - labelHeight
            let natural = heights[i] - labelHeight
            let height = p.rowSpan == 1 ? min(cell, max(natural * 1.25, 36)) : cell
            frames.append(Rect(x: x, y: top + labelHeight, width: widths[i], height: height))
        }
        return Layout(page: page, title: spec.title.isEmpty ? nil : Point(spec.width / 2, pad), labels: labels, frames: frames)
    }

    /// Draws the whole page: title, panel labels (a), (b), … and every panel,
    /// all in one theme, so the text has one typographic scale.
    public func draw(_ canvas: Canvas, layout: Layout) throws {
        let theme = spec.theme
        canvas.fill(Rect(x: 0, y: 0, width: layout.page.width, height: layout.page.height), theme.background)
        if let t = layout.title {
            canvas.text(spec.title, at: t, font: theme.titleFont, color: theme.foreground, anchor: TextAnchor(.center, .top),
                        maxWidth: layout.page.width - 2 * theme.margin)
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
                                 ("loupe:model", records.first?.model ?? ""), ("loupe:version", FigurePipeline.version),
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
            let style = FigureStyle(theme: spec.theme, width: frame.width, height: frame.height, dpi: spec.dpi)
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

/// `\includegraphics` snippets for figures in LaTeX documents.
public enum LaTeX {
    /// `fig.pdf` → `fig.tex`: the figure at its own width, with its size noted.
    public static func snippet(for pdf: String, size: Size) -> String {
        let name = (pdf as NSString).lastPathComponent
        let w = String(format: "%.2f", size.width / 72), h = String(format: "%.2f", size.height / 72)
        return """
        % \(name): \(w) in × \(h) in (\(String(format: "%.0f", size.width)) × \(String(format: "%.0f", size.height)) pt), drawn at this size:
        % its text is at the sizes of its theme only when it is included at this width.
        \\includegraphics[width=\(w)in]{\(name)}

        """
    }

    public static func snippetPath(for pdf: String) -> String {
        ((pdf as NSString).deletingPathExtension) + ".tex"
    }

    public static func writeSnippet(for pdf: String, size: Size, in transaction: FileTransaction? = nil) throws {
        let data = Data(snippet(for: pdf, size: size).utf8)
        if let transaction { try transaction.stage(data, to: snippetPath(for: pdf)) } else { try AtomicFile.write(data, to: snippetPath(for: pdf)) }
    }
}
