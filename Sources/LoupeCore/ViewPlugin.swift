import Foundation
import LoupeModel
import LoupeRender

/// One option of a view, as `loupe views` lists it and `--set` validates it.
public struct OptionDoc: Sendable, Codable, Equatable {
    public enum Kind: String, Sendable, Codable { case int, number, bool, string, choice }
    public let name: String
    public let kind: Kind
    /// The default, as it would be written on the command line.
    public let defaultValue: String
    public let doc: String
    /// For `choice`: the allowed values.
    public let allowed: [String]?

    public init(_ name: String, _ kind: Kind, default value: String, _ doc: String, allowed: [String]? = nil) {
        self.name = name; self.kind = kind; defaultValue = value; self.doc = doc; self.allowed = allowed
    }

    enum CodingKeys: String, CodingKey { case name, kind = "type", defaultValue = "default", doc, allowed }
}

/// A view's description: what `loupe views` prints, and the example the test
/// suite renders for every registered view.
public struct ViewInfo: Sendable {
    public let id: String
    public let title: String
    public let summary: String
    public let options: [OptionDoc]
    /// A prompt and options that show the view at its best; rendered by the tests.
    public let example: ViewExample
    /// Whether the view reads the prompt (neuron clusters read a prompt set instead).
    public let usesPrompt: Bool
    /// The hook points `analyze` reads from the shared cache (globs); nil: all.
    public let hooks: [String]?

    public init(id: String, title: String, summary: String, options: [OptionDoc], example: ViewExample,
                usesPrompt: Bool = true, hooks: [String]? = nil) {
        self.id = id; self.title = title; self.summary = summary; self.options = options; self.example = example
        self.usesPrompt = usesPrompt
        self.hooks = hooks
    }

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
    /// Every field has a default: the defaults are what `Options()` holds.
    associatedtype Options: Codable & Sendable
    /// The numbers behind the figure.
    associatedtype Data: Codable & Sendable

    static var info: ViewInfo { get }
    static var defaultOptions: Options { get }

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
}

extension ViewPlugin {
    public func hitRegions(of data: Data, options: Options, in frame: Rect, theme: Theme, measure: Canvas) -> [HitRegion] { [] }
    public func exports(of data: Data, options: Options) -> [String: String] { [:] }
    public func validate(_ data: Data, options: Options) throws {}
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
