import Foundation
@testable import LoupeModel
import Testing

/// `headOutputs`: what each head moves from each position, the vectors the
/// value-weighted attention of Kobayashi et al. (2020) measures.
@Suite struct HeadOutputTests {
    /// The attention layer's own output is rebuilt from them: at every query
    /// i, Σ_h Σ_j α_ij^h f_h(x_j) + b_O equals `hook_attn_out`. This checks
    /// the head slices of W_O and the key/value groups (tiny-llama and
    /// SmolLM2 share one value head among several query heads; tiny-gpt2 has
    /// an output bias). Tolerance 1e-4 + 1e-4·|x|: the same float32 products
    /// summed in another order (the forward pass uses BLAS), over at most
    /// 576 terms of size below 10.
    @Test(arguments: ["tiny-gpt2", "tiny-llama", "smollm2"])
    func rebuildTheAttentionOutput(checkpoint: String) throws {
        let model = checkpoint == "smollm2" ? try loadSmolLM2() : try Model(path: Fixtures.tiny + "/" + checkpoint)
        let c = model.config
        let ids = checkpoint == "smollm2" ? model.tokenize("The cat sat on the mat. The cat sat") : model.tokenize("hello world, hello there")
        let cache = try model.forward(ids).cache
        let t = ids.count, d = c.dModel
        for l in Set([0, c.layers - 1]) {
            let f = try model.headOutputs(layer: l, values: try #require(cache[.v(l)]))
            #expect(f.shape == [t, c.heads, d])
            let pattern = try #require(cache[.pattern(l)]), out = try #require(cache[.attnOut(l)])
            let bias = model.weights.blocks[l].bo
            var worst = 0.0
            for i in 0 ..< t {
                for col in 0 ..< d {
                    var s = Double(bias?[col] ?? 0)
                    for h in 0 ..< c.heads {
                        for j in 0 ... i { s += Double(pattern.data[(h * t + i) * t + j]) * Double(f.data[(j * c.heads + h) * d + col]) }
                    }
                    let x = Double(out.data[i * d + col])
                    worst = max(worst, abs(s - x) / (1e-4 + 1e-4 * abs(x)))
                }
            }
            #expect(worst <= 1, "\(checkpoint) block \(l): error \(worst) × the tolerance")
            let norms = try model.headOutputNorms(layer: l, values: try #require(cache[.v(l)]))
            let r = (t - 1) * c.heads + c.heads - 1
            let direct = sqrt(f.data[r * d ..< (r + 1) * d].reduce(0.0) { $0 + Double($1 * $1) })
            #expect(abs(Double(norms.data[r]) - direct) <= 1e-5 * direct)
        }
        #expect(throws: ModelError.self) { try model.headOutputs(layer: c.layers, values: try #require(cache[.v(0)])) }
    }
}
