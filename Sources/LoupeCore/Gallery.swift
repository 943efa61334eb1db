import Crypto
import Foundation
import LoupeModel
import LoupeRender

/// How a gallery run reports progress (a bar on a terminal, lines otherwise).
public protocol GalleryProgress: Sendable {
    func begin(total: Int, skipped: Int)
    func finished(_ id: String, status: GalleryRunner.Status, seconds: Double, done: Int, total: Int)
    func end()
}

/// Renders a gallery: every figure and dashboard of the spec for every
/// prompt, model and theme it names.
///
/// - The activation cache of each (model, prompt) is computed once, with
///   the hooks of every figure that reads it, and freed when the last of
///   them is done.
/// - Figures render in parallel on `jobs` workers.
/// - A figure whose inputs (model hash, prompt, view, options, theme,
///   formats, Loupe version) match the previous run's manifest, and whose
///   files are all there, is skipped.
/// - A failing figure is recorded and the others go on.
public final class GalleryRunner: @unchecked Sendable {
    public enum Status: String, Sendable, Codable { case rendered, skipped, failed }

    public struct Options: Sendable {
        public var out: String
        public var jobs: Int
        /// Glob over figure ids (`lens/*`, `*/eiffel`); nil: all.
        public var only: String?
        public var force: Bool
        public init(out: String, jobs: Int = 2, only: String? = nil, force: Bool = false) {
            self.out = out; self.jobs = jobs; self.only = only; self.force = force
        }
    }

    public struct Failure: Sendable, CustomStringConvertible {
        public var id: String
        public var message: String
        public var description: String { "\(id): \(message)" }
    }

    public struct Summary: Sendable {
        public var rendered: Int
        public var skipped: Int
        public var failures: [Failure]
        public var index: String
        public var manifest: String
        public var seconds: Double
    }

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
        var group: String { "\(model)\u{0}\(prompt?.text ?? "")" }
    }

    /// What happened to an item.
    struct Outcome: Sendable {
        var status: Status
        var error: String?
        var key: String
        var options: [String: String]
        var files: [String: String]
        var seconds: Double
        var exports: [String: String]?
    }

    let spec: GallerySpec
    let registry: ViewRegistry
    let options: Options
    let templates: PageTemplates
    let items: [Item]
    let selected: [Bool]

    private let lock = NSLock()
    private var outcomes: [Outcome?]
    /// Loaded when the first figure that needs one is rendered, so a run
    /// that skips everything loads no model.
    private var models: [Model?] = []
    private var modelErrors: [String?] = []
    private let modelLock = NSLock()
    /// Held while a model loads, so that reading `modelErrors` never waits for a load.
    private let loadLock = NSLock()
    /// What each ids prompt decoded to, from the previous run.
    private var previousShown: [String: String] = [:]
    /// The previous manifest's entries, kept for the items not selected this run.
    private var previousEntries: [String: [String: Any]] = [:]
    private var modelHashes: [String] = []
    private var caches: [String: CacheEntry] = [:]
    private var remaining: [String: Int] = [:]
    private var previous: [String: (key: String, files: [String: String])] = [:]
    private var finishedCount = 0

    public init(spec: GallerySpec, registry: ViewRegistry, options: Options, templates: PageTemplates) throws {
        self.spec = spec
        self.registry = registry
        self.options = options
        self.templates = templates
        items = Self.items(of: spec, out: options.out)
        var selected = items.map { item in options.only.map { Glob.matches($0, item.id) } ?? true }
        if let only = options.only, !selected.contains(true) {
            throw CoreError.badOptions(source: "--only", detail: "'\(only)' matches no figure (figure ids look like \(items.prefix(3).map(\.id).joined(separator: ", ")))")
        }
        // A selected figure needs the figures its options refer to.
        for (i, item) in items.enumerated().reversed() where selected[i] { for d in item.dependencies { selected[d] = true } }
        self.selected = selected
        outcomes = Array(repeating: nil, count: items.count)
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
        var groupOrder: [String: Int] = [:]
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

    // MARK: Running

    public func run(progress: GalleryProgress) throws -> Summary {
        let start = Date()
        do { try FileManager.default.createDirectory(atPath: options.out, withIntermediateDirectories: true) } catch {
            // Name the folder in the way: the nearest one that exists.
            var existing = (options.out as NSString).deletingLastPathComponent
            while !existing.isEmpty, existing != "/", !FileManager.default.fileExists(atPath: existing) {
                existing = (existing as NSString).deletingLastPathComponent
            }
            throw RenderError.writeFailed(path: options.out, reason: "the folder cannot be created in '\(existing.isEmpty ? "." : existing)'")
        }
        _ = try FigureWriter.checkFolder(of: options.out + "/manifest.json")
        let old = Manifest.read(options.out + "/manifest.json")
        previous = old.figures
        previousShown = old.shown
        previousEntries = old.entries
        hashModels(memo: old.models)

        let work = items.indices.filter { selected[$0] }
        for i in work { remaining[items[i].group, default: 0] += 1 }
        let total = work.count
        progress.begin(total: total, skipped: 0)
        let scheduler = Scheduler(work: work, dependencies: items.map(\.dependencies))
        let jobs = max(1, min(options.jobs, work.count))
        // Workers share the cores: each matrix product gets its share.
        MatrixThreads.set(max(1, ProcessInfo.processInfo.activeProcessorCount / jobs))
        DispatchQueue.concurrentPerform(iterations: jobs) { _ in
            while let i = scheduler.next() {
                let t0 = Date()
                var outcome = self.process(i)
                outcome.seconds = Date().timeIntervalSince(t0)
                self.lock.lock()
                self.outcomes[i] = outcome
                self.finishedCount += 1
                let n = self.finishedCount
                // The manifest is the journal: rewritten (atomically) after
                // every figure, so a run cut short resumes where it stopped.
                do { _ = try self.writeManifest() } catch { self.journalError = self.journalError ?? error }
                self.lock.unlock()
                scheduler.finish(i)
                self.release(self.items[i].group)
                progress.finished(self.items[i].id, status: outcome.status, seconds: outcome.seconds, done: n, total: total)
            }
        }
        progress.end()
        if let journalError { throw journalError }

        let manifest = try writeManifest()
        let index = try writeIndex()
        let results = work.compactMap { outcomes[$0] }
        let failures = work.compactMap { i in outcomes[i].flatMap { $0.status == .failed ? Failure(id: items[i].id, message: $0.error ?? "failed") : nil } }
        return Summary(rendered: results.filter { $0.status == .rendered }.count, skipped: results.filter { $0.status == .skipped }.count,
                       failures: failures, index: index, manifest: manifest, seconds: Date().timeIntervalSince(start))
    }

    /// Loads each model the selected items use; a model that fails to load
    /// fails its items, not the run.
    private func hashModels(memo: [String: Manifest.ModelRecord]) {
        for (m, entry) in spec.models.enumerated() {
            models.append(nil)
            let used = items.indices.contains { selected[$0] && items[$0].model == m }
            guard used else { modelErrors.append(nil); modelHashes.append(""); continue }
            do {
                modelHashes.append(try ModelHash.of(entry.path ?? Model.defaultModelPath, memo: memo))
                modelErrors.append(nil)
            } catch {
                modelHashes.append("")
                modelErrors.append("model '\(entry.name)': \(error)")
            }
        }
    }

    private func modelError(_ m: Int) -> String? {
        modelLock.lock(); defer { modelLock.unlock() }
        return modelErrors[m]
    }

    /// Model `m`, loaded once; a model that fails to load fails the figures
    /// that need it, not the run.
    private func model(_ m: Int) throws -> Model {
        loadLock.lock(); defer { loadLock.unlock() }
        modelLock.lock()
        let loaded = models[m], failed = modelErrors[m]
        modelLock.unlock()
        if let loaded { return loaded }
        if let failed { throw GalleryFailure(failed) }
        let result = Result { try Model.load(spec.models[m].path) }
        modelLock.lock(); defer { modelLock.unlock() }
        switch result {
        case let .success(model):
            models[m] = model
            return model
        case let .failure(error):
            modelErrors[m] = "model '\(spec.models[m].name)': \(error)"
            throw GalleryFailure(modelErrors[m]!)
        }
    }

    private func process(_ i: Int) -> Outcome {
        let item = items[i]
        var outcome = Outcome(status: .failed, error: nil, key: "", options: [:], files: [:], seconds: 0, exports: nil)
        do {
            if let e = modelError(item.model) { throw GalleryFailure(e) }
            let values = try resolvedOptions(item)
            outcome.options = values
            let files = expectedFiles(item)
            outcome.files = files
            outcome.key = try key(item, options: values)
            if !options.force, let old = previous[item.id], old.key == outcome.key, old.files == files,
               files.values.allSatisfy({ FileManager.default.fileExists(atPath: options.out + "/" + $0) }) {
                outcome.status = .skipped
                return outcome
            }
            try render(i, model: try model(item.model), options: values)
            outcome.status = .rendered
            if case let .figure(f) = item.kind, let record = lastRecord(i) {
                outcome.exports = try f.view.exports(record.data, record.options)
            }
        } catch {
            outcome.error = "\(error)"
        }
        return outcome
    }

    /// The first failure to write the manifest during the run.
    private var journalError: Error?

    /// The records analysed by workers, kept until their exports are read.
    private var records: [Int: FigureRecord] = [:]
    private func lastRecord(_ i: Int) -> FigureRecord? {
        lock.lock(); defer { lock.unlock() }
        return records.removeValue(forKey: i)
    }

    /// The item's options with references replaced by the values the
    /// referenced figures export.
    private func resolvedOptions(_ item: Item) throws -> [String: String] {
        guard case let .figure(f) = item.kind else { return [:] }
        var values = f.options
        for (key, value) in f.options where value.contains("${") {
            var text = value
            for ref in GallerySpec.references(in: value) {
                guard let d = item.dependencies.first(where: { items[$0].name == ref.figure }) else {
                    throw GalleryFailure("option '\(key)': figure '\(ref.figure)' is not rendered for this model, theme and prompt")
                }
                let exports = try exportsOf(d)
                guard let v = exports[ref.key] else {
                    throw GalleryFailure("option '\(key)': figure '\(ref.figure)' has no value '\(ref.key)' (it has: \(exports.keys.sorted().joined(separator: ", ")))")
                }
                text = text.replacingOccurrences(of: "${\(ref.figure).\(ref.key)}", with: v)
            }
            values[key] = text
        }
        return values
    }

    /// What a finished figure exports: from memory, or from its data file when it was skipped.
    private func exportsOf(_ d: Int) throws -> [String: String] {
        lock.lock()
        let outcome = outcomes[d]
        lock.unlock()
        guard let outcome, outcome.status != .failed else {
            throw GalleryFailure("figure '\(items[d].id)', which it refers to, failed")
        }
        if let e = outcome.exports { return e }
        guard case let .figure(f) = items[d].kind else { return [:] }
        let (record, _) = try FigurePipeline.readRecord(items[d].base + ".json", registry: registry)
        return try f.view.exports(record.data, record.options)
    }

    /// The files an item writes, relative to the output folder.
    private func expectedFiles(_ item: Item) -> [String: String] {
        let rel = String(item.base.dropFirst(options.out.count + 1))
        switch item.kind {
        case .figure:
            var files = ["json": rel + ".json"]
            for f in spec.formats { files[f.rawValue] = rel + "." + f.rawValue }
            if spec.latex, spec.formats.contains(.pdf) { files["tex"] = rel + ".tex" }
            return files
        case let .dashboard(d):
            let folder = String(rel.dropLast(".html".count)) + "_files"
            var files = ["html": rel]
            for f in spec.formats { files["page." + f.rawValue] = folder + "/page." + f.rawValue }
            for (i, p) in d.spec.panels.enumerated() {
                let base = String(PanelLabel.text(i).dropFirst().dropLast()) + "-" + p.view.info.id
                files[base + ".json"] = folder + "/" + base + ".json"
                for f in spec.formats { files[base + "." + f.rawValue] = folder + "/" + base + "." + f.rawValue }
            }
            return files
        }
    }

    /// A digest of everything the item's files depend on.
    private func key(_ item: Item, options values: [String: String]) throws -> String {
        var parts = ["loupe \(FigurePipeline.version)", "model \(modelHashes[item.model])", "prompt \(item.prompt?.text ?? "")",
                     "theme \(item.theme.name)", "formats \(spec.formats.map(\.rawValue))", "dpi \(spec.dpi)", "latex \(spec.latex)"]
        // Files named by options (a prompt set, a direction) count by their contents.
        func files(_ options: [String: String]) -> [String] {
            options.sorted { $0.key < $1.key }.compactMap { k, v in
                guard let data = try? InputFile.read(v) else { return nil }
                return "file \(k) " + SHA256.hash(data: data).hexDigits
            }
        }
        switch item.kind {
        case let .figure(f):
            parts.append("view \(f.view.info.id)")
            parts.append("options " + String(decoding: try f.view.optionsJSON(try f.view.resolveOptions(values)), as: UTF8.self))
            parts.append("width \(f.width.map { "\($0)" } ?? "natural")")
            parts += files(values)
        case let .dashboard(d):
            parts.append("dashboard " + ((try? String(contentsOfFile: d.spec.file, encoding: .utf8)) ?? d.spec.file))
            parts.append("templates " + templates.fingerprint)
            for p in d.spec.panels { parts += files(p.options) }
        }
        let digest = SHA256.hash(data: Data(parts.joined(separator: "\n").utf8))
        return digest.hexDigits
    }

    private func render(_ i: Int, model: Model, options values: [String: String]) throws {
        let item = items[i]
        let input = try cache(for: item, model: model)
        let folder = (item.base as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        switch item.kind {
        case let .figure(f):
            // Analysed once for all themes: only the drawing differs.
            let options = try f.view.resolveOptions(values)
            let analysis = item.group + "\u{0}" + f.name + "\u{0}" + String(decoding: try f.view.optionsJSON(options), as: UTF8.self)
            let record = try shared(analysis) { try FigurePipeline.analyze(f.view, input: input, options: options) }
            let style = FigureStyle(theme: item.theme, width: f.width, dpi: spec.dpi)
            // Every format, the data and the snippet appear together.
            let transaction = FileTransaction()
            for (k, format) in spec.formats.enumerated() {
                let path = item.base + "." + format.rawValue
                try FigurePipeline.write(record, view: f.view, to: path, format: format, style: style, writeData: k == 0, in: transaction)
                if format == .pdf, spec.latex {
                    try LaTeX.writeSnippet(for: path, size: try FigurePipeline.size(of: record, view: f.view, style: style), in: transaction)
                }
            }
            try transaction.commit()
            lock.lock()
            records[i] = record
            lock.unlock()
        case let .dashboard(d):
            let dashboard = try Dashboard(spec: d.spec, input: input)
            try dashboard.writeHTML(to: item.base, formats: spec.formats, latex: spec.latex, templates: templates,
                                    galleryIndex: options.out + "/index.html")
        }
    }

    // MARK: Shared activation caches

    final class CacheEntry: @unchecked Sendable {
        let lock = NSLock()
        var input: AnalysisInput?
    }

    /// The item's (model, prompt) pass, run once with the hooks of every
    /// selected item that shares it.
    private func cache(for item: Item, model: Model) throws -> AnalysisInput {
        lock.lock()
        let entry = caches[item.group] ?? CacheEntry()
        caches[item.group] = entry
        lock.unlock()
        entry.lock.lock()
        defer { entry.lock.unlock() }
        if let input = entry.input { return input }
        let hooks = items.indices.filter { selected[$0] && items[$0].group == item.group }
            .reduce(HookFilter.none) { $0.union(items[$1].hooks) }
        let ids: [Int]
        if let p = item.prompt {
            ids = p.ids ?? model.tokenize(p.text)
            try model.validate(ids)
        } else {
            ids = [model.tokenizer.bosId ?? 0]
        }
        let input = try AnalysisInput(model: model, prompt: item.prompt.map { Self.shownText($0, model: model) } ?? "", ids: ids, hooks: hooks)
        entry.input = input
        return input
    }

    /// A prompt as the index shows it: for ids, what they decode to with
    /// the first model loaded (or as the previous run recorded).
    private func shown(_ p: GallerySpec.Prompt) -> String {
        modelLock.lock(); defer { modelLock.unlock() }
        if let model = models.compactMap({ $0 }).first { return Self.shownText(p, model: model) }
        return previousShown[p.name] ?? p.text
    }

    /// A prompt's text; for ids, what they decode to.
    static func shownText(_ p: GallerySpec.Prompt, model: Model) -> String {
        guard let ids = p.ids else { return p.text }
        return ids.map { model.tokenizer.displayText(of: $0) }.joined()
    }

    /// Analyses shared by the items that differ only in theme.
    private var analyses: [String: AnalysisEntry] = [:]

    final class AnalysisEntry: @unchecked Sendable {
        let lock = NSLock()
        var record: FigureRecord?
    }

    private func shared(_ key: String, _ analyze: () throws -> FigureRecord) throws -> FigureRecord {
        guard spec.themes.count > 1 else { return try analyze() }
        lock.lock()
        let entry = analyses[key] ?? AnalysisEntry()
        analyses[key] = entry
        lock.unlock()
        entry.lock.lock()
        defer { entry.lock.unlock() }
        if let r = entry.record { return r }
        let r = try analyze()
        entry.record = r
        return r
    }

    private func release(_ group: String) {
        lock.lock()
        remaining[group, default: 1] -= 1
        if remaining[group] == 0 {
            caches[group] = nil
            analyses = analyses.filter { !$0.key.hasPrefix(group + "\u{0}") }
        }
        lock.unlock()
    }

    // MARK: Manifest and index

    private func writeManifest() throws -> String {
        var figures: [[String: Any]] = []
        for (i, item) in items.enumerated() {
            // Items not selected this run keep their previous entry.
            guard let o = outcomes[i] else {
                if let old = previousEntries[item.id] { figures.append(old) }
                continue
            }
            var e: [String: Any] = ["id": item.id, "name": item.name, "model": spec.models[item.model].name, "theme": item.theme.name,
                                    "status": o.status.rawValue, "files": o.files, "key": o.key,
                                    "seconds": (o.seconds * 1000).rounded() / 1000]
            if let p = item.prompt { e["prompt"] = p.name; e["prompt_text"] = p.text }
            if let err = o.error { e["error"] = err }
            switch item.kind {
            case let .figure(f):
                e["kind"] = "figure"
                e["view"] = f.view.info.id
                if let resolved = try? f.view.optionsJSON(try f.view.resolveOptions(o.options)),
                   let object = try? JSONSerialization.jsonObject(with: resolved) {
                    e["options"] = object
                } else {
                    e["options"] = o.options
                }
            case let .dashboard(d):
                e["kind"] = "dashboard"
                e["views"] = d.spec.panels.map(\.view.info.id)
                e["spec"] = Pages.relative(d.spec.file, to: options.out)
            }
            figures.append(e)
        }
        var modelEntries: [[String: Any]] = []
        for (m, entry) in spec.models.enumerated() {
            let path = entry.path ?? Model.defaultModelPath
            var e: [String: Any] = ["name": entry.name, "path": entry.path ?? "default"]
            if m < modelHashes.count, !modelHashes[m].isEmpty {
                e["sha256"] = modelHashes[m]
                if let stamp = ModelHash.stamp(path) { e["stamp"] = stamp }
            }
            modelEntries.append(e)
        }
        let manifest: [String: Any] = [
            "loupe_version": FigurePipeline.version, "title": spec.title, "spec": spec.file,
            "formats": spec.formats.map(\.rawValue), "themes": spec.themes.map(\.name),
            "models": modelEntries,
            "prompts": spec.prompts.map { ["name": $0.name, "text": $0.text, "about": $0.about, "shown": shown($0)] },
            "figures": figures,
        ]
        let data = try JSONSerialization.data(withJSONObject: manifest, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        let path = options.out + "/manifest.json"
        try AtomicFile.write(data, to: path)
        return path
    }

    private func writeIndex() throws -> String {
        let path = options.out + "/index.html"
        func thumbnail(_ i: Int) throws -> [String: Any] {
            let item = items[i]
            let o = outcomes[i]
            let status = o?.status.rawValue ?? (previous[item.id] != nil ? "earlier" : "not rendered")
            // Which model and theme, when the gallery has several.
            var variant: [String] = []
            if spec.models.count > 1 { variant.append(spec.models[item.model].name) }
            if spec.themes.count > 1, case .figure = item.kind { variant.append(item.theme.name) }
            var c: [String: Any] = ["prompt": item.prompt?.name ?? "prompt set", "id": item.id, "status": status,
                                    "failed": o?.status == .failed, "error": o?.error ?? "",
                                    "theme": item.theme.name, "model": spec.models[item.model].name]
            let files = o?.files ?? previous[item.id]?.files ?? [:]
            let exists = { (rel: String?) in rel.flatMap { FileManager.default.fileExists(atPath: self.options.out + "/" + $0) ? $0 : nil } }
            switch item.kind {
            case let .figure(f):
                // What the references resolved to, for this item.
                let referred = f.options.filter { $0.value.contains("${") }.keys.sorted()
                if let o, !referred.isEmpty, o.status != .failed {
                    c["note"] = referred.compactMap { k in o.options[k].map { "\(k)=\($0)" } }.joined(separator: "  ")
                }
                c["image"] = exists(files["png"]) ?? exists(files["svg"]) ?? ""
                var links: [[String: String]] = []
                for (k, name) in [("png", "PNG"), ("svg", "SVG"), ("pdf", "PDF"), ("json", "data"), ("tex", "LaTeX")] {
                    if let f = exists(files[k]) { links.append(["name": name, "href": f]) }
                }
                c["links"] = links
                c["href"] = links.first?["href"] ?? ""
            case .dashboard:
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
                let opts = f.options.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "  ")
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
                var entry = ["name": p.name, "text": TokenText.visible(shown(p))]
                if !p.about.isEmpty { entry["about"] = p.about }
                return entry
            },
            "views": views, "dashboards": dashboards, "has_dashboards": !dashboards.isEmpty,
            "rendered": all.filter { $0.status == .rendered }.count, "skipped": all.filter { $0.status == .skipped }.count,
            "failed": failures.count, "failures": failures, "has_failures": !failures.isEmpty,
            "theme": Pages.colors(.light),
        ].merging(spec.about.isEmpty ? [:] : ["about": spec.about]) { a, _ in a }
        try AtomicFile.write(Data(try templates.render("gallery.html", context).utf8), to: path)
        return path
    }
}

struct GalleryFailure: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// Hands items to workers in order, each once everything it depends on is done.
final class Scheduler: @unchecked Sendable {
    private let condition = NSCondition()
    private var pending: [Int]
    private var finished = Set<Int>()
    private let dependencies: [[Int]]

    init(work: [Int], dependencies: [[Int]]) {
        pending = work
        self.dependencies = dependencies
    }

    /// The first pending item that is ready, waiting while none is; nil when all are handed out.
    func next() -> Int? {
        condition.lock(); defer { condition.unlock() }
        while !pending.isEmpty {
            if let k = pending.firstIndex(where: { dependencies[$0].allSatisfy(finished.contains) }) {
                return pending.remove(at: k)
            }
            condition.wait()
        }
        return nil
    }

    func finish(_ i: Int) {
        condition.lock()
        finished.insert(i)
        condition.broadcast()
        condition.unlock()
    }
}

/// The previous run's manifest, for skipping unchanged figures.
enum Manifest {
    struct ModelRecord { var sha256: String; var stamp: String }

    static func read(_ path: String) -> (figures: [String: (key: String, files: [String: String])], models: [String: ModelRecord],
                                         shown: [String: String], entries: [String: [String: Any]]) {
        guard let data = FileManager.default.contents(atPath: path),
              let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return ([:], [:], [:], [:]) }
        var shown: [String: String] = [:]
        for p in root["prompts"] as? [[String: Any]] ?? [] {
            if let name = p["name"] as? String, let s = p["shown"] as? String { shown[name] = s }
        }
        var figures: [String: (key: String, files: [String: String])] = [:]
        for f in root["figures"] as? [[String: Any]] ?? [] {
            guard let id = f["id"] as? String, let key = f["key"] as? String, let status = f["status"] as? String,
                  status != GalleryRunner.Status.failed.rawValue, let files = f["files"] as? [String: String] else { continue }
            figures[id] = (key, files)
        }
        var models: [String: ModelRecord] = [:]
        for m in root["models"] as? [[String: Any]] ?? [] {
            if let path = m["path"] as? String, let sha = m["sha256"] as? String, let stamp = m["stamp"] as? String {
                models[path] = ModelRecord(sha256: sha, stamp: stamp)
            }
        }
        var entries: [String: [String: Any]] = [:]
        for f in root["figures"] as? [[String: Any]] ?? [] { if let id = f["id"] as? String { entries[id] = f } }
        return (figures, models, shown, entries)
    }
}

/// SHA-256 of a model's files, remembered by their size and modification time.
enum ModelHash {
    /// The files that make the model: the file itself, or a folder's
    /// config, tokenizer and weights.
    static func files(_ path: String) -> [String] {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue else { return [path] }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        return names.filter { $0.hasSuffix(".safetensors") || $0.hasSuffix(".json") || $0.hasSuffix(".gguf") }.sorted().map { path + "/" + $0 }
    }

    static func stamp(_ path: String) -> String? {
        let parts = files(path).compactMap { f -> String? in
            guard let a = try? FileManager.default.attributesOfItem(atPath: f) else { return nil }
            let size = (a[.size] as? NSNumber)?.int64Value ?? -1
            let time = (a[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
            return "\((f as NSString).lastPathComponent):\(size):\(time)"
        }
        return parts.isEmpty ? nil : parts.joined(separator: ",")
    }

    static func of(_ path: String, memo: [String: Manifest.ModelRecord]) throws -> String {
        let stamp = stamp(path)
        let shown = path == Model.defaultModelPath ? "default" : path
        if let stamp, let m = memo[shown], m.stamp == stamp { return m.sha256 }
        var hasher = SHA256()
        for f in files(path) {
            hasher.update(data: try Data(contentsOf: URL(fileURLWithPath: f), options: .alwaysMapped))
        }
        return hasher.finalize().hexDigits
    }
}
