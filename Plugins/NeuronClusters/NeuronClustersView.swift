import Foundation
import LoupeCore
import LoupeModel
import LoupeRender

/// Neurons of one MLP layer clustered by how their importance varies over a
/// topic-labelled prompt set: a neurons × prompts heatmap with rows in
/// dendrogram order, cluster bands, topic groups, and each cluster tagged
/// with the topics it relates to most and its top-activating tokens.
public struct NeuronClustersView: ViewPlugin {
    public init() {}

    public static let info = ViewInfo(
        id: "neuron-clusters",
        title: "Neuron clusters",
        summary: "MLP neurons clustered by their importance across a topic-labelled prompt set, tagged with topics and top tokens.",
        example: ViewExample(prompt: "", options: ["neurons": "32", "clusters": "5"]),
        usesPrompt: false, hooks: [])

    public enum Importance: String, Codable, Sendable, OptionChoice { case mean, max, attribution }
    public enum Method: String, Codable, Sendable, OptionChoice { case average, complete, kmeans }

    public struct Options: ViewOptions {
        @ViewOption("block whose mlp.hook_post neurons are studied", range: 0 ... 4095) public var layer = 15
        @ViewOption(promptSet: "topic-labelled prompt set (JSON lines of {topic, text}, or builtin:NAME)")
        public var prompts = PromptSet.defaultPath
        @ViewOption("per-prompt importance of a neuron: mean or max activation over the prompt's tokens, or activation × gradient of the top logit summed over them")
        public var importance: Importance = .mean
        @ViewOption("how many neurons to show: those whose importance varies most across prompts", range: 2 ... 512)
        public var neurons = 48
        @ViewOption("number of clusters k", range: 1 ... 512) public var clusters = 6
        @ViewOption("agglomerative linkage (cosine distance), or k-means") public var method: Method = .average
        @ViewOption("seed for k-means", range: 0 ... Int(Int32.max)) public var seed = 0
        @ViewOption("figure title (default: the layer and the method)") public var title = ""
        public init() {}
    }

    public struct Tag: Codable, Sendable {
        public var cluster: Int
        public var topics: [String]
        /// Mean z-scored importance of the cluster's neurons on each tagged topic.
        public var topicScores: [Double]
        public var topTokens: [String]

        enum CodingKeys: String, CodingKey { case cluster, topics, topicScores = "topic_scores", topTokens = "top_tokens" }
    }

    public struct Data: Codable, Sendable {
        public var layer: Int
        public var importance: Importance
        public var method: Method
        /// Neuron indices shown, in analysis order.
        public var neurons: [Int]
        /// Cluster of each neuron (same order as `neurons`).
        public var clusters: [Int]
        /// Row order: indices into `neurons`, top to bottom.
        public var order: [Int]
        /// The agglomerative merges (nodes 0..<N are the neurons), empty for k-means.
        public var merges: [Merge]
        public var topics: [String]
        /// The prompts, grouped by topic (columns).
        public var prompts: [PromptSet.Entry]
        /// [neurons][prompts]: importance z-scored across prompts.
        public var values: [[Double]]
        public var tags: [Tag]
    }

    public func analyze(_ input: AnalysisInput, options o: Options) throws -> Data {
        let model = input.model, c = model.config
        // The declared ranges were checked when the options were read (the
        // neurons at most 512: agglomerative clustering is cubic in them).
        try input.checkLayer(o.layer, view: Self.info.id)
        let set = try PromptSet(path: o.prompts)
        let topics = set.topics
        let prompts = topics.flatMap { t in set.entries.filter { $0.topic == t } }
        let m = c.dMLP, l = o.layer
        let skip = model.prependsBOS ? 1 : 0        // the BOS position's activations are an attention sink, not content

        // importance [prompts][m], and each neuron's strongest (activation, token).
        var importance: [[Double]] = []
        var strongest = [[(Double, String)]](repeating: [], count: m)
        var batch: [[Int]] = []
        for (i, e) in prompts.enumerated() {
            let ids = model.tokenize(e.text)
            do { try model.validate(ids) } catch {
                throw CoreError.badPromptSet(path: o.prompts, line: nil, detail: "prompt \(i + 1) (\(e.topic)): \(error)")
            }
            batch.append(ids)
        }
        // Every prompt in packed passes (see Model.forward(batch:)).
        let hook = HookFilter.matching(["blocks.\(l).mlp.hook_post"])
        let posts: [Tensor]
        var grads: [Tensor] = []
        if o.importance == .attribution {
            let full = try model.forward(batch: batch, hooks: hook)
            posts = full.map { $0.cache[.mlpPost(l)]! }
            let objectives = full.map { r in Objective.logit(token: Logits.topK(r.logits!.row(r.ids.count - 1), 1)[0], position: -1) }
            grads = try model.gradient(of: objectives, batch: try batch.map { try model.embed($0) }, hooks: hook).map { $0.hooks[.mlpPost(l)]! }
        } else {
            posts = try model.forward(batch: batch, hooks: hook, lastBlock: l).map { $0.cache[.mlpPost(l)]! }
        }
        for (i, ids) in batch.enumerated() {
            let post = posts[i], grad: Tensor? = grads.isEmpty ? nil : grads[i]
            let positions = Array(min(skip, ids.count - 1) ..< ids.count)
            var row = [Double](repeating: 0, count: m)
            for n in 0 ..< m {
                switch o.importance {
                case .mean: row[n] = positions.reduce(0.0) { $0 + Double(post.data[$1 * m + n]) } / Double(positions.count)
                case .max: row[n] = positions.map { Double(post.data[$0 * m + n]) }.max() ?? 0
                case .attribution: row[n] = positions.reduce(0.0) { $0 + Double(post.data[$1 * m + n]) * Double(grad!.data[$1 * m + n]) }
                }
                for p in positions {
                    let a = Double(post.data[p * m + n])
                    if strongest[n].count < 3 || a > strongest[n].last!.0 {
                        strongest[n].append((a, model.tokenizer.displayText(of: ids[p])))
                        strongest[n].sort { $0.0 > $1.0 }
                        if strongest[n].count > 3 { strongest[n].removeLast() }
                    }
                }
            }
            importance.append(row)
        }

        // The neurons whose importance varies most across prompts.
        let count = Double(prompts.count)
        let stats = (0 ..< m).map { n -> (mean: Double, sd: Double) in
            let mean = importance.reduce(0) { $0 + $1[n] } / count
            let v = importance.reduce(0) { $0 + ($1[n] - mean) * ($1[n] - mean) } / count
            return (mean, v.squareRoot())
        }
        let neurons = Array((0 ..< m).sorted { stats[$0].sd > stats[$1].sd }.prefix(min(o.neurons, m))).sorted()
        let values = neurons.map { n in importance.map { stats[n].sd > 0 ? ($0[n] - stats[n].mean) / stats[n].sd : 0 } }

        // Clusters.
        let k = min(o.clusters, neurons.count)
        var merges: [Merge] = [], order: [Int], clusters: [Int]
        switch o.method {
        case .average, .complete:
            merges = Clustering.agglomerative(Clustering.cosineDistances(values), linkage: o.method == .average ? .average : .complete)
            order = Clustering.leafOrder(merges, leaves: neurons.count)
            clusters = Clustering.cut(merges, leaves: neurons.count, k: k, order: order)
        case .kmeans:
            clusters = Clustering.kMeans(values, k: k, seed: UInt64(bitPattern: Int64(o.seed)))
            order = neurons.indices.sorted { (clusters[$0], $0) < (clusters[$1], $1) }
        }

        // Tags: the topics with the highest mean z-scored importance, and the strongest tokens.
        let tags = (0 ..< k).map { cl -> Tag in
            let members = neurons.indices.filter { clusters[$0] == cl }
            let scores = topics.map { t -> Double in
                let cols = prompts.indices.filter { prompts[$0].topic == t }
                let total = members.reduce(0.0) { s, r in s + cols.reduce(0.0) { $0 + values[r][$1] } }
                return total / Double(max(1, members.count * cols.count))
            }
            let ranked = topics.indices.sorted { scores[$0] > scores[$1] }
            var chosen = [ranked[0]]
            for i in ranked.dropFirst().prefix(2) where scores[i] >= max(0.25, 0.5 * scores[ranked[0]]) { chosen.append(i) }
            var tokenScore: [String: Double] = [:]
            for r in members { for (a, t) in strongest[neurons[r]] { tokenScore[t, default: 0] += a } }
            let tokens = tokenScore.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.prefix(3).map(\.key)
            return Tag(cluster: cl, topics: chosen.map { topics[$0] }, topicScores: chosen.map { scores[$0] }, topTokens: tokens)
        }
        return Data(layer: l, importance: o.importance, method: o.method, neurons: neurons, clusters: clusters, order: order,
                    merges: merges, topics: topics, prompts: prompts, values: values, tags: tags)
    }

    // MARK: Drawing

    /// Neurons, clusters, rows and merges agree; every prompt's topic is
    /// listed; each cluster has at most one tag.
    public func validate(_ data: Data, options: Options) throws {
        let n = data.neurons.count
        try RecordCheck.nonEmpty(data.neurons, "data.neurons", max: 4096)
        try RecordCheck.nonEmpty(data.prompts, "data.prompts", max: 4096)
        try RecordCheck.nonEmpty(data.topics, "data.topics", max: 256)
        try RecordCheck.count(data.clusters, n, "data.clusters", "one per neuron")
        try RecordCheck.permutation(data.order, n, "data.order")
        try RecordCheck.count(data.values, n, "data.values", "one row per neuron")
        try RecordCheck.rows(data.values, data.prompts.count, "data.values", "one per prompt")
        for (i, c) in data.clusters.enumerated() { try RecordCheck.within(c, 0 ... n - 1, "data.clusters[\(i)]") }
        for (i, p) in data.prompts.enumerated() where !data.topics.contains(p.topic) {
            throw RecordProblem("data.prompts[\(i)].topic", "'\(printable(p.topic, limit: 80))' is not in data.topics")
        }
        if !data.merges.isEmpty {
            try RecordCheck.count(data.merges, n - 1, "data.merges", "one fewer than the neurons")
            for (k, m) in data.merges.enumerated() {
                try RecordCheck.within(m.left, 0 ... n + k - 1, "data.merges[\(k)].left")
                try RecordCheck.within(m.right, 0 ... n + k - 1, "data.merges[\(k)].right")
                try RecordCheck.within(m.height, 0 ... Double.greatestFiniteMagnitude, "data.merges[\(k)].height")
            }
        }
        var tagged = Set<Int>()
        for (i, tag) in data.tags.enumerated() {
            guard tagged.insert(tag.cluster).inserted else { throw RecordProblem("data.tags[\(i)].cluster", "tags cluster \(tag.cluster) a second time") }
        }
    }

    struct Layout {
        var title: Double
        var dendrogram: Double
        var band: Double
        var rowLabels: Double
        var cell: Size
        var tags: Double
        var colorbar: Double
        var bottom: Double
    }

    func layout(_ data: Data, theme: Theme, width: Double?, measure: Canvas) -> Layout {
        let tick = theme.tickFont
        let line = measure.measure("Ag", tick).height
        let rowLabels = measure.measure("n0000", tick.sized(max(theme.minimumTextSize, tick.size - 1))).width + theme.gap
        let tagWidth = data.tags.map { measure.measure(tagText($0), tick).width }.max() ?? 0
        // At a width other than the natural one, tags get at most a quarter
        // of it: the heatmap comes first.
        let fullTags = min(220, tagWidth) + 2 * theme.gap
        let colorbarWidth = Colorbar(colormap: .rdbu, scale: ColorScale(low: -3, high: 3), label: "importance (z)").width(measure, theme: theme)
        let natural = 2 * theme.margin + (data.merges.isEmpty ? 0.0 : 60.0) + 8 + theme.gap + rowLabels + 4 * Double(max(1, data.prompts.count))
            + fullTags + colorbarWidth
        let tags = width.map { abs($0 - natural) > 0.5 ? min(fullTags, $0 * 0.25 + 2 * theme.gap) : fullTags } ?? fullTags
        let colorbar = Colorbar(colormap: .rdbu, scale: ColorScale(low: -3, high: 3), label: "importance (z)").width(measure, theme: theme)
        let dendrogram = data.merges.isEmpty ? 0.0 : 60.0
        let fixed = 2 * theme.margin + dendrogram + 8 + theme.gap + rowLabels + tags + colorbar
        let columns = Double(max(1, data.prompts.count))
        let cellWidth = width.map { max(1, ($0 - fixed) / columns) } ?? 4
        let cellHeight = max(line * 0.8, 6)
        let title = measure.measure("Ag", theme.titleFont).height + theme.gap
        let topicLabel = data.topics.map { measure.measure($0, tick).width }.max() ?? 0
        let narrowest = Double(data.topics.map { t in data.prompts.filter { $0.topic == t }.count }.min() ?? 1) * cellWidth - 2
        let shrunk = tick.sized(max(theme.minimumTextSize, tick.size * min(1, narrowest / max(topicLabel, 1))))
        let horizontal = (data.topics.map { measure.measure($0, shrunk).width }.max() ?? 0) <= narrowest
        let bottom = theme.gap + (horizontal ? line : min(90, topicLabel)) + theme.gap + measure.measure("Ag", theme.labelFont).height + theme.margin
        return Layout(title: title, dendrogram: dendrogram, band: 8, rowLabels: rowLabels, cell: Size(cellWidth, cellHeight),
                      tags: tags, colorbar: colorbar, bottom: bottom)
    }

    func tagText(_ t: Tag) -> String {
        "C\(t.cluster + 1): " + t.topics.joined(separator: ", ") + (t.topTokens.isEmpty ? "" : " — " + t.topTokens.map(TokenText.visible).joined(separator: " "))
    }

    public func size(of data: Data, options: Options, theme: Theme, width: Double?, measure: Canvas) -> Size {
        let l = layout(data, theme: theme, width: width, measure: measure)
        let w = width ?? (2 * theme.margin + l.dendrogram + l.band + theme.gap + l.rowLabels + l.cell.width * Double(data.prompts.count) + l.tags + l.colorbar)
        let tagLines = Double(data.tags.count) * (measure.measure("Ag", theme.tickFont).height + 2)
        let rows = max(Double(data.neurons.count) * l.cell.height, tagLines)
        return Size(w, theme.margin + l.title + rows + l.bottom)
    }

    /// The heatmap's cells in `frame`: neurons down, prompts across.
    func plotRect(_ data: Data, layout l: Layout, in frame: Rect, theme: Theme) -> Rect {
        let top = frame.y + theme.margin + l.title
        let left = frame.x + theme.margin + l.dendrogram + l.band + theme.gap + l.rowLabels
        return Rect(x: left, y: top, width: l.cell.width * Double(data.prompts.count), height: frame.maxY - l.bottom - top)
    }

    /// Each cell: the neuron, its cluster and tag, the prompt and its z-score.
    public func hitRegions(of data: Data, options: Options, in frame: Rect, theme: Theme, measure: Canvas) -> [HitRegion] {
        let l = layout(data, theme: theme, width: frame.width, measure: measure)
        let plot = plotRect(data, layout: l, in: frame, theme: theme)
        let ch = plot.height / Double(max(1, data.order.count))
        let tags = Dictionary(uniqueKeysWithValues: data.tags.map { ($0.cluster, $0) })
        return data.order.enumerated().flatMap { row, r in
            data.prompts.enumerated().map { c, prompt in
                let rect = Rect(x: plot.x + Double(c) * l.cell.width, y: plot.y + Double(row) * ch, width: l.cell.width, height: ch)
                let tag = tags[data.clusters[r]].map(tagText) ?? "C\(data.clusters[r] + 1)"
                return HitRegion(rect, title: "neuron \(data.neurons[r]) of block \(data.layer)",
                                 lines: [tag, "\(prompt.topic): \(prompt.text)", "importance (z): \(String(format: "%.2f", data.values[r][c]))"])
            }
        }
    }

    /// `layer`, and for each cluster k (numbered from 1 as drawn) `Ck.neuron`:
    /// the member with the highest mean importance on the cluster's first
    /// topic, the neuron that stands for the cluster.
    public func exports(of data: Data, options: Options) -> [String: String] {
        var out = ["layer": String(data.layer)]
        for tag in data.tags {
            let members = data.neurons.indices.filter { data.clusters[$0] == tag.cluster }
            let columns = data.prompts.indices.filter { data.prompts[$0].topic == tag.topics.first }
            func score(_ r: Int) -> Double { columns.reduce(0) { $0 + data.values[r][$1] } }
            if let best = members.max(by: { score($0) < score($1) }) {
                out["C\(tag.cluster + 1).neuron"] = String(data.neurons[best])
            }
        }
        return out
    }

    public func draw(_ data: Data, options: Options, on canvas: Canvas, in frame: Rect, theme: Theme) throws {
        let l = layout(data, theme: theme, width: frame.width, measure: canvas)
        let tick = theme.tickFont, small = tick.sized(max(theme.minimumTextSize, tick.size - 1))
        let title = options.title.isEmpty
            ? "Neurons of block \(data.layer) by \(data.importance.rawValue) importance, \(data.method == .kmeans ? "k-means" : data.method.rawValue + "-linkage") clusters"
            : options.title
        canvas.text(title, at: Point(frame.midX, frame.y + theme.margin), font: theme.titleFont, color: theme.foreground,
                    anchor: TextAnchor(.center, .top), maxWidth: frame.width - 2 * theme.margin)
        let rows = data.order.count, columns = data.prompts.count
        let plot = plotRect(data, layout: l, in: frame, theme: theme)
        let ch = plot.height / Double(max(1, rows))
        let magnitude = 3.0
        let scale = ColorScale(low: -magnitude, high: magnitude)
        // Cells: one image (rows × prompts can be thousands of cells).
        let colors = data.order.flatMap { r in data.values[r].map { Colormap.rdbu.color(at: scale.position(min(magnitude, max(-magnitude, $0)))) } }
        try canvas.image(colors, columns: columns, in: plot)
        // Topic groups: separators and labels.
        var start = 0
        let line = canvas.measure("Ag", tick).height
        // One style for all topic labels: shrunk (to the theme's floor) so the
        // widest fits its group, else all set vertically.
        let groups = data.topics.map { t in data.prompts.filter { $0.topic == t }.count }
        let narrowest = Double(groups.min() ?? 1) * l.cell.width - 2
        let widest = data.topics.map { canvas.measure($0, tick).width }.max() ?? 0
        let shrunk = tick.sized(max(theme.minimumTextSize, tick.size * min(1, narrowest / max(widest, 1))))
        let horizontal = (data.topics.map { canvas.measure($0, shrunk).width }.max() ?? 0) <= narrowest
        for (topic, count) in zip(data.topics, groups) {
            let x0 = plot.x + Double(start) * l.cell.width, x1 = x0 + Double(count) * l.cell.width
            if start > 0 { canvas.line(Point(x0, plot.y), Point(x0, plot.maxY), theme.background, width: theme.lineWidth * 1.5) }
            canvas.text(topic, at: Point((x0 + x1) / 2, plot.maxY + theme.gap), font: horizontal ? shrunk : tick, color: theme.foreground,
                        anchor: horizontal ? TextAnchor(.center, .top) : TextAnchor(.right, .middle), angle: horizontal ? 0 : -.pi / 2, maxWidth: 90)
            start += count
        }
        canvas.stroke(plot, theme.rule, width: theme.lineWidth / 2)
        canvas.text("prompts, grouped by topic", at: Point(plot.midX, frame.maxY - theme.margin), font: theme.labelFont,
                    color: theme.muted, anchor: TextAnchor(.center, .bottom))
        // Row labels (thinned when rows are short), cluster bands, dendrogram.
        let every = max(1, Int((canvas.measure("Ag", small).height / ch).rounded(.up)))
        for (row, r) in data.order.enumerated() {
            let y = plot.y + Double(row) * ch
            canvas.fill(Rect(x: plot.x - theme.gap - l.rowLabels - l.band, y: y, width: l.band, height: ch), Palette.categorical(data.clusters[r]))
            if row % every == 0 {
                canvas.text("n\(data.neurons[r])", at: Point(plot.x - theme.gap, y + ch / 2), font: small, color: theme.foreground,
                            anchor: TextAnchor(.right, .middle))
            }
        }
        if !data.merges.isEmpty {
            Dendrogram(merges: data.merges, leaves: rows, order: data.order, leafColors: data.clusters.map { Palette.categorical($0) })
                .draw(canvas, in: Rect(x: frame.x + theme.margin, y: plot.y, width: l.dendrogram - theme.gap, height: plot.height), theme: theme)
        }
        // Tags at each cluster's middle, pushed down so they never overlap.
        var nextFree = plot.y
        for tag in data.tags {
            let rowsOfCluster = data.order.enumerated().filter { data.clusters[$0.element] == tag.cluster }.map(\.offset)
            guard let first = rowsOfCluster.first, let last = rowsOfCluster.last else { continue }
            let middle = plot.y + (Double(first + last + 1) / 2) * ch
            let y = max(middle - line / 2, nextFree)
            canvas.fillCircle(center: Point(plot.maxX + theme.gap * 2, y + line / 2), radius: line * 0.3, Palette.categorical(tag.cluster))
            canvas.text(tagText(tag), at: Point(plot.maxX + theme.gap * 3.5, y), font: tick, color: theme.foreground, maxWidth: l.tags - theme.gap * 3)
            nextFree = y + line + 2
        }
        try Colorbar(colormap: .rdbu, scale: scale, label: "importance (z)")
            .draw(canvas, in: Rect(x: frame.maxX - theme.margin - l.colorbar, y: plot.y, width: l.colorbar, height: min(plot.height, 180)), theme: theme)
    }
}
