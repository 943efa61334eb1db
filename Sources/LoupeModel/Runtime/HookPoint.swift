/// A place in the forward pass whose activation can be recorded, named as
/// TransformerLens names it. Shapes have no batch dimension: T positions,
/// d = d_model, H query heads, Hkv key/value heads, hd head size, m d_mlp.
public enum HookPoint: Hashable, Sendable {
    /// `hook_embed` [T, d]: token embedding rows, as fed in (Gemma's are
    /// scaled by √d, as its embedding layer does).
    case embed
    /// `hook_pos_embed` [T, d]: learned position embeddings (gpt2 only).
    case posEmbed
    /// `blocks.{l}.hook_resid_pre` [T, d]: the residual stream entering block l.
    case residPre(Int)
    /// `blocks.{l}.attn.hook_q` [T, H, hd]: queries, before rotary embedding.
    case q(Int)
    /// `blocks.{l}.attn.hook_k` [T, Hkv, hd]: keys, before rotary embedding.
    case k(Int)
    /// `blocks.{l}.attn.hook_v` [T, Hkv, hd]: values.
    case v(Int)
    /// `blocks.{l}.attn.hook_rot_q` [T, H, hd]: queries after rotary embedding (rotary families).
    case rotQ(Int)
    /// `blocks.{l}.attn.hook_rot_k` [T, Hkv, hd]: keys after rotary embedding (rotary families).
    case rotK(Int)
    /// `blocks.{l}.attn.hook_pattern` [H, T, T]: post-softmax attention, query × key, causal.
    case pattern(Int)
    /// `blocks.{l}.attn.hook_z` [T, H, hd]: each head's attention-weighted values.
    case z(Int)
    /// `blocks.{l}.hook_attn_out` [T, d]: the attention layer's output, biases included,
    /// as added to the residual stream (Gemma 2: after its post-norm).
    case attnOut(Int)
    /// `blocks.{l}.hook_resid_mid` [T, d]: the residual stream between attention and MLP
    /// (absent in parallel blocks, GPT-NeoX with use_parallel_residual).
    case residMid(Int)
    /// `blocks.{l}.mlp.hook_pre` [T, m]: the gate pre-activation (gated MLPs) or the up projection (gpt2, GPT-NeoX).
    case mlpPre(Int)
    /// `blocks.{l}.mlp.hook_pre_linear` [T, m]: the up projection (gated MLPs only).
    case mlpPreLinear(Int)
    /// `blocks.{l}.mlp.hook_post` [T, m]: act(gate)·up (gated) or act(up) (gpt2, GPT-NeoX), the input of the down projection.
    case mlpPost(Int)
    /// `blocks.{l}.hook_mlp_out` [T, d]: the MLP's output as added to the residual stream (Gemma 2: after its post-norm).
    case mlpOut(Int)
    /// `blocks.{l}.hook_resid_post` [T, d]: the residual stream leaving block l.
    case residPost(Int)
    /// `ln_final.hook_normalized` [T, d]: the final norm's output, weight
    /// applied, the input of the unembedding (TransformerLens records it
    /// before the weight when weights are not folded).
    case lnFinal
    /// `logits` [T, V], after Gemma 2's final soft cap.
    case logits

    public var name: String {
        switch self {
        case .embed: "hook_embed"
        case .posEmbed: "hook_pos_embed"
        case let .residPre(l): "blocks.\(l).hook_resid_pre"
        case let .q(l): "blocks.\(l).attn.hook_q"
        case let .k(l): "blocks.\(l).attn.hook_k"
        case let .v(l): "blocks.\(l).attn.hook_v"
        case let .rotQ(l): "blocks.\(l).attn.hook_rot_q"
        case let .rotK(l): "blocks.\(l).attn.hook_rot_k"
        case let .pattern(l): "blocks.\(l).attn.hook_pattern"
        case let .z(l): "blocks.\(l).attn.hook_z"
        case let .attnOut(l): "blocks.\(l).hook_attn_out"
        case let .residMid(l): "blocks.\(l).hook_resid_mid"
        case let .mlpPre(l): "blocks.\(l).mlp.hook_pre"
        case let .mlpPreLinear(l): "blocks.\(l).mlp.hook_pre_linear"
        case let .mlpPost(l): "blocks.\(l).mlp.hook_post"
        case let .mlpOut(l): "blocks.\(l).hook_mlp_out"
        case let .residPost(l): "blocks.\(l).hook_resid_post"
        case .lnFinal: "ln_final.hook_normalized"
        case .logits: "logits"
        }
    }

    /// The block this hook belongs to, if any.
    public var layer: Int? {
        switch self {
        case .embed, .posEmbed, .lnFinal, .logits: nil
        case let .residPre(l), let .q(l), let .k(l), let .v(l), let .rotQ(l), let .rotK(l), let .pattern(l), let .z(l),
             let .attnOut(l), let .residMid(l), let .mlpPre(l), let .mlpPreLinear(l), let .mlpPost(l), let .mlpOut(l),
             let .residPost(l):
            l
        }
    }

    /// Every hook point of a model, in the order the forward pass reaches them.
    public static func all(for config: ModelConfig) -> [HookPoint] {
        var out: [HookPoint] = config.rotary ? [.embed] : [.embed, .posEmbed]
        for l in 0 ..< config.layers {
            out += [.residPre(l), .q(l), .k(l), .v(l)]
            if config.rotary { out += [.rotQ(l), .rotK(l)] }
            out += [.pattern(l), .z(l), .attnOut(l)]
            // A parallel block (GPT-NeoX) has no residual stream between its halves.
            if config.hasResidMid { out.append(.residMid(l)) }
            out.append(.mlpPre(l))
            if config.gatedMLP { out.append(.mlpPreLinear(l)) }
            out += [.mlpPost(l), .mlpOut(l), .residPost(l)]
        }
        return out + [.lnFinal, .logits]
    }

    /// The shape this hook records for `tokens` positions.
    public func shape(config c: ModelConfig, tokens t: Int) -> [Int] {
        switch self {
        case .embed, .posEmbed, .residPre, .attnOut, .residMid, .mlpOut, .residPost, .lnFinal: [t, c.dModel]
        case .q, .rotQ, .z: [t, c.heads, c.headDim]
        case .k, .v, .rotK: [t, c.kvHeads, c.headDim]
        case .pattern: [c.heads, t, t]
        case .mlpPre, .mlpPreLinear, .mlpPost: [t, c.dMLP]
        case .logits: [t, c.vocabularySize]
        }
    }
}

/// Which hook points a forward pass records.
public struct HookFilter: Sendable {
    let patterns: [String]?

    /// Every hook point.
    public static let all = HookFilter(patterns: nil)
    /// None: only the logits are returned.
    public static let none = HookFilter(patterns: [])

    /// Hook points whose name matches any of the glob `patterns` (`*` matches
    /// any run of characters: `blocks.*.attn.hook_pattern`, `blocks.3.*`).
    public static func matching(_ patterns: [String]) -> HookFilter { HookFilter(patterns: patterns) }

    /// The hooks either filter selects (for one pass shared by several readers).
    public func union(_ other: HookFilter) -> HookFilter {
        guard let a = patterns, let b = other.patterns else { return .all }
        return HookFilter(patterns: Array(Set(a + b)).sorted())
    }

    /// The hook points of `config` this filter selects. A pattern that
    /// matches nothing is an error, since it is almost always a typo.
    public func resolve(_ config: ModelConfig) throws -> Set<HookPoint> {
        let every = HookPoint.all(for: config)
        guard let patterns else { return Set(every) }
        var selected = Set<HookPoint>()
        for p in patterns {
            let hits = every.filter { Glob.matches(p, $0.name) }
            guard !hits.isEmpty else {
                throw ModelError.unknownHook(pattern: p, example: "blocks.0.hook_resid_pre")
            }
            selected.formUnion(hits)
        }
        return selected
    }
}

