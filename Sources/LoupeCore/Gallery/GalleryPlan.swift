import Foundation
import LoupeModel
import LoupeRender

/// What a gallery renders: its items, in the order they are handed out.
extension GalleryRunner {
    /// One unit of work: a figure (or dashboard) for one model, prompt and theme.
    struct Item: Sendable {
        enum Kind: Sendable {
            case figure(GallerySpec.Figure)
            case dashboard(GallerySpec.DashboardEntry)
        }
        var id: String
        var kind: Kind
        var model: Int
        /// nil for views that read no prompt.
        var prompt: GallerySpec.Prompt?
        var theme: Theme
        /// Output path without extension (figures), or of the HTML page (dashboards).
        var base: String
        var dependencies: [Int]

        var isFigure: Bool { if case .figure = kind { true } else { false } }

        var name: String {
            switch kind {
            case let .figure(f): f.name
            case let .dashboard(d): d.name
            }
        }
        var hooks: HookFilter {
            switch kind {
            case let .figure(f): f.view.info.hookFilter
            case let .dashboard(d): d.spec.hooks
            }
        }
        /// Where the activation cache this item reads is shared.
        var group: CacheKey { CacheKey(model: model, prompt: prompt?.text) }
    }

    /// The items that read one forward pass: one model, one prompt (nil for
    /// views that read none).
    struct CacheKey: Hashable, Sendable {
        var model: Int
        var prompt: String?
    }

    /// Every item of the spec, in an order where each item's dependencies come
    /// first and items sharing an activation cache are adjacent.
    static func items(of spec: GallerySpec, out: String) -> [Item] {
        var items: [Item] = []
        let multiModel = spec.models.count > 1, multiTheme = spec.themes.count > 1
        // "." cannot occur in a name, so no two items share a file.
        func suffix(_ m: Int, _ t: Theme) -> String {
            (multiModel ? "." + spec.models[m].name : "") + (multiTheme ? "." + t.name : "")
        }
        func modelIndices(_ names: [String]) -> [Int] { spec.models.indices.filter { names.contains(spec.models[$0].name) } }
        let promptsByName = Dictionary(uniqueKeysWithValues: spec.prompts.map { ($0.name, $0) })
        var figureItems: [Item] = []
        for f in spec.figures {
            for m in modelIndices(f.models) {
                for theme in spec.themes {
                    let prompts: [GallerySpec.Prompt?] = f.view.info.usesPrompt ? f.prompts.compactMap { promptsByName[$0] } : [nil]
                    for p in prompts {
                        let leaf = (p?.name ?? "all") + suffix(m, theme)
                        figureItems.append(Item(id: "\(f.name)/\(leaf)", kind: .figure(f), model: m, prompt: p, theme: theme,
                                                base: "\(out)/\(f.name)/\(leaf)", dependencies: []))
                    }
                }
            }
        }
        for d in spec.dashboards {
            for m in modelIndices(d.models) {
                for p in d.prompts.compactMap({ promptsByName[$0] }) {
                    let leaf = p.name + (multiModel ? "." + spec.models[m].name : "")
                    figureItems.append(Item(id: "dashboards/\(d.name)/\(leaf)", kind: .dashboard(d), model: m, prompt: p,
                                            theme: d.spec.theme, base: "\(out)/dashboards/\(d.name)/\(leaf).html", dependencies: []))
                }
            }
        }
        // First the figures others refer to, then those referring to them
        // (they start as soon as what they need is done, while the rest
        // render), then the rest, grouped by the cache they share.
        func refs(_ i: Item) -> [String] { if case let .figure(f) = i.kind { f.references } else { [] } }
        let referred = Set(figureItems.flatMap(refs))
        var groupOrder: [CacheKey: Int] = [:]
        for i in figureItems where groupOrder[i.group] == nil { groupOrder[i.group] = groupOrder.count }
        let plain = figureItems.enumerated().filter { refs($0.element).isEmpty }
            .sorted { (groupOrder[$0.element.group]!, $0.offset) < (groupOrder[$1.element.group]!, $1.offset) }.map(\.element)
        items = plain.filter { referred.contains($0.name) } + figureItems.filter { !refs($0).isEmpty }
            + plain.filter { !referred.contains($0.name) }
        for (i, item) in items.enumerated() {
            for r in refs(item) {
                // The referenced figure's item for the same model and theme, and
                // the same prompt when it reads prompts.
                if let j = items.firstIndex(where: { other in
                    other.isFigure && other.name == r && other.model == item.model && other.theme == item.theme
                        && (other.prompt == nil || other.prompt?.name == item.prompt?.name)
                }) { items[i].dependencies.append(j) }
            }
        }
        return items
    }
}
