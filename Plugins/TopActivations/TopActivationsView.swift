import Foundation
import LoupeCore
import LoupeModel
import LoupeRender

/// What real text a neuron (or a direction in the residual stream)
/// responds to: every prompt of a set run through the model, the contexts
/// where it is most active with each token coloured by its activation
/// (diverging, zero at the centre), the distribution of its activations
/// over all tokens, and its mean per topic with 95% intervals.
public struct TopActivationsView: ViewPlugin {
    public init() {}

    public static let info = ViewInfo(
        id: "top-activations",
        title: "Top activations",
        summary: "The prompt-set contexts where a neuron or a direction is most active, tokens coloured by activation, with its histogram and per-topic means.",
        example: ViewExample(prompt: "", options: ["layer": "15", "neuron": "100", "k": "6"]),
        usesPrompt: false, hooks: [])

    public struct Options: ViewOptions {
        @ViewOption("block read: its mlp.hook_post for a neuron, its hook_resid_post for a direction", range: 0 ... 4095) public var layer = 15
        @ViewOption("neuron of blocks.LAYER.mlp.hook_post", range: 0 ... 1 << 24) public var neuron = 100
        @ViewOption("file with a direction in blocks.LAYER.hook_resid_post to read instead (d_model float32 values, or numbers as text)")
        public var direction = ""
        @ViewOption(promptSet: "prompt set the contexts come from (JSON lines of {topic, text}, or builtin:NAME)") public var prompts = PromptSet.defaultPath
        @ViewOption("contexts shown: the prompts whose largest activation is largest, one context each", range: 1 ... 64) public var k = 8
        @ViewOption("tokens shown before each context's most active token", range: 1 ... 256) public var before = 16
        @ViewOption("tokens shown after it", range: 0 ... 64) public var after = 4
        @ViewOption("content tokens at the start of each prompt left out (after BOS; the first tokens' activations are dominated by their position)", range: 0 ... 16)
        public var skip = 1
        @ViewOption("figure title (default: the neuron or direction, and the prompt set)") public var title = ""
        public init() {}
    }

    public struct Context: Codable, Sendable {
        /// The prompt's place in the set (from 0), its topic.
        public var prompt: Int
        public var topic: String
        /// The tokens shown, each one's activation, and which is the largest.
        public var tokens: [String]
        public var activations: [Double]
        public var peak: Int
        /// The peak's position in the whole prompt (BOS is 0).
        public var position: Int
    }

    public struct TopicMean: Codable, Sendable {
        public var topic: String
        public var prompts: Int
        /// Mean over the topic's prompts of each prompt's mean activation, and
        /// its standard error (prompts as the unit).
        public var mean: Double
        public var standardError: Double

        enum CodingKeys: String, CodingKey { case topic, prompts, mean, standardError = "standard_error" }
    }

    public struct Data: Codable, Sendable {
        /// `blocks.L.mlp.hook_post` and its neuron, or `blocks.L.hook_resid_post` and the direction's file.
        public var hook: String
        public var layer: Int
        public var neuron: Int?
        public var direction: String?
        public var promptSet: String
        public var promptCount: Int
        /// Tokens counted (every prompt's, less BOS and the skipped ones).
        public var tokenCount: Int
        public var contexts: [Context]
        /// Histogram of every counted token's activation: edges [bins + 1], counts [bins].
        public var edges: [Double]
        public var counts: [Int]
        public var topics: [TopicMean]

        enum CodingKeys: String, CodingKey {
            case hook, layer, neuron, direction, promptSet = "prompt_set", promptCount = "prompt_count", tokenCount = "token_count",
                 contexts, edges, counts, topics
        }
    }

    public func analyze(_ input: AnalysisInput, options o: Options) throws -> Data {
        let id = Self.info.id, model = input.model, c = model.config
        try input.checkLayer(o.layer, view: id)
        if !o.direction.isEmpty, o.neuron != Options().neuron {
            throw CoreError.invalidInput(view: id, detail: "options 'neuron' and 'direction' both set: the view reads one of them")
        }
        let direction = o.direction.isEmpty ? nil : try readDirection(o.direction, dModel: c.dModel, view: id)
        if direction == nil { try input.checkNeuron(o.neuron, view: id) }
        let hook: HookPoint = direction == nil ? .mlpPost(o.layer) : .residPost(o.layer)
        let set = try PromptSet(path: o.prompts)
        input.report("prompts", 0, set.entries.count)
        let run = try PromptSetRun.run(set, model: model, hook: hook, block: o.layer)
        input.report("prompts", set.entries.count, set.entries.count)
        let first = (model.prependsBOS ? 1 : 0) + o.skip
        func values(_ i: Int) -> [Double] {
            let t = run.activations[i], width = t.shape[t.shape.count - 1]
            return (0 ..< run.ids[i].count).map { p in
                if let direction {
                    var s = 0.0
                    for j in 0 ..< width { s += Double(t.data[p * width + j]) * Double(direction[j]) }
                    return s
                }
                return Double(t.data[p * width + o.neuron])
            }
        }
        let all = set.entries.indices.map(values)
        let counted = set.entries.indices.filter { all[$0].count > first }
        guard !counted.isEmpty else {
            throw CoreError.badPromptSet(path: o.prompts, line: nil, detail: "no prompt has a token past the first \(first) (skip=\(o.skip))")
        }
        // One context per prompt: its most active counted token.
        let peaks = counted.map { i in (prompt: i, at: (first ..< all[i].count).max { all[i][$0] < all[i][$1] }!) }
        let ranked = peaks.sorted { (all[$0.prompt][$0.at], $1.prompt) > (all[$1.prompt][$1.at], $0.prompt) }.prefix(o.k)
        let contexts = ranked.map { peak -> Context in
            let ids = run.ids[peak.prompt]
            let lo = max(first, peak.at - o.before), hi = min(ids.count, peak.at + o.after + 1)
            return Context(prompt: peak.prompt, topic: set.entries[peak.prompt].topic, tokens: ids[lo ..< hi].map { model.tokenizer.displayText(of: $0) },
                           activations: Array(all[peak.prompt][lo ..< hi]), peak: peak.at - lo, position: peak.at)
        }
        let pooled = counted.flatMap { all[$0][first...] }
        let (edges, counts) = Self.histogram(pooled, bins: 40)
        let topics = set.topics.map { topic -> TopicMean in
            let means = counted.filter { set.entries[$0].topic == topic }.map { i in all[i][first...].reduce(0, +) / Double(all[i].count - first) }
            let mean = means.reduce(0, +) / Double(max(1, means.count))
            let variance = means.count > 1 ? means.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(means.count - 1) : 0
            return TopicMean(topic: topic, prompts: means.count, mean: mean, standardError: (variance / Double(max(1, means.count))).squareRoot())
        }
        return Data(hook: hook.name, layer: o.layer, neuron: direction == nil ? o.neuron : nil, direction: direction == nil ? nil : o.direction,
                    promptSet: o.prompts, promptCount: set.entries.count, tokenCount: pooled.count, contexts: Array(contexts), edges: edges,
                    counts: counts, topics: topics)
    }

    /// `bins` equal bins from the smallest to the largest value.
    static func histogram(_ values: [Double], bins: Int) -> ([Double], [Int]) {
        let lo = values.min() ?? 0, hi = max(values.max() ?? 1, lo + 1e-9)
        let edges = (0 ... bins).map { lo + (hi - lo) * Double($0) / Double(bins) }
        var counts = [Int](repeating: 0, count: bins)
        for v in values { counts[min(bins - 1, Int((v - lo) / (hi - lo) * Double(bins)))] += 1 }
        return (edges, counts)
    }

    public func validate(_ data: Data, options: Options) throws {
        try RecordCheck.nonEmpty(data.contexts, "data.contexts", max: 64)
        try RecordCheck.nonEmpty(data.counts, "data.counts", max: 1000)
        try RecordCheck.count(data.edges, data.counts.count + 1, "data.edges", "one more than the counts")
        try RecordCheck.nonEmpty(data.topics, "data.topics", max: 1000)
        for (i, c) in data.contexts.enumerated() {
            try RecordCheck.nonEmpty(c.tokens, "data.contexts[\(i)].tokens", max: 1024)
            try RecordCheck.count(c.activations, c.tokens.count, "data.contexts[\(i)].activations", "one per token")
            try RecordCheck.within(c.peak, 0 ... c.tokens.count - 1, "data.contexts[\(i)].peak")
        }
        let numbers = data.edges + data.contexts.flatMap(\.activations) + data.topics.flatMap { [$0.mean, $0.standardError] }
        if numbers.contains(where: { !$0.isFinite }) { throw RecordProblem("data", "holds a value that is not a finite number") }
        if data.counts.contains(where: { $0 < 0 }) { throw RecordProblem("data.counts", "holds a negative count") }
        for (a, b) in zip(data.edges, data.edges.dropFirst()) where b < a { throw RecordProblem("data.edges", "are not increasing") }
    }

    // MARK: Drawing

    func what(_ data: Data) -> String {
        data.neuron.map { "neuron \($0) of block \(data.layer)" } ?? "direction '\(printableName(data.direction ?? ""))' in block \(data.layer)'s residual stream"
    }

    func printableName(_ path: String) -> String { (path as NSString).lastPathComponent }

    /// A context's label: its topic and its prompt's number in the set.
    static func label(_ c: Context) -> String { "\(c.topic) #\(c.prompt + 1)" }

    func title(_ data: Data, options: Options) -> String {
        options.title.isEmpty ? "Top activations: \(what(data))" : options.title
    }

    /// The largest |activation| among the contexts: the colour scale's end.
    func scale(_ data: Data) -> ColorScale {
        let m = max(data.contexts.flatMap(\.activations).map(abs).max() ?? 0, 1e-9)
        return ColorScale(low: -m, high: m)
    }

    func tokens(_ context: Context, _ data: Data) -> WrappedTokens {
        WrappedTokens(tokens: context.tokens, values: context.activations, colormap: .rdbu, scale: scale(data))
    }

    func histogramChart(_ data: Data) -> LineChart {
        var points: [(x: Double, y: Double)] = [(data.edges[0], 0)]
        for (b, n) in data.counts.enumerated() { points += [(data.edges[b], Double(n)), (data.edges[b + 1], Double(n))] }
        points.append((data.edges[data.edges.count - 1], 0))
        return LineChart(series: [LineChart.Series(label: "\(data.tokenCount) tokens", points: points, color: Palette.categorical(0))],
                         xTitle: "activation", yTitle: "tokens")
    }

    struct Layout {
        var header: Double
        var contexts: [Double]
        var charts: Double
        var sideBySide: Bool
        var note: Double
    }

    /// The width of the context labels' column: its longest word, at most
    /// a third of the row.
    func labelWidth(_ data: Data, width: Double, theme: Theme, measure: Canvas) -> Double {
        let words = data.contexts.flatMap { Self.label($0).split(separator: " ").map(String.init) }
        return min(width / 3, (words.map { measure.measure($0, theme.tickFont).width }.max() ?? 0) + 2 * theme.gap)
    }

    func layout(_ data: Data, options: Options, width: Double, theme: Theme, measure: Canvas) -> Layout {
        let inner = width - 2 * theme.margin
        let header = theme.margin + measure.paragraphHeight(title(data, options: options), theme.titleFont, width: inner) + theme.gap
        let labelWidth = labelWidth(data, width: inner, theme: theme, measure: measure)
        let contexts = data.contexts.map { c in
            max(tokens(c, data).height(forWidth: inner - labelWidth, measure, theme: theme),
                measure.paragraphHeight(Self.label(c), theme.tickFont, width: labelWidth - theme.gap)) + theme.gap
        }
        let sideBySide = width >= 400
        let chart = max(130, min(200, width * 0.3))
        let topicRows = Double(data.topics.count) * (measure.measure("Ag", theme.tickFont).height + 2) + 2 * theme.margin
            + measure.measure("Ag", theme.tickFont).height + measure.measure("Ag", theme.labelFont).height + 4 + theme.margin
        let charts = sideBySide ? max(chart, topicRows) : chart + topicRows
        let note = measure.paragraphHeight(Self.note(data), theme.annotationFont, width: inner) + theme.margin
        return Layout(header: header, contexts: contexts, charts: charts, sideBySide: sideBySide, note: note)
    }

    static func note(_ data: Data) -> String {
        "\(data.contexts.count) of \(data.promptCount) prompts of \(data.promptSet), each by its most active token (outlined), colour "
            + "zero-centred from −\(ColorScale.format(data.contexts.flatMap(\.activations).map(abs).max() ?? 0)) (red) to "
            + "+\(ColorScale.format(data.contexts.flatMap(\.activations).map(abs).max() ?? 0)) (blue); \(data.hook). "
            + "Topic means: the mean over each topic's prompts of the prompt's mean activation, ±1.96 standard errors (prompts as the unit)."
    }

    public func size(of data: Data, options: Options, theme: Theme, width: Double?, measure: Canvas) -> Size {
        let w = width ?? 720
        let l = layout(data, options: options, width: w, theme: theme, measure: measure)
        return Size(w, l.header + l.contexts.reduce(0, +) + l.charts + l.note)
    }

    /// The frames: one per context row, the histogram, the topic means, the note.
    func frames(_ data: Data, options: Options, in frame: Rect, theme: Theme, measure: Canvas) -> (rows: [Rect], histogram: Rect, topics: Rect, note: Rect) {
        let l = layout(data, options: options, width: frame.width, theme: theme, measure: measure)
        var y = frame.y + l.header
        var rows: [Rect] = []
        for h in l.contexts {
            rows.append(Rect(x: frame.x + theme.margin, y: y, width: frame.width - 2 * theme.margin, height: h))
            y += h
        }
        let histogram: Rect, topics: Rect
        if l.sideBySide {
            histogram = Rect(x: frame.x, y: y, width: frame.width / 2, height: l.charts)
            topics = Rect(x: frame.midX, y: y, width: frame.width / 2, height: l.charts)
        } else {
            let chart = max(130, min(200, frame.width * 0.3))
            histogram = Rect(x: frame.x, y: y, width: frame.width, height: chart)
            topics = Rect(x: frame.x, y: y + chart, width: frame.width, height: l.charts - chart)
        }
        return (rows, histogram, topics, Rect(x: frame.x, y: y + l.charts, width: frame.width, height: l.note))
    }

    func topicGeometry(_ data: Data, in frame: Rect, theme: Theme, measure: Canvas) -> (labels: Double, plot: Rect, row: Double, scale: ColorScale) {
        let font = theme.tickFont
        let labels = (data.topics.map { measure.measure($0.topic, font).width }.max() ?? 0) + theme.gap
        let row = measure.measure("Ag", font).height + 2
        let plot = Rect(x: frame.x + theme.margin + labels, y: frame.y + theme.margin, width: max(10, frame.width - 2 * theme.margin - labels),
                        height: Double(data.topics.count) * row)
        var ends: [Double] = [0]
        for t in data.topics { ends += [t.mean - 1.96 * t.standardError, t.mean + 1.96 * t.standardError] }
        let low = ends.min() ?? 0, high = max(ends.max() ?? 1, low + 1e-9)
        return (labels, plot, row, ColorScale(low: low, high: high))
    }

    public func draw(_ data: Data, options: Options, on canvas: Canvas, in frame: Rect, theme: Theme) throws {
        let f = frames(data, options: options, in: frame, theme: theme, measure: canvas)
        canvas.paragraph(title(data, options: options), at: Point(frame.midX, frame.y + theme.margin), font: theme.titleFont,
                         color: theme.foreground, width: frame.width - 2 * theme.margin, align: .center)
        for (context, row) in zip(data.contexts, f.rows) {
            let label = labelWidth(data, width: row.width, theme: theme, measure: canvas)
            canvas.paragraph(Self.label(context), at: Point(row.x, row.y), font: theme.tickFont, color: theme.muted,
                             width: label - theme.gap)
            let strip = Rect(x: row.x + label, y: row.y, width: row.width - label, height: row.height - theme.gap)
            let wrapped = tokens(context, data)
            wrapped.draw(canvas, in: strip, theme: theme)
            let box = wrapped.boxes(canvas, width: strip.width, theme: theme)[context.peak]
            canvas.stroke(Rect(x: strip.x + box.x, y: strip.y + box.y, width: box.width, height: box.height), theme.foreground,
                          width: theme.lineWidth * 2)
        }
        histogramChart(data).draw(canvas, in: f.histogram, theme: theme)
        let g = topicGeometry(data, in: f.topics, theme: theme, measure: canvas)
        canvas.line(Point(g.plot.x + g.scale.position(0) * g.plot.width, g.plot.y), Point(g.plot.x + g.scale.position(0) * g.plot.width, g.plot.maxY),
                    theme.rule, width: theme.lineWidth)
        for (i, t) in data.topics.enumerated() {
            let y = g.plot.y + (Double(i) + 0.5) * g.row
            canvas.text(t.topic, at: Point(g.plot.x - theme.gap, y), font: theme.tickFont, color: theme.foreground, anchor: TextAnchor(.right, .middle))
            let x0 = g.plot.x + g.scale.position(0) * g.plot.width, x1 = g.plot.x + g.scale.position(t.mean) * g.plot.width
            canvas.fill(Rect(x: min(x0, x1), y: y - g.row * 0.3, width: abs(x1 - x0), height: g.row * 0.6), Palette.categorical(0))
            let lo = g.plot.x + g.scale.position(t.mean - 1.96 * t.standardError) * g.plot.width
            let hi = g.plot.x + g.scale.position(t.mean + 1.96 * t.standardError) * g.plot.width
            canvas.line(Point(lo, y), Point(hi, y), theme.foreground, width: theme.lineWidth)
        }
        let ticks = g.scale.ticks(maxCount: 4)
        for v in ticks {
            let x = g.plot.x + g.scale.position(v) * g.plot.width
            canvas.text(ColorScale.format(v), at: Point(x, g.plot.maxY + 2), font: theme.tickFont, color: theme.foreground, anchor: TextAnchor(.center, .top))
        }
        canvas.text("mean activation by topic", at: Point(g.plot.midX, g.plot.maxY + 2 + canvas.measure("Ag", theme.tickFont).height + 2),
                    font: theme.labelFont, color: theme.muted, anchor: TextAnchor(.center, .top))
        canvas.paragraph(Self.note(data), at: Point(f.note.x + theme.margin, f.note.y), font: theme.annotationFont, color: theme.muted,
                         width: f.note.width - 2 * theme.margin)
    }

    /// Each token of each context, and each topic's bar.
    public func hitRegions(of data: Data, options: Options, in frame: Rect, theme: Theme, measure: Canvas) -> [HitRegion] {
        let f = frames(data, options: options, in: frame, theme: theme, measure: measure)
        var regions: [HitRegion] = []
        for (context, row) in zip(data.contexts, f.rows) {
            let label = labelWidth(data, width: row.width, theme: theme, measure: measure)
            let strip = Rect(x: row.x + label, y: row.y, width: row.width - label, height: row.height)
            for (k, box) in tokens(context, data).boxes(measure, width: strip.width, theme: theme).enumerated() {
                regions.append(HitRegion(Rect(x: strip.x + box.x, y: strip.y + box.y, width: box.width, height: box.height),
                                         title: "\(TokenText.visible(context.tokens[k])) (\(context.topic) prompt \(context.prompt + 1))",
                                         lines: [String(format: "activation %.4f", context.activations[k])]))
            }
        }
        let g = topicGeometry(data, in: f.topics, theme: theme, measure: measure)
        for (i, t) in data.topics.enumerated() {
            regions.append(HitRegion(Rect(x: g.plot.x, y: g.plot.y + Double(i) * g.row, width: g.plot.width, height: g.row), title: t.topic,
                                     lines: [String(format: "mean %.4f ± %.4f (1.96 s.e.), %d prompts", t.mean, 1.96 * t.standardError, t.prompts)]))
        }
        return regions
    }

    public func findings(of data: Data, options: Options) -> [String] {
        guard let top = data.contexts.first else { return [] }
        return ["\(what(data)) peaks at \(String(format: "%.3f", top.activations[top.peak])) on \(TokenText.visible(top.tokens[top.peak])) in \(top.topic) prompt \(top.prompt + 1)"]
    }
}
