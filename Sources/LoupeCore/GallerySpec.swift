import Foundation
import LoupeModel
import LoupeRender
import Yams

/// A gallery: figures of one or more models over named prompts, in the
/// formats and themes asked for, plus dashboards. See `Gallery/smollm2.yml`.
public struct GallerySpec: Sendable {
    public struct ModelEntry: Sendable {
        public var name: String
        /// nil: the default model.
        public var path: String?
    }

    public struct Prompt: Sendable {
        public var name: String
        /// The text, or for a prompt given as token ids, `ids: 1,2,3`.
        public var text: String
        /// Token ids run as given (no BOS added), instead of a text.
        public var ids: [Int]?
        /// What the prompt is chosen to show.
        public var about: String
    }

    public struct PromptSetEntry: Sendable {
        public var name: String
        public var path: String
    }

    public struct Figure: Sendable {
        public var name: String
        public var view: RegisteredView
        /// Options as written; values may hold `${figure.export}` references.
        public var options: [String: String]
        /// Prompt names, for views that read a prompt; empty otherwise.
        public var prompts: [String]
        public var models: [String]
        public var width: Double?
        /// The figures this one's options refer to.
        public var references: [String]
        /// Where the figure is in the spec.
        public var line: Int?
    }

    public struct DashboardEntry: Sendable {
        public var name: String
        public var spec: DashboardSpec
        public var prompts: [String]
        public var models: [String]
    }

    public var file: String
    public var title: String
    public var about: String
    public var models: [ModelEntry]
    public var prompts: [Prompt]
    public var promptSets: [PromptSetEntry]
    public var formats: [FigureFormat]
    public var themes: [Theme]
    public var dpi: Double
    public var latex: Bool
    public var figures: [Figure]
    public var dashboards: [DashboardEntry]

    static let keys = ["title", "about", "models", "prompts", "prompt_sets", "formats", "themes", "dpi", "latex", "figures", "dashboards"]

    /// Reads and checks the whole spec (and the dashboard specs and prompt
    /// sets it names) before any work; every problem found is in the error.
    public static func read(_ path: String, registry: ViewRegistry) throws -> GallerySpec {
        let r = SpecReader(file: path)
        let spec = r.load().flatMap { parse($0, reader: r, registry: registry) }
        try r.check()
        return spec!
    }

    /// `${figure.key}` references in an option value.
    static func references(in value: String) -> [(figure: String, key: String)] {
        var out: [(String, String)] = []
        var rest = Substring(value)
        while let open = rest.range(of: "${") {
            guard let close = rest[open.upperBound...].firstIndex(of: "}") else { break }
            let inner = rest[open.upperBound ..< close]
            if let dot = inner.firstIndex(of: ".") {
                out.append((String(inner[..<dot]), String(inner[inner.index(after: dot)...])))
            } else {
                out.append((String(inner), ""))
            }
            rest = rest[rest.index(after: close)...]
        }
        return out
    }

    static func validName(_ s: String) -> Bool {
        !s.isEmpty && s.count <= 64 && s.unicodeScalars.allSatisfy { CharacterSet.alphanumerics.contains($0) && $0.isASCII || "-_".unicodeScalars.contains($0) }
    }

    static func parse(_ root: Node, reader r: SpecReader, registry: ViewRegistry) -> GallerySpec? {
        guard let entries = r.mapping(root, "the gallery", allowed: keys, required: ["figures"]) else { return nil }
        var spec = GallerySpec(file: r.file, title: "Loupe gallery", about: "", models: [], prompts: [], promptSets: [],
                               formats: [.png], themes: [.light], dpi: 150, latex: false, figures: [], dashboards: [])
        let node = Dictionary(entries.map { ($0.key, $0.node) }, uniquingKeysWith: { a, _ in a })

        if let n = node["title"] { spec.title = r.string(n, "title") ?? spec.title }
        if let n = node["about"] { spec.about = r.string(n, "about") ?? "" }
        if let n = node["dpi"] { spec.dpi = r.number(n, "dpi", range: 10 ... 2400) ?? spec.dpi }
        if let n = node["latex"] {
            let s = r.choice(n, "latex", allowed: ["true", "false"])
            spec.latex = s == "true"
        }
        if let n = node["formats"] {
            spec.formats = r.list(n).compactMap { r.choice($0, "format", allowed: FigureFormat.allCases.map(\.rawValue)).flatMap(FigureFormat.init(rawValue:)) }
            if spec.formats.isEmpty { r.problem(n, "formats must name at least one of png, svg, pdf") }
        }
        if let n = node["themes"] {
            spec.themes = r.list(n).compactMap { r.choice($0, "theme", allowed: Theme.all.map(\.name)).flatMap(Theme.named) }
            if spec.themes.isEmpty { r.problem(n, "themes must name at least one of \(Theme.all.map(\.name).joined(separator: ", "))") }
        }

        // Models, prompts, prompt sets: named lists.
        func named(_ key: String, fields: [String], required: [String]) -> [(name: String, node: Node, fields: [String: Node])] {
            guard let n = node[key] else { return [] }
            guard let list = n.sequence else {
                r.problem(n, "\(key) must be a list of {\(fields.joined(separator: ", "))}")
                return []
            }
            var seen = Set<String>()
            var out: [(String, Node, [String: Node])] = []
            for item in list {
                guard let e = r.mapping(item, "an entry of \(key)", allowed: fields, required: required) else { continue }
                let f = Dictionary(e.map { ($0.key, $0.node) }, uniquingKeysWith: { a, _ in a })
                guard let nameNode = f["name"], let name = r.string(nameNode, "name") else { continue }
                guard validName(name) else {
                    r.problem(nameNode, "name '\(name)' must be letters, digits, '-' or '_' (it names files)")
                    continue
                }
                guard seen.insert(name).inserted else {
                    r.problem(nameNode, "\(key) has two entries named '\(name)'")
                    continue
                }
                out.append((name, item, f))
            }
            return out
        }

        for m in named("models", fields: ["name", "path"], required: ["name", "path"]) {
            guard let p = m.fields["path"].flatMap({ r.string($0, "path") }) else { continue }
            let path = p == "default" ? nil : r.path(p)
            let check = path ?? Model.defaultModelPath
            if !FileManager.default.fileExists(atPath: check) {
                r.problem(m.fields["path"], path == nil
                    ? "the default model is not in the cache (\(check)); 'make setup' fetches it"
                    : "model '\(check)' does not exist")
            }
            spec.models.append(ModelEntry(name: m.name, path: path))
        }
        if node["models"] == nil {
            if !FileManager.default.fileExists(atPath: Model.defaultModelPath) {
                r.problem(line: nil, "the default model is not in the cache (\(Model.defaultModelPath)); 'make setup' fetches it")
            }
            spec.models = [ModelEntry(name: "default", path: nil)]
        }
        for p in named("prompts", fields: ["name", "text", "ids", "about"], required: ["name"]) {
            let about = p.fields["about"].flatMap { r.string($0, "about") } ?? ""
            switch (p.fields["text"], p.fields["ids"]) {
            case let (t?, nil):
                guard let text = r.string(t, "text") else { continue }
                if text.isEmpty { r.problem(t, "prompt '\(p.name)' is empty") }
                spec.prompts.append(Prompt(name: p.name, text: text, ids: nil, about: about))
            case let (nil, i?):
                let ids = r.list(i).compactMap { r.int($0, "a token id", range: 0 ... Int(Int32.max)) }
                if ids.isEmpty { r.problem(i, "prompt '\(p.name)' has no ids") }
                spec.prompts.append(Prompt(name: p.name, text: "ids: " + ids.map(String.init).joined(separator: ","), ids: ids, about: about))
            default:
                r.problem(p.node, "prompt '\(p.name)' needs either text or ids (a list of token ids)")
            }
        }
        for s in named("prompt_sets", fields: ["name", "path"], required: ["name", "path"]) {
            guard let pn = s.fields["path"], let p = r.string(pn, "path") else { continue }
            let path = p.hasPrefix(PromptSet.builtinPrefix) ? p : r.path(p)
            do { _ = try PromptSet(path: path) } catch { r.problem(pn, "\(error)") }
            spec.promptSets.append(PromptSetEntry(name: s.name, path: path))
        }

        let modelNames = spec.models.map(\.name), promptNames = spec.prompts.map(\.name)
        func pick(_ n: Node?, from names: [String], what: String) -> [String] {
            guard let n else { return names }
            if n.scalar?.string == "all" { return names }
            var out: [String] = []
            for item in r.list(n) {
                guard let s = r.string(item, what) else { continue }
                if names.contains(s) { out.append(s) } else {
                    let hint = closest(to: s, in: names).map { "; did you mean '\($0)'?" } ?? ""
                    r.problem(item, "no \(what) named '\(s)' (\(what)s: \(names.isEmpty ? "none" : names.joined(separator: ", ")))\(hint)")
                }
            }
            return out
        }

        // Figures.
        for f in named("figures", fields: ["name", "view", "options", "prompts", "prompt_set", "models", "width"], required: ["name", "view"]) {
            guard let vn = f.fields["view"], let id = r.string(vn, "view") else { continue }
            if f.name == "dashboards" { r.problem(f.fields["name"], "the figure name 'dashboards' is taken by the dashboards' folder") }
            let view: RegisteredView
            do { view = try registry.view(id) } catch {
                r.problem(vn, "figure '\(f.name)': \(error)")
                continue
            }
            var options = r.options(f.fields["options"], view: view, what: "figure '\(f.name)' (\(id))")
            var prompts: [String] = []
            if view.info.usesPrompt {
                prompts = pick(f.fields["prompts"], from: promptNames, what: "prompt")
                if prompts.isEmpty, f.fields["prompts"] == nil { r.problem(f.node, "figure '\(f.name)' needs prompts, and the gallery lists none") }
            } else if let p = f.fields["prompts"] {
                r.problem(p, "figure '\(f.name)': view '\(id)' reads no prompt (give it a prompt_set instead)")
            }
            if let sn = f.fields["prompt_set"], let s = r.string(sn, "prompt_set") {
                if let option = view.info.promptSetOption {
                    if let set = spec.promptSets.first(where: { $0.name == s }) {
                        options[option] = set.path
                    } else {
                        r.problem(sn, "no prompt set named '\(s)' (prompt sets: \(spec.promptSets.isEmpty ? "none; list them under prompt_sets" : spec.promptSets.map(\.name).joined(separator: ", ")))")
                    }
                } else {
                    r.problem(sn, "figure '\(f.name)': view '\(id)' reads no prompt set")
                }
            }
            let width = f.fields["width"].flatMap { r.length($0, "width") }
            let refs = options.values.flatMap { references(in: $0).map(\.figure) }
            spec.figures.append(Figure(name: f.name, view: view, options: options, prompts: prompts,
                                       models: pick(f.fields["models"], from: modelNames, what: "model"), width: width,
                                       references: Array(Set(refs)).sorted(), line: f.node.mark?.line))
        }
        // References: to another figure that itself refers to none (so there
        // are no cycles), sharing a prompt with this one or reading none.
        for f in spec.figures {
            let line = f.line
            for (key, value) in f.options.sorted(by: { $0.key < $1.key }) {
                if value.components(separatedBy: "${").count - 1 != references(in: value).count {
                    r.problem(line: line, "figure '\(f.name)' option '\(key)': '\(value)' has a '${' without its '}'")
                }
                for ref in references(in: value) {
                    guard let target = spec.figures.first(where: { $0.name == ref.figure }), ref.figure != f.name else {
                        r.problem(line: line, "figure '\(f.name)' option '\(key)': '\(value)' names no other figure (figures: \(spec.figures.map(\.name).filter { $0 != f.name }.joined(separator: ", ")))")
                        continue
                    }
                    if ref.key.isEmpty { r.problem(line: line, "figure '\(f.name)' option '\(key)': '\(value)' needs a value name, as in ${\(ref.figure).layer}") }
                    if !target.references.isEmpty {
                        r.problem(line: line, "figure '\(f.name)' option '\(key)': figure '\(ref.figure)' itself uses references; a reference must name a figure that uses none")
                    }
                    if target.view.info.usesPrompt, !f.view.info.usesPrompt || !Set(f.prompts).isSubset(of: Set(target.prompts)) {
                        r.problem(line: line, "figure '\(f.name)' option '\(key)': figure '\(ref.figure)' is not rendered on every prompt of '\(f.name)'")
                    }
                    if !Set(f.models).isSubset(of: Set(target.models)) {
                        r.problem(line: line, "figure '\(f.name)' option '\(key)': figure '\(ref.figure)' is not rendered for every model of '\(f.name)'")
                    }
                }
            }
        }

        // Dashboards.
        for d in named("dashboards", fields: ["name", "spec", "prompts", "models"], required: ["name", "spec"]) {
            guard let sn = d.fields["spec"], let p = r.string(sn, "spec") else { continue }
            let nested = SpecReader(file: r.path(p))
            guard let root = nested.load(), let dash = DashboardSpec.parse(root, reader: nested, registry: registry) else {
                if nested.problems.count == 1, nested.problems[0].message == "no such file" {
                    r.problem(sn, "dashboard '\(d.name)': no such spec file '\(r.path(p))'")
                } else { r.absorb(nested) }
                continue
            }
            r.absorb(nested)
            spec.dashboards.append(DashboardEntry(name: d.name, spec: dash, prompts: pick(d.fields["prompts"], from: promptNames, what: "prompt"),
                                                  models: pick(d.fields["models"], from: modelNames, what: "model")))
        }
        return spec
    }
}
