import Foundation
import LoupeCore
import LoupeModel
import LoupeRender

/// Attention patterns: one head as a labelled query × key map, every head
/// as small multiples, or a head-score map over layers × heads. Models with
/// grouped-query attention are shown per query head.
public struct AttentionView: ViewPlugin {
    public init() {}

    public static let info = ViewInfo(
        id: "attention",
        title: "Attention",
        summary: "Attention patterns: one head, every head as small multiples, or a head score per layer and head.",
        example: ViewExample(prompt: "The cat sat on the mat. The cat sat on the", options: ["mode": "head", "layer": "17", "head": "4"]),
        hooks: ["blocks.*.attn.hook_pattern", "blocks.*.attn.hook_v"])

    public enum Mode: String, Codable, Sendable, OptionChoice { case head, grid, scores }
    public enum Bos: String, Codable, Sendable, OptionChoice { case show, hide }
    public enum Scale: String, Codable, Sendable, OptionChoice { case linear, log }
    /// What a cell shows: the attention weight α_ij, or ‖α_ij f(x_j)‖, the
    /// weight times the size of what the head moves from the key (its value
    /// vector through the head's output projection; Kobayashi et al. 2020).
    public enum Weighting: String, Codable, Sendable, OptionChoice { case attention, norm }

    public enum Score: String, Codable, Sendable, OptionChoice {
        case previousToken = "previous-token", induction, firstToken = "first-token", entropy

        /// Colorbar label. previous-token: mean weight on position q − 1;
        /// induction: mean weight on the token after the previous occurrence of
        /// the query's token; first-token: mean weight on position 0;
        /// entropy: mean entropy of the query rows.
        /// Why a prompt has no position this score is defined at.
        var undefinedReason: String {
            switch self {
            case .induction: "no token repeats"
            case .previousToken, .firstToken: "the prompt is one token"
            case .entropy: "the prompt is empty"
            }
        }

        var label: String {
            switch self {
            case .previousToken: "previous-token score"
            case .induction: "induction score"
            case .firstToken: "first-token score"
            case .entropy: "entropy (nats)"
            }
        }
    }

    public struct Options: ViewOptions {
        @ViewOption("what to show") public var mode: Mode = .head
        @ViewOption("block of the head (mode=head)", range: 0 ... 4095) public var layer = 0
        @ViewOption("query head (mode=head)", range: 0 ... 4095) public var head = 0
        @ViewOption("head score (mode=scores)") public var score: Score = .induction
        @ViewOption("write the weights (mode=head) or scores (mode=scores) in the cells") public var annotate = false
        @ViewOption("mode=head and grid: hide leaves out the first position's row and column (BOS, where most heads park their weight), and the colours span the weights left")
        public var bos: Bos = .show
        @ViewOption("mode=head and grid: colour scale of the weights (log: 0.001 to 1, smaller weights at the bottom)")
        public var scale: Scale = .linear
        @ViewOption("mode=head and grid: attention draws the weights α; norm draws ‖α·f(v)‖, each weight times the norm of the value it moves through the head's output projection (Kobayashi et al. 2020)")
        public var weight: Weighting = .attention
        @ViewOption("colour map", allowed: Colormap.sequential) public var colormap: Colormap = .viridis
        @ViewOption("figure title (default: none)") public var title = ""
        public init() {}
    }

    public struct Data: Codable, Sendable {
        public var tokens: [String]
        public var mode: Mode
        public var layers: Int
        public var heads: Int
        public var kvHeads: Int
        /// mode=head: the block and query head shown, and its pattern [query][key].
        public var layer: Int?
        public var head: Int?
        public var pattern: [[Float]]?
        /// What `pattern` and `patterns` hold: the weights (attention, or
        /// absent in older records) or the value-weighted norms (norm).
        public var weighting: Weighting?
        /// mode=grid: [layers][heads][query][key].
        public var patterns: [[[[Float]]]]?
        /// mode=scores: the score and its value [layers][heads] (nil where undefined).
        public var score: Score?
        public var scores: [[Double?]]?
        /// mode=scores: per block, how many query positions each score is
        /// the mean over (absent in older records).
        public var positions: [Int]?
        /// Per block, the sliding window (a query sees the `window` keys up to
        /// itself), nil for full causal attention; absent in older records.
        public var windows: [Int?]?

        /// Whether `query` can attend to `key` in `block` (causal, and inside its window).
        public func visible(block: Int, query: Int, key: Int) -> Bool {
            guard key <= query else { return false }
            guard let windows, windows.indices.contains(block), let w = windows[block] else { return true }
            return query - key < w
        }
    }

    public func analyze(_ input: AnalysisInput, options: Options) throws -> Data {
        let c = input.model.config
        let t = input.ids.count
        // Drawing options of the pattern modes are refused for scores, never ignored.
        if options.mode == .scores, let name = [("bos", options.bos != .show), ("scale", options.scale != .linear),
                                                ("weight", options.weight != .attention)].first(where: \.1)?.0 {
            throw CoreError.invalidInput(view: Self.info.id, detail: "option '\(name)' applies to mode=head and mode=grid, not mode=scores")
        }
        func pattern(_ l: Int) throws -> Tensor {
            guard let p = input.cache[.pattern(l)] else {
                throw CoreError.invalidInput(view: Self.info.id, detail: "the activation cache lacks blocks.\(l).attn.hook_pattern")
            }
            return p
        }
        /// [query][key] of head h in a [H, T, T] pattern (Float32, as the
        /// model computes it: half the digits of Double in the JSON).
        func matrix(_ p: Tensor, _ h: Int) -> [[Float]] {
            (0 ..< t).map { q in Array(p.data[(h * t + q) * t ..< (h * t + q + 1) * t]) }
        }
        /// What mode=head and grid draw for head h of block l: the weights,
        /// or with weight=norm each weight times ‖f_h(x_key)‖.
        func drawn(_ l: Int, _ p: Tensor, _ heads: Range<Int>) throws -> [[[Float]]] {
            let patterns = heads.map { matrix(p, $0) }
            guard options.weight == .norm else { return patterns }
            guard let v = input.cache[.v(l)] else {
                throw CoreError.invalidInput(view: Self.info.id, detail: "the activation cache lacks blocks.\(l).attn.hook_v")
            }
            let norms = try input.model.headOutputNorms(layer: l, values: v)
            return zip(heads, patterns).map { h, a in
                a.map { row in row.enumerated().map { k, w in w * norms.data[k * c.heads + h] } }
            }
        }
        var data = Data(tokens: input.tokens, mode: options.mode, layers: c.layers, heads: c.heads, kvHeads: c.kvHeads)
        data.windows = c.slidingWindows.contains { $0 != nil } ? c.slidingWindows : nil
        if options.mode != .scores { data.weighting = options.weight }
        switch options.mode {
        case .head:
            try input.checkLayer(options.layer, view: Self.info.id)
            try input.checkHead(options.head, view: Self.info.id)
            data.layer = options.layer
            data.head = options.head
            data.pattern = try drawn(options.layer, try pattern(options.layer), options.head ..< options.head + 1)[0]
        case .grid:
            data.patterns = try (0 ..< c.layers).map { l in try drawn(l, try pattern(l), 0 ..< c.heads) }
        case .scores:
            data.score = options.score
            var positions: [Int] = []
            data.scores = try (0 ..< c.layers).map { l in
                let p = try pattern(l)
                let window = c.slidingWindows[l]
                positions.append(Self.scoredPositions(options.score, ids: input.ids, window: window).count)
                return (0 ..< c.heads).map { h in
                    let s = Self.score(options.score, pattern: matrix(p, h), ids: input.ids, window: window)
                    return s.isFinite ? s : nil
                }
            }
            data.positions = positions
            // A map of undefined scores would be an empty grey square: refused,
            // and left out of a dashboard.
            if positions.allSatisfy({ $0 == 0 }) {
                throw CoreError.nothingToShow(view: Self.info.id, reason: "the \(options.score.rawValue) score is defined at no position (\(options.score.undefinedReason))")
            }
        }
        return data
    }

    /// The query positions a score averages over: those where the key it
    /// measures exists and is visible.
    static func scoredPositions(_ score: Score, ids: [Int], window: Int? = nil) -> [Int] {
        let t = ids.count
        func sees(_ q: Int, _ k: Int) -> Bool { window.map { q - k < $0 } ?? true }
        switch score {
        case .previousToken: return (1 ..< max(1, t)).filter { sees($0, $0 - 1) }
        case .firstToken: return (1 ..< max(1, t)).filter { sees($0, 0) }
        case .entropy: return Array(0 ..< t)
        case .induction:
            return (1 ..< max(1, t)).filter { q in (0 ..< q - 1).contains { ids[$0] == ids[q] && sees(q, $0 + 1) } }
        }
    }

    /// A head score from one pattern [query][key]; NaN when the prompt has no
    /// position the score is defined at (induction without a repeated token).
    /// In a block with a sliding `window`, a query counts only where the key
    /// the score measures is inside its window: a key it cannot see is not
    /// evidence that the head ignores it.
    static func score(_ score: Score, pattern f: [[Float]], ids: [Int], window: Int? = nil) -> Double {
        let a = f.map { $0.map(Double.init) }
        let t = a.count
        func sees(_ q: Int, _ k: Int) -> Bool { window.map { q - k < $0 } ?? true }
        var sum = 0.0, n = 0
        switch score {
        case .previousToken:
            for q in 1 ..< max(1, t) where sees(q, q - 1) { sum += a[q][q - 1]; n += 1 }
        case .firstToken:
            for q in 1 ..< max(1, t) where sees(q, 0) { sum += a[q][0]; n += 1 }
        case .entropy:
            for q in 0 ..< t {
                sum -= a[q][0 ... q].reduce(0) { $1 > 0 ? $0 + $1 * log($1) : $0 }
                n += 1
            }
        case .induction:
            // Weight from q onto every position j + 1 where ids[j] == ids[q] and
            // j < q − 1 (so the target j + 1 lies strictly before q).
            for q in 1 ..< max(1, t) {
                let targets = (0 ..< q - 1).filter { ids[$0] == ids[q] }.map { $0 + 1 }.filter { sees(q, $0) }
                guard !targets.isEmpty else { continue }
                sum += Set(targets).reduce(0) { $0 + a[q][$1] }
                n += 1
            }
        }
        return n > 0 ? sum / Double(n) : .nan
    }

    // MARK: Drawing

    /// The mode's array is present with [layers][heads] or [tokens][tokens]
    /// shape, the block and head are in range, windows one per block.
    public func validate(_ data: Data, options: Options) throws {
        let t = data.tokens.count
        try RecordCheck.nonEmpty(data.tokens, "data.tokens", max: 4096)
        try RecordCheck.within(data.layers, 1 ... 1024, "data.layers")
        try RecordCheck.within(data.heads, 1 ... 1024, "data.heads")
        try RecordCheck.within(data.kvHeads, 1 ... data.heads, "data.kv_heads")
        if let windows = data.windows {
            try RecordCheck.count(windows, data.layers, "data.windows", "one per block")
            for (l, w) in windows.enumerated() { if let w { try RecordCheck.within(w, 1 ... Int(Int32.max), "data.windows[\(l)]") } }
        }
        func square(_ p: [[Float]], _ field: String) throws {
            try RecordCheck.count(p, t, field, "one row per token")
            try RecordCheck.rows(p, t, field, "one per token")
        }
        switch data.mode {
        case .head:
            guard let pattern = data.pattern else { throw RecordProblem("data.pattern", "is missing (mode head)") }
            try square(pattern, "data.pattern")
            if let layer = data.layer { try RecordCheck.within(layer, 0 ... data.layers - 1, "data.layer") }
            if let head = data.head { try RecordCheck.within(head, 0 ... data.heads - 1, "data.head") }
        case .grid:
            guard let patterns = data.patterns else { throw RecordProblem("data.patterns", "is missing (mode grid)") }
            guard data.layers * data.heads * t * t <= 1 << 24 else {
                throw RecordProblem("data.patterns", "has \(data.layers) × \(data.heads) patterns of \(t) tokens, too many to draw")
            }
            try RecordCheck.count(patterns, data.layers, "data.patterns", "one per block")
            for (l, heads) in patterns.enumerated() {
                try RecordCheck.count(heads, data.heads, "data.patterns[\(l)]", "one per head")
                for (h, p) in heads.enumerated() { try square(p, "data.patterns[\(l)][\(h)]") }
            }
        case .scores:
            guard let scores = data.scores else { throw RecordProblem("data.scores", "is missing (mode scores)") }
            try RecordCheck.count(scores, data.layers, "data.scores", "one row per block")
            try RecordCheck.rows(scores, data.heads, "data.scores", "one per head")
            if let positions = data.positions {
                try RecordCheck.count(positions, data.layers, "data.positions", "one per block")
                for (l, n) in positions.enumerated() { try RecordCheck.within(n, 0 ... t, "data.positions[\(l)]") }
            }
        }
    }


    /// The positions drawn: all, or all but the first with bos=hide.
    static func shown(_ t: Int, _ options: Options) -> [Int] { Array((options.bos == .hide && t > 1 ? 1 : 0) ..< t) }

    /// The colour scale of the cells and its label. Weights span 0 to 1;
    /// with bos=hide, 0 to the largest weight drawn; on a log scale, 0.001 to
    /// 1. Value-weighted norms span 0 to the largest drawn (log: a
    /// thousandth of it to it).
    static func weightScale(_ drawn: [Float], _ data: Data, _ options: Options) -> (ColorScale, String) {
        let largest = Double(drawn.filter(\.isFinite).max() ?? 1)
        let noBos = options.bos == .hide ? ", BOS left out" : ""
        if data.weighting == .norm {
            let high = max(largest, 1e-6)
            let label = "‖α·f(v)‖" + noBos
            return options.scale == .log ? (ColorScale(low: high * 1e-3, high: high, logarithmic: true), label + " (log)")
                                         : (ColorScale(low: 0, high: high), label)
        }
        if options.scale == .log { return (ColorScale(low: 1e-3, high: 1, logarithmic: true), "attention weight (log)" + noBos) }
        guard options.bos == .hide else { return (ColorScale(low: 0, high: 1), "attention weight") }
        return (ColorScale(low: 0, high: max(largest, 1e-6)), "weight" + noBos)
    }

    /// A cell as drawn: on the log scale, values below its floor at the floor.
    static func drawn(_ w: Float, _ scale: ColorScale) -> Float {
        scale.logarithmic && w.isFinite ? max(w, Float(scale.low)) : w
    }

    /// Cell text: two decimals for weights, three significant digits for norms.
    static func cellText(_ w: Float, _ data: Data) -> String {
        w.isNaN ? "" : data.weighting == .norm ? String(format: "%.3g", w) : String(format: "%.2f", w)
    }

    func headMap(_ data: Data, options: Options) -> Heatmap {
        let p = data.pattern ?? []
        let shown = Self.shown(p.count, options)
        // Keys the query cannot attend to (later ones, and those outside a sliding window) are masked.
        let block = data.layer ?? 0
        let raw = shown.map { q in shown.map { k in data.visible(block: block, query: q, key: k) ? p[q][k] : Float.nan } }
        let (scale, label) = Self.weightScale(raw.joined().map { $0 }, data, options)
        let values = raw.map { $0.map { Double(Self.drawn($0, scale)) } }
        let text = options.annotate ? raw.map { $0.map { Self.cellText($0, data) } } : nil
        let labels = shown.map { TokenText.visible(data.tokens[$0]) }
        let norm = data.weighting == .norm ? ", value-weighted" : ""
        let title = options.title.isEmpty ? "block \(data.layer ?? 0), head \(data.head ?? 0)\(norm)" : options.title
        return Heatmap(values: values, colormap: options.colormap, scale: scale, cellText: text,
                       rowLabels: labels, columnLabels: labels, rowTitle: "query (attending from)",
                       columnTitle: "key (attended to)", colorbarLabel: label, title: title)
    }

    func scoreMap(_ data: Data, options: Options) -> Heatmap {
        let values = (data.scores ?? []).map { $0.map { $0 ?? .nan } }
        let score = data.score ?? .induction
        let high = score == .entropy ? max(values.joined().filter(\.isFinite).max() ?? 1, 1e-6) : 1
        let text = options.annotate ? values.map { $0.map { $0.isNaN ? "" : String(format: "%.2f", $0) } } : nil
        // The colour bar says how many positions each score averages: two
        // repeated tokens make a noisy map. A record with no position to
        // measure at (written before such analyses were refused) says so.
        let undefined = values.joined().allSatisfy(\.isNaN)
        let title = options.title.isEmpty ? score.rawValue + " score" + (undefined ? ": none (\(score.undefinedReason))" : "") : options.title
        return Heatmap(values: values, colormap: options.colormap, scale: ColorScale(low: 0, high: high), cellText: text,
                       rowLabels: (0 ..< data.layers).map { "\($0)" }, columnLabels: (0 ..< data.heads).map { "\($0)" },
                       rowTitle: "block", columnTitle: "head", colorbarLabel: score.label + Self.over(data.positions), title: title)
    }

    /// ", mean of 12 positions" (or "3–12" where sliding windows differ by block).
    static func over(_ positions: [Int]?) -> String {
        guard let positions, let low = positions.min(), let high = positions.max() else { return "" }
        let count = low == high ? "\(low)" : "\(low)–\(high)"
        return ", mean of \(count) position\(high == 1 ? "" : "s")"
    }

    func grid(_ data: Data, options: Options) -> SmallMultiples {
        let shown = Self.shown(data.tokens.count, options)
        let raw = (data.patterns ?? []).enumerated().map { l, heads in
            heads.map { p in shown.map { q in shown.map { k in data.visible(block: l, query: q, key: k) ? p[q][k] : Float.nan } } }
        }
        let (scale, label) = Self.weightScale(raw.joined().joined().joined().map { $0 }, data, options)
        let panels = raw.map { $0.map { $0.map { $0.map { Self.drawn($0, scale) } } } }
        return SmallMultiples(
            panels: panels, rowLabels: (0 ..< data.layers).map { "\($0)" }, columnLabels: (0 ..< data.heads).map { "\($0)" },
            rowTitle: "block", columnTitle: "head",
            title: options.title.isEmpty ? (data.weighting == .norm ? "value-weighted patterns (query ↓, key →)" : "attention patterns (query ↓, key →)") : options.title,
            colormap: options.colormap, scale: scale, colorbarLabel: label)
    }

    /// Natural panel size: two points per token, within 18–48 pt.
    static func panelSize(tokens: Int) -> Double { max(18, min(48, 2.0 * Double(tokens))) }

    public func size(of data: Data, options: Options, theme: Theme, width: Double?, measure: Canvas) -> Size {
        switch data.mode {
        case .head:
            let h = headMap(data, options: options)
            if let width { return Size(width, h.height(forWidth: width, measure, theme: theme)) }
            return h.naturalSize(measure, theme: theme)
        case .scores:
            let h = scoreMap(data, options: options)
            if let width { return Size(width, h.height(forWidth: width, measure, theme: theme)) }
            return h.naturalSize(measure, theme: theme)
        case .grid:
            return grid(data, options: options).size(panel: Self.panelSize(tokens: data.tokens.count), width: width, measure, theme: theme)
        }
    }

    /// mode=head: each cell's weight and its query and key tokens; scores:
    /// each head's score; grid: each panel's block and head.
    public func hitRegions(of data: Data, options: Options, in frame: Rect, theme: Theme, measure: Canvas) -> [HitRegion] {
        let tokens = data.tokens.map(TokenText.visible)
        switch data.mode {
        case .head:
            let p = data.pattern ?? []
            let shown = Self.shown(p.count, options)
            let rects = headMap(data, options: options).cellRects(measure, in: frame, theme: theme)
            return rects.enumerated().flatMap { i, row in
                row.enumerated().compactMap { j, rect -> HitRegion? in
                    guard i < shown.count, j < shown.count else { return nil }
                    let q = shown[i], k = shown[j]
                    guard k <= q, q < p.count, k < p[q].count else { return nil }
                    let what = data.weighting == .norm ? "‖α·f(v)‖ \(String(format: "%.4g", p[q][k]))" : "weight \(String(format: "%.3f", p[q][k]))"
                    return HitRegion(rect, title: what,
                                     lines: ["query \(q): \(tokens[q])", "key \(k): \(tokens[k])"])
                }
            }
        case .scores:
            let scores = data.scores ?? []
            let label = (data.score ?? .induction).label
            let rects = scoreMap(data, options: options).cellRects(measure, in: frame, theme: theme)
            return rects.enumerated().flatMap { l, row in
                row.enumerated().map { h, rect in
                    let value = scores[l][h].map { String(format: "%.3f", $0) } ?? "undefined on this prompt"
                    let over = data.positions.map { ["mean over \($0[l]) query positions"] } ?? []
                    return HitRegion(rect, title: "block \(l), head \(h)", lines: ["\(label): \(value)"] + over)
                }
            }
        case .grid:
            let kv = max(1, data.heads / max(1, data.kvHeads))
            return grid(data, options: options).panelRects(measure, in: frame, theme: theme).enumerated().flatMap { l, row in
                row.enumerated().map { h, rect in
                    HitRegion(rect, title: "block \(l), head \(h)",
                              lines: ["key/value head \(h / kv)", "render it alone: mode=head layer=\(l) head=\(h)"])
                }
            }
        }
    }

    public func draw(_ data: Data, options: Options, on canvas: Canvas, in frame: Rect, theme: Theme) throws {
        switch data.mode {
        case .head: try headMap(data, options: options).draw(canvas, in: frame, theme: theme)
        case .scores: try scoreMap(data, options: options).draw(canvas, in: frame, theme: theme)
        case .grid: try grid(data, options: options).draw(canvas, in: frame, theme: theme)
        }
    }
}
