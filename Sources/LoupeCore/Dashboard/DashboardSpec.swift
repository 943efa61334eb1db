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
