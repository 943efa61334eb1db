import Foundation
@testable import LoupeModel
import Testing

/// Every family against float64 Hugging Face transformers, on the small
/// random-weight checkpoints of Fixtures/reference/families (made by
/// Fixtures/make_family_fixtures.py; see its README entry).
///
/// Tolerance |a − ref| ≤ 1e-4 + 1e-4·|ref|, as for the tiny checkpoints: the
/// references are float64 rounded to 5 significant digits, our run is
/// float32 (transformers' own float32 run is within 5e-5 of them on logits).
/// A missing rotary scaling moves logits past position 32 by far more, a
/// window off by one moves attention rows by whole weights, and a soft cap
/// left out moves Gemma 2's logits by tenths.
@Suite struct FamilyTests {
    static let root = Fixtures.reference + "/families"
    static let families = ["llama3-rope", "llama-linear-rope", "mistral", "qwen2", "pythia", "gpt-neox-sequential",
                           "gemma", "gemma2", "phi3"]
    /// The GGUF copies, in llama.cpp's naming (gemma2's with its own reference: see the README).
    static let ggufs = ["llama3-rope", "llama-linear-rope", "mistral", "qwen2", "pythia", "gpt-neox-sequential",
                        "gemma", "gemma2", "phi3"]

    func check(_ name: String, _ actual: [Float]?, _ ref: Any?, _ where_: String) {
        checkClose(name, actual, ref, where_, atol: 1e-4, rtol: 1e-4)
    }

    @Test(arguments: families)
    func forwardMatchesTransformers(family: String) throws {
        let model = try Model(path: Self.root + "/" + family)
        let ref = try Fixtures.json(Self.root + "/" + family + "/reference.json")
        try compareForward(model, ref, family)
    }

    func compareForward(_ model: Model, _ ref: [String: Any], _ label: String) throws {
        let prompts = try #require(ref["prompts"] as? [[String: Any]])
        let layers = model.config.layers
        for p in prompts {
            let name = "\(label)/\(p["name"] as! String)"
            let ids = flatInts(p["ids"])
            if let text = p["text"] as? String {
                #expect(model.tokenize(text, bos: true) == ids, "\(name): tokenization")
            }
            let result = try model.forward(ids)
            let cache = result.cache
            check("logits", result.logits?.data, p["logits"], name)
            if let resid = p["resid"] as? [Any] {
                for l in 0 ..< layers { check("resid_pre[\(l)]", cache[.residPre(l)]?.data, resid[l], name) }
                check("resid_post[last]", cache[.residPost(layers - 1)]?.data, resid[layers], name)
            }
            if let finalNorm = p["final_norm"] { check("final_norm", cache[.lnFinal]?.data, finalNorm, name) }
            if let attn = p["attn"] as? [Any], let mlp = p["mlp_act"] as? [Any] {
                for l in 0 ..< layers {
                    check("attn[\(l)]", cache[.pattern(l)]?.data, attn[l], name)
                    check("mlp_act[\(l)]", cache[.mlpPost(l)]?.data, mlp[l], name)
                }
            }
        }
    }

    /// Input gradients within 1e-4 relative L2 of float64 autograd; values within 1e-4 + 1e-4·|ref|.
    @Test(arguments: families)
    func gradientsMatchAutograd(family: String) throws {
        let model = try Model(path: Self.root + "/" + family)
        let ref = try Fixtures.json(Self.root + "/" + family + "/reference.json")
        let grads = try #require(ref["grads"] as? [String: Any])
        let prompts = try #require(ref["prompts"] as? [[String: Any]])
        let prompt = try #require(prompts.first { ($0["name"] as? String) == grads["prompt"] as? String })
        let ids = flatInts(prompt["ids"])
        let objectives: [(String, Objective)] = [
            ("mlp", .neuron(layer: model.config.layers - 1, index: 7, position: ids.count - 1)),
            ("logit", .logit(token: 42, position: ids.count - 1)),
        ]
        for (key, objective) in objectives {
            let o = try #require(grads[key] as? [String: Any])
            let g = try model.gradient(of: objective, ids: ids)
            let value = try #require(o["value"] as? Double)
            #expect(abs(Double(g.value) - value) <= 1e-4 + 1e-4 * abs(value), "\(family) \(key): value \(g.value), reference \(value)")
            let err = relativeL2(g.embeddings.data, flatFloats(o["grad_input_embeds"]))
            #expect(err < 1e-4, "\(family) \(key): gradient relative L2 error \(err)")
        }
    }

    /// Gradients at the hook points, of the logit objective on the short
    /// prompt, against autograd's retained float64 gradients of the same
    /// tensors in transformers: resid_pre, q, k, v (before rotary), pattern, z,
    /// mlp.hook_pre and mlp.hook_post of every block, each within 1e-4 relative L2.
    @Test(arguments: families)
    func hookGradientsMatchAutograd(family: String) throws {
        let model = try Model(path: Self.root + "/" + family)
        let ref = try Fixtures.json(Self.root + "/" + family + "/reference.json")
        let hooks = try #require((ref["grads"] as? [String: Any])?["hooks"] as? [String: Any])
        let prompts = try #require(ref["prompts"] as? [[String: Any]])
        let prompt = try #require(prompts.first { ($0["name"] as? String) == hooks["prompt"] as? String })
        let ids = flatInts(prompt["ids"])
        let g = try model.gradient(of: .logit(token: 42, position: ids.count - 1), ids: ids, hooks: .all)
        let points: [(String, (Int) -> HookPoint)] = [("resid_pre", HookPoint.residPre), ("q", HookPoint.q), ("k", HookPoint.k),
                                                      ("v", HookPoint.v), ("pattern", HookPoint.pattern),
                                                      ("z", HookPoint.z), ("mlp_pre", HookPoint.mlpPre), ("mlp_post", HookPoint.mlpPost)]
        for (key, hook) in points {
            let perLayer = try #require(hooks[key] as? [Any], "\(family): no \(key)")
            #expect(perLayer.count == model.config.layers)
            for l in 0 ..< model.config.layers {
                let actual = try #require(g.hooks[hook(l)], "\(family): no gradient at \(hook(l).name)")
                let expected = flatFloats(perLayer[l])
                #expect(actual.count == expected.count, "\(family) \(hook(l).name): \(actual.count) values, reference \(expected.count)")
                let err = relativeL2(actual.data, expected)
                #expect(err < 1e-4, "\(family) \(hook(l).name): relative L2 error \(err)")
            }
        }
    }

    /// The GGUF copy computes what the checkpoint computes, or where GGUF
    /// cannot say what the checkpoint says (gemma2's query_pre_attn_scalar,
    /// qwen2's windows), what transformers computes without that setting.
    @Test(arguments: ggufs)
    func ggufMatchesTransformers(family: String) throws {
        let folder = Self.root + "/" + family
        let model = try Model(path: folder + "/model-f32.gguf")
        let own = folder + "/reference-gguf.json"
        let hasOwn = FileManager.default.fileExists(atPath: own)
        let ref = try Fixtures.json(hasOwn ? own : folder + "/reference.json")
        try compareForward(model, ref, family + ".gguf")
        let hf = try Model(path: folder)
        #expect(model.config.family == hf.config.family || (hf.config.family == .mistral && model.config.family == .llama))
        if !hasOwn { #expect(model.config.slidingWindows == hf.config.slidingWindows) }
        #expect(model.config.ropeDimensions == hf.config.ropeDimensions)
    }

    /// Hook points keep their TransformerLens names in every family; a
    /// parallel block has no resid_mid, and asking for it says so.
    @Test func hookTables() throws {
        let pythia = try Model(path: Self.root + "/pythia")
        let names = Set(HookPoint.all(for: pythia.config).map(\.name))
        #expect(!names.contains("blocks.0.hook_resid_mid"))
        #expect(names.contains("blocks.1.attn.hook_rot_q"))
        #expect(!names.contains("blocks.0.mlp.hook_pre_linear"))
        #expect(throws: ModelError.self) { try pythia.forward([0, 1, 2], hooks: .matching(["blocks.0.hook_resid_mid"])) }
        let sequential = try Model(path: Self.root + "/gpt-neox-sequential")
        #expect(HookPoint.all(for: sequential.config).contains(.residMid(0)))
        // Gemma's embedding layer scales its rows by √d, and the unembedding (tied) does not.
        let gemma2 = try Model(path: Self.root + "/gemma2")
        let cache = try gemma2.forward([2, 7, 9]).cache
        let embed = try #require(cache[.embed]?.data)
        #expect(maxAbsDifference(embed, try #require(cache[.residPre(0)]?.data)) == 0)
        #expect(abs(embed[64] - 8 * gemma2.weights.tokenEmbedding[7 * 64]) < 1e-6)
    }

    /// `loupe inspect`'s facts: family, scaling, windows and caps as read.
    @Test func configurationsAsRead() throws {
        let llama3 = try Model(path: Self.root + "/llama3-rope").config
        #expect(llama3.ropeScaling == .llama3(factor: 4, lowFrequencyFactor: 1, highFrequencyFactor: 4, originalContext: 32))
        let qwen = try Model(path: Self.root + "/qwen2").config
        #expect(qwen.slidingWindows == [nil, 6])
        let gemma2 = try Model(path: Self.root + "/gemma2").config
        #expect(gemma2.slidingWindows == [6, nil, 6])
        #expect(gemma2.attentionSoftcap == 4 && gemma2.finalSoftcap == 5)
        #expect(abs(gemma2.attentionScale - 1 / Float(24).squareRoot()) < 1e-7)
        let pythia = try Model(path: Self.root + "/pythia").config
        #expect(pythia.ropeDimensions == 4 && pythia.parallelResidual && pythia.activation == .gelu)
    }
}

/// Each family's pre-tokenizer against Hugging Face `tokenizers`, on a small
/// BPE trained with that pre-tokenizer (Fixtures/make_pretokenizer_fixtures.py):
/// the 184 SmolLM2 strings plus digits, contractions, CJK, emoji, mixed
/// scripts. Exact: a different split gives different ids.
@Suite struct PreTokenizerReferenceTests {
    static let names = ["llama-bpe", "qwen2", "gpt-neox"]

    @Test(arguments: names)
    func matchesTokenizers(name: String) throws {
        let folder = Fixtures.reference + "/pretokenizers/" + name
        let tokenizer = try HuggingFaceLoader.tokenizerFromJSON(folder: folder, modelConfig: [:])
        let expected: PreTokenizer = switch name {
        case "llama-bpe": .llama3
        case "qwen2": .qwen2
        default: .gpt2
        }
        #expect(tokenizer.preTokenizer == expected)
        let ref = try Fixtures.json(folder + "/reference.json")
        let cases = try #require(ref["cases"] as? [[String: Any]])
        #expect(cases.count == 216)
        var wrong = 0
        for c in cases {
            let text = try #require(c["text"] as? String)
            // `tokenizers` always matches added tokens in text; Loupe does when asked.
            let ids = tokenizer.encode(text, parseSpecial: true)
            if ids != flatInts(c["ids"]) {
                wrong += 1
                if wrong <= 5 { Issue.record("\(name): \(text.debugDescription) → \(ids), reference \(flatInts(c["ids"]))") }
            }
        }
        #expect(wrong == 0, "\(name): \(wrong) of \(cases.count) texts differ")
    }

    /// A pre-tokenizer or normalizer Loupe does not implement is refused.
    @Test func unknownPreTokenizersAreRefused() throws {
        #expect(throws: ModelError.self) { try HuggingFaceLoader.preTokenizer(["type": "Metaspace"], path: "t.json") }
        #expect(throws: ModelError.self) { try HuggingFaceLoader.preTokenizer(nil, path: "t.json") }
        #expect(throws: ModelError.self) {
            try HuggingFaceLoader.preTokenizer(["type": "Sequence", "pretokenizers": [
                ["type": "Split", "pattern": ["Regex": "\\p{L}+"], "behavior": "Isolated"],
                ["type": "ByteLevel", "use_regex": false]]], path: "t.json")
        }
        #expect(throws: ModelError.self) { try HuggingFaceLoader.normalizesNFC(["type": "NFKC"], path: "t.json") }
    }

    /// An added token that strips spaces around it matches where Loupe would not: refused.
    @Test func strippingAddedTokensAreRefused() throws {
        let e = try tokenizerJSONError(Fixtures.reference + "/pretokenizers/llama-bpe/tokenizer.json") { json in
            var added = try #require(json["added_tokens"] as? [[String: Any]])
            added[0]["lstrip"] = true
            json["added_tokens"] = added
        }
        #expect(e?.description.contains("lstrip") == true, "\(String(describing: e))")
    }
}
