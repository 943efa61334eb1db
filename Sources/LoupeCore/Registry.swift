import Foundation
import LoupeModel
import LoupeRender

/// A view with its types erased. Options and data travel as the view's own
/// values (boxed as `any Sendable`), so drawing never re-parses them; JSON is
/// made only when a record is written.
public struct RegisteredView: Sendable {
    public let info: ViewInfo
    /// `--set` style values → the view's complete options.
    public let resolveOptions: @Sendable ([String: String]) throws -> any Sendable
    public let analyze: @Sendable (AnalysisInput, any Sendable) throws -> any Sendable
    public let size: @Sendable (_ data: any Sendable, _ options: any Sendable, Theme, _ width: Double?, Canvas) throws -> Size
    public let draw: @Sendable (_ data: any Sendable, _ options: any Sendable, Canvas, Rect, Theme) throws -> Void
    public let hitRegions: @Sendable (_ data: any Sendable, _ options: any Sendable, Rect, Theme, Canvas) throws -> [HitRegion]
    public let exports: @Sendable (_ data: any Sendable, _ options: any Sendable) throws -> [String: String]
    public let findings: @Sendable (_ data: any Sendable, _ options: any Sendable) throws -> [String]
    /// The view's own timings on a model (see `ViewPlugin.benchmarks`).
    public let benchmarks: @Sendable (Model) throws -> [ViewBenchmark]
    /// The options as JSON (for provenance in figure files).
    public let optionsJSON: @Sendable (any Sendable) throws -> Foundation.Data
    /// The record as its file's JSON, and back.
    public let encodeRecord: @Sendable (FigureRecord) throws -> Foundation.Data
    public let decodeRecord: @Sendable (Foundation.Data) throws -> FigureRecord

    init<V: ViewPlugin>(_: V.Type) {
        var declared = V.info
        // The options' declarations, read off `Options()`. A property without
        // one is the view's programming error, found the first time it is
        // registered (the test suite registers every view).
        do {
            let (docs, undeclared) = try OptionCollector.docs(of: V.Options())
            precondition(undeclared.isEmpty, "view '\(declared.id)': options \(undeclared) are not declared with @ViewOption")
            declared.options = docs
        } catch {
            preconditionFailure("view '\(declared.id)': its default options do not encode: \(error)")
        }
        let info = declared
        self.info = info
        let resolver = OptionResolver(info: info)
        let decoder = JSONDecoder(), encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        @Sendable func options(_ value: any Sendable) throws -> V.Options {
            guard let o = value as? V.Options else {
                throw CoreError.badFigureData(path: "options", detail: "options of another view were given to view '\(info.id)'")
            }
            return o
        }
        @Sendable func data(_ value: any Sendable) throws -> V.Data {
            guard let d = value as? V.Data else {
                throw CoreError.badFigureData(path: "data", detail: "data of another view were given to view '\(info.id)'")
            }
            return d
        }
        resolveOptions = { values in
            let json = try resolver.resolve(values, defaults: try encoder.encode(V.defaultOptions))
            do { return try decoder.decode(V.Options.self, from: json) } catch let error as DecodingError {
                throw CoreError.badOptions(source: "view '\(info.id)'", detail: "the options do not decode: \(describe(error))")
            }
        }
        // Options made in code, not read, are checked too, before any analysis.
        @Sendable func checked(_ value: any Sendable) throws -> V.Options {
            let o = try options(value)
            if let object = try JSONSerialization.jsonObject(with: try encoder.encode(o)) as? [String: Any] {
                try resolver.checkRanges(object)
            }
            return o
        }
        analyze = { input, o in try V().analyze(input, options: try checked(o)) }
        size = { d, o, theme, width, canvas in V().size(of: try data(d), options: try options(o), theme: theme, width: width, measure: canvas) }
        draw = { d, o, canvas, frame, theme in try V().draw(try data(d), options: try options(o), on: canvas, in: frame, theme: theme) }
        hitRegions = { d, o, frame, theme, canvas in
            V().hitRegions(of: try data(d), options: try options(o), in: frame, theme: theme, measure: canvas).map { $0.rounded() }
        }
        exports = { d, o in V().exports(of: try data(d), options: try options(o)) }
        findings = { d, o in V().findings(of: try data(d), options: try options(o)) }
        benchmarks = { model in try V.benchmarks(on: model) }
        optionsJSON = { o in try encoder.encode(try options(o)) }
        encodeRecord = { r in
            try encoder.encode(TypedRecord(loupeVersion: r.loupeVersion, view: r.view, model: r.model, modelIdentity: r.identity,
                                           prompt: r.prompt, ids: r.ids, options: try options(r.options), data: try data(r.data)))
        }
        decodeRecord = { bytes in
            let t = try decoder.decode(TypedRecord<V.Options, V.Data>.self, from: bytes)
            _ = try checked(t.options)
            try V().validate(t.data, options: t.options)
            return FigureRecord(loupeVersion: t.loupeVersion, view: t.view, model: t.model, identity: t.modelIdentity,
                                prompt: t.prompt, ids: t.ids, options: t.options, data: t.data)
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

    /// The defaults with `values` laid over them, as JSON for the view's decoder.
    func resolve(_ values: [String: String], defaults: Foundation.Data) throws -> Foundation.Data {
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
        try checkRanges(object)
        return try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    }

    /// Every numeric option within its declared range, and every choice one
    /// of those allowed, before any analysis.
    func checkRanges(_ object: [String: Any]) throws {
        for doc in info.options where doc.kind == .choice {
            guard let v = object[doc.name] as? String, let allowed = doc.allowed, !allowed.contains(v) else { continue }
            throw CoreError.badOptionValue(view: info.id, key: doc.name, value: v, expected: "one of \(allowed.joined(separator: ", "))")
        }
        for doc in info.options where doc.minimum != nil || doc.maximum != nil {
            guard let v = (object[doc.name] as? NSNumber)?.doubleValue else { continue }
            if let lo = doc.minimum, v < lo { throw outOfRange(doc, v) }
            if let hi = doc.maximum, v > hi { throw outOfRange(doc, v) }
        }
    }

    private func outOfRange(_ doc: OptionDoc, _ v: Double) -> CoreError {
        .badOptionValue(view: info.id, key: doc.name, value: optionText(v), expected: doc.expected)
    }

    func value(_ raw: String, for doc: OptionDoc) throws -> Any {
        let bad = { (expected: String) in CoreError.badOptionValue(view: info.id, key: doc.name, value: raw, expected: expected) }
        switch doc.kind {
        case .int:
            guard let v = Int(raw.trimmingCharacters(in: .whitespaces)) else { throw bad(doc.expected) }
            return v
        case .number:
            guard let v = Double(raw.trimmingCharacters(in: .whitespaces)), v.isFinite else { throw bad(doc.expected) }
            return v
        case .bool:
            switch raw.trimmingCharacters(in: .whitespaces).lowercased() {
            case "true", "yes", "on", "1": return true
            case "false", "no", "off", "0": return false
            default: throw bad("true or false")
            }
        case .string, .promptSet:
            return raw
        case .choice:
            let allowed = doc.allowed ?? []
            guard allowed.contains(raw) else { throw bad("one of \(allowed.joined(separator: ", "))") }
            return raw
        }
    }
}
