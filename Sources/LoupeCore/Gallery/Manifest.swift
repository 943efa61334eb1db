import Foundation
import LoupeModel

/// The manifest, `manifest.json`: what each item is, its files and digest,
/// and how it went. Rewritten after every item (it is the run's journal),
/// and read by the next run to skip what has not changed.
struct Manifest: Codable, Sendable {
    var loupeVersion: String
    var title: String
    var spec: String
    var formats: [String]
    var themes: [String]
    var models: [ModelEntry]
    var prompts: [PromptEntry]
    var figures: [Entry]

    struct ModelEntry: Codable, Sendable {
        var name: String
        /// As the spec gives it, or "default".
        var path: String
        /// The digest of its files, and the sizes and times it was taken at;
        /// absent for a model no item of the run used.
        var sha256: String?
        var stamp: String?
    }

    struct PromptEntry: Codable, Sendable {
        var name: String
        var text: String
        var about: String
        /// What the index shows: the text, or what the ids decode to.
        var shown: String
    }

    /// A figure or a dashboard page, for one prompt, model and theme.
    struct Entry: Codable, Sendable {
        var id: String
        var name: String
        var kind: String
        var model: String
        var theme: String
        var status: GalleryRunner.Status
        /// Format → path, relative to the gallery's folder.
        var files: [String: String]
        /// The digest of everything the item's output depends on.
        var key: String
        var seconds: Double
        var prompt: String?
        var promptText: String?
        var error: String?
        /// A figure's view and its options, every one resolved.
        var view: String?
        var options: JSONValue?
        /// A dashboard's views and spec file.
        var views: [String]?
        var dashboardSpec: String?

        enum CodingKeys: String, CodingKey {
            case id, name, kind, model, theme, status, files, key, seconds, prompt, error, view, options, views
            case promptText = "prompt_text", dashboardSpec = "spec"
        }
    }

    enum CodingKeys: String, CodingKey {
        case title, spec, formats, themes, models, prompts, figures
        case loupeVersion = "loupe_version"
    }

    /// What a run needs of the previous one.
    struct Previous: Sendable {
        /// Each item that did not fail: its digest and files.
        var figures: [String: (key: String, files: [String: String])] = [:]
        /// Each model's digest, by path, with the stamp it was taken at.
        var models: [String: ModelRecord] = [:]
        /// What each ids prompt decoded to.
        var shown: [String: String] = [:]
        /// Every item's entry, kept for the items not selected this run.
        var entries: [String: Entry] = [:]
    }

    struct ModelRecord: Sendable { var sha256: String; var stamp: String }

    /// The previous run's manifest; nothing when there is none or it cannot
    /// be read (then every figure is rendered again).
    static func read(_ path: String) -> Previous {
        // Only a regular file is read (a FIFO here would block).
        guard let data = try? InputFile.read(path), let manifest = try? JSONDecoder().decode(Manifest.self, from: data) else {
            return Previous()
        }
        var previous = Previous()
        for p in manifest.prompts { previous.shown[p.name] = p.shown }
        for f in manifest.figures {
            previous.entries[f.id] = f
            if f.status != .failed { previous.figures[f.id] = (f.key, f.files) }
        }
        for m in manifest.models {
            if let sha = m.sha256, let stamp = m.stamp { previous.models[m.path] = ModelRecord(sha256: sha, stamp: stamp) }
        }
        return previous
    }
}

/// Any JSON value: a figure's options in the manifest, typed as the view
/// encoded them.
enum JSONValue: Codable, Sendable, Equatable {
    case null, bool(Bool), number(Double), string(String), array([JSONValue]), object([String: JSONValue])

    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let n = try? c.decode(Double.self) { self = .number(n) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }

    func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case let .bool(b): try c.encode(b)
        case let .number(n):
            // Whole numbers stay integers in the file.
            if n == n.rounded(), abs(n) < 1e15 { try c.encode(Int64(n)) } else { try c.encode(n) }
        case let .string(s): try c.encode(s)
        case let .array(a): try c.encode(a)
        case let .object(o): try c.encode(o)
        }
    }
}

extension GalleryRunner {
    func writeManifest(_ outcomes: [Outcome?]) throws -> String {
        var figures: [Manifest.Entry] = []
        for (i, item) in items.enumerated() {
            // Items not selected this run keep their previous entry.
            guard let o = outcomes[i] else {
                if let old = previous.entries[item.id] { figures.append(old) }
                continue
            }
            var e = Manifest.Entry(id: item.id, name: item.name, kind: "figure", model: spec.models[item.model].name,
                                   theme: item.theme.name, status: o.status, files: o.files, key: o.key,
                                   seconds: (o.seconds * 1000).rounded() / 1000,
                                   prompt: item.prompt?.name, promptText: item.prompt?.text, error: o.error)
            switch item.kind {
            case let .figure(f):
                e.view = f.view.info.id
                // The options every one resolved, as the view types them; as
                // given when they do not resolve (the entry's error says why).
                if let resolved = try? f.view.optionsJSON(try f.view.resolveOptions(o.options)),
                   let value = try? JSONDecoder().decode(JSONValue.self, from: resolved) {
                    e.options = value
                } else {
                    e.options = .object(o.options.mapValues { .string($0) })
                }
            case let .dashboard(d):
                e.kind = "dashboard"
                e.views = d.spec.panels.map(\.view.info.id)
                e.dashboardSpec = Pages.relative(d.spec.file, to: options.out)
            }
            figures.append(e)
        }
        let models = spec.models.enumerated().map { m, entry in
            var e = Manifest.ModelEntry(name: entry.name, path: entry.path ?? "default")
            if m < modelHashes.count, !modelHashes[m].isEmpty {
                e.sha256 = modelHashes[m]
                e.stamp = ModelHash.stamp(entry.path ?? Model.defaultModelPath)
            }
            return e
        }
        let manifest = Manifest(loupeVersion: FigurePipeline.version, title: spec.title, spec: spec.file,
                                formats: spec.formats.map(\.rawValue), themes: spec.themes.map(\.name), models: models,
                                prompts: spec.prompts.map { .init(name: $0.name, text: $0.text, about: $0.about, shown: shown($0)) },
                                figures: figures)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let path = options.out + "/manifest.json"
        try AtomicFile.write(try encoder.encode(manifest), to: path)
        return path
    }
}
