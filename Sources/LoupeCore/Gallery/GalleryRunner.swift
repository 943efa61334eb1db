import Foundation
import LoupeModel
import LoupeRender
import Synchronization

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
public final class GalleryRunner: Sendable {
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

    /// What happened to an item.
    struct Outcome: Sendable {
        var status: Status
        var error: String?
        var key: String
        var options: [String: String]
        var files: [String: String]
        var seconds: Double
        var exports: [String: String]?
        var findings: [String]?
    }

    let spec: GallerySpec
    let registry: ViewRegistry
    let options: Options
    let templates: PageTemplates
    let items: [Item]
    let selected: [Bool]

    /// The previous run, from its manifest.
    let previous: Manifest.Previous
    /// Each model's files' digest ("" for a model no selected item uses, or
    /// one that cannot be read).
    let modelHashes: [String]

    /// What changes while the workers run.
    struct RunState: Sendable {
        var outcomes: [Outcome?]
        var finished = 0
        /// The first failure to write the manifest during the run.
        var journalError: (any Error)?
        /// The records analysed by workers, kept until their exports are read.
        var records: [Int: FigureRecord] = [:]
        /// How many selected items still read each pass.
        var remaining: [CacheKey: Int] = [:]
    }
    let state: Mutex<RunState>

    /// A model, loaded when the first figure that needs one is rendered (so
    /// a run that skips everything loads none), or why it cannot be.
    struct ModelSlot: Sendable {
        var model: Model?
        var error: String?
    }
    let models: Mutex<[ModelSlot]>
    /// Held while a model loads (one at a time), so that reading `models`
    /// never waits for a load.
    let loading = Mutex(())
    /// Each (model, prompt) pass, run once and freed after its last item.
    let caches = RunOnce<CacheKey, AnalysisInput>()
    let analyses = RunOnce<AnalysisKey, FigureRecord>()

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
        let previous = Manifest.read(options.out + "/manifest.json")
        self.previous = previous
        // The digest of each model the selected items use; a model that
        // cannot be read fails its items, not the run.
        let items = self.items
        var hashes: [String] = [], slots: [ModelSlot] = []
        for (m, entry) in spec.models.enumerated() {
            let used = items.indices.contains { selected[$0] && items[$0].model == m }
            do {
                hashes.append(used ? try ModelHash.of(entry.path ?? Model.defaultModelPath, memo: previous.models) : "")
                slots.append(ModelSlot())
            } catch {
                hashes.append("")
                slots.append(ModelSlot(error: "model '\(entry.name)': \(error)"))
            }
        }
        modelHashes = hashes
        models = Mutex(slots)
        state = Mutex(RunState(outcomes: Array(repeating: nil, count: items.count)))
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

        let work = items.indices.filter { selected[$0] }
        state.withLock { s in for i in work { s.remaining[items[i].group, default: 0] += 1 } }
        let total = work.count
        progress.begin(total: total, skipped: 0)
        let jobs = max(1, min(options.jobs, work.count))
        let scheduler = Scheduler(work: work, dependencies: items.map(\.dependencies), jobs: jobs)
        // Workers share the cores: each matrix product gets its share.
        MatrixThreads.set(max(1, ProcessInfo.processInfo.activeProcessorCount / jobs))
        scheduler.run { i in
            let t0 = Date()
            var outcome = self.process(i)
            outcome.seconds = Date().timeIntervalSince(t0)
            let n = self.state.withLock { s in
                s.outcomes[i] = outcome
                s.finished += 1
                // The manifest is the journal: rewritten (atomically) after
                // every figure, so a run cut short resumes where it stopped.
                do { _ = try self.writeManifest(s.outcomes) } catch {
                    s.journalError = s.journalError ?? error
                }
                return s.finished
            }
            self.release(self.items[i].group)
            progress.finished(self.items[i].id, status: outcome.status, seconds: outcome.seconds, done: n, total: total)
        }
        progress.end()
        let (outcomes, journalError) = state.withLock { ($0.outcomes, $0.journalError) }
        if let journalError { throw journalError }

        let manifest = try writeManifest(outcomes)
        let index = try writeIndex(outcomes)
        let results = work.compactMap { outcomes[$0] }
        let failures = work.compactMap { i in outcomes[i].flatMap { $0.status == .failed ? Failure(id: items[i].id, message: $0.error ?? "failed") : nil } }
        return Summary(rendered: results.filter { $0.status == .rendered }.count, skipped: results.filter { $0.status == .skipped }.count,
                       failures: failures, index: index, manifest: manifest, seconds: Date().timeIntervalSince(start))
    }

    func modelError(_ m: Int) -> String? {
        models.withLock { $0[m].error }
    }

    /// Model `m`, loaded once; a model that fails to load fails the figures
    /// that need it, not the run.
    func model(_ m: Int) throws -> Model {
        try loading.withLock { _ in
            let slot = models.withLock { $0[m] }
            if let model = slot.model { return model }
            if let error = slot.error { throw GalleryFailure(error) }
            do {
                let model = try Model.load(spec.models[m].path)
                models.withLock { $0[m].model = model }
                return model
            } catch {
                let message = "model '\(spec.models[m].name)': \(error)"
                models.withLock { $0[m].error = message }
                throw GalleryFailure(message)
            }
        }
    }

    func process(_ i: Int) -> Outcome {
        let item = items[i]
        var outcome = Outcome(status: .failed, error: nil, key: "", options: [:], files: [:], seconds: 0, exports: nil, findings: nil)
        do {
            if let e = modelError(item.model) { throw GalleryFailure(e) }
            let values = try resolvedOptions(item)
            outcome.options = values
            let files = expectedFiles(item)
            outcome.files = files
            outcome.key = try key(item, options: values)
            if !options.force, let old = previous.figures[item.id], old.key == outcome.key, old.files == files,
               files.values.allSatisfy({ FileManager.default.fileExists(atPath: options.out + "/" + $0) }) {
                outcome.status = .skipped
                return outcome
            }
            try render(i, model: try model(item.model), options: values)
            outcome.status = .rendered
            if case let .figure(f) = item.kind, let record = lastRecord(i) {
                outcome.exports = try f.view.exports(record.data, record.options)
                outcome.findings = try f.view.findings(record.data, record.options)
            }
        } catch {
            outcome.error = "\(error)"
        }
        return outcome
    }

    func lastRecord(_ i: Int) -> FigureRecord? {
        state.withLock { $0.records.removeValue(forKey: i) }
    }

    /// The item's options with references replaced by the values the
    /// referenced figures export.
    func resolvedOptions(_ item: Item) throws -> [String: String] {
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
    func exportsOf(_ d: Int) throws -> [String: String] {
        let outcome = state.withLock { $0.outcomes[d] }
        guard let outcome, outcome.status != .failed else {
            throw GalleryFailure("figure '\(items[d].id)', which it refers to, failed")
        }
        if let e = outcome.exports { return e }
        guard case let .figure(f) = items[d].kind else { return [:] }
        let (record, _) = try FigurePipeline.readRecord(items[d].base + ".json", registry: registry)
        return try f.view.exports(record.data, record.options)
    }

    /// What a finished figure finds: from memory, or from its data file when
    /// it was skipped; nil when it failed or its file cannot be read.
    func findingsOf(_ i: Int, _ outcome: Outcome?) -> [String]? {
        guard let outcome, outcome.status != .failed, case let .figure(f) = items[i].kind else { return nil }
        if let found = outcome.findings { return found }
        guard let (record, _) = try? FigurePipeline.readRecord(items[i].base + ".json", registry: registry) else { return nil }
        return try? f.view.findings(record.data, record.options)
    }

    func render(_ i: Int, model: Model, options values: [String: String]) throws {
        let item = items[i]
        let input = try cache(for: item, model: model)
        let folder = (item.base as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        switch item.kind {
        case let .figure(f):
            // Analysed once for all themes: only the drawing differs.
            let options = try f.view.resolveOptions(values)
            let analysis = AnalysisKey(group: item.group, figure: f.name, options: String(decoding: try f.view.optionsJSON(options), as: UTF8.self))
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
            state.withLock { $0.records[i] = record }
        case let .dashboard(d):
            let dashboard = try Dashboard(spec: d.spec, input: input)
            try dashboard.writeHTML(to: item.base, formats: spec.formats, latex: spec.latex, templates: templates,
                                    galleryIndex: options.out + "/index.html")
        }
    }

    // MARK: Shared activation caches

    /// The item's (model, prompt) pass, run once with the hooks of every
    /// selected item that shares it.
    func cache(for item: Item, model: Model) throws -> AnalysisInput {
        try caches.value(for: item.group) { try pass(for: item, model: model) }
    }

    func pass(for item: Item, model: Model) throws -> AnalysisInput {
        let hooks = items.indices.filter { selected[$0] && items[$0].group == item.group }
            .reduce(HookFilter.none) { $0.union(items[$1].hooks) }
        let ids: [Int]
        if let p = item.prompt {
            ids = p.ids ?? model.tokenize(p.text)
            try model.validate(ids)
        } else {
            ids = [model.tokenizer.bosId ?? 0]
        }
        return try AnalysisInput(model: model, prompt: item.prompt.map { Self.shownText($0, model: model) } ?? "", ids: ids, hooks: hooks)
    }

    /// A prompt as the index shows it: for ids, what they decode to with
    /// the first model loaded (or as the previous run recorded).
    func shown(_ p: GallerySpec.Prompt) -> String {
        if let model = models.withLock({ $0.lazy.compactMap(\.model).first }) { return Self.shownText(p, model: model) }
        return previous.shown[p.name] ?? p.text
    }

    /// A prompt's text; for ids, what they decode to.
    static func shownText(_ p: GallerySpec.Prompt, model: Model) -> String {
        guard let ids = p.ids else { return p.text }
        return ids.map { model.tokenizer.displayText(of: $0) }.joined()
    }

    /// Analyses shared by the items that differ only in theme: by the
    /// cache they read, the figure, and its complete options.
    struct AnalysisKey: Hashable, Sendable {
        var group: CacheKey
        var figure: String
        var options: String
    }

    func shared(_ key: AnalysisKey, _ analyze: () throws -> FigureRecord) throws -> FigureRecord {
        guard spec.themes.count > 1 else { return try analyze() }
        return try analyses.value(for: key, analyze)
    }

    /// An item is done with its cache; the last one frees it.
    func release(_ group: CacheKey) {
        let last = state.withLock { s in
            s.remaining[group, default: 1] -= 1
            return s.remaining[group] == 0
        }
        if last {
            caches.remove { $0 == group }
            analyses.remove { $0.group == group }
        }
    }

}

struct GalleryFailure: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

