import Foundation
import LoupeModel
import LoupeRender

/// A view with its types erased: options and data travel as JSON.
public struct RegisteredView: Sendable {
    public let info: ViewInfo
    /// `--set` style values → the view's complete options as a JSON object.
    public let resolveOptions: @Sendable ([String: String]) throws -> Foundation.Data
    public let analyze: @Sendable (AnalysisInput, Foundation.Data) throws -> Foundation.Data
    public let size: @Sendable (Foundation.Data, Foundation.Data, Theme, Double?, Canvas) throws -> Size
    public let draw: @Sendable (Foundation.Data, Foundation.Data, Canvas, Rect, Theme) throws -> Void
    /// The record as its file's JSON, and back.
    public let encodeRecord: @Sendable (FigureRecord) throws -> Foundation.Data
    public let decodeRecord: @Sendable (Foundation.Data) throws -> FigureRecord

    init<V: ViewPlugin>(_: V.Type) {
        let info = V.info
        self.info = info
        let decoder = JSONDecoder(), encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        @Sendable func options(_ json: Foundation.Data) throws -> V.Options {
            do { return try decoder.decode(V.Options.self, from: json) } catch {
                throw CoreError.badFigureData(path: "options", detail: "the options do not fit view '\(info.id)': \(error)")
            }
        }
        @Sendable func data(_ json: Foundation.Data) throws -> V.Data {
            do { return try decoder.decode(V.Data.self, from: json) } catch {
                throw CoreError.badFigureData(path: "data", detail: "the data do not fit view '\(info.id)': \(error)")
            }
        }
        resolveOptions = { values in
            try OptionResolver(info: info).resolve(values, defaults: try encoder.encode(V.defaultOptions), decode: { try decoder.decode(V.Options.self, from: $0) })
        }
        analyze = { input, json in try encoder.encode(try V().analyze(input, options: try options(json))) }
        size = { d, o, theme, width, canvas in V().size(of: try data(d), options: try options(o), theme: theme, width: width, measure: canvas) }
        draw = { d, o, canvas, frame, theme in try V().draw(try data(d), options: try options(o), on: canvas, in: frame, theme: theme) }
        encodeRecord = { r in
            let pretty = JSONEncoder()
            pretty.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            return try pretty.encode(TypedRecord(loupeVersion: r.loupeVersion, view: r.view, model: r.model, prompt: r.prompt,
                                                 ids: r.ids, options: try options(r.options), data: try data(r.data)))
        }
        decodeRecord = { bytes in
            let t = try decoder.decode(TypedRecord<V.Options, V.Data>.self, from: bytes)
            return FigureRecord(loupeVersion: t.loupeVersion, view: t.view, model: t.model, prompt: t.prompt, ids: t.ids,
                                options: try encoder.encode(t.options), data: try encoder.encode(t.data))
        }
    }
}

/// The views Loupe knows, by id. Built once from an explicit list of plugin
/// types (see LoupeViews); there is no global mutable registry.
public struct ViewRegistry: Sendable {
    public let views: [RegisteredView]

    public init(_ plugins: [any ViewPlugin.Type]) {
        views = plugins.map { RegisteredView($0) }
    }

    public var ids: [String] { views.map(\.info.id) }

    public func view(_ id: String) throws -> RegisteredView {
        guard let v = views.first(where: { $0.info.id == id }) else { throw CoreError.unknownView(id: id, available: ids) }
        return v
    }
}

/// Turns `key=value` strings into a view's options, checking every key and
/// value against the view's option docs before decoding.
struct OptionResolver {
    let info: ViewInfo

    func resolve(_ values: [String: String], defaults: Foundation.Data, decode: (Foundation.Data) throws -> Any) throws -> Foundation.Data {
        guard var object = try JSONSerialization.jsonObject(with: defaults) as? [String: Any] else {
            throw CoreError.badFigureData(path: "options", detail: "view '\(info.id)' has options that are not a JSON object")
        }
        let docs = Dictionary(uniqueKeysWithValues: info.options.map { ($0.name, $0) })
        for (key, raw) in values.sorted(by: { $0.key < $1.key }) {
            guard let doc = docs[key] else {
                throw CoreError.unknownOption(view: info.id, key: key, allowed: info.options.map(\.name))
            }
            object[key] = try value(raw, for: doc)
        }
        let json = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        do { _ = try decode(json) } catch {
            throw CoreError.badOptionValue(view: info.id, key: values.keys.sorted().joined(separator: ", "), value: "", expected: "accepted: \(error)")
        }
        return json
    }

    func value(_ raw: String, for doc: OptionDoc) throws -> Any {
        let bad = { (expected: String) in CoreError.badOptionValue(view: info.id, key: doc.name, value: raw, expected: expected) }
        switch doc.kind {
        case .int:
            guard let v = Int(raw.trimmingCharacters(in: .whitespaces)) else { throw bad("an integer") }
            return v
        case .number:
            guard let v = Double(raw.trimmingCharacters(in: .whitespaces)), v.isFinite else { throw bad("a number") }
            return v
        case .bool:
            switch raw.lowercased() {
            case "true", "yes", "on", "1": return true
            case "false", "no", "off", "0": return false
            default: throw bad("true or false")
            }
        case .string:
            return raw
        case .choice:
            let allowed = doc.allowed ?? []
            guard allowed.contains(raw) else { throw bad("one of \(allowed.joined(separator: ", "))") }
            return raw
        }
    }
}
