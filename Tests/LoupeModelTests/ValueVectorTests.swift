import Foundation
@testable import LoupeModel
import Testing

/// FFN value vectors: the projections onto the vocabulary against numpy's
/// from each checkpoint's own weights (`Fixtures/make_value_vector_fixtures.py`,
/// float64; for SmolLM2 its Q4_1 and Q8_0 tensors dequantized by the `gguf`
/// package), and the sub-updates adding up to the MLP's output.
///
/// Tolerances: norms 1e-5 relative; projections 1e-4 of the largest |value|
/// of the vector's projection. Loupe sums float32 weights in Float64, numpy
/// the same float32 values in float64, so they differ only in summation
/// order (about 1e-12); the room is for a dequantizer that rounds a scale
/// differently in its last bit. A wrong column, a missing norm weight or an
/// uncentred LayerNorm moves values by whole tenths.
@Suite struct ValueVectorTests {
    static let fixture = Fixtures.reference + "/value-vectors.json"

    func load(_ name: String) throws -> Model {
        name == "smollm2" ? try loadSmolLM2() : try Model(path: Fixtures.reference + "/" + name)
    }

    @Test(arguments: ["tiny/tiny-llama", "tiny/tiny-gpt2", "smollm2"])
    func projectionsMatchNumpy(checkpoint: String) throws {
        let json = try Fixtures.json(Self.fixture)
        let entries = try #require(json["entries"] as? [[String: Any]])
        let entry = try #require(entries.first { $0["checkpoint"] as? String == checkpoint }, "no fixture for \(checkpoint)")
        let model = try load(checkpoint)
        let layer = try #require(entry["layer"] as? Int)
        // Activations only matter for a post-normed MLP, which these are not.
        let vectors = try model.valueVectors(layer: layer)
        for n in try #require(entry["neurons"] as? [[String: Any]]) {
            let i = try #require(n["neuron"] as? Int), label = "\(checkpoint) block \(layer) neuron \(i)"
            let norm = try #require(n["norm"] as? Double), scale = try #require(n["max_abs"] as? Double)
            #expect(abs(vectors.norms[i] - norm) <= 1e-5 * norm, "\(label): norm \(vectors.norms[i]) vs \(norm)")
            let p = vectors.projection(i)
            #expect(abs((p.map(abs).max() ?? 0) - scale) <= 1e-4 * scale, "\(label): largest |value|")
            for side in ["top", "bottom"] {
                let ids = flatInts(n[side + "_ids"]), values = try #require(n[side] as? [Double])
                // Each of numpy's tokens has numpy's value here, and the
                // ranking's values agree place by place (ties may swap ids).
                for (t, v) in zip(ids, values) { #expect(abs(p[t] - v) <= 1e-4 * scale, "\(label) \(side) token \(t): \(p[t]) vs \(v)") }
                let ranked = side == "top" ? p.sorted(by: >) : p.sorted()
                for (k, v) in values.enumerated() { #expect(abs(ranked[k] - v) <= 1e-4 * scale, "\(label) \(side) place \(k)") }
            }
        }
    }

    /// Σᵢ mᵢ·vᵢ plus the down projection's bias is the MLP output at a
    /// position, on every family (Gemma 2: with its post-norm weight and
    /// frozen scale in each vᵢ, and the bias through them). Tolerance 1e-4
    /// of the output's largest |value|: float32 products summed in another order.
    @Test(arguments: AttributionTests.checkpoints)
    func subUpdatesSumToTheMLPOutput(checkpoint: String) throws {
        let model = try load(checkpoint)
        let ids = Array(model.tokenize("The quick brown fox jumps over the lazy dog").prefix(10))
        let pass = try model.forward(ids, hooks: .matching(["blocks.*.mlp.hook_post", "blocks.*.hook_mlp_out"]))
        let c = model.config, d = c.dModel, p = ids.count - 1
        for l in Set([0, c.layers - 1]) {
            let post = Array(try #require(pass.cache[.mlpPost(l)]).row(p)), out = Array(try #require(pass.cache[.mlpOut(l)]).row(p))
            let vectors = try model.valueVectors(layer: l, activations: post)
            var sum = [Double](repeating: 0, count: d)
            for i in 0 ..< c.dMLP where post[i] != 0 {
                let v = vectors.vector(i)
                for j in 0 ..< d { sum[j] += Double(post[i]) * Double(v[j]) }
            }
            if let bias = model.weights.blocks[l].bDown {
                let post = model.weights.blocks[l].postMLPNorm, s = vectors.postNormScale ?? 1
                for j in 0 ..< d { sum[j] += Double(bias[j]) * (post.map { Double($0[j]) * s } ?? 1) }
            }
            let scale = Double(out.map(abs).max() ?? 1)
            let worst = (0 ..< d).map { abs(sum[$0] - Double(out[$0])) }.max() ?? 0
            #expect(worst <= 1e-4 * max(scale, 1e-3), "\(checkpoint) block \(l): off by \(worst) of \(scale)")
            #expect((vectors.postNormScale != nil) == (model.weights.blocks[l].postMLPNorm != nil))
        }
    }

    @Test func postNormedBlocksNeedTheirActivations() throws {
        let model = try Model(path: Fixtures.reference + "/families/gemma2")
        #expect(throws: ModelError.self) { _ = try model.valueVectors(layer: 0) }
        #expect(throws: ModelError.self) { _ = try model.valueVectors(layer: model.config.layers) }
    }
}
