import Foundation
import LoupeModel
import LoupeRender

/// The gallery's page, `index.html`.
extension GalleryRunner {
    func writeIndex(_ outcomes: [Outcome?]) throws -> String {
        let path = options.out + "/index.html"
        func thumbnail(_ i: Int) throws -> [String: Any] {
            let item = items[i]
            let o = outcomes[i]
            let status = o?.status.rawValue ?? (previous.figures[item.id] != nil ? "earlier" : "not rendered")
            // Which model and theme, when the gallery has several.
            var variant: [String] = []
            if spec.models.count > 1 { variant.append(spec.models[item.model].name) }
            if spec.themes.count > 1, case .figure = item.kind { variant.append(item.theme.name) }
            var c: [String: Any] = ["prompt": item.prompt?.name ?? "prompt set", "id": item.id, "status": status,
                                    "failed": o?.status == .failed, "error": o?.error ?? "",
                                    "theme": item.theme.name, "model": spec.models[item.model].name]
            let files = o?.files ?? previous.figures[item.id]?.files ?? [:]
            let exists = { (rel: String?) in rel.flatMap { FileManager.default.fileExists(atPath: self.options.out + "/" + $0) ? $0 : nil } }
            switch item.kind {
            case let .figure(f):
                // What the references resolved to, for this item.
                let referred = f.options.filter { $0.value.contains("${") }.keys.sorted()
                if let o, !referred.isEmpty, o.status != .failed {
                    c["note"] = referred.compactMap { k in o.options[k].map { "\(k)=\($0)" } }.joined(separator: "  ")
                }
                c["view"] = f.view.info.id
                c["caption"] = ([item.prompt?.name ?? "prompt set", f.view.info.id] + variant
                    + [Self.optionsLine(f.options, resolved: o?.options)].filter { !$0.isEmpty }).joined(separator: " · ")
                if let found = findingsOf(i, o), !found.isEmpty { c["findings"] = found; c["has_findings"] = true }
                c["image"] = exists(files["png"]) ?? exists(files["svg"]) ?? ""
                var links: [[String: String]] = []
                for (k, name) in [("png", "PNG"), ("svg", "SVG"), ("pdf", "PDF"), ("json", "data"), ("tex", "LaTeX")] {
                    if let f = exists(files[k]) { links.append(["name": name, "href": f]) }
                }
                c["links"] = links
                c["href"] = links.first?["href"] ?? ""
            case let .dashboard(d):
                c["view"] = "dashboard"
                c["caption"] = ([item.prompt?.name ?? "", "dashboard \(d.name)"] + variant).filter { !$0.isEmpty }.joined(separator: " · ")
                c["image"] = exists(files["page.png"]) ?? exists(files["page.svg"]) ?? ""
                c["href"] = exists(files["html"]) ?? ""
                var links: [[String: String]] = []
                if let page = exists(files["html"]) { links.append(["name": "page", "href": page]) }
                for (k, name) in [("page.pdf", "PDF"), ("page.svg", "SVG")] {
                    if let f = exists(files[k]) { links.append(["name": name, "href": f]) }
                }
                c["links"] = links
            }
            c["has_image"] = !((c["image"] as? String) ?? "").isEmpty
            // Keys only when there is something to show: an empty string is truthy to Mustache.
            if !variant.isEmpty { c["variant"] = variant.joined(separator: " · ") }
            return c
        }
        var views: [[String: Any]] = []
        for view in registry.views {
            var figures: [[String: Any]] = []
            for f in spec.figures where f.view.info.id == view.info.id {
                let thumbs = try items.indices.filter { if case let .figure(g) = items[$0].kind { g.name == f.name } else { false } }.map(thumbnail)
                // References shown as what they resolved to (the first item's, which all items share unless they differ by prompt).
                let first = thumbs.indices.lazy.compactMap { outcomes[self.itemIndex(figure: f.name, $0)]?.options }.first
                let opts = Self.optionsLine(f.options, resolved: first)
                figures.append(["name": f.name, "options": opts, "items": thumbs])
            }
            if !figures.isEmpty {
                views.append(["id": view.info.id, "title": view.info.title, "summary": view.info.summary, "figures": figures])
            }
        }
        var dashboards: [[String: Any]] = []
        for d in spec.dashboards {
            let thumbs = try items.indices.filter { if case let .dashboard(e) = items[$0].kind { e.name == d.name } else { false } }.map(thumbnail)
            dashboards.append(["name": d.name, "title": d.spec.title, "views": d.spec.panels.map(\.view.info.title).joined(separator: " · "),
                               "items": thumbs])
        }
        let all = items.indices.compactMap { outcomes[$0] }
        let failures = items.indices.compactMap { i in outcomes[i].flatMap { $0.status == .failed ? ["id": items[i].id, "error": $0.error ?? ""] : nil } }
        let context: [String: Any] = [
            "title": spec.title, "version": FigurePipeline.version,
            "models": spec.models.map { ["name": $0.name, "path": $0.path.map { ($0 as NSString).lastPathComponent } ?? "default (\((Model.defaultModelPath as NSString).lastPathComponent))"] },
            "prompts": spec.prompts.map { p in
                var entry = ["name": p.name, "text": Self.promptText(shown(p))]
                if !p.about.isEmpty { entry["about"] = p.about }
                return entry
            },
            "views": views, "dashboards": dashboards, "has_dashboards": !dashboards.isEmpty,
            "filter_views": views.compactMap { $0["id"] as? String } + (dashboards.isEmpty ? [] : ["dashboard"]),
            "filter_prompts": spec.prompts.map(\.name) + (items.contains { $0.prompt == nil } ? ["prompt set"] : []),
            "rendered": all.filter { $0.status == .rendered }.count, "skipped": all.filter { $0.status == .skipped }.count,
            "failed": failures.count, "failures": failures, "has_failures": !failures.isEmpty,
            "theme": Pages.colors(.light),
        ].merging(spec.about.isEmpty ? [:] : ["about": spec.about]) { a, _ in a }
        try AtomicFile.write(Data(try templates.render("gallery.html", context).utf8), to: path)
        return path
    }

    /// The index in `items` of the k-th item of figure `name`.
    func itemIndex(figure name: String, _ k: Int) -> Int {
        items.indices.filter { if case let .figure(g) = items[$0].kind { g.name == name } else { false } }[k]
    }

    /// Options as written, `key=value` sorted by key; a value with a
    /// `${figure.export}` reference shows what it resolved to, when known.
    static func optionsLine(_ written: [String: String], resolved: [String: String]?) -> String {
        written.sorted { $0.key < $1.key }.map { k, v in
            guard v.contains("${"), let r = resolved?[k] else { return "\(k)=\(v)" }
            return "\(k)=\(r) (\(v))"
        }.joined(separator: "  ")
    }

    /// A prompt as the page shows it: spaces as spaces, but newlines, tabs
    /// and spaces at either end marked, so that a trailing space is seen.
    static func promptText(_ text: String) -> String {
        let lead = text.prefix { $0 == " " }.count, trail = text.reversed().prefix { $0 == " " }.count
        guard lead < text.count else { return TokenText.visible(text) }
        let middle = text.dropFirst(lead).dropLast(trail)
        let body = middle.split(separator: " ", omittingEmptySubsequences: false).map { TokenText.visible(String($0)).replacingOccurrences(of: "∅", with: "") }
        return String(repeating: "␣", count: lead) + body.joined(separator: " ") + String(repeating: "␣", count: trail)
    }
}
