import Foundation
import LoupeSupport
import LoupeModel
import LoupeRender
import Mustache

/// The HTML templates (Mustache, in `Resources/Templates`): the gallery index and the
/// dashboard page, sharing the partials `style` and `script`.
public struct PageTemplates: Sendable {
    let library: MustacheLibrary
    public let folder: String
    /// The templates' text, so that pages made from other templates count as changed.
    let fingerprint: String

    static let names = ["gallery.html", "dashboard.html", "style", "script"]

    /// The templates shipped with Loupe (see `LoupeResources`), or those in
    /// `$LOUPE_TEMPLATES` to try changes to them.
    public static func locate() throws -> PageTemplates {
        if let env = ProcessInfo.processInfo.environment["LOUPE_TEMPLATES"], !env.isEmpty {
            return try PageTemplates(folder: env)
        }
        return try PageTemplates(folder: try LoupeResources.folder() + "/Templates")
    }

    public init(folder: String) throws {
        self.folder = folder
        var templates: [String: MustacheTemplate] = [:]
        var text = ""
        for name in Self.names {
            let path = folder + "/" + name + ".mustache"
            let data: Data
            do throws(FileProblem) { data = try InputFile.read(path) } catch {
                throw CoreError.badResource(what: "the page templates", detail: "'\(path)': \(error.reason)")
            }
            text += String(decoding: data, as: UTF8.self)
            do { templates[name] = try MustacheTemplate(string: String(decoding: data, as: UTF8.self)) } catch {
                throw CoreError.badResource(what: "the page templates", detail: "'\(path)' is not a valid Mustache template: \(error)")
            }
        }
        library = MustacheLibrary(templates: templates)
        fingerprint = text
    }

    func render(_ name: String, _ context: [String: Any]) throws -> String {
        guard let html = library.render(context, withTemplate: name) else {
            throw CoreError.badResource(what: "the page templates", detail: "no template '\(name)'")
        }
        return html
    }
}

/// The HTML pages: a dashboard's page and a gallery's index.
enum Pages {
    /// JSON safe to put inside a `<script type="application/json">` element.
    static func scriptJSON<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
            .replacingOccurrences(of: "<", with: "\\u003c").replacingOccurrences(of: ">", with: "\\u003e")
            .replacingOccurrences(of: "&", with: "\\u0026")
    }

    /// `path` relative to the folder `base` (both absolute or both relative
    /// to the same folder), with `/` separators, for links in a page.
    static func relative(_ path: String, to base: String) -> String {
        let p = URL(fileURLWithPath: path).standardizedFileURL.pathComponents
        let b = URL(fileURLWithPath: base).standardizedFileURL.pathComponents
        var i = 0
        while i < p.count, i < b.count, p[i] == b[i] { i += 1 }
        let parts = Array(repeating: "..", count: b.count - i) + p[i...]
        return parts.map { $0.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? $0 }.joined(separator: "/")
    }

    static func colors(_ theme: Theme) -> [String: Any] {
        func css(_ c: Color) -> String { c.hex }
        return ["background": css(theme.background), "foreground": css(theme.foreground), "muted": css(theme.muted),
                "rule": css(theme.rule), "accent": css(theme.accent), "dark": theme.name == "dark"]
    }

    /// One panel or figure: its picture, its links, its hit regions.
    static func figureContext(png: String?, files: [FigureFormat: String], data: String?, size: Size, hits: [HitRegion],
                              relativeTo folder: String) throws -> [String: Any] {
        var links: [[String: Any]] = []
        for f in FigureFormat.allCases { if let p = files[f] { links.append(["name": f.rawValue.uppercased(), "href": relative(p, to: folder)]) } }
        if let data { links.append(["name": "data", "href": relative(data, to: folder)]) }
        if let pdf = files[.pdf], FileManager.default.fileExists(atPath: LaTeX.snippetPath(for: pdf)) {
            links.append(["name": "LaTeX", "href": relative(LaTeX.snippetPath(for: pdf), to: folder)])
        }
        var c: [String: Any] = ["links": links, "width_pt": String(format: "%.2f", size.width),
                                "height_pt": String(format: "%.2f", size.height),
                                "width_px": Int((size.width * 4 / 3).rounded()), "height_px": Int((size.height * 4 / 3).rounded()),
                                "hits": try scriptJSON(hits), "has_hits": !hits.isEmpty]
        // PNG for the page; SVG when no PNG was written.
        if let img = png ?? files[.svg] { c["image"] = relative(img, to: folder) }
        return c
    }

    static func dashboard(_ dashboard: Dashboard, page: [FigureFormat: String], panels: [Dashboard.PanelFiles],
                          htmlPath: String, templates: PageTemplates, galleryIndex: String? = nil) throws -> String {
        let folder = (htmlPath as NSString).deletingLastPathComponent
        let spec = dashboard.spec
        var panelContexts: [[String: Any]] = []
        for (i, p) in panels.enumerated() {
            var c = try figureContext(png: p.files[.png], files: p.files, data: p.data, size: p.size, hits: p.hits,
                                      relativeTo: folder.isEmpty ? "." : folder)
            c["label"] = p.label
            c["title"] = p.view.info.title
            c["view"] = p.view.info.id
            c["summary"] = p.view.info.summary
            c["column_span"] = spec.panels[i].columnSpan
            c["row_span"] = spec.panels[i].rowSpan
            c["index"] = i
            panelContexts.append(c)
        }
        var pageLinks: [[String: Any]] = []
        for f in FigureFormat.allCases { if let p = page[f] { pageLinks.append(["name": f.rawValue.uppercased(), "href": relative(p, to: folder.isEmpty ? "." : folder)]) } }
        var context: [String: Any] = [
            "title": spec.title.isEmpty ? "Dashboard" : spec.title,
            "prompt": dashboard.prompt, "prompt_visible": TokenText.visible(dashboard.prompt),
            "model": dashboard.records.first?.modelCaption ?? "",
            "version": FigurePipeline.version, "columns": spec.columns,
            "page_width_px": Int((spec.width * 4 / 3).rounded()),
            "panels": panelContexts, "page_links": pageLinks, "theme": colors(spec.theme),
        ]
        if let galleryIndex { context["gallery"] = relative(galleryIndex, to: folder.isEmpty ? "." : folder) }
        if !dashboard.omitted.isEmpty { context["omitted"] = dashboard.omitted.joined(separator: "; ") }
        return try templates.render("dashboard.html", context)
    }
}

extension Dashboard {
    /// Writes the HTML page at `path` and, in a folder beside it
    /// (`page_files/`), the whole page and every panel in `formats` with
    /// their data. `galleryIndex` links the page back to its gallery.
    public func writeHTML(to path: String, formats: [FigureFormat], latex: Bool, templates: PageTemplates,
                          galleryIndex: String? = nil) throws {
        let folder = (path as NSString).deletingPathExtension + "_files"
        // The page, its panels, their data and the HTML appear together.
        let transaction = FileTransaction()
        try FileTransaction.checkTarget(path)
        let (page, panels) = try writePanels(into: folder, formats: formats, latex: latex, in: transaction)
        let html = try Pages.dashboard(self, page: page, panels: panels, htmlPath: path, templates: templates, galleryIndex: galleryIndex)
        try transaction.stage(Data(html.utf8), to: path)
        try transaction.commit()
    }
}
