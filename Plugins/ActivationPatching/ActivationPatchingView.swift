import Foundation
import LoupeCore
import LoupeModel
import LoupeRender
import LoupeSupport

/// Activation patching: which activations the model causally needs for an
/// answer. The clean prompt's activations at one site are put, one
/// (block, position) at a time (for `z`, one head over every position),
/// into the run of a corrupted prompt of the same length, and the logit
/// difference target − counterfactual at one position is measured,
/// normalised so that the corrupted run scores 0 and the clean run 1.
///
/// Three facts that hold for any model are checked on every figure, from
/// two extra runs and the cells themselves: resid_pre of block 0 patched at
/// every differing position is the clean run (1); the last block's output
/// patched at the measured position gives the clean logits (1); a position
/// before the first differing token holds the same activations in both
/// runs (0). A figure whose checks fail is refused.
public struct ActivationPatchingView: ViewPlugin {
    public init() {}

    public static let info = ViewInfo(
        id: "activation-patching",
        title: "Activation patching",
        summary: "Clean activations patched into a corrupted run, one block and position (or head) at a time: how much of the clean logit difference each restores.",
        example: ViewExample(prompt: "When Mary and John went to the store, John gave a drink to",
                             options: ["corrupted": "When John and Mary went to the store, Mary gave a drink to"]),
        hooks: [])

    public enum Site: String, Codable, Sendable, OptionChoice {
        case residPre = "resid_pre", attnOut = "attn_out", mlpOut = "mlp_out", z

        var patchSite: Patch.Site {
            switch self {
            case .residPre: .residPre
            case .attnOut: .attnOut
            case .mlpOut: .mlpOut
            case .z: .z
            }
        }

        var hookName: String { self == .z ? "attn.hook_z" : "hook_" + rawValue }
    }

    public struct Options: ViewOptions {
        @ViewOption("corrupted prompt, as many tokens as the prompt; default: the prompt with its first two distinct capitalised words that do not start a sentence swapped (the names of an IOI prompt)")
        public var corrupted = ""
        @ViewOption("what is patched: resid_pre, attn_out or mlp_out at each block and position, or z at each block and head (all positions)")
        public var site: Site = .residPre
        @ViewOption("token whose logit the metric adds: text (one token) or id:N; default: the clean run's top-1 at the position")
        public var target = ""
        @ViewOption("token whose logit the metric subtracts: text or id:N; default: the corrupted run's top-1 at the position")
        public var counterfactual = ""
        @ViewOption("position where the logit difference is read (negative counts from the end)", range: -65536 ... 65535)
        public var position = -1
        @ViewOption("figure title (default: the site and the logit difference)") public var title = ""
        public init() {}
    }

    public struct Data: Codable, Sendable {
        /// The clean prompt's tokens, and the corrupted prompt and its tokens.
        public var tokens: [String]
        public var corrupted: String
        public var corruptedTokens: [String]
        public var target: NamedToken
        public var counterfactual: NamedToken
        public var patching: ActivationPatching

        enum CodingKeys: String, CodingKey {
            case tokens, corrupted, corruptedTokens = "corrupted_tokens", target, counterfactual, patching
        }
    }

    /// How far a check may miss, in units of the normalised metric, per
    /// logit of scale: the patched runs are packed passes whose float32
    /// products sum in another order than the two baselines' (about 1e-6
    /// of the logits); a patch in the wrong row moves a check by tenths.
    static let tolerance = 1e-4

    static func allowed(_ p: ActivationPatching) -> Double {
        tolerance * max(1, abs(p.cleanDifference), abs(p.corruptedDifference)) / abs(p.cleanDifference - p.corruptedDifference)
    }

    /// The prompt with its first two distinct capitalised words that do not
    /// start a sentence swapped everywhere, or nil when it has no two.
    static func swappedNames(_ prompt: String) -> String? {
        guard let regex = try? NSRegularExpression(pattern: "(?<![.!?]\\s)(?<!^)\\b\\p{Lu}\\p{Ll}+\\b") else { return nil }
        let text = prompt as NSString
        var names: [String] = []
        for m in regex.matches(in: prompt, range: NSRange(location: 0, length: text.length)) {
            let word = text.substring(with: m.range)
            if m.range.location > 0, !names.contains(word) { names.append(word) }
            if names.count == 2 { break }
        }
        guard names.count == 2, let swap = try? NSRegularExpression(pattern: "\\b(\(names[0])|\(names[1]))\\b") else { return nil }
        var out = "", last = 0
        for m in swap.matches(in: prompt, range: NSRange(location: 0, length: text.length)) {
            out += text.substring(with: NSRange(location: last, length: m.range.location - last))
            out += text.substring(with: m.range) == names[0] ? names[1] : names[0]
            last = m.range.location + m.range.length
        }
        return out + text.substring(from: last)
    }

    public func analyze(_ input: AnalysisInput, options: Options) throws -> Data {
        let id = Self.info.id, model = input.model
        let p = try input.position(options.position, view: id)
        var corruptedPrompt = options.corrupted
        if corruptedPrompt.isEmpty {
            guard let swapped = Self.swappedNames(input.prompt) else {
                throw CoreError.invalidInput(view: id, detail: "option 'corrupted' is not set and the prompt has no two capitalised words to swap; give the corrupted prompt, e.g. --set corrupted='…'")
            }
            corruptedPrompt = swapped
        }
        let corruptedIds = model.tokenize(corruptedPrompt)
        guard corruptedIds.count == input.ids.count else {
            throw CoreError.invalidInput(view: id, detail: "the prompt is \(input.ids.count) tokens and the corrupted prompt '\(printable(corruptedPrompt, limit: 120))' is \(corruptedIds.count); patching needs the same number of tokens")
        }
        guard corruptedIds != input.ids else {
            throw CoreError.invalidInput(view: id, detail: "the corrupted prompt is the same tokens as the prompt")
        }
        guard let cleanLogits = input.forward.logits else { throw CoreError.invalidInput(view: id, detail: "the pass kept no logits") }
        let corruptedLogits = try model.forward(corruptedIds, hooks: .none).logits!
        func top(_ logits: Tensor) -> NamedToken {
            let t = Logits.topK(logits.row(p), 1)[0]
            return NamedToken(id: t, text: model.tokenizer.displayText(of: t))
        }
        let target = try NamedToken.resolve(options.target, model: model, view: id, option: "target") ?? top(cleanLogits)
        let counterfactual = try NamedToken.resolve(options.counterfactual, model: model, view: id, option: "counterfactual")
            ?? top(corruptedLogits)
        guard counterfactual.id != target.id else {
            throw CoreError.invalidInput(view: id, detail: "target and counterfactual are both '\(TokenText.visible(target.text))' (the clean and corrupted runs predict the same token at position \(p)); name a counterfactual")
        }
        let patching: ActivationPatching
        do {
            patching = try model.activationPatching(clean: input.ids, corrupted: corruptedIds, site: options.site.patchSite, position: p,
                                                    target: target.id, counterfactual: counterfactual.id) { done, total in
                input.report("passes", done, total)
            }
        } catch let error as ModelError {
            throw CoreError.invalidInput(view: id, detail: error.description)
        }
        let data = Data(tokens: input.tokens, corrupted: corruptedPrompt, corruptedTokens: corruptedIds.map { model.tokenizer.displayText(of: $0) },
                        target: target, counterfactual: counterfactual, patching: patching)
        if let failure = Self.failedCheck(data) { throw CoreError.invalidInput(view: id, detail: failure + "; the figure is not drawn") }
        return data
    }

    /// The example's IOI pair on every block and position of resid_pre, and
    /// per head of z; and one patched run of the pair as a plain full pass,
    /// which times what one pass per patch would cost.
    public static func benchmarks(on model: Model) throws -> [ViewBenchmark] {
        let clean = model.tokenize(info.example.prompt), corrupted = model.tokenize(info.example.options["corrupted"] ?? "")
        guard clean.count == corrupted.count, clean != corrupted else { return [] }
        let logits = try model.forward(clean, hooks: .none).logits!, other = try model.forward(corrupted, hooks: .none).logits!
        let p = clean.count - 1, target = Logits.topK(logits.row(p), 1)[0], counterfactual = Logits.topK(other.row(p), 1)[0]
        guard target != counterfactual else { return [] }
        let sites = [Patch.Site.residPre, .z].map { site in
            ViewBenchmark("\(site.rawValue), every block and \(site == .z ? "head" : "position"), \(clean.count) tokens") {
                _ = try model.activationPatching(clean: clean, corrupted: corrupted, site: site, position: p, target: target,
                                                 counterfactual: counterfactual)
            }
        }
        let row = Array(try model.forward(clean, hooks: .matching(["blocks.0.hook_resid_pre"])).cache[.residPre(0)]!.row(1))
        return sites + [ViewBenchmark("one patched run as a plain full pass") {
            _ = try model.forward(batch: [corrupted], patches: [[Patch(site: .residPre, layer: 0, position: 1, values: row)]])
        }]
    }

    /// The first of the three checks that fails, said; nil when all hold.
    static func failedCheck(_ data: Data) -> String? {
        let a = data.patching, tol = allowed(a)
        if abs(a.embeddingCheck - 1) > tol {
            return "patching resid_pre of block 0 at every differing position gives \(a.embeddingCheck), not 1"
        }
        if abs(a.finalCheck - 1) > tol { return "patching the final residual at position \(a.position) gives \(a.finalCheck), not 1" }
        if a.site != .z, let first = a.differing.first {
            for (l, row) in a.values.enumerated() {
                if let q = (0 ..< first).first(where: { abs(row[$0]) > tol }) {
                    return "block \(l) position \(q), before the first differing token, gives \(row[q]), not 0"
                }
            }
        }
        return nil
    }

    public func validate(_ data: Data, options: Options) throws {
        let a = data.patching
        try RecordCheck.nonEmpty(data.tokens, "data.tokens", max: 65536)
        try RecordCheck.count(data.corruptedTokens, data.tokens.count, "data.corrupted_tokens", "one per token of the prompt")
        try RecordCheck.within(a.position, 0 ... data.tokens.count - 1, "data.patching.position")
        try RecordCheck.nonEmpty(a.values, "data.patching.values", max: 4096)
        let width = a.site == .z ? a.values[0].count : data.tokens.count
        try RecordCheck.within(width, 1 ... 4096, "data.patching.values[0].count")
        try RecordCheck.rows(a.values, width, "data.patching.values", a.site == .z ? "one per head" : "one per position")
        for q in a.differing { try RecordCheck.within(q, 0 ... data.tokens.count - 1, "data.patching.differing") }
        guard a.site != .residPost else { throw RecordProblem("data.patching.site", "is resid_post, which the view does not draw") }
        let all = [a.cleanDifference, a.corruptedDifference, a.embeddingCheck, a.finalCheck] + a.values.joined()
        if all.contains(where: { !$0.isFinite }) { throw RecordProblem("data.patching", "holds a value that is not a finite number") }
        guard abs(a.cleanDifference - a.corruptedDifference) >= Model.smallestPatchingGap else {
            throw RecordProblem("data.patching", "has clean and corrupted logit differences closer than \(Model.smallestPatchingGap)")
        }
        if let failure = Self.failedCheck(data) { throw RecordProblem("data.patching", "fails its check: " + failure) }
    }

    /// "logit ' Mary' − logit ' John'".
    static func difference(_ data: Data) -> String {
        "logit " + TokenText.visible(data.target.text) + " − logit " + TokenText.visible(data.counterfactual.text)
    }

    func heatmap(_ data: Data, options: Options) -> Heatmap {
        let a = data.patching
        let m = max(1, a.values.joined().map(abs).max() ?? 0)
        let title = options.title.isEmpty
            ? "Patching \(a.site.rawValue): " + TokenText.visible(data.target.text) + " − " + TokenText.visible(data.counterfactual.text)
            : options.title
        let rows = a.values.indices.map { "\($0)" }
        guard a.site != .z else {
            return Heatmap(values: a.values, colormap: .rdbu, scale: ColorScale(low: -m, high: m), rowLabels: rows,
                           columnLabels: a.values[0].indices.map { "\($0)" }, rowTitle: "block",
                           columnTitle: "head (z patched at every position)", colorbarLabel: "share of the logit difference restored",
                           title: title)
        }
        let differs = Set(a.differing)
        return Heatmap(values: a.values, colormap: .rdbu, scale: ColorScale(low: -m, high: m), rowLabels: rows,
                       columnLabels: data.tokens.map(TokenText.visible),
                       topLabels: data.tokens.indices.map { differs.contains($0) ? TokenText.visible(data.corruptedTokens[$0]) : "" },
                       topMarks: data.tokens.indices.map(differs.contains),
                       rowTitle: "block", columnTitle: "clean prompt", topTitle: "corrupted, where it differs",
                       colorbarLabel: "share of the logit difference restored", title: title)
    }

    /// The footer: the metric, its two ends, the checks, the cost.
    static func note(_ data: Data) -> String {
        let a = data.patching
        func f(_ v: Double) -> String { String(format: "%.4f", v) }
        let before = a.site == .z ? "" : ", positions before the first difference 0"
        return "Metric (LD − LD corrupted) / (LD clean − LD corrupted), LD = \(difference(data)) at position \(a.position) "
            + "\(TokenText.visible(data.tokens[a.position])): clean \(f(a.cleanDifference)), corrupted \(f(a.corruptedDifference)). "
            + "Corrupted prompt: “\(printable(data.corrupted, limit: 300))”. Checks: resid_pre 0 at the differing positions \(f(a.embeddingCheck)), "
            + "final residual \(f(a.finalCheck))\(before) (to \(String(format: "%.0e", allowed(a)))). \(a.runs) patched runs in \(a.passes) passes."
    }

    func layout(_ data: Data, options: Options, width: Double, theme: Theme, measure: Canvas) -> (heatmap: Double, note: Double) {
        let h = heatmap(data, options: options).height(forWidth: width, measure, theme: theme)
        let note = measure.paragraphHeight(Self.note(data), theme.annotationFont, width: width - 2 * theme.margin) + theme.margin
        return (h, note)
    }

    public func size(of data: Data, options: Options, theme: Theme, width: Double?, measure: Canvas) -> Size {
        let w = width ?? max(380, heatmap(data, options: options).naturalSize(measure, theme: theme).width)
        let l = layout(data, options: options, width: w, theme: theme, measure: measure)
        return Size(w, l.heatmap + l.note)
    }

    func frames(_ data: Data, options: Options, in frame: Rect, theme: Theme, measure: Canvas) -> (Rect, Rect) {
        let l = layout(data, options: options, width: frame.width, theme: theme, measure: measure)
        let top = Rect(x: frame.x, y: frame.y, width: frame.width, height: l.heatmap)
        return (top, Rect(x: frame.x, y: top.maxY, width: frame.width, height: max(0, frame.maxY - top.maxY)))
    }

    public func draw(_ data: Data, options: Options, on canvas: Canvas, in frame: Rect, theme: Theme) throws {
        let (top, note) = frames(data, options: options, in: frame, theme: theme, measure: canvas)
        try heatmap(data, options: options).draw(canvas, in: top, theme: theme)
        canvas.paragraph(Self.note(data), at: Point(note.x + theme.margin, note.y), font: theme.annotationFont, color: theme.muted,
                         width: note.width - 2 * theme.margin)
    }

    /// Each cell: what was patched, and how much it restored.
    public func hitRegions(of data: Data, options: Options, in frame: Rect, theme: Theme, measure: Canvas) -> [HitRegion] {
        let (top, _) = frames(data, options: options, in: frame, theme: theme, measure: measure)
        let a = data.patching
        var regions: [HitRegion] = []
        for (l, row) in heatmap(data, options: options).cellRects(measure, in: top, theme: theme).enumerated() {
            for (i, rect) in row.enumerated() {
                let place = a.site == .z
                    ? "head \(i) (z at every position)"
                    : "position \(i) \(TokenText.visible(data.tokens[i]))"
                        + (data.corruptedTokens[i] == data.tokens[i] ? "" : " (corrupted: \(TokenText.visible(data.corruptedTokens[i])))")
                regions.append(HitRegion(rect, title: "block \(l), \(place)",
                                         lines: ["patching \(a.site.rawValue) restores \(String(format: "%.3f", a.values[l][i])) of the logit difference"]))
            }
        }
        return regions
    }

    /// The place whose patch restores most, past block 0's own tokens.
    public func findings(of data: Data, options: Options) -> [String] {
        let a = data.patching
        var best: (Int, Int, Double)?
        for (l, row) in a.values.enumerated() {
            for (i, v) in row.enumerated() where best == nil || v > best!.2 { best = (l, i, v) }
        }
        guard let (l, i, v) = best else { return [] }
        let place = a.site == .z ? "head \(l).\(i)" : "block \(l) at position \(i) \(TokenText.visible(data.tokens[i]))"
        return ["patching \(a.site.rawValue) of \(place) restores most: \(String(format: "%.3f", v)) of the clean logit difference"]
    }
}
