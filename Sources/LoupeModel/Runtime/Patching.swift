import Foundation

/// One activation replaced during a forward pass: the values a hook point
/// holds at one position (for `z`, of one head or of all heads) are
/// overwritten before the pass reads them.
public struct Patch: Sendable, Equatable {
    /// Where a patch goes, named as TransformerLens names the hook.
    public enum Site: String, Sendable, Codable, CaseIterable {
        /// `blocks.{l}.hook_resid_pre` [d].
        case residPre = "resid_pre"
        /// `blocks.{l}.hook_attn_out` [d].
        case attnOut = "attn_out"
        /// `blocks.{l}.hook_mlp_out` [d].
        case mlpOut = "mlp_out"
        /// `blocks.{l}.attn.hook_z` [hd] of one head, or [H·hd].
        case z
        /// `blocks.{l}.hook_resid_post` [d].
        case residPost = "resid_post"

        /// The hook of block `l`.
        public func hook(_ l: Int) -> HookPoint {
            switch self {
            case .residPre: .residPre(l)
            case .attnOut: .attnOut(l)
            case .mlpOut: .mlpOut(l)
            case .z: .z(l)
            case .residPost: .residPost(l)
            }
        }
    }

    public var site: Site
    public var layer: Int
    public var position: Int
    /// `z` only: the head patched, or nil for every head.
    public var head: Int?
    public var values: [Float]

    public init(site: Site, layer: Int, position: Int, head: Int? = nil, values: [Float]) {
        self.site = site
        self.layer = layer
        self.position = position
        self.head = head
        self.values = values
    }

    /// Throws unless the patch fits a sequence of `length` tokens of `config`.
    func check(length: Int, config c: ModelConfig) throws {
        guard (0 ..< c.layers).contains(layer) else {
            throw ModelError.badPatch("block \(layer) is out of range (the model has blocks 0 to \(c.layers - 1))")
        }
        guard (0 ..< length).contains(position) else {
            throw ModelError.badPatch("position \(position) is outside the sequence's \(length) tokens")
        }
        if let head {
            guard site == .z else { throw ModelError.badPatch("a head is patched only at z, not at \(site.rawValue)") }
            guard (0 ..< c.heads).contains(head) else {
                throw ModelError.badPatch("head \(head) is out of range (the model has heads 0 to \(c.heads - 1))")
            }
        }
        let width = site != .z ? c.dModel : head == nil ? c.heads * c.headDim : c.headDim
        guard values.count == width else {
            throw ModelError.badPatch("a patch of \(site.hook(layer).name) holds \(values.count) values, not \(width)")
        }
    }
}

/// The patches of a packed pass, by hook, as offsets into its buffers.
struct PatchIndex {
    struct Key: Hashable {
        let site: Patch.Site
        let layer: Int
    }

    private var writes: [Key: [(offset: Int, values: [Float])]] = [:]

    init(_ patches: [[Patch]], packing: Packing, config c: ModelConfig) {
        for (s, list) in patches.enumerated() {
            for patch in list {
                let row = packing.starts[s] + patch.position
                let offset = patch.site == .z ? row * c.heads * c.headDim + (patch.head ?? 0) * c.headDim : row * c.dModel
                writes[Key(site: patch.site, layer: patch.layer), default: []].append((offset, patch.values))
            }
        }
    }

    /// Writes the patches of `site` in block `layer` into its buffer.
    func apply(_ site: Patch.Site, _ layer: Int, to buffer: inout [Float]) {
        guard let list = writes[Key(site: site, layer: layer)] else { return }
        buffer.withUnsafeMutableBufferPointer { b in
            for (offset, values) in list {
                for (i, v) in values.enumerated() { b[offset + i] = v }
            }
        }
    }
}

/// Activation patching of one site: clean activations put, one place at a
/// time, into the corrupted run, and the logit difference
/// target − counterfactual at one position measured, normalised so that
/// the corrupted run scores 0 and the clean run 1.
public struct ActivationPatching: Sendable, Codable, Equatable {
    public var site: Patch.Site
    /// Where the logit difference is read.
    public var position: Int
    public var target: Int
    public var counterfactual: Int
    /// The logit difference target − counterfactual in the clean and the corrupted run.
    public var cleanDifference: Double
    public var corruptedDifference: Double
    /// [block][position] (resid_pre, attn_out, mlp_out) or [block][head]
    /// (z, the head patched at every position): the normalised metric.
    public var values: [[Double]]
    /// Positions whose tokens differ between the two prompts.
    public var differing: [Int]
    /// The metric with resid_pre of block 0 patched at every differing
    /// position (the clean run itself: 1), and with the last block's
    /// resid_post patched at `position` (the clean logits: 1).
    public var embeddingCheck: Double
    public var finalCheck: Double
    /// Patched runs, and the packed passes they took.
    public var runs: Int
    public var passes: Int

    enum CodingKeys: String, CodingKey {
        case site, position, target, counterfactual, cleanDifference = "clean_difference", corruptedDifference = "corrupted_difference",
             values, differing, embeddingCheck = "embedding_check", finalCheck = "final_check", runs, passes
    }

    /// The normalised metric of a logit difference.
    public func normalised(_ difference: Double) -> Double {
        (difference - corruptedDifference) / (cleanDifference - corruptedDifference)
    }
}

extension Model {
    /// Below this gap between the clean and the corrupted logit difference
    /// the normalised metric divides float noise by almost nothing; such a
    /// pair is refused.
    public static let smallestPatchingGap = 0.1

    /// Runs the model on each sequence with its patches and returns the
    /// logits [T, V] of each, as `forward` would with those activations
    /// replaced. One packed pass per `rowsPerPass` rows.
    public func forward(batch: [[Int]], patches: [[Patch]], rowsPerPass: Int = Model.rowsPerPass) throws -> [ForwardResult] {
        guard patches.count == batch.count else {
            throw ModelError.badPatch("\(patches.count) patch lists for \(batch.count) sequences")
        }
        for (ids, list) in zip(batch, patches) { for p in list { try p.check(length: ids.count, config: config) } }
        return try inPasses(batch.map(\.count), rowsPerPass: rowsPerPass) { pass in
            let embeddings = try pass.flatMap { try embed(batch[$0]).data }
            return try run(embeddings: embeddings, packing: Packing(lengths: pass.map { batch[$0].count }, heads: config.heads),
                           ids: pass.map { batch[$0] }, hooks: .none, lastBlock: nil, checkFinite: true, patches: pass.map { patches[$0] }).results
        }
    }

    /// Patches clean activations of `site` into the corrupted run at every
    /// (block, position), or for `z` at every (block, head) over all
    /// positions, and measures the normalised logit difference at
    /// `position`. The prompts must have the same number of tokens.
    ///
    /// The runs of block l all start at block l from the corrupted run's
    /// residual stream there (what comes before is the corrupted run, so it
    /// is not run again), packed `rowsPerPass` rows to a pass, and only the
    /// row at `position` goes through the unembedding. `progress` hears
    /// (passes done, passes in all).
    public func activationPatching(clean: [Int], corrupted: [Int], site: Patch.Site, position p: Int, target: Int, counterfactual: Int,
                                   rowsPerPass: Int = Model.rowsPerPass,
                                   progress: ((Int, Int) -> Void)? = nil) throws -> ActivationPatching {
        let c = config, L = c.layers, T = clean.count
        guard corrupted.count == T else {
            throw ModelError.badPatch("the clean prompt is \(T) tokens and the corrupted prompt \(corrupted.count); patching needs the same number")
        }
        guard site != .residPost else { throw ModelError.badPatch("resid_post is patched as the next block's resid_pre") }
        guard (0 ..< T).contains(p) else { throw ModelError.badPatch("position \(p) is outside the prompts' \(T) tokens") }
        for id in [target, counterfactual] where !(0 ..< c.vocabularySize).contains(id) {
            throw ModelError.tokenOutOfVocabulary(id: id, vocabularySize: c.vocabularySize)
        }
        guard target != counterfactual else { throw ModelError.badPatch("the target and the counterfactual are the same token") }
        let differing = (0 ..< T).filter { clean[$0] != corrupted[$0] }
        guard !differing.isEmpty else { throw ModelError.badPatch("the clean and corrupted prompts are the same tokens") }

        let cleanPass = try forward(clean, hooks: .matching(["blocks.*.\(site == .z ? "attn.hook_z" : "hook_" + site.rawValue)",
                                                            "blocks.*.hook_resid_pre", "blocks.\(L - 1).hook_resid_post"]))
        let corruptedPass = try forward(corrupted, hooks: .matching(["blocks.*.hook_resid_pre"]))
        func difference(_ logits: ArraySlice<Float>) -> Double {
            Double(logits[logits.startIndex + target]) - Double(logits[logits.startIndex + counterfactual])
        }
        let cleanDifference = difference(cleanPass.logits!.row(p))
        let corruptedDifference = difference(corruptedPass.logits!.row(p))
        guard abs(cleanDifference - corruptedDifference) >= Self.smallestPatchingGap else {
            throw ModelError.badPatch(String(format: "the logit difference is %.4f in the clean run and %.4f in the corrupted run; below a gap of %g the normalised metric is noise (choose a target and counterfactual the prompts disagree on)",
                                             cleanDifference, corruptedDifference, Self.smallestPatchingGap))
        }

        // Every patched run: the block it starts at, and its patches.
        struct Run { let start: Int; let patches: [Patch] }
        func cleanRow(_ hook: HookPoint, _ q: Int) -> [Float] { Array(cleanPass.cache[hook]!.row(q)) }
        var runs: [Run] = []
        for l in 0 ..< L {
            if site == .z {
                let hd = c.headDim, z = cleanPass.cache[.z(l)]!
                for h in 0 ..< c.heads {
                    runs.append(Run(start: l, patches: (0 ..< T).map { q in
                        let from = (q * c.heads + h) * hd
                        return Patch(site: .z, layer: l, position: q, head: h, values: Array(z.data[from ..< from + hd]))
                    }))
                }
            } else {
                for q in 0 ..< T {
                    runs.append(Run(start: l, patches: [Patch(site: site, layer: l, position: q, values: cleanRow(site.hook(l), q))]))
                }
            }
        }
        let checks = runs.count
        runs.append(Run(start: 0, patches: differing.map { Patch(site: .residPre, layer: 0, position: $0, values: cleanRow(.residPre(0), $0)) }))
        runs.append(Run(start: L - 1, patches: [Patch(site: .residPost, layer: L - 1, position: p, values: cleanRow(.residPost(L - 1), p))]))

        // Runs that start at the same block share passes.
        let tokenEmbeddings = try embed(corrupted).data
        var groups: [(start: Int, runs: [Int])] = []
        for (i, run) in runs.enumerated() {
            if let g = groups.firstIndex(where: { $0.start == run.start }) { groups[g].runs.append(i) } else { groups.append((run.start, [i])) }
        }
        var schedule: [(start: Int, members: [Int])] = []
        for g in groups {
            for pass in Self.passes(g.runs.map { _ in T }, rowsPerPass: rowsPerPass) { schedule.append((g.start, pass.map { g.runs[$0] })) }
        }
        var differences = [Double](repeating: 0, count: runs.count)
        for (done, (start, members)) in schedule.enumerated() {
            // Block 0 starts from the token embeddings (learned positions are
            // added in the pass); a later block from the corrupted residual.
            let input = start == 0 ? tokenEmbeddings : corruptedPass.cache[.residPre(start)]!.data
            let embeddings = [Float](unsafeUninitializedCapacity: input.count * members.count) { buffer, count in
                for (i, _) in members.enumerated() {
                    _ = UnsafeMutableBufferPointer(rebasing: buffer[i * input.count ..< (i + 1) * input.count]).initialize(from: input)
                }
                count = input.count * members.count
            }
            let state = try run(embeddings: embeddings, packing: Packing(lengths: members.map { _ in T }, heads: c.heads), ids: [],
                                hooks: .none, lastBlock: nil, checkFinite: true, firstBlock: start,
                                patches: members.map { runs[$0].patches }, logitRows: members.map { _ in p })
            for (i, r) in members.enumerated() { differences[r] = difference(state.results[i].logits!.row(0)) }
            progress?(done + 1, schedule.count)
        }

        var result = ActivationPatching(site: site, position: p, target: target, counterfactual: counterfactual,
                                        cleanDifference: cleanDifference, corruptedDifference: corruptedDifference, values: [],
                                        differing: differing, embeddingCheck: 0, finalCheck: 0, runs: runs.count, passes: schedule.count)
        let metric = differences.map(result.normalised)
        let width = site == .z ? c.heads : T
        result.values = (0 ..< L).map { l in Array(metric[l * width ..< (l + 1) * width]) }
        result.embeddingCheck = metric[checks]
        result.finalCheck = metric[checks + 1]
        return result
    }
}
