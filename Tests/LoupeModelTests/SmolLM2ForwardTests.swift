import Foundation
import LoupeModel
import Testing

/// The default model against reference B (transformers, float32, the same
/// dequantized weights). Agreement is expected at float32 noise (~1e-4); the
/// JSON rounds to 5 significant digits, so on logits of magnitude ~20 the
/// rounding alone is up to 1e-3, hence 2e-3 on logits and log-sum-exp.
@Suite struct SmolLM2ForwardTests {
    struct Prompt: Sendable, CustomTestStringConvertible {
        let index: Int
        let name: String
        let text: String
        let ids: [Int]
        let topIds: [[Int]]
        let topLogits: [[Float]]
        let lse: [Float]
        var testDescription: String { name }
    }

    static let prompts: [Prompt] = {
        guard let json = try? Fixtures.json(Fixtures.smollm2 + "/forward.json"),
              let list = json["prompts"] as? [[String: Any]] else { return [] }
        return list.enumerated().map { i, p in
            Prompt(index: i, name: p["name"] as! String, text: p["text"] as! String, ids: flatInts(p["ids"]),
                   topIds: (p["b_top_ids"] as! [Any]).map(flatInts), topLogits: (p["b_top_logits"] as! [Any]).map(flatFloats),
                   lse: flatFloats(p["b_lse"]))
        }
    }()

    @Test func twelvePrompts() { #expect(Self.prompts.count == 12) }

    @Test(arguments: prompts)
    func logitsMatchReferenceB(_ p: Prompt) throws {
        let model = try loadSmolLM2()
        // Induction prompts are random ids (their text does not round-trip);
        // the chat template is tokenized with control tokens parsed.
        if !p.name.hasPrefix("induction") {
            #expect(model.tokenize(p.text, parseSpecial: p.name == "chat_template") == p.ids, "BOS + tokens")
        }
        let logits = try #require(try model.forward(p.ids, hooks: .none).logits)
        let v = model.config.vocabularySize
        for t in 0 ..< p.ids.count {
            let row = Array(logits.data[t * v ..< (t + 1) * v])
            let argmax = row.indices.max { row[$0] < row[$1] }!
            #expect(argmax == p.topIds[t][0], "position \(t): top-1 \(argmax), reference \(p.topIds[t][0])")
            for (id, ref) in zip(p.topIds[t], p.topLogits[t]) {
                #expect(abs(row[id] - ref) <= 2e-3, "position \(t), id \(id): logit \(row[id]), reference \(ref)")
            }
            let m = row.max()!
            let lse = m + Float(log(row.reduce(0.0) { $0 + exp(Double($1 - m)) }))
            #expect(abs(lse - p.lse[t]) <= 2e-3, "position \(t): log-sum-exp \(lse), reference \(p.lse[t])")
        }
    }

    /// All 49 152 last-position logits, unrounded float32 from reference B.
    @Test(arguments: [0, 1])
    func fullLastPositionLogits(prompt: Int) throws {
        let model = try loadSmolLM2()
        let ids = Self.prompts[prompt].ids
        let logits = try #require(try model.forward(ids, hooks: .none).logits)
        let v = model.config.vocabularySize
        let last = Array(logits.data[(ids.count - 1) * v ..< ids.count * v])
        let ref = try Fixtures.float32s(Fixtures.smollm2 + "/forward_p\(prompt)_last_logits_b.f32")
        #expect(ref.count == v)
        let diff = maxAbsDifference(last, ref)
        #expect(diff <= 2e-3, "max |logit − reference| = \(diff)")
    }
}

/// Internals of the default model against reference B's hooks.
@Suite struct SmolLM2InternalsTests {
    static var internals: [[String: Any]] {
        (try? Fixtures.json(Fixtures.smollm2 + "/internals.json"))?["prompts"] as? [[String: Any]] ?? []
    }

    func run(_ p: [String: Any]) throws -> (Model, ForwardResult) {
        let model = try loadSmolLM2()
        return (model, try model.forward(flatInts(p["ids"])))
    }

    /// Residual norms reach ~25 000 at position 0 (the BOS attention sink);
    /// float32 accumulation over 30 blocks and 5-digit rounding bound the
    /// agreement at a relative 1e-4.
    @Test(arguments: 0 ..< 3)
    func residualNorms(prompt: Int) throws {
        let p = Self.internals[prompt]
        let (model, result) = try run(p)
        let ref = try #require(p["resid_norm"] as? [Any])
        let residuals = try #require(result.cache.accumulatedResidual(layers: model.config.layers))
        #expect(ref.count == residuals.count)
        for (l, (tensor, refRow)) in zip(residuals, ref).enumerated() {
            let d = model.config.dModel
            let norms = (0 ..< tensor.shape[0]).map { t in
                Float(tensor.data[t * d ..< (t + 1) * d].reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot())
            }
            if let bad = worstViolation(norms, flatFloats(refRow), atol: 1e-3, rtol: 1e-4) {
                Issue.record("layer \(l), position \(bad.index): norm \(bad.actual), reference \(bad.expected)")
            }
        }
    }

    /// The logit lens: decoding every layer's residual through the final norm
    /// and the unembedding. Top-5 ids must agree wherever the reference's
    /// probabilities are separated by more than the comparison noise (1e-4);
    /// probabilities agree to 1e-4.
    @Test(arguments: 0 ..< 3)
    func logitLens(prompt: Int) throws {
        let p = Self.internals[prompt]
        let (model, result) = try run(p)
        let lens = try #require(p["logit_lens"] as? [String: Any])
        let refIds = try #require(lens["ids"] as? [Any]), refProbs = try #require(lens["probs"] as? [Any])
        let residuals = try #require(result.cache.accumulatedResidual(layers: model.config.layers))
        for (l, resid) in residuals.enumerated() {
            let decoded = try model.logitLens(resid)
            let ids = (refIds[l] as! [Any]).map(flatInts), probs = (refProbs[l] as! [Any]).map(flatFloats)
            for t in 0 ..< ids.count {
                let ours = decoded.probabilities(position: t)
                let top = decoded.top(position: t, k: 5)
                for r in 0 ..< 5 {
                    #expect(abs(ours[ids[t][r]] - probs[t][r]) <= 1e-4,
                            "layer \(l) position \(t) rank \(r): p = \(ours[ids[t][r]]), reference \(probs[t][r])")
                    let separated = (r == 0 || probs[t][r - 1] - probs[t][r] > 1e-4) && (r == 4 || probs[t][r] - probs[t][r + 1] > 1e-4)
                    if separated {
                        #expect(top[r] == ids[t][r], "layer \(l) position \(t) rank \(r): id \(top[r]), reference \(ids[t][r])")
                    }
                }
            }
        }
    }

    /// Attention patterns are probabilities in [0, 1]: 1e-4 absolute covers
    /// float32 softmax noise and the 5-digit rounding.
    @Test(arguments: 0 ..< 3)
    func attentionPatterns(prompt: Int) throws {
        let p = Self.internals[prompt]
        let (_, result) = try run(p)
        let attn = try #require(p["attn"] as? [String: Any])
        #expect(attn.keys.sorted() == ["0", "15", "17", "29", "5"])
        for (layer, ref) in attn {
            let ours = try #require(result.cache[.pattern(Int(layer)!)])
            if let bad = worstViolation(ours.data, flatFloats(ref), atol: 1e-4, rtol: 0) {
                Issue.record("layer \(layer) value \(bad.index): \(bad.actual), reference \(bad.expected)")
            }
        }
    }

    /// MLP activations silu(gate)·up, neurons 0–31. They are products of two
    /// float32 projections of a residual stream whose norm reaches 25 000,
    /// so 1e-4 absolute plus 1e-3 relative.
    @Test(arguments: 0 ..< 3)
    func mlpActivations(prompt: Int) throws {
        let p = Self.internals[prompt]
        let (model, result) = try run(p)
        let mlp = try #require(p["mlp_act"] as? [String: Any])
        for (layer, ref) in mlp {
            let post = try #require(result.cache[.mlpPost(Int(layer)!)])
            let m = model.config.dMLP
            let ours = (0 ..< post.shape[0]).flatMap { t in post.data[t * m ..< t * m + 32] }
            if let bad = worstViolation(ours, flatFloats(ref), atol: 1e-4, rtol: 1e-3) {
                Issue.record("layer \(layer) value \(bad.index): \(bad.actual), reference \(bad.expected)")
            }
        }
    }
}
