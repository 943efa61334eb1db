import Foundation
import LoupeCore
import LoupeModel
import LoupeRender
import Synchronization

/// Text deep dream: text optimised to excite a neuron or a residual
/// direction, by gradient ascent on a relaxed one-hot input (see `Dreamer`).
public struct TextDeepDreamView: ViewPlugin {
    public init() {}

    public static let info = ViewInfo(
        id: "text-deep-dream",
        title: "Text deep dream",
        summary: "Text optimised by gradient ascent to excite a neuron or a residual direction, with its activation over the steps.",
        example: ViewExample(prompt: " The capital of France is the city of", options: ["layer": "15", "neuron": "100", "steps": "24"]),
        hooks: [])

    public enum Start: String, Codable, Sendable, OptionChoice { case prompt, random, promptSet = "prompt-set" }

    public struct Options: ViewOptions {
        @ViewOption("block of the target", range: 0 ... 4095) public var layer = 15
        @ViewOption("neuron of blocks.LAYER.mlp.hook_post to excite", range: 0 ... 1 << 24) public var neuron = 100
        @ViewOption("file with a direction in blocks.LAYER.hook_resid_post to excite instead (d_model float32 values, or numbers as text)")
        public var direction = ""
        @ViewOption("free token positions", range: 1 ... 64) public var positions = 8
        @ViewOption("optimisation steps", range: 1 ... 2000) public var steps = 40
        @ViewOption("Adam learning rate (on the logits z; Adam moves each by about lr per step)", range: 1e-6 ... 100)
        public var lr = 1.0
        @ViewOption("softmax temperature at the first step", range: 1e-4 ... 1e4) public var tauStart = 1.0
        @ViewOption("temperature at the last step (annealed geometrically)", range: 1e-4 ... 1e4) public var tauEnd = 0.1
        @ViewOption("where the free tokens start") public var `init`: Start = .prompt
        @ViewOption("logit given to the starting token of each position", range: -1000 ... 1000) public var initLogit = 2.0
        @ViewOption(promptSet: "prompt set searched with init=prompt-set") public var prompts = PromptSet.defaultPath
        @ViewOption("random seed (init=random, and padding a short prompt)", range: 0 ... Int(Int32.max)) public var seed = 0
        @ViewOption("how many steps' text to show", range: 1 ... 64) public var show = 4
        @ViewOption("figure title (default: the target)") public var title = ""
        public init() {}

        enum CodingKeys: String, CodingKey {
            case layer, neuron, direction, positions, steps, lr, tauStart = "tau_start", tauEnd = "tau_end", `init`,
                 initLogit = "init_logit", prompts, seed, show, title
        }
    }


    public struct Step: Codable, Sendable {
        public var step: Int
        public var temperature: Double
        /// The relaxed objective (on the softmax mixtures).
        public var relaxed: Double
        /// The objective on the projected (argmax) text.
        public var projected: Double
        public var text: String
        /// For the steps drawn: the projected tokens and each one's activation.
        public var tokens: [String]?
        public var activations: [Double]?
    }

    public struct Best: Codable, Sendable {
        public var step: Int
        public var text: String
        public var ids: [Int]
        public var tokens: [String]
        public var activation: Double
        public var activations: [Double]
    }

    public struct Data: Codable, Sendable {
        public var target: String
        public var layer: Int
        public var neuron: Int?
        public var prefix: [String]
        public var start: String
        public var steps: [Step]
        public var best: Best
    }

    /// One optimisation step for 8 free positions after BOS and neuron 100
    /// (of the model's MLP width) of block 15 (or the last): stopping at the
    /// target's block, and through the whole model and the unembedding.
    public static func benchmarks(on model: Model) throws -> [ViewBenchmark] {
        let layer = min(15, model.config.layers - 1)
        let seed = Array(model.tokenizer.encode(" The capital of France is the city of").prefix(8))
        let start = seed + Array(repeating: seed.last ?? 0, count: 8 - seed.count)
        let settings = DreamSettings(layer: layer, neuron: 100 % model.config.dMLP, direction: nil,
                                     prefix: [model.tokenizer.bosId ?? 0], start: start, steps: 100,
                                     learningRate: 0.1, temperatureStart: 0.8, temperatureEnd: 0.8, initLogit: 8)
        return try [false, true].map { fullModel in
            let dreamer = Mutex(try Dreamer(model: model, settings: settings))
            let name = fullModel ? "one step, through the whole model" : "one step, stopping at block \(layer)"
            return ViewBenchmark(name) { _ = try dreamer.withLock { try $0.ascend(temperature: 0.8, fullModel: fullModel) } }
        }
    }

    public func analyze(_ input: AnalysisInput, options o: Options) throws -> Data {
        let model = input.model, c = model.config
        // The declared ranges were checked when the options were read; these need the model.
        try input.checkLayer(o.layer, view: Self.info.id)
        if o.direction.isEmpty { try input.checkNeuron(o.neuron, view: Self.info.id) }
        let direction = o.direction.isEmpty ? nil : try readDirection(o.direction, dModel: c.dModel)

        let prefix = model.prependsBOS ? [model.tokenizer.bosId ?? 0] : [input.ids.first ?? 0]
        var rng = SeededRandom(seed: UInt64(bitPattern: Int64(o.seed)))
        func randomTokens(_ n: Int) -> [Int] { (0 ..< n).map { _ in Int(rng.next() % UInt64(c.vocabularySize)) } }
        var start: [Int]
        switch o.`init` {
        case .random: start = randomTokens(o.positions)
        case .prompt:
            start = Array(input.ids.drop { prefix.contains($0) && $0 == input.ids.first }.prefix(o.positions))
            start += randomTokens(o.positions - start.count)
        case .promptSet:
            start = try bestWindow(model: model, set: PromptSet(path: o.prompts), layer: o.layer, neuron: o.neuron,
                                   direction: direction, width: o.positions, prefix: prefix)
        }
        let settings = DreamSettings(layer: o.layer, neuron: direction == nil ? o.neuron : nil, direction: direction, prefix: prefix,
                                     start: start, steps: o.steps, learningRate: Float(o.lr), temperatureStart: Float(o.tauStart),
                                     temperatureEnd: Float(o.tauEnd), initLogit: Float(o.initLogit))
        var dreamer = try Dreamer(model: model, settings: settings)
        let shown = Set(Self.shownSteps(count: o.show, steps: o.steps))
        var steps: [Step] = []
        var best: Best?
        let tokenizer = model.tokenizer
        for s in 0 ... o.steps {
            let tau = settings.temperature(at: min(s, o.steps - 1))
            let e = s < o.steps ? try dreamer.ascend(temperature: tau) : try dreamer.evaluate(temperature: tau)
            let (ids, mean, per, relaxed) = (e.projected, e.mean, e.perToken, e.relaxed)
            let tokens = ids.map { tokenizer.displayText(of: $0) }
            steps.append(Step(step: s, temperature: Double(tau), relaxed: Double(relaxed), projected: mean, text: tokenizer.decode(ids),
                              tokens: shown.contains(s) ? tokens : nil, activations: shown.contains(s) ? per : nil))
            if best == nil || mean > best!.activation {
                best = Best(step: s, text: tokenizer.decode(ids), ids: ids, tokens: tokens, activation: mean, activations: per)
            }
        }
        let target = direction == nil ? "neuron \(o.neuron) of block \(o.layer) (mlp.hook_post)" : "a direction in block \(o.layer)'s residual output"
        return Data(target: target, layer: o.layer, neuron: direction == nil ? o.neuron : nil,
                    prefix: prefix.map { tokenizer.displayText(of: $0) }, start: tokenizer.decode(start), steps: steps, best: best!)
    }

    /// The steps whose text is drawn: evenly spread, the first and last included.
    static func shownSteps(count: Int, steps: Int) -> [Int] {
        guard count > 1 else { return [steps] }
        return (0 ..< count).map { Int((Double($0) * Double(steps) / Double(count - 1)).rounded()) }
    }

    /// The window of the prompt set that excites the target most.
    func bestWindow(model: Model, set: PromptSet, layer: Int, neuron: Int, direction: [Float]?, width: Int, prefix: [Int]) throws -> [Int] {
        var best: (Double, [Int]) = (-.infinity, [])
        for (i, e) in set.entries.enumerated() {
            let ids = model.tokenize(e.text)
            do { try model.validate(ids) } catch {
                throw CoreError.badPromptSet(path: set.path, line: nil, detail: "prompt \(i + 1) (\(e.topic)): \(error)")
            }
            let hook = direction == nil ? "blocks.\(layer).mlp.hook_post" : "blocks.\(layer).hook_resid_post"
            let cache = try model.forward(ids, hooks: .matching([hook]), lastBlock: layer).cache
            for p in prefix.count ..< ids.count {
                let a: Double
                if let direction {
                    let x = cache[.residPost(layer)]!, d = model.config.dModel
                    a = (0 ..< d).reduce(0.0) { $0 + Double(x.data[p * d + $1]) * Double(direction[$1]) }
                } else {
                    a = Double(cache[.mlpPost(layer)]!.data[p * model.config.dMLP + neuron])
                }
                if a > best.0, p + 1 - prefix.count >= 1 {
                    let lo = max(prefix.count, p + 1 - width)
                    var window = Array(ids[lo ... p])
                    while window.count < width { window.append(window.last ?? 0) }
                    best = (a, window)
                }
            }
        }
        guard !best.1.isEmpty else {
            throw CoreError.invalidInput(view: Self.info.id, detail: "no prompt in '\(set.path)' has a token after the prefix to start from")
        }
        return best.1
    }

    func readDirection(_ path: String, dModel: Int) throws -> [Float] {
        let data: Foundation.Data
        do throws(FileProblem) { data = try InputFile.read(path) } catch {
            throw CoreError.invalidInput(view: Self.info.id, detail: "direction file '\(printable(path, limit: 200))': \(error.reason)")
        }
        let text = String(decoding: data, as: UTF8.self)
        let isText = text.allSatisfy { "0123456789.-+eE \t\n\r,[]".contains($0) }
        let values: [Float] = isText
            ? text.split { " \t\n\r,[]".contains($0) }.compactMap { Float($0) }
            : data.withUnsafeBytes { raw in (0 ..< data.count / 4).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) } }
        guard values.count == dModel, data.count % 4 == 0 || isText else {
            throw CoreError.invalidInput(view: Self.info.id, detail: "the direction in '\(path)' has \(values.count) values but the residual stream has \(dModel)")
        }
        return values
    }

    // MARK: Drawing

    /// Each text row has one activation per token; at most 64 rows are
    /// drawn; the chart's values are within ±1e30 (a chart of larger ones
    /// would say nothing).
    public func validate(_ data: Data, options: Options) throws {
        try RecordCheck.nonEmpty(data.steps, "data.steps", max: 100_000)
        let limit = 1e30
        for (i, s) in data.steps.enumerated() {
            try RecordCheck.within(s.relaxed, -limit ... limit, "data.steps[\(i)].relaxed")
            try RecordCheck.within(s.projected, -limit ... limit, "data.steps[\(i)].projected")
            try RecordCheck.within(s.temperature, -limit ... limit, "data.steps[\(i)].temperature")
            try RecordCheck.within(s.step, -Int(Int32.max) ... Int(Int32.max), "data.steps[\(i)].step")
            if s.tokens != nil || s.activations != nil {
                try RecordCheck.count(s.activations ?? [], (s.tokens ?? []).count, "data.steps[\(i)].activations", "one per token")
                try RecordCheck.nonEmpty(s.tokens ?? [], "data.steps[\(i)].tokens", max: 4096)
                for (k, a) in (s.activations ?? []).enumerated() { try RecordCheck.within(a, -limit ... limit, "data.steps[\(i)].activations[\(k)]") }
            }
        }
        let drawn = data.steps.filter { $0.tokens != nil }.count
        guard drawn <= 64 else { throw RecordProblem("data.steps", "has \(drawn) steps with tokens; at most 64 are drawn") }
        try RecordCheck.nonEmpty(data.best.tokens, "data.best.tokens", max: 4096)
        try RecordCheck.count(data.best.activations, data.best.tokens.count, "data.best.activations", "one per token")
        for (k, a) in data.best.activations.enumerated() { try RecordCheck.within(a, -limit ... limit, "data.best.activations[\(k)]") }
    }


    struct Layout {
        var chart: Double
        var rows: [(label: String, tokens: [String], values: [Double], height: Double)]
        var label: Double
        var colorbar: Double
    }

    func layout(_ data: Data, theme: Theme, width: Double, measure: Canvas) -> Layout {
        let chart = max(120, width * 0.32)
        let labelWidth = measure.measure("step 000 · τ 0.00", theme.tickFont).width + theme.gap
        let bar = Colorbar(colormap: .rdbu, scale: ColorScale(low: -1, high: 1), label: "activation").width(measure, theme: theme)
        let textWidth = width - 2 * theme.margin - labelWidth - bar
        var rows: [(String, [String], [Double], Double)] = []
        for s in data.steps where s.tokens != nil {
            let w = WrappedTokens(tokens: s.tokens ?? [], values: s.activations ?? [], colormap: .rdbu, scale: ColorScale(low: -1, high: 1))
            rows.append(("step \(s.step) · τ \(String(format: "%.2f", s.temperature))", s.tokens ?? [], s.activations ?? [],
                         w.height(forWidth: textWidth, measure, theme: theme)))
        }
        let b = data.best
        let w = WrappedTokens(tokens: b.tokens, values: b.activations, colormap: .rdbu, scale: ColorScale(low: -1, high: 1))
        rows.append(("best (step \(b.step))", b.tokens, b.activations, w.height(forWidth: textWidth, measure, theme: theme)))
        return Layout(chart: chart, rows: rows, label: labelWidth, colorbar: bar)
    }

    public func size(of data: Data, options: Options, theme: Theme, width: Double?, measure: Canvas) -> Size {
        let w = width ?? 560
        let l = layout(data, theme: theme, width: w, measure: measure)
        let title = measure.measure("Ag", theme.titleFont).height + theme.gap
        let rows = l.rows.reduce(0) { $0 + $1.height + theme.gap * 2 }
        return Size(w, theme.margin * 2 + title + l.chart + theme.gap * 2 + rows)
    }

    func title(_ data: Data, options: Options) -> String {
        options.title.isEmpty ? "Text deep dream: \(data.target)" : options.title
    }

    /// Each text row: its step, its text, and its most active tokens.
    public func hitRegions(of data: Data, options: Options, in frame: Rect, theme: Theme, measure: Canvas) -> [HitRegion] {
        let l = layout(data, theme: theme, width: frame.width, measure: measure)
        var y = frame.y + theme.margin + measure.measure(title(data, options: options), theme.titleFont).height + theme.gap
        y += l.chart + theme.gap * 2
        return l.rows.map { row in
            let strongest = zip(row.tokens, row.values).sorted { $0.1 > $1.1 }.prefix(3)
            let rect = Rect(x: frame.x + theme.margin, y: y, width: frame.width - 2 * theme.margin, height: row.height)
            y += row.height + theme.gap * 2
            return HitRegion(rect, title: row.label, lines: [row.tokens.joined()]
                + strongest.map { "\(TokenText.visible($0.0))  \(String(format: "%.2f", $0.1))" })
        }
    }

    public func draw(_ data: Data, options: Options, on canvas: Canvas, in frame: Rect, theme: Theme) throws {
        let l = layout(data, theme: theme, width: frame.width, measure: canvas)
        var y = frame.y + theme.margin
        y += canvas.text(title(data, options: options), at: Point(frame.midX, y), font: theme.titleFont, color: theme.foreground,
                         anchor: TextAnchor(.center, .top), maxWidth: frame.width - 2 * theme.margin).height + theme.gap
        let steps = data.steps
        let activity = LineChart(series: [
            .init(label: "relaxed (softmax input)", points: steps.map { (Double($0.step), $0.relaxed) }, color: Palette.categorical(1)),
            .init(label: "projected (real tokens)", points: steps.map { (Double($0.step), $0.projected) }, color: theme.accent),
        ], xTitle: "step", yTitle: "activation")
        let temperature = LineChart(series: [.init(label: "τ", points: steps.map { (Double($0.step), $0.temperature) }, color: theme.muted, dashed: true)],
                                    xTitle: "step", yTitle: "temperature")
        let chartWidth = frame.width - 2 * theme.margin
        activity.draw(canvas, in: Rect(x: frame.x + theme.margin, y: y, width: chartWidth * 0.68, height: l.chart), theme: theme)
        temperature.draw(canvas, in: Rect(x: frame.x + theme.margin + chartWidth * 0.7, y: y, width: chartWidth * 0.3, height: l.chart), theme: theme)
        y += l.chart + theme.gap * 2

        let magnitude = max(1e-6, (l.rows.flatMap(\.values).map(abs).max() ?? 1))
        let scale = ColorScale(low: -magnitude, high: magnitude)
        let textX = frame.x + theme.margin + l.label
        let textWidth = frame.maxX - theme.margin - l.colorbar - textX
        let rowsTop = y
        for (i, row) in l.rows.enumerated() {
            let isBest = i == l.rows.count - 1
            canvas.text(row.label, at: Point(frame.x + theme.margin, y + 2), font: isBest ? theme.tickFont.withBold() : theme.tickFont,
                        color: isBest ? theme.foreground : theme.muted, maxWidth: l.label - theme.gap)
            WrappedTokens(tokens: row.tokens, values: row.values, colormap: .rdbu, scale: scale)
                .draw(canvas, in: Rect(x: textX, y: y, width: textWidth, height: row.height), theme: theme)
            y += row.height + theme.gap * 2
        }
        try Colorbar(colormap: .rdbu, scale: scale, label: "activation")
            .draw(canvas, in: Rect(x: frame.maxX - theme.margin - l.colorbar, y: rowsTop, width: l.colorbar, height: max(40, y - rowsTop - theme.gap * 2)), theme: theme)
    }
}
