import Foundation
@testable import LoupeModel
import Testing

/// Direct logit attribution on every family: the parts (embedding,
/// positions, each head through W_O, each attention bias, each MLP, the
/// final norm's bias), with the final norm's scale frozen, sum to the
/// model's own logit and logit difference.
///
/// Tolerance 1e-4 relative, against max(|logit|, 1): the parts are float32
/// activations from the cache summed in Float64, the model's logit is a
/// float32 BLAS product over d ≤ 576 terms; both round at about 1e-6 of
/// the residual's scale. A head slice of W_O off by one, a missing bias, a
/// LayerNorm mean not removed or Gemma 2's post-norm left unfrozen moves
/// the sum by whole percent.
@Suite struct AttributionTests {
    static let checkpoints = FamilyTests.families.map { "families/" + $0 } + ["tiny/tiny-gpt2", "tiny/tiny-llama", "smollm2"]

    func load(_ name: String) throws -> Model {
        name == "smollm2" ? try loadSmolLM2() : try Model(path: Fixtures.reference + "/" + name)
    }

    func ids(_ model: Model, _ name: String) throws -> [Int] {
        if name.hasPrefix("families/") {
            let ref = try Fixtures.json(Fixtures.reference + "/" + name + "/reference.json")
            let prompts = try #require(ref["prompts"] as? [[String: Any]])
            return flatInts(prompts[0]["ids"])
        }
        return model.tokenize("When Mary and John went to the store, John gave a drink to")
    }

    static func close(_ a: Double, _ b: Double, scale: Double) -> Bool { abs(a - b) <= 1e-4 * max(abs(scale), 1) }

    @Test(arguments: checkpoints)
    func partsSumToTheModelsLogit(checkpoint: String) throws {
        let model = try load(checkpoint)
        let ids = try ids(model, checkpoint)
        let pass = try model.forward(ids, hooks: .matching(Model.attributionHooks))
        let logits = try #require(pass.logits)
        let L = model.config.layers
        for p in Set([ids.count - 1, ids.count / 2]) {
            let ranked = Logits.topK(logits.row(p), 2)
            for cf in [nil, ranked[1]] {
                let a = try model.directLogitAttribution(pass, position: p, target: ranked[0], counterfactual: cf)
                let label = "\(checkpoint) position \(p)" + (cf == nil ? "" : " difference")
                // The model's logit independently: its logits row (soft cap undone).
                #expect(Self.close(a.total, a.modelLogit, scale: a.modelLogit), "\(label): parts \(a.total) vs model \(a.modelLogit)")
                // Per block, heads + bias + MLP is what the block adds to the residual.
                for l in 0 ..< L {
                    let added = a.heads[l].reduce(0, +) + (a.attentionBias?[l] ?? 0) + a.mlp[l]
                    let step = a.accumulated[l + 1] - a.accumulated[l]
                    #expect(Self.close(added, step, scale: a.modelLogit), "\(label) block \(l): parts \(added) vs residual step \(step)")
                }
                #expect(Self.close(a.accumulated[0], a.embed + (a.positionEmbed ?? 0) + a.normBias, scale: a.modelLogit), "\(label): embedding")
                #expect(Self.close(a.accumulated[L], a.modelLogit, scale: a.modelLogit), "\(label): final residual")
                #expect(a.heads.count == L && a.heads.allSatisfy { $0.count == model.config.heads })
            }
        }
    }

    /// A difference is the difference of the two logits' attributions, part by part.
    @Test func aDifferenceIsTheDifferenceOfTwoAttributions() throws {
        let model = try load("tiny/tiny-gpt2")
        let ids = model.tokenize("hello world, hello there")
        let pass = try model.forward(ids, hooks: .matching(Model.attributionHooks))
        let p = ids.count - 1
        let a = try model.directLogitAttribution(pass, position: p, target: 5)
        let b = try model.directLogitAttribution(pass, position: p, target: 9)
        let diff = try model.directLogitAttribution(pass, position: p, target: 5, counterfactual: 9)
        for l in 0 ..< model.config.layers {
            for h in 0 ..< model.config.heads { #expect(abs(a.heads[l][h] - b.heads[l][h] - diff.heads[l][h]) <= 1e-9) }
            #expect(abs(a.mlp[l] - b.mlp[l] - diff.mlp[l]) <= 1e-9)
        }
    }

    @Test func aPassWithoutTheHooksIsRefused() throws {
        let model = try load("tiny/tiny-llama")
        let pass = try model.forward(model.tokenize("hello world"), hooks: .matching(["blocks.*.hook_resid_post"]))
        #expect(throws: ModelError.self) { try model.directLogitAttribution(pass, position: 0, target: 1) }
    }
}
