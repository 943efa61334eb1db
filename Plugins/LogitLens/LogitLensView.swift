import Foundation
import LoupeCore
import LoupeModel
import LoupeRender

/// The logit lens (nostalgebraist 2020): every layer's residual stream
/// decoded through the model's own final norm and unembedding, as if the
/// model stopped there. Rows are the embedding and the output of every
/// block; columns are positions; each cell holds the top-1 token, coloured
/// by a metric.
public struct LogitLensView: ViewPlugin {
    public init() {}

    public static let info = ViewInfo(
        id: "logit-lens",
        title: "Logit lens",
        summary: "Top next-token prediction of every layer's residual stream, decoded through the final norm and unembedding.",
        example: ViewExample(prompt: "The Eiffel Tower is located in the city of", options: ["metric": "top-prob"]),
        hooks: ["blocks.*.hook_resid_pre", "blocks.*.hook_resid_post"])

    public enum Metric: String, Codable, Sendable, OptionChoice {
        case topProb = "top-prob", targetProb = "target-prob", targetRank = "target-rank", targetLogit = "target-logit", entropy,
             klFinal = "kl-final"

        /// Whether the metric reads a target token (the true next one, or the `target` option's).
        var readsTarget: Bool { [.targetProb, .targetRank, .targetLogit].contains(self) }

        /// The colour bar's or the y axis's label; `target` is the named target's text.
        func label(target: String?) -> String {
            let of = target.map { "of " + TokenText.visible($0) } ?? "of the true next token"
            switch self {
            case .topProb: return "top-1 probability"
            case .targetProb: return "probability " + of
            case .targetRank: return "rank " + of
            case .targetLogit: return "logit " + of
            case .entropy: return "entropy (nats)"
            case .klFinal: return "KL(final ‖ layer) (nats)"
            }
        }
    }

    public enum Mode: String, Codable, Sendable, OptionChoice { case grid, trajectory }

    public struct Options: ViewOptions {
        @ViewOption("grid: layers × positions, each cell's top-1 token; trajectory: the metric by layer, a line per position")
        public var mode: Mode = .grid
        @ViewOption("colour of each cell (grid), or the y axis (trajectory)") public var metric: Metric = .topProb
        @ViewOption("token the target-* metrics follow at every position, the last included: its text (one token, e.g. ' Paris') or id:N; default: the true next token")
        public var target = ""
        @ViewOption("trajectory: positions drawn, comma-separated (negative counts from the end); default: the last")
        public var positions = ""
        @ViewOption("include the embedding (the input to block 0) as the first row") public var embedding = true
        @ViewOption("show every n-th layer (the last is always shown)", range: 1 ... 4096) public var stride = 1
        @ViewOption("first position shown (negative counts from the end)", range: -65536 ... 65535) public var first = 0
        @ViewOption("last position shown (negative counts from the end)", range: -65536 ... 65535) public var last = -1
        @ViewOption("put the final layer at the bottom instead of the top") public var flip = false
        @ViewOption("write the top-1 token in each cell") public var annotate = true
        @ViewOption("colour map", allowed: Colormap.sequential) public var colormap: Colormap = .viridis
        @ViewOption("figure title (default: none)") public var title = ""
        public init() {}
    }

    public struct Lens: Codable, Sendable {
        public var norm: String
        public var unembedding: String
    }

    /// A target named by the `target` option.
    public typealias Target = NamedToken

    public struct Data: Codable, Sendable {
        public var mode: Mode
        /// The named target, or nil: the target-* metrics follow the true next token.
        public var target: Target?
        /// Input tokens of the positions shown.
        public var tokens: [String]
        /// Their indices in the prompt.
        public var positions: [Int]
        /// The token that really follows each position (nil after the last).
        public var nextTokens: [String?]
        /// Residual index of each row: 0 is the embedding, l + 1 the output of block l.
        public var layers: [Int]
        public var blockCount: Int
        /// [rows][positions][5]
        public var topIds: [[[Int]]]
        public var topTokens: [[[String]]]
        public var topProbs: [[[Double]]]
        public var metric: Metric
        /// [rows][positions]; NaN (null) where undefined (no next token).
        public var values: [[Double?]]
        /// Whether the model's own top-1 at each position is the true next token.
        public var finalCorrect: [Bool]
        public var vocabularySize: Int
        public var lens: Lens

        enum CodingKeys: String, CodingKey {
            case mode, target, tokens, positions, nextTokens = "next_tokens", layers, blockCount = "block_count", topIds = "top_ids",
                 topTokens = "top_tokens", topProbs = "top_probs", metric, values, finalCorrect = "final_correct",
                 vocabularySize = "vocabulary_size", lens
        }
    }

    /// Options of the other mode, and a target with a metric that reads
    /// none, are refused, never ignored.
    func checkOptions(_ o: Options) throws {
        let d = Options()
        let gridOnly = [("first", o.first != d.first), ("last", o.last != d.last), ("flip", o.flip != d.flip),
                        ("annotate", o.annotate != d.annotate), ("colormap", o.colormap != d.colormap)]
        let trajectoryOnly = [("positions", o.positions != d.positions)]
        let (wrong, other) = o.mode == .grid ? (trajectoryOnly, "trajectory") : (gridOnly, "grid")
        if let name = wrong.first(where: \.1)?.0 {
            throw CoreError.invalidInput(view: Self.info.id, detail: "option '\(name)' applies to mode=\(other), not mode=\(o.mode.rawValue)")
        }
        if !o.target.isEmpty, !o.metric.readsTarget {
            throw CoreError.invalidInput(view: Self.info.id, detail: "option 'target' applies to the metrics target-prob, target-rank and target-logit, not \(o.metric.rawValue)")
        }
    }

    public func analyze(_ input: AnalysisInput, options: Options) throws -> Data {
        let model = input.model
        let blocks = model.config.layers
        let t = input.ids.count
        try checkOptions(options)
        let named = try NamedToken.resolve(options.target, model: model, view: Self.info.id, option: "target")
        func resolve(_ p: Int) -> Int { p < 0 ? t + p : p }
        let positions: [Int]
        switch options.mode {
        case .grid:
            let first = resolve(options.first), last = resolve(options.last)
            guard first >= 0, last < t else {
                throw CoreError.invalidInput(view: Self.info.id, detail: "positions \(options.first)...\(options.last) are outside the prompt's \(t) tokens")
            }
            guard first <= last else {
                throw CoreError.invalidInput(view: Self.info.id, detail: "first (\(options.first)) comes after last (\(options.last))")
            }
            positions = Array(first ... last)
        case .trajectory:
            var chosen: [Int] = []
            for part in options.positions.split(separator: ",", omittingEmptySubsequences: false) where !options.positions.isEmpty {
                let trimmed = part.trimmingCharacters(in: .whitespaces)
                guard let p = Int(trimmed), (0 ..< t).contains(resolve(p)) else {
                    throw CoreError.invalidInput(view: Self.info.id, detail: "positions: '\(printable(trimmed, limit: 40))' is not a position of the prompt's \(t) tokens (0 to \(t - 1), or -1 to -\(t))")
                }
                if !chosen.contains(resolve(p)) { chosen.append(resolve(p)) }
            }
            guard chosen.count <= 12 else {
                throw CoreError.invalidInput(view: Self.info.id, detail: "positions names \(chosen.count) positions; a trajectory draws at most 12 lines")
            }
            positions = chosen.isEmpty ? [t - 1] : chosen
        }
        guard let residuals = input.cache.accumulatedResidual(layers: blocks) else {
            throw CoreError.invalidInput(view: Self.info.id, detail: "the activation cache lacks the residual stream")
        }
        var rows = Array(Swift.stride(from: 0, through: blocks, by: options.stride))
        if rows.last != blocks { rows.append(blocks) }
        if !options.embedding { rows.removeAll { $0 == 0 } }
        guard !rows.isEmpty else {
            throw CoreError.invalidInput(view: Self.info.id, detail: "with embedding=false the model's \(blocks) blocks leave no row to show")
        }
        let vocab = model.config.vocabularySize
        let tokenizer = model.tokenizer

        // The final layer's log-sum-exp per position, for kl-final.
        let final = try model.logitLens(residuals[blocks])
        let finalLSE = positions.map { Double(Logits.logSumExp(final.row($0))) }

        var topIds: [[[Int]]] = [], topTokens: [[[String]]] = [], topProbs: [[[Double]]] = [], values: [[Double?]] = []
        for r in rows {
            let decoded = r == blocks ? final : try model.logitLens(residuals[r])
            var ids: [[Int]] = [], toks: [[String]] = [], probs: [[Double]] = [], vals: [Double?] = []
            for (k, p) in positions.enumerated() {
                let row = decoded.row(p)
                let lse = Double(Logits.logSumExp(row))
                let top = Logits.topK(row, 5)
                ids.append(top)
                toks.append(top.map { tokenizer.displayText(of: $0) })
                probs.append(top.map { exp(Double(row[row.startIndex + $0]) - lse) })
                // The named target, else the true next token (none after the last position).
                let goal = named?.id ?? (p + 1 < t ? input.ids[p + 1] : nil)
                let value: Double? = switch options.metric {
                case .topProb: probs[probs.count - 1][0]
                case .targetProb: goal.map { exp(Double(row[row.startIndex + $0]) - lse) }
                case .targetRank: goal.map { Double(1 + Self.countAbove(row, row[row.startIndex + $0])) }
                case .targetLogit: goal.map { Double(row[row.startIndex + $0]) }
                case .entropy: Self.entropy(row, lse: lse)
                case .klFinal: Self.kl(final.row(p), lse: finalLSE[k], row, lse: lse)
                }
                vals.append(value.flatMap { $0.isFinite ? $0 : nil })
            }
            topIds.append(ids); topTokens.append(toks); topProbs.append(probs); values.append(vals)
        }
        let nextTokens = positions.map { $0 + 1 < t ? tokenizer.displayText(of: input.ids[$0 + 1]) : nil }
        let finalCorrect = positions.enumerated().map { k, p in p + 1 < t && topIds[topIds.count - 1][k][0] == input.ids[p + 1] }
        return Data(mode: options.mode, target: named, tokens: positions.map { input.tokens[$0] }, positions: positions, nextTokens: nextTokens, layers: rows,
                    blockCount: blocks, topIds: topIds, topTokens: topTokens, topProbs: topProbs, metric: options.metric,
                    values: values, finalCorrect: finalCorrect, vocabularySize: vocab,
                    lens: Lens(norm: (model.config.norm == .rms ? "final RMSNorm with its weight" : "final LayerNorm with its weight and bias")
                                   + (model.config.finalSoftcap.map { ", logits soft-capped at \($0)" } ?? ""),
                               unembedding: model.config.tiedEmbeddings ? "token embedding (tied)" : "unembedding matrix"))
    }

    /// Rows × positions agree everywhere, every row is a residual index, and
    /// each cell has at least its top-1 token.
    public func validate(_ data: Data, options: Options) throws {
        let p = data.positions.count, r = data.layers.count
        try RecordCheck.nonEmpty(data.positions, "data.positions")
        try RecordCheck.nonEmpty(data.layers, "data.layers")
        try RecordCheck.within(data.blockCount, 0 ... RecordCheck.maxCount, "data.block_count")
        try RecordCheck.within(data.vocabularySize, 1 ... Int(Int32.max), "data.vocabulary_size")
        for (k, l) in data.layers.enumerated() { try RecordCheck.within(l, 0 ... data.blockCount, "data.layers[\(k)]") }
        try RecordCheck.count(data.tokens, p, "data.tokens", "one per position")
        try RecordCheck.count(data.nextTokens, p, "data.next_tokens", "one per position")
        try RecordCheck.count(data.finalCorrect, p, "data.final_correct", "one per position")
        if let target = data.target { try RecordCheck.within(target.id, 0 ... data.vocabularySize - 1, "data.target.id") }
        if data.mode == .trajectory { try RecordCheck.nonEmpty(data.positions, "data.positions", max: 12) }
        for (name, rows) in [("data.values", data.values.count), ("data.top_tokens", data.topTokens.count),
                             ("data.top_probs", data.topProbs.count), ("data.top_ids", data.topIds.count)] where rows != r {
            throw RecordProblem(name, "has \(rows) rows, expected \(r) (one per entry of data.layers)")
        }
        try RecordCheck.rows(data.values, p, "data.values", "one per position")
        try RecordCheck.rows(data.topTokens, p, "data.top_tokens", "one per position")
        try RecordCheck.rows(data.topProbs, p, "data.top_probs", "one per position")
        try RecordCheck.rows(data.topIds, p, "data.top_ids", "one per position")
        for i in 0 ..< r {
            for k in 0 ..< p {
                guard !data.topTokens[i][k].isEmpty else { throw RecordProblem("data.top_tokens[\(i)][\(k)]", "is empty (the top-1 token is drawn)") }
                try RecordCheck.count(data.topProbs[i][k], data.topTokens[i][k].count, "data.top_probs[\(i)][\(k)]", "one per top token")
            }
        }
    }

    func heatmap(_ data: Data, options: Options, theme: Theme) -> Heatmap {
        // Rows are stored embedding first; drawn final layer on top unless flipped.
        let order = options.flip ? Array(data.layers.indices) : Array(data.layers.indices.reversed())
        let values = order.map { r in data.values[r].map { $0 ?? .nan } }
        let scale: ColorScale
        switch data.metric {
        case .topProb, .targetProb: scale = ColorScale(low: 0, high: 1)
        case .targetRank: scale = ColorScale(low: 1, high: Double(data.vocabularySize), logarithmic: true, reversed: true)
        case .targetLogit:
            let finite = values.joined().filter(\.isFinite)
            let low = finite.min() ?? 0, high = finite.max() ?? 1
            scale = ColorScale(low: low, high: max(high, low + 1e-6))
        case .entropy, .klFinal:
            let high = values.joined().filter(\.isFinite).max() ?? 1
            scale = ColorScale(low: 0, high: max(high, 1e-6))
        }
        let text = options.annotate ? order.map { r in data.topTokens[r].map { TokenText.visible($0[0]) } } : nil
        let rowLabels = order.map { data.layers[$0] == 0 ? "embed" : "\(data.layers[$0] - 1)" }
        return Heatmap(
            values: values, colormap: options.colormap, scale: scale, cellText: text,
            rowLabels: rowLabels, columnLabels: data.tokens.map(TokenText.visible),
            topLabels: data.nextTokens.map { $0.map(TokenText.visible) ?? "" }, topMarks: data.finalCorrect,
            rowTitle: "block output", columnTitle: "input token", topTitle: "true next token (bold: the model's top-1)",
            colorbarLabel: data.metric.label(target: data.target?.text), title: options.title)
    }

    /// The trajectory: the metric by layer, one line per position.
    func trajectory(_ data: Data, options: Options) -> LineChart {
        let series = data.positions.enumerated().map { k, position in
            let label = "\(position) \(TokenText.visible(data.tokens[k]))" + (data.target == nil ? data.nextTokens[k].map { " → " + TokenText.visible($0) } ?? "" : "")
            return LineChart.Series(label: label, points: data.layers.indices.compactMap { r in data.values[r][k].map { (Double(data.layers[r]), $0) } },
                                    color: Palette.categorical(k))
        }
        let title = options.title.isEmpty ? "" : options.title
        return LineChart(series: series, xTitle: "layer (0: embedding; k: block k − 1)", yTitle: data.metric.label(target: data.target?.text),
                         title: title, logarithmicY: data.metric == .targetRank, reversedY: data.metric == .targetRank)
    }

    public func size(of data: Data, options: Options, theme: Theme, width: Double?, measure: Canvas) -> Size {
        if data.mode == .trajectory {
            let w = width ?? 420
            return Size(w, max(200, w * 0.62))
        }
        let h = heatmap(data, options: options, theme: theme)
        if let width { return Size(width, h.height(forWidth: width, measure, theme: theme)) }
        return h.naturalSize(measure, theme: theme)
    }

    public func draw(_ data: Data, options: Options, on canvas: Canvas, in frame: Rect, theme: Theme) throws {
        if data.mode == .trajectory { return trajectory(data, options: options).draw(canvas, in: frame, theme: theme) }
        try heatmap(data, options: options, theme: theme).draw(canvas, in: frame, theme: theme)
    }

    /// Each cell: its layer and position, the top-5 tokens with their
    /// probabilities, and the metric's value.
    /// grid: each cell's top tokens, true next token and metric;
    /// trajectory: a band per layer with every position's metric there.
    public func hitRegions(of data: Data, options: Options, in frame: Rect, theme: Theme, measure: Canvas) -> [HitRegion] {
        guard data.mode == .grid else {
            let g = trajectory(data, options: options).geometry(measure, in: frame, theme: theme)
            let xs = data.layers.map { g.x(Double($0)) }
            let label = data.metric.label(target: data.target?.text)
            return data.layers.indices.map { r in
                let left = r == 0 ? g.plot.x : (xs[r - 1] + xs[r]) / 2, right = r == xs.count - 1 ? g.plot.maxX : (xs[r] + xs[r + 1]) / 2
                let layer = data.layers[r] == 0 ? "embedding" : "block \(data.layers[r] - 1)"
                let lines = data.positions.enumerated().map { k, position in
                    "position \(position) \(TokenText.visible(data.tokens[k])): " + (data.values[r][k].map { ColorScale.format($0) } ?? "none")
                }
                return HitRegion(Rect(x: left, y: g.plot.y, width: max(0, right - left), height: g.plot.height), title: "\(layer) · \(label)", lines: lines)
            }
        }
        let order = options.flip ? Array(data.layers.indices) : Array(data.layers.indices.reversed())
        let rects = heatmap(data, options: options, theme: theme).cellRects(measure, in: frame, theme: theme)
        var regions: [HitRegion] = []
        for (drawn, r) in order.enumerated() {
            let layer = data.layers[r] == 0 ? "embedding" : "block \(data.layers[r] - 1)"
            for (k, position) in data.positions.enumerated() {
                var lines = zip(data.topTokens[r][k], data.topProbs[r][k]).map { token, p in
                    "\(TokenText.visible(token))  \(String(format: "%.3f", p))"
                }
                if let next = data.nextTokens[k] { lines.append("true next: \(TokenText.visible(next))") }
                if let v = data.values[r][k] { lines.append("\(data.metric.label(target: data.target?.text)): \(ColorScale.format(v))") }
                regions.append(HitRegion(rects[drawn][k], title: "\(layer) · position \(position) \(TokenText.visible(data.tokens[k]))",
                                         lines: lines))
            }
        }
        return regions
    }
}

extension LogitLensView {
    /// How many logits exceed `v`.
    static func countAbove(_ x: ArraySlice<Float>, _ v: Float) -> Int {
        x.withUnsafeBufferPointer { p in
            var n = 0
            for i in 0 ..< p.count where p[i] > v { n += 1 }
            return n
        }
    }

    /// −Σ p log p of softmax(x), in nats.
    static func entropy(_ x: ArraySlice<Float>, lse: Double) -> Double {
        x.withUnsafeBufferPointer { p in
            var h = 0.0
            for i in 0 ..< p.count {
                let l = Double(p[i]) - lse
                h -= exp(l) * l
            }
            return h
        }
    }

    /// KL(softmax(f) ‖ softmax(x)) = Σ p_f (log p_f − log p_x), in nats.
    static func kl(_ f: ArraySlice<Float>, lse lf: Double, _ x: ArraySlice<Float>, lse lx: Double) -> Double {
        f.withUnsafeBufferPointer { pf in
            x.withUnsafeBufferPointer { px in
                var d = 0.0
                for i in 0 ..< pf.count {
                    let a = Double(pf[i]) - lf
                    d += exp(a) * (a - (Double(px[i]) - lx))
                }
                return d
            }
        }
    }
}
