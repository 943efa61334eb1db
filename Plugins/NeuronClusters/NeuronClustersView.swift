import Foundation
import LoupeCore
import LoupeModel
import LoupeRender

/// Neurons of one MLP layer chosen for topic selectivity over a
/// topic-labelled prompt set, clustered by their topic profiles, and each
/// cluster tagged with a topic only where a held-out test finds one (see
/// `TopicStatistics`). The figure: neurons × topics on the discovery half and
/// on the held-out half side by side, rows in dendrogram order, every
/// neuron's η², each cluster's size, tag, effect size and p, and the real
/// contexts that excite its representative neuron most.
public struct NeuronClustersView: ViewPlugin {
    public init() {}

    public static let info = ViewInfo(
        id: "neuron-clusters",
        title: "Neuron clusters",
        summary: "MLP neurons chosen for topic selectivity, clustered, and tagged with a topic where a held-out permutation test finds one.",
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
        @ViewOption("content tokens at the start of each prompt left out of importance and examples (after BOS; the first tokens' activations are dominated by their position)", range: 0 ... 16)
        public var skip = 1
        @ViewOption("how many neurons to show: the most topic-selective (η² of importance by topic, on the discovery half)", range: 2 ... 512)
        public var neurons = 48
        @ViewOption("number of clusters k", range: 1 ... 512) public var clusters = 8
        @ViewOption("agglomerative linkage (cosine distance of topic profiles), or k-means") public var method: Method = .average
        @ViewOption("topic-label shuffles of each held-out permutation test", range: 1000 ... 1_000_000) public var permutations = 2000
        @ViewOption("family-wise significance level of the tags (Holm-corrected over the clusters)", range: 1e-6 ... 0.5)
        public var alpha = 0.01
        @ViewOption("seed of the discovery / held-out split, the permutations, and k-means", range: 0 ... Int(Int32.max)) public var seed = 0
        @ViewOption("figure title (default: the layer and the method)") public var title = ""
        public init() {}
    }

    /// A real context that excites a neuron: the token, a few tokens around
    /// it, and which prompt it is from.
    public struct Context: Codable, Sendable {
        /// Index into `Data.prompts`.
        public var prompt: Int
        public var position: Int
        public var activation: Double
        public var before: String
        public var token: String
        public var after: String
    }

    /// One cluster: its test (see `TopicStatistics.ClusterTest`), its tag,
    /// and its representative neuron's strongest contexts.
    public struct Tag: Codable, Sendable {
        public var cluster: Int
        /// The significant topic, or nil: "no topic".
        public var topic: String?
        /// The discovery half's candidate, tagged or not.
        public var candidate: String
        public var heldOutBest: String
        public var test: TopicStatistics.ClusterTest
        /// The representative neuron's index in the layer.
        public var neuron: Int
        public var examples: [Context]

        enum CodingKeys: String, CodingKey { case cluster, topic, candidate, heldOutBest = "held_out_best", test, neuron, examples }
    }

    public struct Data: Codable, Sendable {
        public var layer: Int
        public var importance: Importance
        public var method: Method
        /// Positions before this one (BOS and `skip` content tokens) are left out.
        public var firstPosition: Int
        public var permutations: Int
        public var alpha: Double
        /// The neurons shown, in analysis order, with their selectivity.
        public var neurons: [TopicStatistics.NeuronStats]
        /// Cluster of each neuron (same order as `neurons`).
        public var clusters: [Int]
        /// Row order: indices into `neurons`, top to bottom.
        public var order: [Int]
        /// The agglomerative merges (nodes 0..<N are the neurons), empty for k-means.
        public var merges: [Merge]
        public var topics: [String]
        /// The prompts, grouped by topic, and the half each belongs to (0 discovery, 1 held-out).
        public var prompts: [PromptSet.Entry]
        public var half: [Int]
        /// [neurons][prompts]: importance standardised by the discovery half.
        public var values: [[Double]]
        /// [neurons][topics]: mean standardised importance on each half.
        public var topicMeans: [[Double]]
        public var topicMeansHeldOut: [[Double]]
        public var tags: [Tag]
        /// The share of topic tags whose topic is also first on the held-out half (nil with no tag).
        public var agreement: Double?
        public var agreementAll: Double

        enum CodingKeys: String, CodingKey {
            case layer, importance, method, firstPosition = "first_position", permutations, alpha, neurons, clusters, order, merges,
                 topics, prompts, half, values, topicMeans = "topic_means", topicMeansHeldOut = "topic_means_held_out", tags,
                 agreement, agreementAll = "agreement_all"
        }
    }

    public func analyze(_ input: AnalysisInput, options o: Options) throws -> Data {
        let model = input.model, c = model.config
        // The declared ranges were checked when the options were read (the
        // neurons at most 512: agglomerative clustering is cubic in them).
        try input.checkLayer(o.layer, view: Self.info.id)
        let set = try PromptSet(path: o.prompts)
        let topics = set.topics
        let fileOrder = topics.flatMap { t in set.entries.indices.filter { set.entries[$0].topic == t } }
        let prompts = fileOrder.map { set.entries[$0] }
        let labels = prompts.map { p in topics.firstIndex(of: p.topic)! }
        guard topics.count >= 2 else {
            throw CoreError.badPromptSet(path: o.prompts, line: nil, detail: "it has one topic; tagging needs at least two")
        }
        for (t, topic) in topics.enumerated() where labels.filter({ $0 == t }).count < 4 {
            throw CoreError.badPromptSet(path: o.prompts, line: nil,
                                         detail: "topic '\(printable(topic, limit: 80))' has fewer than 4 prompts; each half of the split needs at least 2")
        }
        let m = c.dMLP, l = o.layer
        // A permutation p is at least 1 / (shuffles + 1), and Holm multiplies
        // the smallest by the clusters tested: too few shuffles could never
        // tag anything, which the figure would present as "no topic".
        let k = min(o.clusters, o.neurons, m)
        if Double(k) / Double(o.permutations + 1) >= o.alpha {
            let needed = Int((Double(k) / o.alpha).rounded(.down))
            throw CoreError.invalidInput(view: Self.info.id, detail: "with \(k) clusters, \(o.permutations) permutations cannot reach alpha \(String(format: "%g", o.alpha)) (the smallest corrected p is \(k) / \(o.permutations + 1)); set permutations to at least \(needed)")
        }
        // BOS is an attention sink, and the first content tokens see almost
        // no context: their activations rank neurons by position, not meaning.
        let first = (model.prependsBOS ? 1 : 0) + o.skip

        // Every prompt in packed passes (see Model.forward(batch:)), in topic order.
        let hook = HookPoint.mlpPost(l)
        input.report("prompts run", 0, prompts.count)
        let run = try PromptSetRun.run(set, model: model, hook: hook, block: l)
        input.report("prompts run", prompts.count, prompts.count)
        let batch = fileOrder.map { run.ids[$0] }
        for (i, ids) in batch.enumerated() where ids.count <= first {
            throw CoreError.badPromptSet(path: o.prompts, line: nil,
                                         detail: "prompt \(fileOrder[i] + 1) (\(prompts[i].topic)) has \(ids.count) tokens; with skip=\(o.skip) none is left to measure")
        }
        let posts = fileOrder.map { run.activations[$0] }
        var grads: [Tensor] = []
        if o.importance == .attribution {
            let full = try model.forward(batch: batch, hooks: .none)
            let objectives = full.map { r in Objective.logit(token: Logits.topK(r.logits!.row(r.ids.count - 1), 1)[0], position: -1) }
            grads = try model.gradient(of: objectives, batch: try batch.map { try model.embed($0) }, hooks: .matching([hook.name])).map { $0.hooks[hook]! }
        }
        let importance = batch.indices.map { i -> [Double] in
            let post = posts[i].data, grad = grads.isEmpty ? nil : grads[i].data
            let positions = first ..< batch[i].count
            return (0 ..< m).map { n in
                switch o.importance {
                case .mean: positions.reduce(0.0) { $0 + Double(post[$1 * m + n]) } / Double(positions.count)
                case .max: positions.map { Double(post[$0 * m + n]) }.max()!
                case .attribution: positions.reduce(0.0) { $0 + Double(post[$1 * m + n]) * Double(grad![$1 * m + n]) }
                }
            }
        }

        let linkage: Clustering.Linkage? = switch o.method { case .average: .average; case .complete: .complete; case .kmeans: nil }
        let r = TopicStatistics.analyse(importance: importance, labels: labels, topics: topics.count, settings: .init(
            neurons: o.neurons, clusters: o.clusters, linkage: linkage, permutations: o.permutations, alpha: o.alpha,
            seed: UInt64(bitPattern: Int64(o.seed))))

        // The representative neurons' strongest contexts, one per prompt.
        let tokenizer = model.tokenizer
        func examples(of neuron: Int) -> [Context] {
            var best: [(a: Double, prompt: Int, position: Int)] = []
            for (i, ids) in batch.enumerated() {
                let post = posts[i].data
                guard let p = (first ..< ids.count).max(by: { post[$0 * m + neuron] < post[$1 * m + neuron] }) else { continue }
                best.append((Double(post[p * m + neuron]), i, p))
            }
            return best.sorted { ($0.a, $1.prompt) > ($1.a, $0.prompt) }.prefix(3).map { e in
                let ids = batch[e.prompt]
                return Context(prompt: e.prompt, position: e.position, activation: e.a,
                               before: tokenizer.decode(Array(ids[max(first, e.position - 5) ..< e.position])),
                               token: tokenizer.decode([ids[e.position]]),
                               after: tokenizer.decode(Array(ids[(e.position + 1) ..< min(ids.count, e.position + 4)])))
            }
        }
        let tags = r.tests.map { t in
            let neuron = r.neurons[t.representative].neuron
            return Tag(cluster: t.cluster, topic: t.significant ? topics[t.candidate] : nil, candidate: topics[t.candidate],
                       heldOutBest: topics[t.heldOutBest], test: t, neuron: neuron, examples: examples(of: neuron))
        }
        return Data(layer: l, importance: o.importance, method: o.method, firstPosition: first, permutations: o.permutations,
                    alpha: o.alpha, neurons: r.neurons, clusters: r.clusters, order: r.order, merges: r.merges, topics: topics,
                    prompts: prompts, half: r.half, values: r.values, topicMeans: r.topicMeans, topicMeansHeldOut: r.topicMeansHeldOut,
                    tags: tags, agreement: r.agreement, agreementAll: r.agreementAll)
    }

    // MARK: Drawing

    /// Neurons, clusters, rows, merges, halves and topic profiles agree;
    /// every prompt's topic is listed; each cluster has one tag, whose
    /// topic is its candidate and is given only when significant.
    public func validate(_ data: Data, options: Options) throws {
        let n = data.neurons.count, t = data.topics.count
        try RecordCheck.nonEmpty(data.neurons, "data.neurons", max: 4096)
        try RecordCheck.nonEmpty(data.prompts, "data.prompts", max: 100_000)
        try RecordCheck.nonEmpty(data.topics, "data.topics", max: 256)
        try RecordCheck.count(data.clusters, n, "data.clusters", "one per neuron")
        try RecordCheck.permutation(data.order, n, "data.order")
        try RecordCheck.count(data.values, n, "data.values", "one row per neuron")
        try RecordCheck.rows(data.values, data.prompts.count, "data.values", "one per prompt")
        try RecordCheck.count(data.half, data.prompts.count, "data.half", "one per prompt")
        try RecordCheck.count(data.topicMeans, n, "data.topic_means", "one row per neuron")
        try RecordCheck.rows(data.topicMeans, t, "data.topic_means", "one per topic")
        try RecordCheck.count(data.topicMeansHeldOut, n, "data.topic_means_held_out", "one row per neuron")
        try RecordCheck.rows(data.topicMeansHeldOut, t, "data.topic_means_held_out", "one per topic")
        for (i, h) in data.half.enumerated() { try RecordCheck.within(h, 0 ... 1, "data.half[\(i)]") }
        for (i, c) in data.clusters.enumerated() { try RecordCheck.within(c, 0 ... n - 1, "data.clusters[\(i)]") }
        for (i, s) in data.neurons.enumerated() {
            try RecordCheck.within(s.eta2, 0 ... 1, "data.neurons[\(i)].eta2")
            try RecordCheck.within(s.eta2HeldOut, 0 ... 1, "data.neurons[\(i)].eta2_held_out")
            try RecordCheck.within(s.topic, 0 ... t - 1, "data.neurons[\(i)].topic")
        }
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
            try RecordCheck.within(tag.test.p, 0 ... 1, "data.tags[\(i)].test.p")
            try RecordCheck.within(tag.test.pCorrected, 0 ... 1, "data.tags[\(i)].test.p_corrected")
            try RecordCheck.within(tag.test.representative, 0 ... n - 1, "data.tags[\(i)].test.representative")
            if let topic = tag.topic, topic != tag.candidate || !tag.test.significant {
                throw RecordProblem("data.tags[\(i)].topic", "'\(printable(topic, limit: 80))' is given but the candidate is '\(printable(tag.candidate, limit: 80))'" + (tag.test.significant ? "" : " and it is not significant"))
            }
            for (k, e) in tag.examples.enumerated() { try RecordCheck.within(e.prompt, 0 ... data.prompts.count - 1, "data.tags[\(i)].examples[\(k)].prompt") }
        }
    }

    struct Layout {
        var title: Double
        var header: Double
        var dendrogram: Double
        var band: Double
        var rowLabels: Double
        var eta: Double
        var cell: Size
        var between: Double
        var tags: Double
        var colorbar: Double
        var topicLabels: Double
        var examples: Double
        var footer: Double
        /// The figure's width.
        var width: Double
        /// Narrow (a paper column): no dendrogram, and each cluster's tag is
        /// written above its context below the maps rather than beside them.
        var tagsBelow: Bool
    }

    static let scale = ColorScale(low: -1.5, high: 1.5)
    static let colorbarLabel = "mean importance (z)"

    func layout(_ data: Data, options: Options, theme: Theme, width: Double?, measure: Canvas) -> Layout {
        let tick = theme.tickFont, small = tick.sized(max(theme.minimumTextSize, tick.size - 1))
        let line = measure.measure("Ag", tick).height
        let rowLabels = measure.measure("n0000", small).width + theme.gap
        let eta = measure.measure("0.00", small).width + theme.gap
        // A tag's first line is set in bold, its second smaller.
        let tagWidth = data.tags.map { t -> Double in
            let lines = tagLines(t, data)
            return max(measure.measure(lines[0], tick.withBold()).width, measure.measure(lines[1], small).width)
        }.max() ?? 0
        let fullTags = min(240, tagWidth) + 3.5 * theme.gap
        let colorbar = Colorbar(colormap: .rdbu, scale: Self.scale, label: Self.colorbarLabel).width(measure, theme: theme)
        let between = 2 * theme.gap
        let columns = Double(2 * max(1, data.topics.count))
        let natural = max(line * 1.1, 14.0)
        // The tags go beside the maps when a third of the width holds them;
        // in a narrower figure they go below, and the dendrogram is left out.
        let tagsBelow = width.map { $0 / 3 < fullTags } ?? false
        let dendrogram = data.merges.isEmpty || tagsBelow ? 0.0 : 50.0
        let tags = tagsBelow ? 0 : fullTags
        let fixed = 2 * theme.margin + dendrogram + 8 + theme.gap + rowLabels + eta + between + colorbar
        let cellWidth = width.map { max(4, ($0 - fixed - tags) / columns) } ?? natural
        let w = width ?? (fixed + tags + cellWidth * columns)
        let cellHeight = max(line * 0.8, 6)
        let text = w - 2 * theme.margin
        let titleHeight = measure.paragraphHeight(self.title(data, options: options), theme.titleFont, width: text) + theme.gap
        let header = line + theme.gap
        let topicLabels = min(90, data.topics.map { measure.measure($0, small).width }.max() ?? 0) + theme.gap
        let perTag = (tagsBelow ? 3 : 1) * (line + 2)
        let examples = Double(data.tags.count) * perTag + measure.paragraphHeight(Self.examplesHeading(data), theme.labelFont, width: text) + theme.gap * 2
        let footer = notes(data).reduce(0) { $0 + measure.paragraphHeight($1, small, width: text) + 1 } + theme.gap
        return Layout(title: titleHeight, header: header, dendrogram: dendrogram, band: 8, rowLabels: rowLabels, eta: eta,
                      cell: Size(cellWidth, cellHeight), between: between, tags: tags, colorbar: colorbar,
                      topicLabels: topicLabels, examples: examples, footer: footer, width: w, tagsBelow: tagsBelow)
    }

    func title(_ data: Data, options: Options) -> String {
        options.title.isEmpty
            ? "Topic-selective neurons of block \(data.layer), \(data.method == .kmeans ? "k-means" : data.method.rawValue + "-linkage") clusters"
            : options.title
    }

    static func examplesHeading(_ data: Data) -> String {
        "Strongest contexts of each cluster's representative neuron (positions ≥ \(data.firstPosition))"
    }

    /// How the tags were tested, a paragraph each.
    func notes(_ data: Data) -> [String] {
        let agreement = data.agreement.map { a in
            let tagged = data.tags.filter { $0.topic != nil }
            return "\(tagged.filter(\.test.agrees).count) of \(tagged.count) tags (\(String(format: "%.0f", a * 100)) %)"
        } ?? "no tag"
        return [
            "Neurons: the \(data.neurons.count) with the highest η² of importance by topic on the discovery half; clusters of their discovery topic profiles.",
            "Tags: each cluster's best discovery topic, tested on the held-out half (Cohen's d, \(data.permutations) label shuffles, Holm over \(data.tags.count), α \(String(format: "%g", data.alpha))). Held-out first: \(agreement).",
        ]
    }

    /// `words` cut to fit `width` in `font` at word boundaries, from the
    /// start (keeping the end) or from the end, marked by "…"; the canvas
    /// never has to cut it.
    static func fitted(_ words: String, _ font: Font, width: Double, keepEnd: Bool, _ canvas: Canvas) -> String {
        guard canvas.measure(words, font).width > width else { return words }
        var parts = words.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
        while !parts.isEmpty {
            if keepEnd { parts.removeFirst() } else { parts.removeLast() }
            let s = keepEnd ? "…" + parts.joined(separator: " ") : parts.joined(separator: " ") + "…"
            if canvas.measure(s, font).width <= width { return s }
        }
        return ""
    }

    /// A tag's two lines: the cluster, its size and topic; the test.
    func tagLines(_ t: Tag, _ data: Data) -> [String] {
        let size = "C\(t.cluster + 1) · \(t.test.size) neuron\(t.test.size == 1 ? "" : "s")"
        let p = Self.formatP(t.test.pCorrected, permutations: data.permutations)
        guard let topic = t.topic else {
            return [size + " · no topic", "best: \(t.candidate), d \(String(format: "%.2f", t.test.effect)), p \(p)"]
        }
        return [size + " · " + topic, "d \(String(format: "%.2f", t.test.effect)) · p \(p) · held-out " + (t.test.agrees ? "first ✓" : "first: \(t.heldOutBest)")]
    }

    /// A corrected p-value; at the permutation test's resolution, "< 1/(B+1)"
    /// would claim more than the test can show, so the floor is written as such.
    static func formatP(_ p: Double, permutations: Int) -> String {
        let floor = 1 / Double(permutations + 1)
        if p <= floor * 1.0000001 { return "≤ " + String(format: "%.1g", floor) }
        return p < 0.001 ? String(format: "%.1e", p) : String(format: "%.3f", p)
    }

    public func size(of data: Data, options: Options, theme: Theme, width: Double?, measure: Canvas) -> Size {
        let l = layout(data, options: options, theme: theme, width: width, measure: measure)
        let w = l.width
        let line = measure.measure("Ag", theme.tickFont).height
        let tagRows = l.tagsBelow ? 0 : Double(data.tags.count) * (2 * line + 4)
        let rows = max(Double(data.neurons.count) * l.cell.height, tagRows)
        return Size(w, theme.margin + l.title + l.header + rows + l.topicLabels + l.examples + l.footer + theme.margin)
    }

    /// The two heatmaps' cells in `frame`: neurons down, topics across.
    func plotRects(_ data: Data, layout l: Layout, in frame: Rect, theme: Theme) -> (Rect, Rect) {
        let top = frame.y + theme.margin + l.title + l.header
        let left = frame.x + theme.margin + l.dendrogram + l.band + theme.gap + l.rowLabels + l.eta
        let bottom = frame.maxY - theme.margin - l.footer - l.examples - l.topicLabels
        let w = l.cell.width * Double(data.topics.count)
        return (Rect(x: left, y: top, width: w, height: bottom - top), Rect(x: left + w + l.between, y: top, width: w, height: bottom - top))
    }

    /// Each cell: the neuron, its selectivity and cluster's tag, the topic and half, and its mean.
    public func hitRegions(of data: Data, options: Options, in frame: Rect, theme: Theme, measure: Canvas) -> [HitRegion] {
        let l = layout(data, options: options, theme: theme, width: frame.width, measure: measure)
        let (a, b) = plotRects(data, layout: l, in: frame, theme: theme)
        let ch = a.height / Double(max(1, data.order.count))
        let tags = Dictionary(uniqueKeysWithValues: data.tags.map { ($0.cluster, $0) })
        return [(a, data.topicMeans, "discovery"), (b, data.topicMeansHeldOut, "held-out")].flatMap { plot, means, half in
            data.order.enumerated().flatMap { row, r in
                data.topics.enumerated().map { c, topic in
                    let rect = Rect(x: plot.x + Double(c) * l.cell.width, y: plot.y + Double(row) * ch, width: l.cell.width, height: ch)
                    let s = data.neurons[r]
                    let tag = tags[data.clusters[r]].map { tagLines($0, data).joined(separator: " · ") } ?? "C\(data.clusters[r] + 1)"
                    return HitRegion(rect, title: "neuron \(s.neuron) of block \(data.layer)", lines: [
                        tag, "η² \(String(format: "%.2f", s.eta2)) (discovery), \(String(format: "%.2f", s.eta2HeldOut)) (held-out)",
                        "\(topic), \(half) half: mean importance (z) \(String(format: "%.2f", means[r][c]))"])
                }
            }
        }
    }

    /// `layer`, `agreement`, and for each cluster k (numbered from 1 as
    /// drawn) `Ck.neuron` (its representative: the member most selective for
    /// its candidate topic), `Ck.topic` (the tag, or "no topic") and `Ck.p`;
    /// and for the significant clusters, largest held-out effect first,
    /// `S1.neuron`, `S1.topic`, `S1.p`, `S1.cluster`, `S2.…`.
    public func exports(of data: Data, options: Options) -> [String: String] {
        var out = ["layer": String(data.layer), "agreement": data.agreement.map { String(format: "%.2f", $0) } ?? "none"]
        func p(_ t: Tag) -> String { Self.formatP(t.test.pCorrected, permutations: data.permutations) }
        for tag in data.tags {
            out["C\(tag.cluster + 1).neuron"] = String(tag.neuron)
            out["C\(tag.cluster + 1).topic"] = tag.topic ?? "no topic"
            out["C\(tag.cluster + 1).p"] = p(tag)
        }
        let significant = data.tags.filter { $0.topic != nil }.sorted { ($0.test.effect, $1.cluster) > ($1.test.effect, $0.cluster) }
        for (i, tag) in significant.enumerated() {
            out["S\(i + 1).neuron"] = String(tag.neuron)
            out["S\(i + 1).topic"] = tag.topic
            out["S\(i + 1).p"] = p(tag)
            out["S\(i + 1).cluster"] = "C\(tag.cluster + 1)"
        }
        return out
    }

    /// Each cluster's tag (or "no topic") with its held-out effect and p,
    /// and the held-out agreement.
    public func findings(of data: Data, options: Options) -> [String] {
        let lines = data.tags.map { t in
            let size = "C\(t.cluster + 1) (\(t.test.size) neuron\(t.test.size == 1 ? "" : "s"))"
            let stats = "d \(String(format: "%.2f", t.test.effect)) on the held-out half, p \(Self.formatP(t.test.pCorrected, permutations: data.permutations))"
            guard let topic = t.topic else { return "\(size): no topic (best on discovery: \(t.candidate), \(stats))" }
            return "\(size): \(topic), \(stats)" + (t.test.agrees ? ", first on the held-out half too" : ", but \(t.heldOutBest) is first on the held-out half")
        }
        let tagged = data.tags.filter { $0.topic != nil }
        let agreement = tagged.isEmpty ? "no cluster has a significant topic"
            : "held-out agreement: \(tagged.filter(\.test.agrees).count) of \(tagged.count) tags (\(String(format: "%.0f", 100 * (data.agreement ?? 0))) %)"
        return lines + ["p: \(data.permutations) topic shuffles of the held-out half, Holm-corrected over \(data.tags.count) clusters; \(agreement)."]
    }

    public func draw(_ data: Data, options: Options, on canvas: Canvas, in frame: Rect, theme: Theme) throws {
        let l = layout(data, options: options, theme: theme, width: frame.width, measure: canvas)
        let tick = theme.tickFont, small = tick.sized(max(theme.minimumTextSize, tick.size - 1))
        let line = canvas.measure("Ag", tick).height
        canvas.paragraph(title(data, options: options), at: Point(frame.midX, frame.y + theme.margin), font: theme.titleFont,
                         color: theme.foreground, width: frame.width - 2 * theme.margin, align: .center)
        let rows = data.order.count
        let (a, b) = plotRects(data, layout: l, in: frame, theme: theme)
        let ch = a.height / Double(max(1, rows))
        let counts = [0, 1].map { h in data.half.filter { $0 == h }.count }
        for (plot, means, name, count) in [(a, data.topicMeans, "discovery", counts[0]), (b, data.topicMeansHeldOut, "held-out", counts[1])] {
            let colors = data.order.flatMap { r in means[r].map { Colormap.rdbu.color(at: Self.scale.position(min(Self.scale.high, max(Self.scale.low, $0)))) } }
            try canvas.image(colors, columns: data.topics.count, in: plot)
            canvas.stroke(plot, theme.rule, width: theme.lineWidth / 2)
            // Both halves say their prompt counts, or neither does.
            let full = canvas.measure("discovery (\(counts[0]) prompts)", small).width <= plot.width + l.between
                && canvas.measure("held-out (\(counts[1]) prompts)", small).width <= plot.width + l.between
            let header = full ? "\(name) (\(count) prompts)" : canvas.measure(name, small).width <= plot.width + l.between ? name : ""
            canvas.text(header, at: Point(plot.midX, plot.y - theme.gap / 2), font: small, color: theme.muted,
                        anchor: TextAnchor(.center, .bottom))
            for (c, topic) in data.topics.enumerated() {
                let x = plot.x + (Double(c) + 0.5) * l.cell.width
                canvas.text(topic, at: Point(x, plot.maxY + theme.gap / 2), font: small, color: theme.foreground,
                            anchor: TextAnchor(.right, .middle), angle: -.pi / 2, maxWidth: l.topicLabels - theme.gap)
            }
        }
        // Row labels (thinned when rows are short), η², cluster bands, dendrogram.
        // (No rows, or a frame too short for any: ch is 0, and no label is thinned.)
        let every = ch > 0 ? max(1, Int(min(1e6, (canvas.measure("Ag", small).height / ch).rounded(.up)))) : 1
        canvas.text("η²", at: Point(a.x - theme.gap / 2, a.y - theme.gap / 2), font: small, color: theme.muted, anchor: TextAnchor(.right, .bottom))
        for (row, r) in data.order.enumerated() {
            let y = a.y + Double(row) * ch
            canvas.fill(Rect(x: a.x - l.eta - theme.gap - l.rowLabels - l.band, y: y, width: l.band, height: ch), Palette.categorical(data.clusters[r]))
            if row % every == 0 {
                canvas.text("n\(data.neurons[r].neuron)", at: Point(a.x - l.eta - theme.gap, y + ch / 2), font: small, color: theme.foreground,
                            anchor: TextAnchor(.right, .middle))
                canvas.text(String(format: "%.2f", data.neurons[r].eta2), at: Point(a.x - theme.gap / 2, y + ch / 2), font: small,
                            color: theme.muted, anchor: TextAnchor(.right, .middle))
            }
        }
        if !data.merges.isEmpty, l.dendrogram > 0 {
            Dendrogram(merges: data.merges, leaves: rows, order: data.order, leafColors: data.clusters.map { Palette.categorical($0) })
                .draw(canvas, in: Rect(x: frame.x + theme.margin, y: a.y, width: l.dendrogram - theme.gap, height: a.height), theme: theme)
        }
        // Tags at each cluster's middle, pushed down so they never overlap.
        let tagX = b.maxX + theme.gap * 2
        var nextFree = a.y
        for tag in data.tags where !l.tagsBelow {
            let rowsOfCluster = data.order.enumerated().filter { data.clusters[$0.element] == tag.cluster }.map(\.offset)
            guard let firstRow = rowsOfCluster.first, let lastRow = rowsOfCluster.last else { continue }
            let middle = a.y + (Double(firstRow + lastRow + 1) / 2) * ch
            let y = max(middle - line, nextFree)
            canvas.fillCircle(center: Point(tagX + line * 0.3, y + line / 2), radius: line * 0.3, Palette.categorical(tag.cluster))
            let lines = tagLines(tag, data)
            canvas.text(lines[0], at: Point(tagX + theme.gap * 1.5, y), font: tag.topic == nil ? tick : tick.withBold(),
                        color: tag.topic == nil ? theme.muted : theme.foreground, maxWidth: l.tags - theme.gap * 3.5)
            canvas.text(lines[1], at: Point(tagX + theme.gap * 1.5, y + line), font: small, color: theme.muted, maxWidth: l.tags - theme.gap * 3.5)
            nextFree = y + 2 * line + 4
        }
        try Colorbar(colormap: .rdbu, scale: Self.scale, label: Self.colorbarLabel)
            .draw(canvas, in: Rect(x: frame.maxX - theme.margin - l.colorbar, y: a.y, width: l.colorbar, height: min(a.height, 180)), theme: theme)

        // The contexts that excite each cluster's representative neuron most.
        var y = a.maxY + l.topicLabels + theme.gap
        y += canvas.paragraph(Self.examplesHeading(data), at: Point(frame.x + theme.margin, y), font: theme.labelFont,
                              color: theme.foreground, width: frame.width - 2 * theme.margin) + theme.gap / 2
        for tag in data.tags {
            var x = frame.x + theme.margin
            let right = frame.maxX - theme.margin
            if l.tagsBelow {
                let lines = tagLines(tag, data)
                canvas.fillCircle(center: Point(x + line * 0.3, y + line / 2), radius: line * 0.3, Palette.categorical(tag.cluster))
                canvas.text(lines[0], at: Point(x + line * 0.6 + theme.gap / 2, y), font: tag.topic == nil ? tick : tick.withBold(),
                            color: tag.topic == nil ? theme.muted : theme.foreground)
                canvas.text(lines[1], at: Point(x + line * 0.6 + theme.gap / 2, y + line + 2), font: small, color: theme.muted)
                y += 2 * (line + 2)
            }
            if l.tagsBelow {
                // Under its tag: the neuron alone, indented.
                x += line * 0.6 + theme.gap / 2
                x += canvas.text("n\(tag.neuron):", at: Point(x, y), font: tick.withBold(), color: theme.foreground).width + theme.gap
            } else {
                canvas.fillCircle(center: Point(x + line * 0.3, y + line / 2), radius: line * 0.3, Palette.categorical(tag.cluster))
                x += line * 0.6 + theme.gap / 2
                x += canvas.text("C\(tag.cluster + 1) n\(tag.neuron):", at: Point(x, y), font: tick.withBold(), color: theme.foreground).width + theme.gap
            }
            if let e = tag.examples.first {
                let source = "  (\(String(format: "%.2f", e.activation)); \(data.prompts[e.prompt].topic), prompt \(e.prompt + 1))"
                let token = e.token.trimmingCharacters(in: .whitespaces)
                let before = "…" + e.before + String(e.token.prefix { $0 == " " })
                // The context is cut at words to fit: first what follows the token, then what precedes it.
                let shown = token.isEmpty ? TokenText.visible(e.token) : token
                let tokenWidth = canvas.measure(shown, tick.withBold()).width + 1
                let sourceWidth = canvas.measure(source, small).width
                let room = max(0, right - x - tokenWidth - sourceWidth)
                let beforeText = TokenText.visible(before).replacingOccurrences(of: "␣", with: " ")
                let afterText = e.after.replacingOccurrences(of: "\n", with: "↵") + "…"
                let beforeShown = Self.fitted(beforeText, tick, width: min(canvas.measure(beforeText, tick).width, room * 0.55), keepEnd: true, canvas)
                let afterShown = Self.fitted(afterText, tick, width: room - canvas.measure(beforeShown, tick).width, keepEnd: false, canvas)
                x += canvas.text(beforeShown, at: Point(x, y), font: tick, color: theme.muted).width
                let box = canvas.measure(shown, tick.withBold())
                canvas.fill(Rect(x: x - 1, y: y, width: box.width + 2, height: box.height), Colormap.rdbu.color(at: 0.85).withAlpha(0.35))
                x += canvas.text(shown, at: Point(x, y), font: tick.withBold(), color: theme.foreground).width + 1
                x += canvas.text(afterShown, at: Point(x, y), font: tick, color: theme.muted).width
                if x + sourceWidth <= right + 0.5 { canvas.text(source, at: Point(x, y + 1), font: small, color: theme.muted) }
            }
            y += line + 2
        }
        // How the tags were tested.
        var fy = frame.maxY - theme.margin - l.footer + theme.gap
        for note in notes(data) {
            fy += canvas.paragraph(note, at: Point(frame.x + theme.margin, fy), font: small, color: theme.muted,
                                   width: frame.width - 2 * theme.margin) + 1
        }
    }
}
