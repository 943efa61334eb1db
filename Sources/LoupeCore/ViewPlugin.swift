import Foundation
import LoupeModel
import LoupeRender
import Synchronization

/// One option of a view, as `loupe views` lists it and `--set` validates it.
/// Made from the option's `@ViewOption` declaration, never written by hand:
/// the default is the value `Options()` holds.
public struct OptionDoc: Sendable, Codable, Equatable {
    public enum Kind: String, Sendable, Codable {
        case int, number, bool, string, choice
        /// A topic-labelled prompt set: a path, or `builtin:NAME`.
        case promptSet = "prompt-set"
    }
    public let name: String
    public let kind: Kind
    /// The default, as it would be written on the command line.
    public let defaultValue: String
    public let doc: String
    /// For `choice`: the allowed values.
    public let allowed: [String]?
    /// For `int` and `number`: the allowed range, checked before any analysis.
    public let minimum: Double?
    public let maximum: Double?

    enum CodingKeys: String, CodingKey { case name, kind = "type", defaultValue = "default", doc, allowed, minimum, maximum }

    /// The range as written in `loupe views`: "1 to 2000", "at least 1".
    public var range: String? {
        switch (minimum, maximum) {
        case let (lo?, hi?): return "\(optionText(lo)) to \(optionText(hi))"
        case let (lo?, nil): return "at least \(optionText(lo))"
        case let (nil, hi?): return "at most \(optionText(hi))"
        case (nil, nil): return nil
        }
    }

    /// The range as a phrase: "a whole number from 1 to 2000".
    var expected: String {
        let what = kind == .int ? "a whole number" : "a number"
        switch (minimum, maximum) {
        case let (lo?, hi?): return "\(what) from \(optionText(lo)) to \(optionText(hi))"
        case let (lo?, nil): return "\(what) of at least \(optionText(lo))"
        case let (nil, hi?): return "\(what) of at most \(optionText(hi))"
        case (nil, nil): return what
        }
    }
}

/// The options of a view: a struct whose every stored property is declared
/// with `@ViewOption`, so that its name, type, default, documentation and
/// range are written once.
///
///     public struct Options: ViewOptions {
///         @ViewOption("optimisation steps", range: 1 ... 2000) public var steps = 40
///         @ViewOption("colour map") public var colormap: Colormap = .viridis
///         public init() {}
///     }
///
/// The option's name is its coding key (the property's name, or its
/// `CodingKeys` case); `Options()` holds the defaults.
public protocol ViewOptions: Codable, Sendable {
    init()
}

/// A type an option can have: a whole number, a number, a flag, text, or a
/// choice (`OptionChoice`).
public protocol OptionValue: Codable, Sendable {
    static var optionKind: OptionDoc.Kind { get }
    /// For a choice: every allowed value.
    static var allowedValues: [String]? { get }
    /// The value as it is written on the command line.
    var optionText: String { get }
}

extension OptionValue {
    public static var allowedValues: [String]? { nil }
}

/// An option that is one of a fixed set of names: a `String` enum.
public protocol OptionChoice: OptionValue, RawRepresentable<String>, CaseIterable {}

extension OptionChoice {
    public static var optionKind: OptionDoc.Kind { .choice }
    public static var allowedValues: [String]? { allCases.map(\.rawValue) }
    public var optionText: String { rawValue }
}

extension Int: OptionValue {
    public static var optionKind: OptionDoc.Kind { .int }
    public var optionText: String { String(self) }
}

extension Double: OptionValue {
    public static var optionKind: OptionDoc.Kind { .number }
    public var optionText: String { LoupeCore.optionText(self) }
}

extension Bool: OptionValue {
    public static var optionKind: OptionDoc.Kind { .bool }
    public var optionText: String { self ? "true" : "false" }
}

extension String: OptionValue {
    public static var optionKind: OptionDoc.Kind { .string }
    public var optionText: String { self }
}

extension Colormap: OptionChoice {}

/// A number as it is written on the command line: `1`, not `1.0`.
func optionText(_ v: Double) -> String {
    v == v.rounded() && abs(v) < 1e15 ? String(Int(v)) : String(v)
}

/// The one declaration of a view option: its documentation and range beside
/// its default. It encodes and decodes as the bare value.
@propertyWrapper
public struct ViewOption<Value: OptionValue>: Codable, Sendable {
    public var wrappedValue: Value
    let doc: String
    let kind: OptionDoc.Kind
    let minimum: Double?
    let maximum: Double?
    let allowed: [String]?

    public init(wrappedValue: Value, _ doc: String) {
        self.init(wrappedValue: wrappedValue, doc, kind: Value.optionKind, minimum: nil, maximum: nil)
    }

    init(wrappedValue: Value, _ doc: String, kind: OptionDoc.Kind, minimum: Double?, maximum: Double?,
         allowed: [String]? = Value.allowedValues) {
        self.wrappedValue = wrappedValue; self.doc = doc; self.kind = kind; self.minimum = minimum; self.maximum = maximum
        self.allowed = allowed
    }

    public init(from decoder: any Decoder) throws {
        // A decoded value has no declaration; the view's `Options()` keeps it.
        self.init(wrappedValue: try Value(from: decoder), "", kind: Value.optionKind, minimum: nil, maximum: nil)
    }

    public func encode(to encoder: any Encoder) throws {
        if let collector = encoder.userInfo[OptionCollector.key] as? OptionCollector, let key = encoder.codingPath.last {
            collector.add(OptionDoc(name: key.stringValue, kind: kind, defaultValue: wrappedValue.optionText, doc: doc,
                                    allowed: allowed, minimum: minimum, maximum: maximum))
        }
        try wrappedValue.encode(to: encoder)
    }
}

extension ViewOption where Value: OptionChoice {
    /// One of `allowed`, a subset of the choice's cases (sequential colour
    /// maps only, say).
    public init(wrappedValue: Value, _ doc: String, allowed: [Value]) {
        self.init(wrappedValue: wrappedValue, doc, kind: .choice, minimum: nil, maximum: nil, allowed: allowed.map(\.rawValue))
    }
}

extension ViewOption where Value == Int {
    /// A whole number within `range`.
    public init(wrappedValue: Int, _ doc: String, range: ClosedRange<Int>) {
        self.init(wrappedValue: wrappedValue, doc, kind: .int, minimum: Double(range.lowerBound), maximum: Double(range.upperBound))
    }
}

extension ViewOption where Value == Double {
    /// A number within `range`.
    public init(wrappedValue: Double, _ doc: String, range: ClosedRange<Double>) {
        self.init(wrappedValue: wrappedValue, doc, kind: .number, minimum: range.lowerBound, maximum: range.upperBound)
    }
}

extension ViewOption where Value == String {
    /// A topic-labelled prompt set, which a gallery figure may give by name
    /// (`prompt_set:`).
    public init(wrappedValue: String, promptSet doc: String) {
        self.init(wrappedValue: wrappedValue, doc, kind: .promptSet, minimum: nil, maximum: nil)
    }
}

/// Gathers the declarations of an `Options` value as it is encoded.
final class OptionCollector: Sendable {
    static let key = CodingUserInfoKey(rawValue: "loupe.options")!
    private let docs = Mutex<[OptionDoc]>([])

    func add(_ doc: OptionDoc) { docs.withLock { $0.append(doc) } }

    /// The declarations of `options`, in declaration order, and the keys it
    /// encodes that have none (a property declared without `@ViewOption`).
    static func docs<O: ViewOptions>(of options: O) throws -> (docs: [OptionDoc], undeclared: [String]) {
        let collector = OptionCollector()
        let encoder = JSONEncoder()
        encoder.userInfo[key] = collector
        let json = try encoder.encode(options)
        let keys = (try JSONSerialization.jsonObject(with: json) as? [String: Any]).map { Array($0.keys) } ?? []
        let docs = collector.docs.withLock { $0 }
        return (docs, keys.filter { k in !docs.contains { $0.name == k } }.sorted())
    }
}

/// A view's description: what `loupe views` prints, and the example the test
/// suite renders for every registered view.
public struct ViewInfo: Sendable {
    public let id: String
    public let title: String
    public let summary: String
    /// Filled in from the view's `Options` when it is registered.
    public internal(set) var options: [OptionDoc] = []
    /// A prompt and options that show the view at its best; rendered by the tests.
    public let example: ViewExample
    /// Whether the view reads the prompt (neuron clusters read a prompt set instead).
    public let usesPrompt: Bool
    /// The hook points `analyze` reads from the shared cache (globs); nil: all.
    public let hooks: [String]?

    public init(id: String, title: String, summary: String, example: ViewExample,
                usesPrompt: Bool = true, hooks: [String]? = nil) {
        self.id = id; self.title = title; self.summary = summary; self.example = example
        self.usesPrompt = usesPrompt
        self.hooks = hooks
    }

    /// The option that takes a prompt set, if any (a gallery's `prompt_set:` sets it).
    public var promptSetOption: String? { options.first { $0.kind == .promptSet }?.name }

    /// The hooks to record for this view alone.
    public var hookFilter: HookFilter { hooks.map { $0.isEmpty ? .none : .matching($0) } ?? .all }
}

public struct ViewExample: Sendable {
    public let prompt: String
    public let options: [String: String]
    public init(prompt: String, options: [String: String] = [:]) { self.prompt = prompt; self.options = options }
}

/// What a view analyses: a model, the prompt's tokens, and the activations
/// of one forward pass over them (computed once and shared by every view).
public struct AnalysisInput: Sendable {
    public let model: Model
    public let prompt: String
    public let ids: [Int]
    /// Display text of each token (bytes that are not valid UTF-8 as `\xNN`).
    public let tokens: [String]
    public let forward: ForwardResult

    public var cache: ActivationCache { forward.cache }

    /// Where a long analysis says how far it has come (`loupe render` shows
    /// it on a terminal); nil: nowhere.
    public var progress: (@Sendable (_ stage: String, _ done: Int, _ total: Int) -> Void)?

    /// Reports `done` of `total` units of `stage` ("prompts", "steps").
    public func report(_ stage: String, _ done: Int, _ total: Int) { progress?(stage, done, total) }

    /// Runs the model over `ids`, recording the hooks `hooks` selects: every
    /// hook by default, so that any number of views can share one pass; a
    /// single view can ask for just `info.hookFilter`.
    public init(model: Model, prompt: String, ids: [Int], hooks: HookFilter = .all) throws {
        self.model = model
        self.prompt = prompt
        self.ids = ids
        tokens = ids.map { model.tokenizer.displayText(of: $0) }
        forward = try model.forward(ids, hooks: hooks)
    }
}

/// A view: analysis of a model's activations into Codable numbers, and a
/// drawing of those numbers. The two halves meet only through `Data`, which
/// is written as JSON beside every figure so a figure can be redrawn (other
/// size, theme, format) without the model.
public protocol ViewPlugin: Sendable {
    /// Every field is a `@ViewOption`: the defaults are what `Options()` holds.
    associatedtype Options: ViewOptions
    /// The numbers behind the figure.
    associatedtype Data: Codable & Sendable

    /// The view's id, title, summary and example; its options come from `Options`.
    static var info: ViewInfo { get }

    init()

    func analyze(_ input: AnalysisInput, options: Options) throws -> Data

    /// The figure's natural size in points; `width`, when given, is the
    /// width the figure will have, and the height should follow it.
    func size(of data: Data, options: Options, theme: Theme, width: Double?, measure: Canvas) -> Size

    func draw(_ data: Data, options: Options, on canvas: Canvas, in frame: Rect, theme: Theme) throws

    /// The parts of the figure drawn in `frame` that an HTML page explains on
    /// hover (a heatmap cell, say), each with the lines its tooltip shows.
    /// Optional: the default is none.
    func hitRegions(of data: Data, options: Options, in frame: Rect, theme: Theme, measure: Canvas) -> [HitRegion]

    /// Checks a record read from a file before it is drawn: shapes that
    /// agree, indices in range, sizes bounded (see `RecordCheck`). `draw`,
    /// `size`, `hitRegions` and `exports` may then index without checking.
    /// Optional: the default checks nothing, so a view that reads a record's
    /// arrays by index should implement it.
    func validate(_ data: Data, options: Options) throws

    /// Named values other figures of a gallery may use as options, written
    /// `${figure.name}` there (the neurons a clustering picked, say).
    /// Optional: the default is none.
    func exports(of data: Data, options: Options) -> [String: String]

    /// What the figure finds, one sentence a line, for the gallery's index
    /// (each topic tag with its p-value, say): only what the data checks.
    /// Optional: the default is none.
    func findings(of data: Data, options: Options) -> [String]

    /// Timings of the view's own work on `model` that `loupe bench view ID`
    /// runs (one optimisation step of a dream, say). Optional: the default
    /// is none.
    static func benchmarks(on model: Model) throws -> [ViewBenchmark]
}

/// One timing a view offers `loupe bench view`: a name, and what one
/// repetition does (run once to warm up, then as often as asked; the
/// median is reported).
public struct ViewBenchmark: Sendable {
    public let name: String
    public let step: @Sendable () throws -> Void

    public init(_ name: String, step: @escaping @Sendable () throws -> Void) {
        self.name = name; self.step = step
    }
}

extension ViewPlugin {
    public static var defaultOptions: Options { Options() }

    public func hitRegions(of data: Data, options: Options, in frame: Rect, theme: Theme, measure: Canvas) -> [HitRegion] { [] }
    public func exports(of data: Data, options: Options) -> [String: String] { [:] }
    public func findings(of data: Data, options: Options) -> [String] { [] }
    public func validate(_ data: Data, options: Options) throws {}
    public static func benchmarks(on model: Model) throws -> [ViewBenchmark] { [] }
}

/// A rectangle of a figure, in points from its top-left corner, and what a
/// tooltip over it says: a title line, then detail lines.
public struct HitRegion: Sendable, Codable, Equatable {
    public var x: Double
    public var y: Double
    public var width: Double
    public var height: Double
    public var title: String
    public var lines: [String]

    public init(_ rect: Rect, title: String, lines: [String] = []) {
        x = rect.x; y = rect.y; width = rect.width; height = rect.height
        self.title = title; self.lines = lines
    }

    /// Rounded to 0.01 pt, enough for a pointer, and a third of the JSON.
    func rounded() -> HitRegion {
        func r(_ v: Double) -> Double { (v * 100).rounded() / 100 }
        var h = self
        h.x = r(x); h.y = r(y); h.width = r(width); h.height = r(height)
        return h
    }
}
