import Foundation
import LoupeCore
import LoupeModel
import LoupeRender
import Synchronization

/// Text deep dream: real text searched to excite a neuron or a residual
/// direction, by gradient-guided token swaps (see `SwapDreamer`, the
/// default) or by gradient ascent on a relaxed one-hot input (see
/// `Dreamer`), drawn against the best passage of a prompt set for the same
/// target, so a reader sees whether the dream beats real text.
public struct TextDeepDreamView: ViewPlugin {
    public init() {}

    public static let info = ViewInfo(
        id: "text-deep-dream",
        title: "Text deep dream",
        summary: "Text searched by gradient-guided token swaps to excite a neuron or a residual direction, against the best real passage of a prompt set.",
        example: ViewExample(prompt: " The capital of France is the city of", options: ["layer": "15", "neuron": "100", "steps": "12"]),
        hooks: [])

    public enum Start: String, Codable, Sendable, OptionChoice { case prompt, random, promptSet = "prompt-set" }
    public enum Method: String, Codable, Sendable, OptionChoice { case discrete, relaxed }

    public struct Options: ViewOptions {
        @ViewOption("block of the target", range: 0 ... 4095) public var layer = 15
        @ViewOption("neuron of blocks.LAYER.mlp.hook_post to excite", range: 0 ... 1 << 24) public var neuron = 100
        @ViewOption("file with a direction in blocks.LAYER.hook_resid_post to excite instead (d_model float32 values, or numbers as text)")
        public var direction = ""
        @ViewOption("discrete: gradient-guided token swaps, every candidate run for real (GCG / EPO); relaxed: gradient ascent on softmax mixtures of embeddings")
        public var method: Method = .discrete
        @ViewOption("free token positions", range: 1 ... 64) public var positions = 8
        @ViewOption("optimisation steps", range: 1 ... 2000) public var steps = 40
        @ViewOption("discrete: candidate texts run per step", range: 1 ... 4096) public var candidates = 64
        @ViewOption("discrete: tokens per position the candidates draw from (largest gradient; and with fluency, the model's own predictions)", range: 1 ... 4096)
        public var topk = 32
        @ViewOption("discrete: texts kept from step to step (the best first)", range: 1 ... 64) public var beam = 4
        @ViewOption("discrete: weight λ of the text's cross-entropy under the model; candidates score activation − λ · cross-entropy", range: 0 ... 100)
        public var fluency = 0.0
        @ViewOption("relaxed: Adam learning rate (on the logits z; Adam moves each by about lr per step)", range: 1e-6 ... 100)
        public var lr = 1.0
        @ViewOption("relaxed: softmax temperature at the first step", range: 1e-4 ... 1e4) public var tauStart = 1.0
        @ViewOption("relaxed: temperature at the last step (annealed geometrically)", range: 1e-4 ... 1e4) public var tauEnd = 0.1
        @ViewOption("where the free tokens start: the prompt, random tokens, or the best passage of the prompt set") public var `init`: Start = .prompt
        @ViewOption("relaxed: logit given to the starting token of each position", range: -1000 ... 1000) public var initLogit = 2.0
        @ViewOption(promptSet: "prompt set whose best passage is the reference (and the start with init=prompt-set)") public var prompts = PromptSet.defaultPath
        @ViewOption("draw the best passage of the prompt set for the same target as a reference") public var reference = true
        @ViewOption("random seed (candidates, init=random, and padding a short prompt)", range: 0 ... Int(Int32.max)) public var seed = 0
        @ViewOption("how many steps' text to show", range: 1 ... 64) public var show = 4
        @ViewOption("figure title (default: the target)") public var title = ""
        public init() {}

        enum CodingKeys: String, CodingKey {
            case layer, neuron, direction, method, positions, steps, candidates, topk, beam, fluency, lr, tauStart = "tau_start", tauEnd = "tau_end",
                 `init`, initLogit = "init_logit", prompts, reference, seed, show, title
        }
    }

    public struct Step: Codable, Sendable {
        public var step: Int
        /// Relaxed only: the temperature, and the objective on the softmax mixtures (a diagnostic).
        public var temperature: Double?
        public var relaxed: Double?
        /// The target on the step's real tokens (discrete: the current text; relaxed: the argmax projection).
        public var projected: Double
        /// The text's cross-entropy under the model, nats per free token (discrete).
        public var crossEntropy: Double?
        public var text: String
        /// For the steps drawn: the tokens and each one's activation.
        public var tokens: [String]?
        public var activations: [Double]?

        enum CodingKeys: String, CodingKey { case step, temperature, relaxed, projected, crossEntropy = "cross_entropy", text, tokens, activations }
    }

    /// A real text and what the target does on it, measured by running
    /// prefix + text through the model alone.
    public struct Text: Codable, Sendable {
        public var text: String
        public var ids: [Int]
        public var tokens: [String]
        public var activation: Double
        public var activations: [Double]
        public var crossEntropy: Double

        enum CodingKeys: String, CodingKey { case text, ids, tokens, activation, activations, crossEntropy = "cross_entropy" }
    }

    public struct Best: Codable, Sendable {
        public var step: Int
        public var text: Text
    }

    /// The prompt set's best window of `positions` tokens for the target.
    public struct Passage: Codable, Sendable {
        public var topic: String
        /// 1-based, in the prompt set's file order.
        public var prompt: Int
        public var text: Text
    }

    public struct Data: Codable, Sendable {
        public var target: String
        public var layer: Int
        public var neuron: Int?
        public var method: Method
        public var fluency: Double
        public var prefix: [String]
        public var start: String
        public var steps: [Step]
        public var best: Best
        public var reference: Passage?
        /// Candidate texts run through the model (discrete).
        public var evaluated: Int
    }

    /// One optimisation step for 8 free positions after BOS and neuron 100
    /// (of the model's MLP width) of block 15 (or the last): the relaxed
    /// ascent stopping at the target's block and through the whole model,
    /// and one swap step of 64 candidates.
    public static func benchmarks(on model: Model) throws -> [ViewBenchmark] {
        let layer = min(15, model.config.layers - 1)
        let seed = Array(model.tokenizer.encode(" The capital of France is the city of").prefix(8))
        let start = seed + Array(repeating: seed.last ?? 0, count: 8 - seed.count)
        let prefix = [model.tokenizer.bosId ?? 0]
        let settings = DreamSettings(layer: layer, neuron: 100 % model.config.dMLP, direction: nil,
                                     prefix: prefix, start: start, steps: 100,
                                     learningRate: 0.1, temperatureStart: 0.8, temperatureEnd: 0.8, initLogit: 8)
        let relaxed = try [false, true].map { fullModel in
            let dreamer = Mutex(try Dreamer(model: model, settings: settings))
            let name = fullModel ? "one step, through the whole model" : "one step, stopping at block \(layer)"
            return ViewBenchmark(name) { _ = try dreamer.withLock { try $0.ascend(temperature: 0.8, fullModel: fullModel) } }
        }
        let swaps = Mutex(try SwapDreamer(model: model, settings: SwapSettings(
            target: DreamTarget(layer: layer, neuron: 100 % model.config.dMLP, direction: nil), prefix: prefix, start: start,
            candidates: 64, topK: 32, beam: 4, fluency: 0, seed: 0)))
        return relaxed + [ViewBenchmark("one swap step, 64 candidates") { _ = try swaps.withLock { try $0.step() } }]
    }

    /// Options of the other method are refused when set, never ignored.
    func checkMethodOptions(_ o: Options) throws {
        let d = Options()
        let relaxedOnly = [("lr", o.lr != d.lr), ("tau_start", o.tauStart != d.tauStart), ("tau_end", o.tauEnd != d.tauEnd),
                           ("init_logit", o.initLogit != d.initLogit)]
        let discreteOnly = [("candidates", o.candidates != d.candidates), ("topk", o.topk != d.topk), ("beam", o.beam != d.beam),
                            ("fluency", o.fluency != d.fluency)]
        let (wrong, other) = o.method == .discrete ? (relaxedOnly, "relaxed") : (discreteOnly, "discrete")
        if let name = wrong.first(where: \.1)?.0 {
            throw CoreError.invalidInput(view: Self.info.id, detail: "option '\(name)' applies to method=\(other), not method=\(o.method.rawValue)")
        }
    }

    public func analyze(_ input: AnalysisInput, options o: Options) throws -> Data {
        let model = input.model, c = model.config
        // The declared ranges were checked when the options were read; these need the model.
        try input.checkLayer(o.layer, view: Self.info.id)
        if o.direction.isEmpty { try input.checkNeuron(o.neuron, view: Self.info.id) }
        try checkMethodOptions(o)
        let direction = o.direction.isEmpty ? nil : try readDirection(o.direction, dModel: c.dModel)
        let target = DreamTarget(layer: o.layer, neuron: o.neuron, direction: direction)
        let tokenizer = model.tokenizer

        let prefix = model.prependsBOS ? [tokenizer.bosId ?? 0] : [input.ids.first ?? 0]
        if o.reference || o.`init` == .promptSet { input.report("reference passage: prompt set", 0, 1) }
        let reference = o.reference || o.`init` == .promptSet
            ? try bestPassage(model: model, set: PromptSet(path: o.prompts), target: target, width: o.positions, prefix: prefix) : nil
        var rng = SeededRandom(seed: UInt64(bitPattern: Int64(o.seed)))
        func randomTokens(_ n: Int) -> [Int] { (0 ..< n).map { _ in Int(rng.next() % UInt64(c.vocabularySize)) } }
        var start: [Int]
        switch o.`init` {
        case .random: start = randomTokens(o.positions)
        case .prompt:
            start = Array(input.ids.drop { prefix.contains($0) && $0 == input.ids.first }.prefix(o.positions))
            start += randomTokens(o.positions - start.count)
        case .promptSet: start = reference!.text.ids
        }
        let shown = Set(Self.shownSteps(count: o.show, steps: o.steps))
        func step(_ s: Int, ids: [Int], activation: Double, per: [Double], ce: Double?, tau: Double? = nil, relaxed: Double? = nil) -> Step {
            Step(step: s, temperature: tau, relaxed: relaxed, projected: activation, crossEntropy: ce, text: tokenizer.decode(ids),
                 tokens: shown.contains(s) ? ids.map { tokenizer.displayText(of: $0) } : nil, activations: shown.contains(s) ? per : nil)
        }
        var steps: [Step] = []
        var best: (step: Int, ids: [Int], score: Double)?
        var evaluated = 0
        switch o.method {
        case .discrete:
            var dreamer = try SwapDreamer(model: model, settings: SwapSettings(
                target: target, prefix: prefix, start: start, candidates: o.candidates, topK: o.topk, beam: o.beam, fluency: o.fluency,
                seed: UInt64(bitPattern: Int64(o.seed))))
            for s in 0 ... o.steps {
                if s > 0 { evaluated += try dreamer.step() }
                input.report("steps", s, o.steps)
                let m = dreamer.current
                steps.append(step(s, ids: m.ids, activation: m.activation, per: m.perToken, ce: m.crossEntropy))
                if best == nil || dreamer.score(m) > best!.score { best = (s, m.ids, dreamer.score(m)) }
            }
        case .relaxed:
            let settings = DreamSettings(layer: o.layer, neuron: direction == nil ? o.neuron : nil, direction: direction, prefix: prefix,
                                         start: start, steps: o.steps, learningRate: Float(o.lr), temperatureStart: Float(o.tauStart),
                                         temperatureEnd: Float(o.tauEnd), initLogit: Float(o.initLogit))
            var dreamer = try Dreamer(model: model, settings: settings)
            for s in 0 ... o.steps {
                let tau = settings.temperature(at: min(s, o.steps - 1))
                let e = s < o.steps ? try dreamer.ascend(temperature: tau) : try dreamer.evaluate(temperature: tau)
                input.report("steps", s, o.steps)
                steps.append(step(s, ids: e.projected, activation: e.mean, per: e.perToken, ce: nil, tau: Double(tau), relaxed: Double(e.relaxed)))
                if best == nil || e.mean > best!.score { best = (s, e.projected, e.mean) }
            }
        }
        // The best text, run again alone: what the figure reports is what a reader re-running it gets.
        let bestText = try measured(best!.ids, model: model, target: target, prefix: prefix)
        let name = direction == nil ? "neuron \(o.neuron) of block \(o.layer) (mlp.hook_post)" : "a direction in block \(o.layer)'s residual output"
        return Data(target: name, layer: o.layer, neuron: direction == nil ? o.neuron : nil, method: o.method, fluency: o.fluency,
                    prefix: prefix.map { tokenizer.displayText(of: $0) }, start: tokenizer.decode(start), steps: steps,
                    best: Best(step: best!.step, text: bestText), reference: o.reference ? reference : nil, evaluated: evaluated)
    }

    /// `prefix + ids` run alone, with its cross-entropy.
    func measured(_ ids: [Int], model: Model, target: DreamTarget, prefix: [Int]) throws -> Text {
        let m = try target.measure(model, prefix: prefix, texts: [ids], fluency: true)[0]
        return Text(text: model.tokenizer.decode(ids), ids: ids, tokens: ids.map { model.tokenizer.displayText(of: $0) },
                    activation: m.activation, activations: m.perToken, crossEntropy: m.crossEntropy ?? .nan)
    }

    /// The steps whose text is drawn: evenly spread, the first and last included.
    static func shownSteps(count: Int, steps: Int) -> [Int] {
        guard count > 1 else { return [steps] }
        return (0 ..< count).map { Int((Double($0) * Double(steps) / Double(count - 1)).rounded()) }
    }

    /// The window of `width` consecutive tokens of the prompt set that, run
    /// alone after the prefix as a dream is, excites the target most. Every
    /// prompt runs once; its windows are ranked by their mean activation in
    /// context; the 64 best (at most 2 per prompt) run again alone, and the
    /// best of those is the passage. (Running every window alone would take
    /// 15 passes of the set.)
    func bestPassage(model: Model, set: PromptSet, target: DreamTarget, width: Int, prefix: [Int]) throws -> Passage {
        let run = try PromptSetRun.run(set, model: model, hook: target.hook, block: target.layer)
        let batch = run.ids
        let first = model.prependsBOS ? 1 : 0
        var windows: [(mean: Double, prompt: Int, start: Int)] = []
        for (i, ids) in batch.enumerated() where ids.count - first >= width {
            let values = (0 ..< ids.count).map { target.value(run.activations[i], $0, model.config) }
            let ranked = (first ... ids.count - width).map { p in (mean: values[p ..< p + width].reduce(0, +) / Double(width), prompt: i, start: p) }
            windows += ranked.sorted { ($0.mean, $1.start) > ($1.mean, $0.start) }.prefix(2)
        }
        guard !windows.isEmpty else {
            throw CoreError.invalidInput(view: Self.info.id, detail: "no prompt in '\(set.path)' has \(width) tokens for a reference passage (positions=\(width))")
        }
        let screened = windows.sorted { ($0.mean, $1.prompt, $1.start) > ($1.mean, $0.prompt, $0.start) }.prefix(64)
        let texts = screened.map { Array(batch[$0.prompt][$0.start ..< $0.start + width]) }
        let alone = try target.measure(model, prefix: prefix, texts: texts, fluency: false)
        let k = alone.indices.max { (alone[$0].activation, $1) < (alone[$1].activation, $0) }!
        let w = screened[screened.index(screened.startIndex, offsetBy: k)]
        return Passage(topic: set.entries[w.prompt].topic, prompt: w.prompt + 1,
                       text: try measured(texts[k], model: model, target: target, prefix: prefix))
    }

    func readDirection(_ path: String, dModel: Int) throws -> [Float] {
        try LoupeCore.readDirection(path, dModel: dModel, view: Self.info.id)
    }

    // MARK: Drawing

    /// Each text row has one activation per token; at most 64 rows are
    /// drawn; the chart's values are within ±1e30 (a chart of larger ones
    /// would say nothing).
    public func validate(_ data: Data, options: Options) throws {
        try RecordCheck.nonEmpty(data.steps, "data.steps", max: 100_000)
        let limit = 1e30
        func check(_ v: Double?, _ name: String) throws { if let v { try RecordCheck.within(v, -limit ... limit, name) } }
        for (i, s) in data.steps.enumerated() {
            try check(s.relaxed, "data.steps[\(i)].relaxed")
            try check(s.projected, "data.steps[\(i)].projected")
            try check(s.temperature, "data.steps[\(i)].temperature")
            try check(s.crossEntropy, "data.steps[\(i)].cross_entropy")
            try RecordCheck.within(s.step, -Int(Int32.max) ... Int(Int32.max), "data.steps[\(i)].step")
            if s.tokens != nil || s.activations != nil {
                try RecordCheck.count(s.activations ?? [], (s.tokens ?? []).count, "data.steps[\(i)].activations", "one per token")
                try RecordCheck.nonEmpty(s.tokens ?? [], "data.steps[\(i)].tokens", max: 4096)
                for (k, a) in (s.activations ?? []).enumerated() { try RecordCheck.within(a, -limit ... limit, "data.steps[\(i)].activations[\(k)]") }
            }
        }
        let drawn = data.steps.filter { $0.tokens != nil }.count
        guard drawn <= 64 else { throw RecordProblem("data.steps", "has \(drawn) steps with tokens; at most 64 are drawn") }
        for (name, t) in [("data.best.text", data.best.text)] + (data.reference.map { [("data.reference.text", $0.text)] } ?? []) {
            try RecordCheck.nonEmpty(t.tokens, name + ".tokens", max: 4096)
            try RecordCheck.count(t.activations, t.tokens.count, name + ".activations", "one per token")
            try check(t.activation, name + ".activation")
            for (k, a) in t.activations.enumerated() { try RecordCheck.within(a, -limit ... limit, "\(name).activations[\(k)]") }
        }
    }

    struct Row {
        var label: String
        var tokens: [String]
        var values: [Double]
        var height: Double
        var emphasis: Bool
    }

    struct Layout {
        var chart: Double
        var rows: [Row]
        var label: Double
        var colorbar: Double
        /// In a narrow figure the two charts go one above the other.
        var stacked: Bool
        /// The height of the charts' area.
        var charts: Double { stacked ? 2 * chart : chart }
    }

    func stepLabel(_ s: Step) -> String {
        if let tau = s.temperature { return "step \(s.step) · τ \(String(format: "%.2f", tau))" }
        return "step \(s.step)"
    }

    func layout(_ data: Data, theme: Theme, width: Double, measure: Canvas) -> Layout {
        let chart = max(120, width * 0.3)
        let labels = ["step 000 · τ 0.00", "best (step 000)", "best passage"]
        let labelWidth = (labels.map { measure.measure($0, theme.tickFont.withBold()).width }.max() ?? 0) + theme.gap
        let scale = ColorScale(low: -1, high: 1)
        let bar = Colorbar(colormap: .rdbu, scale: scale, label: "activation").width(measure, theme: theme)
        let textWidth = width - 2 * theme.margin - labelWidth - bar
        func row(_ label: String, _ tokens: [String], _ values: [Double], emphasis: Bool = false) -> Row {
            let w = WrappedTokens(tokens: tokens, values: values, colormap: .rdbu, scale: scale)
            return Row(label: label, tokens: tokens, values: values, height: w.height(forWidth: textWidth, measure, theme: theme), emphasis: emphasis)
        }
        var rows = data.steps.filter { $0.tokens != nil }.map { row(stepLabel($0), $0.tokens ?? [], $0.activations ?? []) }
        rows.append(row("best (step \(data.best.step))", data.best.text.tokens, data.best.text.activations, emphasis: true))
        if let r = data.reference { rows.append(row("best passage", r.text.tokens, r.text.activations, emphasis: true)) }
        return Layout(chart: chart, rows: rows, label: labelWidth, colorbar: bar, stacked: width - 2 * theme.margin < 360)
    }

    /// One line under the charts: the best dream against the best passage.
    func verdict(_ data: Data) -> String {
        let b = data.best.text
        var s = (data.fluency > 0 ? "Fluency weight \(String(format: "%g", data.fluency)): best" : "Best") + " dream \(String(format: "%.3f", b.activation)) (cross-entropy \(String(format: "%.2f", b.crossEntropy)))"
        if let r = data.reference {
            s += (b.activation >= r.text.activation ? " ≥ " : " < ")
            s += "best passage \(String(format: "%.3f", r.text.activation)) (\(String(format: "%.2f", r.text.crossEntropy)); \(r.topic) #\(r.prompt))"
        }
        return s + ", each run alone"
    }

    /// The best dream against the best passage.
    public func findings(of data: Data, options: Options) -> [String] { [verdict(data)] }

    public func size(of data: Data, options: Options, theme: Theme, width: Double?, measure: Canvas) -> Size {
        let w = width ?? 560
        let l = layout(data, theme: theme, width: w, measure: measure)
        let text = w - 2 * theme.margin
        let title = measure.paragraphHeight(self.title(data, options: options), theme.titleFont, width: text) + theme.gap
        let verdict = measure.paragraphHeight(self.verdict(data), theme.tickFont, width: text) + theme.gap
        let rows = l.rows.reduce(0) { $0 + $1.height + theme.gap * 2 }
        return Size(w, theme.margin * 2 + title + l.charts + theme.gap * 2 + verdict + rows)
    }

    func title(_ data: Data, options: Options) -> String {
        options.title.isEmpty ? "Text deep dream: \(data.target)" : options.title
    }

    /// Each text row: its step, its text, and its most active tokens.
    public func hitRegions(of data: Data, options: Options, in frame: Rect, theme: Theme, measure: Canvas) -> [HitRegion] {
        let l = layout(data, theme: theme, width: frame.width, measure: measure)
        let text = frame.width - 2 * theme.margin
        var y = frame.y + theme.margin + measure.paragraphHeight(title(data, options: options), theme.titleFont, width: text) + theme.gap
        y += l.charts + theme.gap * 2 + measure.paragraphHeight(verdict(data), theme.tickFont, width: text) + theme.gap
        return l.rows.map { row in
            let strongest = zip(row.tokens, row.values).sorted { $0.1 > $1.1 }.prefix(3)
            let rect = Rect(x: frame.x + theme.margin, y: y, width: frame.width - 2 * theme.margin, height: row.height)
            y += row.height + theme.gap * 2
            let mean = row.values.reduce(0, +) / Double(max(1, row.values.count))
            return HitRegion(rect, title: row.label, lines: [row.tokens.joined(), "mean activation \(String(format: "%.3f", mean))"]
                + strongest.map { "\(TokenText.visible($0.0))  \(String(format: "%.2f", $0.1))" })
        }
    }

    public func draw(_ data: Data, options: Options, on canvas: Canvas, in frame: Rect, theme: Theme) throws {
        let l = layout(data, theme: theme, width: frame.width, measure: canvas)
        var y = frame.y + theme.margin
        y += canvas.paragraph(title(data, options: options), at: Point(frame.midX, y), font: theme.titleFont, color: theme.foreground,
                              width: frame.width - 2 * theme.margin, align: .center) + theme.gap
        let steps = data.steps
        let xs = (Double(steps.first?.step ?? 0), Double(steps.last?.step ?? 1))
        var activity: [LineChart.Series] = []
        if data.method == .relaxed {
            activity.append(.init(label: "relaxed input (diagnostic)", points: steps.compactMap { s in s.relaxed.map { (Double(s.step), $0) } },
                                  color: Palette.categorical(1)))
        }
        if data.fluency > 0 {
            // What the search climbs: the best text's score, of which the activation is one part.
            activity.append(.init(label: "best score (− \(String(format: "%g", data.fluency)) · CE)",
                                  points: steps.compactMap { s in s.crossEntropy.map { (Double(s.step), s.projected - data.fluency * $0) } },
                                  color: Palette.categorical(2)))
        }
        activity.append(.init(label: data.method == .relaxed ? "projected (real tokens)" : data.fluency > 0 ? "its activation" : "best so far (real tokens)",
                              points: steps.map { (Double($0.step), $0.projected) }, color: theme.accent))
        if let r = data.reference {
            activity.append(.init(label: "best passage", points: [(xs.0, r.text.activation), (xs.1, r.text.activation)],
                                  color: theme.muted, dashed: true))
        }
        let right: LineChart
        if data.method == .relaxed {
            right = LineChart(series: [.init(label: "τ", points: steps.compactMap { s in s.temperature.map { (Double(s.step), $0) } },
                                             color: theme.muted, dashed: true)], xTitle: "step", yTitle: "temperature")
        } else {
            var series: [LineChart.Series] = [.init(label: data.fluency > 0 ? "best score's" : "best so far", points: steps.compactMap { s in s.crossEntropy.map { (Double(s.step), $0) } },
                                                    color: theme.accent)]
            if let r = data.reference {
                series.append(.init(label: "best passage", points: [(xs.0, r.text.crossEntropy), (xs.1, r.text.crossEntropy)],
                                    color: theme.muted, dashed: true))
            }
            right = LineChart(series: series, xTitle: "step", yTitle: "cross-entropy (nats)")
        }
        let chartWidth = frame.width - 2 * theme.margin
        let activityChart = LineChart(series: activity, xTitle: "step", yTitle: "activation")
        if l.stacked {
            activityChart.draw(canvas, in: Rect(x: frame.x + theme.margin, y: y, width: chartWidth, height: l.chart), theme: theme)
            right.draw(canvas, in: Rect(x: frame.x + theme.margin, y: y + l.chart, width: chartWidth, height: l.chart), theme: theme)
        } else {
            activityChart.draw(canvas, in: Rect(x: frame.x + theme.margin, y: y, width: chartWidth * 0.6, height: l.chart), theme: theme)
            right.draw(canvas, in: Rect(x: frame.x + theme.margin + chartWidth * 0.63, y: y, width: chartWidth * 0.37, height: l.chart), theme: theme)
        }
        y += l.charts + theme.gap * 2
        y += canvas.paragraph(verdict(data), at: Point(frame.x + theme.margin, y), font: theme.tickFont, color: theme.foreground,
                              width: chartWidth) + theme.gap

        let magnitude = max(1e-6, (l.rows.flatMap(\.values).map(abs).max() ?? 1))
        let scale = ColorScale(low: -magnitude, high: magnitude)
        let textX = frame.x + theme.margin + l.label
        let textWidth = frame.maxX - theme.margin - l.colorbar - textX
        let rowsTop = y
        for row in l.rows {
            canvas.text(row.label, at: Point(frame.x + theme.margin, y + 2), font: row.emphasis ? theme.tickFont.withBold() : theme.tickFont,
                        color: row.emphasis ? theme.foreground : theme.muted, maxWidth: l.label - theme.gap)
            WrappedTokens(tokens: row.tokens, values: row.values, colormap: .rdbu, scale: scale)
                .draw(canvas, in: Rect(x: textX, y: y, width: textWidth, height: row.height), theme: theme)
            y += row.height + theme.gap * 2
        }
        try Colorbar(colormap: .rdbu, scale: scale, label: "activation")
            .draw(canvas, in: Rect(x: frame.maxX - theme.margin - l.colorbar, y: rowsTop, width: l.colorbar, height: max(40, y - rowsTop - theme.gap * 2)), theme: theme)
    }
}
