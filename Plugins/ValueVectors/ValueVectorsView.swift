import Foundation
import LoupeCore
import LoupeModel
import LoupeRender

/// FFN value vectors (Geva et al. 2022): an MLP's output at a position is a
/// sum of sub-updates mᵢ·vᵢ, neuron i's activation times its value vector
/// (a column of the down projection). The view ranks them by |mᵢ|·‖vᵢ‖ and
/// reads each in the vocabulary through the final norm's weight and the
/// unembedding: the tokens the sub-update promotes and suppresses, and
/// whether the model's prediction is among those it promotes. With
/// `neurons` it shows the chosen neurons instead.
public struct ValueVectorsView: ViewPlugin {
    public init() {}

    public static let info = ViewInfo(
        id: "value-vectors",
        title: "FFN value vectors",
        summary: "The largest sub-updates mᵢ·vᵢ of one MLP at one position, each value vector read in the vocabulary: the tokens it promotes and suppresses.",
        example: ViewExample(prompt: "The Eiffel Tower is located in the city of", options: ["layer": "22"]),
        hooks: ["blocks.*.mlp.hook_post", "blocks.*.hook_mlp_out"])

    public struct Options: ViewOptions {
        @ViewOption("block whose MLP is read (negative counts from the end)", range: -4096 ... 4095) public var layer = -1
        @ViewOption("position read (negative counts from the end)", range: -65536 ... 65535) public var position = -1
        @ViewOption("neurons shown, comma-separated; default: the largest sub-updates by |m|·‖v‖") public var neurons = ""
        @ViewOption("sub-updates shown when neurons is not set", range: 1 ... 64) public var count = 12
        @ViewOption("tokens kept per side for each value vector", range: 1 ... 32) public var tokens = 8
        @ViewOption("figure title (default: the block and the position)") public var title = ""
        public init() {}
    }

    /// A token and its projection.
    public struct Scored: Codable, Sendable, Equatable {
        public var id: Int
        public var text: String
        public var value: Double
    }

    /// One sub-update mᵢ·vᵢ.
    public struct Update: Codable, Sendable {
        public var neuron: Int
        /// mᵢ, the neuron's activation at the position.
        public var activation: Double
        /// ‖vᵢ‖, and |mᵢ|·‖vᵢ‖.
        public var norm: Double
        public var score: Double
        /// The tokens the sub-update promotes most and suppresses most: the
        /// projection W_U(g ⊙ vᵢ) times the sign of mᵢ, highest and lowest.
        public var promoted: [Scored]
        public var suppressed: [Scored]
        /// The prediction's rank (0 = first) among the tokens the sub-update
        /// promotes, and its part mᵢ·(W_U(g ⊙ vᵢ))[prediction].
        public var predictionRank: Int
        public var predictionEffect: Double

        enum CodingKeys: String, CodingKey {
            case neuron, activation, norm, score, promoted, suppressed, predictionRank = "prediction_rank",
                 predictionEffect = "prediction_effect"
        }

        /// The prediction is among the tokens kept as promoted.
        public var promotesPrediction: Bool { predictionRank < promoted.count }
    }

    public struct Data: Codable, Sendable {
        public var tokens: [String]
        public var layer: Int
        public var position: Int
        /// The model's top-1 at the position.
        public var predicted: NamedToken
        /// "top" (ranked by |m|·‖v‖) or "neurons" (as chosen).
        public var mode: String
        /// The MLP's width, and how many neurons are active (m ≠ 0).
        public var neuronCount: Int
        public var updates: [Update]
        /// Gemma 2: the post-MLP norm's scale frozen at the position.
        public var postNormScale: Double?

        enum CodingKeys: String, CodingKey {
            case tokens, layer, position, predicted, mode, neuronCount = "neuron_count", updates, postNormScale = "post_norm_scale"
        }
    }

    func chosenNeurons(_ text: String, model: Model) throws -> [Int]? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty else { return nil }
        let m = model.config.dMLP
        return try trimmed.split(separator: ",").map { part in
            let s = part.trimmingCharacters(in: .whitespaces)
            guard let n = Int(s), (0 ..< m).contains(n) else {
                throw CoreError.invalidInput(view: Self.info.id, detail: "option 'neurons': '\(s)' is not a neuron of the MLP (0 to \(m - 1))")
            }
            return n
        }
    }

    public func analyze(_ input: AnalysisInput, options: Options) throws -> Data {
        let id = Self.info.id, model = input.model, c = model.config
        let layer = options.layer < 0 ? c.layers + options.layer : options.layer
        try input.checkLayer(layer, view: id)
        let p = try input.position(options.position, view: id)
        let chosen = try chosenNeurons(options.neurons, model: model)
        if chosen != nil, options.count != Options().count {
            throw CoreError.invalidInput(view: id, detail: "option 'count' applies when 'neurons' is not set; with neurons=\(options.neurons) the chosen neurons are shown")
        }
        guard let post = input.cache[.mlpPost(layer)], let logits = input.forward.logits else {
            throw CoreError.invalidInput(view: id, detail: "the pass did not record blocks.\(layer).mlp.hook_post")
        }
        let activations = Array(post.row(p))
        let vectors = try model.valueVectors(layer: layer, activations: activations)
        let top = Logits.topK(logits.row(p), 1)[0]
        let predicted = NamedToken(id: top, text: model.tokenizer.displayText(of: top))
        let scores = (0 ..< c.dMLP).map { abs(Double(activations[$0])) * vectors.norms[$0] }
        let neurons = chosen ?? Array(scores.indices.sorted { scores[$0] > scores[$1] }.prefix(options.count))
        let k = options.tokens
        let updates = neurons.map { i -> Update in
            let a = Double(activations[i]), sign: Double = a < 0 ? -1 : 1
            let projection = vectors.projection(i).map { $0 * sign }
            let order = projection.indices.sorted { projection[$0] > projection[$1] }
            func scored(_ t: Int) -> Scored { Scored(id: t, text: model.tokenizer.displayText(of: t), value: projection[t]) }
            let rank = order.firstIndex(of: top) ?? order.count
            return Update(neuron: i, activation: a, norm: vectors.norms[i], score: scores[i], promoted: order.prefix(k).map(scored),
                          suppressed: order.suffix(k).reversed().map(scored), predictionRank: rank,
                          predictionEffect: a * projection[top] * sign)
        }
        return Data(tokens: input.tokens, layer: layer, position: p, predicted: predicted, mode: chosen == nil ? "top" : "neurons",
                    neuronCount: c.dMLP, updates: updates, postNormScale: vectors.postNormScale)
    }

    public func validate(_ data: Data, options: Options) throws {
        try RecordCheck.nonEmpty(data.tokens, "data.tokens", max: 65536)
        try RecordCheck.within(data.position, 0 ... data.tokens.count - 1, "data.position")
        try RecordCheck.within(data.layer, 0 ... 4095, "data.layer")
        try RecordCheck.nonEmpty(data.updates, "data.updates", max: 4096)
        guard ["top", "neurons"].contains(data.mode) else { throw RecordProblem("data.mode", "is '\(data.mode)', not top or neurons") }
        for (u, update) in data.updates.enumerated() {
            try RecordCheck.within(update.neuron, 0 ... max(0, data.neuronCount - 1), "data.updates[\(u)].neuron")
            try RecordCheck.nonEmpty(update.promoted, "data.updates[\(u)].promoted", max: 64)
            try RecordCheck.nonEmpty(update.suppressed, "data.updates[\(u)].suppressed", max: 64)
            let numbers = [update.activation, update.norm, update.score, update.predictionEffect]
                + update.promoted.map(\.value) + update.suppressed.map(\.value)
            if numbers.contains(where: { !$0.isFinite }) { throw RecordProblem("data.updates[\(u)]", "holds a value that is not a finite number") }
            guard update.norm >= 0, abs(update.score - abs(update.activation) * update.norm) <= 1e-9 * max(1, update.score) else {
                throw RecordProblem("data.updates[\(u)].score", "is not |activation| · norm")
            }
            guard update.predictionRank >= 0 else { throw RecordProblem("data.updates[\(u)].prediction_rank", "is negative") }
        }
        if data.mode == "top" {
            for (a, b) in zip(data.updates, data.updates.dropFirst()) where b.score > a.score {
                throw RecordProblem("data.updates", "are not ranked by score (neuron \(b.neuron) after \(a.neuron))")
            }
        }
    }

    // MARK: Drawing

    /// Column widths of the table in a frame `width` wide.
    struct Columns {
        let neuron, bar, side: Double
        let x: [Double]
    }

    func columns(width: Double, theme: Theme, measure: Canvas) -> Columns {
        let font = theme.tickFont
        let neuron = max(measure.measure("neuron", font).width, measure.measure("00000", font).width) + 2 * theme.gap
        let bar = max(36, min(90, width * 0.13))
        let side = max(0, (width - 2 * theme.margin - neuron - bar - 2 * theme.gap) / 2)
        let x0 = theme.margin
        return Columns(neuron: neuron, bar: bar, side: side,
                       x: [x0, x0 + neuron, x0 + neuron + bar + theme.gap, x0 + neuron + bar + 2 * theme.gap + side])
    }

    /// As many tokens as fit in `width`, joined by two spaces.
    static func fitted(_ list: [Scored], width: Double, font: Font, measure: Canvas) -> [Scored] {
        var kept: [Scored] = []
        for s in list {
            let line = (kept + [s]).map { TokenText.visible($0.text) }.joined(separator: "  ")
            guard measure.measure(line, font).width <= width else { break }
            kept.append(s)
        }
        return kept
    }

    func title(_ data: Data, options: Options) -> String {
        options.title.isEmpty
            ? "Block \(data.layer) MLP at \(TokenText.visible(data.tokens[data.position])) (position \(data.position))"
            : options.title
    }

    static func note(_ data: Data) -> String {
        let promoting = data.updates.filter(\.promotesPrediction).count
        let which = data.mode == "top" ? "the \(data.updates.count) largest of \(data.neuronCount) by |m|·‖v‖" : "the neurons chosen"
        return "Sub-update i adds mᵢ·vᵢ to the residual stream (mᵢ: blocks.\(data.layer).mlp.hook_post; vᵢ: column i of the down projection); "
            + "shown: \(which); bars blue where mᵢ > 0, red where mᵢ < 0. Tokens: sign(mᵢ)·W_U(g ⊙ vᵢ) (g the final norm's weight, its scale left out), most promoted and most suppressed. "
            + "\(promoting) of \(data.updates.count) promote the model's prediction \(TokenText.visible(data.predicted.text)) (bold) among their top \(data.updates.first?.promoted.count ?? 0)."
            + (data.postNormScale == nil ? "" : " The MLP's post-norm weight and its scale at the position are part of each vᵢ.")
    }

    func layout(_ data: Data, options: Options, width: Double, theme: Theme, measure: Canvas) -> (header: Double, row: Double, note: Double) {
        let titleHeight = measure.paragraphHeight(title(data, options: options), theme.titleFont, width: width - 2 * theme.margin)
        let line = measure.measure("Ag", theme.tickFont).height
        let header = theme.margin + titleHeight + theme.gap + line + theme.gap
        let note = measure.paragraphHeight(Self.note(data), theme.annotationFont, width: width - 2 * theme.margin) + 2 * theme.margin
        return (header, line * 1.4, note)
    }

    public func size(of data: Data, options: Options, theme: Theme, width: Double?, measure: Canvas) -> Size {
        let w = width ?? 720
        let l = layout(data, options: options, width: w, theme: theme, measure: measure)
        return Size(w, l.header + Double(data.updates.count) * l.row + l.note)
    }

    func rowRects(_ data: Data, options: Options, in frame: Rect, theme: Theme, measure: Canvas) -> [Rect] {
        let l = layout(data, options: options, width: frame.width, theme: theme, measure: measure)
        return data.updates.indices.map { r in
            Rect(x: frame.x + theme.margin, y: frame.y + l.header + Double(r) * l.row, width: frame.width - 2 * theme.margin, height: l.row)
        }
    }

    public func draw(_ data: Data, options: Options, on canvas: Canvas, in frame: Rect, theme: Theme) throws {
        let cols = columns(width: frame.width, theme: theme, measure: canvas)
        let font = theme.tickFont
        let titleHeight = canvas.paragraph(title(data, options: options), at: Point(frame.midX, frame.y + theme.margin), font: theme.titleFont,
                                           color: theme.foreground, width: frame.width - 2 * theme.margin, align: .center)
        let headerY = frame.y + theme.margin + titleHeight + theme.gap
        for (x, label) in zip(cols.x, ["neuron", "|m|·‖v‖", "promotes", "suppresses"]) {
            canvas.text(label, at: Point(frame.x + x, headerY), font: font, color: theme.muted)
        }
        let rows = rowRects(data, options: options, in: frame, theme: theme, measure: canvas)
        canvas.line(Point(frame.x + theme.margin, rows.first?.y ?? headerY), Point(frame.maxX - theme.margin, rows.first?.y ?? headerY),
                    theme.rule, width: theme.lineWidth)
        let maxScore = max(data.updates.map(\.score).max() ?? 0, 1e-12)
        let positive = Colormap.rdbu.color(at: 0.85), negative = Colormap.rdbu.color(at: 0.15)
        for (update, row) in zip(data.updates, rows) {
            let mid = row.midY
            canvas.text("\(update.neuron)", at: Point(frame.x + cols.x[0], mid), font: font, color: theme.foreground,
                        anchor: TextAnchor(.left, .middle))
            let barHeight = row.height * 0.55
            canvas.fill(Rect(x: frame.x + cols.x[1], y: mid - barHeight / 2, width: cols.bar * update.score / maxScore, height: barHeight),
                        update.activation < 0 ? negative : positive)
            for (side, list) in [(2, update.promoted), (3, update.suppressed)] {
                var x = frame.x + cols.x[side]
                for s in Self.fitted(list, width: cols.side, font: font, measure: canvas) {
                    let isPrediction = s.id == data.predicted.id
                    let f = isPrediction ? font.withBold() : font
                    let size = canvas.text(TokenText.visible(s.text), at: Point(x, mid), font: f,
                                           color: isPrediction ? theme.accent : theme.foreground, anchor: TextAnchor(.left, .middle))
                    x += size.width + canvas.measure("  ", font).width
                }
            }
        }
        let noteY = (rows.last?.maxY ?? headerY) + theme.margin
        canvas.paragraph(Self.note(data), at: Point(frame.x + theme.margin, noteY), font: theme.annotationFont, color: theme.muted,
                         width: frame.width - 2 * theme.margin)
    }

    /// Each row: the neuron, its activation and norm, and its tokens with values.
    public func hitRegions(of data: Data, options: Options, in frame: Rect, theme: Theme, measure: Canvas) -> [HitRegion] {
        zip(data.updates, rowRects(data, options: options, in: frame, theme: theme, measure: measure)).map { update, rect in
            func list(_ l: [Scored]) -> String { l.map { "\(TokenText.visible($0.text)) \(String(format: "%+.3f", $0.value))" }.joined(separator: ", ") }
            return HitRegion(rect, title: "block \(data.layer), neuron \(update.neuron)",
                             lines: [String(format: "m = %+.4f, ‖v‖ = %.4f, |m|·‖v‖ = %.4f", update.activation, update.norm, update.score),
                                     "promotes: " + list(update.promoted), "suppresses: " + list(update.suppressed),
                                     "prediction \(TokenText.visible(data.predicted.text)): rank \(update.predictionRank + 1), part \(String(format: "%+.4f", update.predictionEffect))"])
        }
    }

    public func findings(of data: Data, options: Options) -> [String] {
        guard let first = data.updates.first else { return [] }
        let promoting = data.updates.filter(\.promotesPrediction).map { "\($0.neuron)" }
        return ["block \(data.layer)'s largest sub-update is neuron \(first.neuron) (|m|·‖v‖ = \(String(format: "%.3f", first.score))); "
            + (promoting.isEmpty ? "none of the \(data.updates.count) shown promotes" : "neurons \(promoting.joined(separator: ", ")) promote")
            + " the prediction \(TokenText.visible(data.predicted.text))"]
    }
}
