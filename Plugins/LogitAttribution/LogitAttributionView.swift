import Foundation
import LoupeCore
import LoupeModel
import LoupeRender

/// Direct logit attribution: what each head (through W_O) and each MLP
/// writes, straight through the final norm and the unembedding, to a
/// target token's logit at one position, or to the difference between a
/// target's and a counterfactual's logits. The final norm's scale is frozen
/// at that position, as TransformerLens does, so the parts sum to the
/// model's own logit; the figure says by how little they miss it.
public struct LogitAttributionView: ViewPlugin {
    public init() {}

    public static let info = ViewInfo(
        id: "logit-attribution",
        title: "Direct logit attribution",
        summary: "Each head's and each MLP's direct contribution to a token's logit (or a logit difference), through the final norm with its scale frozen.",
        example: ViewExample(prompt: "When Mary and John went to the store, John gave a drink to",
                             options: ["target": " Mary", "counterfactual": " John"]),
        hooks: Model.attributionHooks)

    public struct Options: ViewOptions {
        @ViewOption("token whose logit is attributed: its text (one token, e.g. ' Mary') or id:N; default: the model's top-1 prediction at the position")
        public var target = ""
        @ViewOption("token whose logit is subtracted (the logit difference target − counterfactual): text or id:N; default: none")
        public var counterfactual = ""
        @ViewOption("position attributed (negative counts from the end)", range: -65536 ... 65535) public var position = -1
        @ViewOption("figure title (default: what is attributed, and where)") public var title = ""
        public init() {}
    }

    public struct Data: Codable, Sendable {
        /// The prompt's tokens.
        public var tokens: [String]
        public var position: Int
        public var target: NamedToken
        public var counterfactual: NamedToken?
        /// The model's own top-1 prediction at the position.
        public var predicted: NamedToken
        /// "final RMSNorm", "final LayerNorm"; Gemma 2 adds its post-attention norm.
        public var frozen: String
        public var attribution: LogitAttribution
    }

    /// How far the parts may miss the model's logit before the figure is
    /// refused: float32 activations summed in another order than the
    /// model's own products lose about 1e-6 of the parts' magnitudes; 1e-3
    /// of them means a part is missing or wrong.
    static let tolerance = 1e-3

    public func analyze(_ input: AnalysisInput, options: Options) throws -> Data {
        let id = Self.info.id, model = input.model
        let p = try input.position(options.position, view: id)
        guard let logits = input.forward.logits else {
            throw CoreError.invalidInput(view: id, detail: "the pass kept no logits")
        }
        let top = Logits.topK(logits.row(p), 1)[0]
        let predicted = NamedToken(id: top, text: model.tokenizer.displayText(of: top))
        let target = try NamedToken.resolve(options.target, model: model, view: id, option: "target") ?? predicted
        let counterfactual = try NamedToken.resolve(options.counterfactual, model: model, view: id, option: "counterfactual")
        if let counterfactual, counterfactual.id == target.id {
            throw CoreError.invalidInput(view: id, detail: "counterfactual and target are the same token ('\(TokenText.visible(target.text))'): their difference is 0 everywhere")
        }
        let a = try model.directLogitAttribution(input.forward, position: p, target: target.id, counterfactual: counterfactual?.id)
        let magnitude = Self.magnitude(a)
        guard a.residual <= Self.tolerance * max(1, magnitude) else {
            throw CoreError.invalidInput(view: id, detail: "the parts sum to \(a.total) but the model's logit is \(a.modelLogit) (off by more than \(Self.tolerance) of the parts' size \(magnitude)); the attribution is not drawn")
        }
        var frozen = model.config.norm == .rms ? "final RMSNorm" : "final LayerNorm"
        if model.config.postNorms { frozen += " and each attention post-norm" }
        return Data(tokens: input.tokens, position: p, target: target, counterfactual: counterfactual, predicted: predicted,
                    frozen: frozen, attribution: a)
    }

    /// Σ |part|: the size float rounding is measured against.
    static func magnitude(_ a: LogitAttribution) -> Double {
        abs(a.embed) + abs(a.positionEmbed ?? 0) + a.heads.joined().reduce(0) { $0 + abs($1) }
            + (a.attentionBias ?? []).reduce(0) { $0 + abs($1) } + a.mlp.reduce(0) { $0 + abs($1) } + abs(a.normBias)
    }

    public func validate(_ data: Data, options: Options) throws {
        let a = data.attribution
        try RecordCheck.nonEmpty(data.tokens, "data.tokens")
        try RecordCheck.within(data.position, 0 ... data.tokens.count - 1, "data.position")
        try RecordCheck.nonEmpty(a.heads, "data.attribution.heads", max: 4096)
        let layers = a.heads.count
        try RecordCheck.nonEmpty(a.heads[0], "data.attribution.heads[0]", max: 4096)
        try RecordCheck.rows(a.heads, a.heads[0].count, "data.attribution.heads", "one per head")
        try RecordCheck.count(a.mlp, layers, "data.attribution.mlp", "one per block")
        try RecordCheck.count(a.accumulated, layers + 1, "data.attribution.accumulated", "one per block, and the final residual")
        if let bias = a.attentionBias { try RecordCheck.count(bias, layers, "data.attribution.attention_bias", "one per block") }
        let all = [a.embed, a.positionEmbed ?? 0, a.normBias, a.total, a.modelLogit] + a.heads.joined() + a.mlp + a.accumulated + (a.attentionBias ?? [])
        if all.contains(where: { !$0.isFinite }) { throw RecordProblem("data.attribution", "holds a value that is not a finite number") }
    }

    /// "' Mary' − ' John'", or "' Mary'".
    static func what(_ data: Data) -> String {
        "logit of " + TokenText.visible(data.target.text) + (data.counterfactual.map { " − logit of " + TokenText.visible($0.text) } ?? "")
    }

    func heatmap(_ data: Data, options: Options) -> Heatmap {
        let a = data.attribution
        let bias = a.attentionBias
        let values = a.heads.indices.map { l in a.heads[l] + (bias.map { [$0[l]] } ?? []) + [a.mlp[l]] }
        let m = max(values.joined().map(abs).max() ?? 0, 1e-9)
        let columns = (0 ..< a.heads[0].count).map { "\($0)" } + (bias == nil ? [] : ["b_O"]) + ["MLP"]
        let title = options.title.isEmpty
            ? "Direct attribution: " + TokenText.visible(data.target.text) + (data.counterfactual.map { " − " + TokenText.visible($0.text) } ?? "")
            : options.title
        return Heatmap(values: values, colormap: .rdbu, scale: ColorScale(low: -m, high: m),
                       rowLabels: a.heads.indices.map { "\($0)" }, columnLabels: columns,
                       rowTitle: "block", columnTitle: "head (through W_O), then the MLP",
                       colorbarLabel: "direct contribution", title: title)
    }

    func chart(_ data: Data) -> LineChart {
        let a = data.attribution
        let points = a.accumulated.enumerated().map { (Double($0.offset), $0.element) }
        return LineChart(series: [LineChart.Series(label: "accumulated residual", points: points, color: Palette.categorical(0))],
                         xTitle: "entering block (last: final)", yTitle: data.counterfactual == nil ? "logit" : "logit diff")
    }

    /// The footer: the parts that are no cell, the check, the convention.
    static func note(_ data: Data) -> String {
        let a = data.attribution
        func f(_ v: Double) -> String { String(format: "%+.3f", v) }
        var parts = ["embedding \(f(a.embed))"]
        if let pos = a.positionEmbed { parts.append("positions \(f(pos))") }
        if a.normBias != 0 { parts.append("final-norm bias \(f(a.normBias))") }
        let prediction = data.predicted.id == data.target.id ? "the model's top-1" : "model's top-1: \(TokenText.visible(data.predicted.text))"
        return "The \(what(data)) at position \(data.position) \(TokenText.visible(data.tokens[data.position])); "
            + parts.joined(separator: ", ") + ". Parts sum to \(String(format: "%.4f", a.total)); the model's "
            + (data.counterfactual == nil ? "logit" : "logit difference") + " is \(String(format: "%.4f", a.modelLogit))"
            + " (off by \(String(format: "%.1e", a.residual))). Target \(TokenText.visible(data.target.text)) is \(prediction)."
            + " Scale of the \(data.frozen) frozen at position \(data.position) (TransformerLens convention)"
            + (a.softcap.map { "; logits before the soft cap at \(ColorScale.format($0))" } ?? "") + "."
    }

    /// The three parts stacked in `frame`: heatmap, chart, note.
    func layout(_ data: Data, options: Options, width: Double, theme: Theme, measure: Canvas) -> (heatmap: Double, chart: Double, note: Double) {
        let h = heatmap(data, options: options).height(forWidth: width, measure, theme: theme)
        let chart = max(140, min(220, width * 0.45))
        let note = measure.paragraphHeight(Self.note(data), theme.annotationFont, width: width - 2 * theme.margin) + theme.margin
        return (h, chart, note)
    }

    public func size(of data: Data, options: Options, theme: Theme, width: Double?, measure: Canvas) -> Size {
        let w = width ?? max(380, heatmap(data, options: options).naturalSize(measure, theme: theme).width)
        let l = layout(data, options: options, width: w, theme: theme, measure: measure)
        return Size(w, l.heatmap + l.chart + l.note)
    }

    func frames(_ data: Data, options: Options, in frame: Rect, theme: Theme, measure: Canvas) -> (Rect, Rect, Rect) {
        let l = layout(data, options: options, width: frame.width, theme: theme, measure: measure)
        let top = Rect(x: frame.x, y: frame.y, width: frame.width, height: l.heatmap)
        let chart = Rect(x: frame.x, y: top.maxY, width: frame.width, height: l.chart)
        return (top, chart, Rect(x: frame.x, y: chart.maxY, width: frame.width, height: max(0, frame.maxY - chart.maxY)))
    }

    public func draw(_ data: Data, options: Options, on canvas: Canvas, in frame: Rect, theme: Theme) throws {
        let (top, chartFrame, note) = frames(data, options: options, in: frame, theme: theme, measure: canvas)
        try heatmap(data, options: options).draw(canvas, in: top, theme: theme)
        chart(data).draw(canvas, in: chartFrame, theme: theme)
        canvas.paragraph(Self.note(data), at: Point(note.x + theme.margin, note.y), font: theme.annotationFont, color: theme.muted,
                         width: note.width - 2 * theme.margin)
    }

    /// Each cell: its block and head (or MLP) and its contribution; each
    /// layer of the chart: the accumulated logit there.
    public func hitRegions(of data: Data, options: Options, in frame: Rect, theme: Theme, measure: Canvas) -> [HitRegion] {
        let (top, chartFrame, _) = frames(data, options: options, in: frame, theme: theme, measure: measure)
        let a = data.attribution, heads = a.heads[0].count
        let map = heatmap(data, options: options)
        let what = Self.what(data)
        var regions: [HitRegion] = []
        for (l, row) in map.cellRects(measure, in: top, theme: theme).enumerated() {
            for (c, rect) in row.enumerated() {
                let name = c < heads ? "head \(c)" : (c == row.count - 1 ? "MLP" : "attention output bias")
                regions.append(HitRegion(rect, title: "block \(l), \(name)",
                                         lines: ["direct contribution to the \(what): \(String(format: "%+.4f", map.values[l][c]))"]))
            }
        }
        let g = chart(data).geometry(measure, in: chartFrame, theme: theme)
        let xs = a.accumulated.indices.map { g.x(Double($0)) }
        for (k, value) in a.accumulated.enumerated() {
            let left = k == 0 ? g.plot.x : (xs[k - 1] + xs[k]) / 2, right = k == xs.count - 1 ? g.plot.maxX : (xs[k] + xs[k + 1]) / 2
            let title = k == a.heads.count ? "final residual" : "residual entering block \(k)"
            regions.append(HitRegion(Rect(x: left, y: g.plot.y, width: max(0, right - left), height: g.plot.height), title: title,
                                     lines: ["\(what) through the frozen final norm: \(String(format: "%.4f", value))"]))
        }
        return regions
    }

    /// The head or MLP that writes most for the target, and most against it.
    public func findings(of data: Data, options: Options) -> [String] {
        let a = data.attribution
        var parts: [(String, Double)] = []
        for (l, row) in a.heads.enumerated() {
            for (h, v) in row.enumerated() { parts.append(("head \(l).\(h)", v)) }
            parts.append(("MLP \(l)", a.mlp[l]))
        }
        guard let most = parts.max(by: { $0.1 < $1.1 }), let least = parts.min(by: { $0.1 < $1.1 }) else { return [] }
        return ["\(most.0) writes most for the \(Self.what(data)) (\(String(format: "%+.3f", most.1)) of \(String(format: "%.3f", a.modelLogit))); \(least.0) most against it (\(String(format: "%+.3f", least.1)))"]
    }
}
