import Foundation
@testable import LoupeModel
import Testing

/// ‖a − b‖ / ‖b‖.
func relativeL2(_ a: [Float], _ b: [Float]) -> Double {
    var num = 0.0, den = 0.0
    for (x, y) in zip(a, b) { num += Double(x - y) * Double(x - y); den += Double(y) * Double(y) }
    return (num / max(den, 1e-300)).squareRoot()
}

/// A deterministic generator for test inputs (SplitMix64).
struct TestRandom {
    var state: UInt64
    mutating func next() -> Float {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return Float(Double(z >> 11) / Double(1 << 53)) * 2 - 1
    }
    mutating func array(_ n: Int, scale: Float = 1) -> [Float] { (0 ..< n).map { _ in next() * scale } }
}

/// Each operation's backward against central finite differences of
/// L = Σ r ⊙ forward(x) for a random r. Inputs are small and well scaled; in
/// Float32 a difference quotient with step 1e-2 carries ~1e-4 relative
/// noise and ~h² truncation, so analytic and numeric gradients must agree
/// to 2e-3 relative L2 (a wrong sign or a missing term is off by >10 %).
@Suite struct OperationGradientTests {
    /// Compares `backward(r)` with finite differences of `forward(x)·r`.
    func check(_ name: String, inputs n: Int, outputs m: Int, seed: UInt64 = 1, step: Float = 1e-2,
               forward: ([Float]) -> [Float], backward: ([Float], [Float]) -> [Float]) {
        var rng = TestRandom(state: seed)
        let x = rng.array(n), r = rng.array(m)
        let analytic = backward(x, r)
        var numeric = [Float](repeating: 0, count: n)
        for i in 0 ..< n {
            var a = x, b = x
            a[i] += step; b[i] -= step
            let fa = zip(forward(a), r).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            let fb = zip(forward(b), r).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            numeric[i] = Float((fa - fb) / (2 * Double(step)))
        }
        let err = relativeL2(analytic, numeric)
        #expect(err < 2e-3, "\(name): relative L2 error \(err)")
    }

    let t = 5, d = 12

    @Test func linear() {
        var rng = TestRandom(state: 9)
        let w = rng.array(7 * d)
        check("linear", inputs: t * d, outputs: t * 7, forward: { x in
            var y = [Float](repeating: 0, count: t * 7); LoupeModel.linear(x, w, nil, &y, rows: t, in: d, out: 7); return y
        }, backward: { _, r in
            var dx = [Float](repeating: 0, count: t * d); linearBackward(r, w, &dx, rows: t, in: d, out: 7); return dx
        })
    }

    @Test func rmsNormAndLayerNorm() {
        var rng = TestRandom(state: 3)
        let w = rng.array(d).map { $0 + 1.5 }, b = rng.array(d)
        check("rmsNorm", inputs: t * d, outputs: t * d, forward: { x in
            var y = x; rmsNorm(x, w, &y, rows: t, dim: d, eps: 1e-5); return y
        }, backward: { x, r in
            var dx = [Float](repeating: 0, count: t * d); rmsNormBackward(r, x, w, &dx, rows: t, dim: d, eps: 1e-5); return dx
        })
        check("layerNorm", inputs: t * d, outputs: t * d, forward: { x in
            var y = x; layerNorm(x, w, b, &y, rows: t, dim: d, eps: 1e-5); return y
        }, backward: { x, r in
            var dx = [Float](repeating: 0, count: t * d); layerNormBackward(r, x, w, &dx, rows: t, dim: d, eps: 1e-5); return dx
        })
    }

    @Test func rotary() {
        let heads = 2, hd = 8
        // Full and partial (GPT-NeoX, Phi-3) rotation, with Llama 3 scaling.
        for rotated in [hd, hd / 2] {
            var config = ModelConfig(family: .llama, layers: 1, dModel: heads * hd, heads: heads, kvHeads: heads, headDim: hd,
                                     dMLP: 4, vocabularySize: 4, contextLength: 16, normEpsilon: 1e-5)
            config.ropeDimensions = rotated
            config.ropeScaling = .llama3(factor: 4, lowFrequencyFactor: 1, highFrequencyFactor: 4, originalContext: 8)
            let (c, s) = rotaryTables(positions: t, config: config)
            check("rotary over \(rotated) of \(hd)", inputs: t * heads * hd, outputs: t * heads * hd, forward: { x in
                var y = x; applyRotary(&y, rows: t, heads: heads, headDim: hd, rotaryDims: rotated, cos: c, sin: s); return y
            }, backward: { _, r in
                var dx = r; applyRotaryBackward(&dx, rows: t, heads: heads, headDim: hd, rotaryDims: rotated, cos: c, sin: s); return dx
            })
        }
    }

    /// Attention with grouped heads: the gradient with respect to q, k and v
    /// stacked, through the softmax; plain, with Gemma 2's soft cap (small,
    /// so that tanh bends), and with a sliding window.
    @Test(arguments: [(nil, nil), (Float(0.8), nil), (nil, 2), (Float(0.8), 3)] as [(Float?, Int?)])
    func causalAttentionWithGroupedHeads(softcap: Float?, window: Int?) {
        let heads = 4, kv = 2, hd = 4, scale: Float = 0.7
        let qn = t * heads * hd, kn = t * kv * hd
        func split(_ x: [Float]) -> ([Float], [Float], [Float]) {
            (Array(x[0 ..< qn]), Array(x[qn ..< qn + kn]), Array(x[qn + kn ..< qn + 2 * kn]))
        }
        check("attention", inputs: qn + 2 * kn, outputs: t * heads * hd, forward: { x in
            let (q, k, v) = split(x)
            var p = [Float](repeating: 0, count: heads * t * t), z = [Float](repeating: 0, count: qn)
            causalAttention(q: q, k: k, v: v, pattern: &p, z: &z, rows: t, heads: heads, kvHeads: kv, headDim: hd,
                            scale: scale, softcap: softcap, window: window)
            return z
        }, backward: { x, r in
            let (q, k, v) = split(x)
            var p = [Float](repeating: 0, count: heads * t * t), z = [Float](repeating: 0, count: qn)
            causalAttention(q: q, k: k, v: v, pattern: &p, z: &z, rows: t, heads: heads, kvHeads: kv, headDim: hd,
                            scale: scale, softcap: softcap, window: window)
            var dq = [Float](repeating: 0, count: qn), dk = [Float](repeating: 0, count: kn), dv = dk
            var dp = p
            causalAttentionBackward(dz: r, q: q, k: k, v: v, pattern: p, dq: &dq, dk: &dk, dv: &dv, dPattern: &dp,
                                    rows: t, heads: heads, kvHeads: kv, headDim: hd, scale: scale, softcap: softcap)
            return dq + dk + dv
        })
    }

    @Test func activations() {
        check("silu", inputs: 20, outputs: 20, forward: { $0.map { silu($0 * 3) } },
              backward: { x, r in zip(x, r).map { 3 * siluGrad($0 * 3) * $1 } })
        check("gelu (tanh)", inputs: 20, outputs: 20, forward: { $0.map { geluTanh($0 * 3) } },
              backward: { x, r in zip(x, r).map { 3 * geluTanhGrad($0 * 3) * $1 } })
        check("gelu (erf)", inputs: 20, outputs: 20, forward: { $0.map { geluErf($0 * 3) } },
              backward: { x, r in zip(x, r).map { 3 * geluErfGrad($0 * 3) * $1 } })
    }
}

/// Whole models: the backward pass against the float64 reference gradients,
/// and whole blocks against finite differences.
@Suite struct ModelGradientTests {
    static let tinyCheckpoints = ["tiny-gpt2", "tiny-llama", "tiny-llama/tiny-llama-f32.gguf"]

    /// tiny/*/reference.json `grads`: within 1e-4 relative L2 of float64
    /// autograd (our float32 run is ~2e-6 from it); values within 1e-4 + 1e-4·|ref|.
    @Test(arguments: tinyCheckpoints)
    func tinyReferenceGradients(checkpoint: String) throws {
        let model = try Model(path: Fixtures.tiny + "/" + checkpoint)
        let ref = try Fixtures.json(TinyModelTests.referencePath(checkpoint))
        let grads = try #require(ref["grads"] as? [[String: Any]])
        #expect(grads.count == 2)
        for g in grads {
            let ids = flatInts(g["ids"])
            for o in try #require(g["objectives"] as? [[String: Any]]) {
                let position = o["position"] as! Int
                let objective: Objective = (o["kind"] as! String) == "mlp"
                    ? .neuron(layer: o["layer"] as! Int, index: o["neuron"] as! Int, position: position)
                    : .logit(token: o["token"] as! Int, position: position)
                let result = try model.gradient(of: objective, ids: ids)
                let value = try #require(o["value_f64_exact"] as? Double)
                #expect(abs(Double(result.value) - value) <= 1e-4 + 1e-4 * abs(value), "\(objective): \(result.value) vs \(value)")
                let err = relativeL2(result.embeddings.data, flatFloats(o["grad_input_embeds"]))
                #expect(err <= 1e-4, "\(checkpoint) \(objective): relative L2 \(err)")
            }
        }
    }

    /// SmolLM2 on "The capital of France is": both objectives within 1e-4
    /// relative L2 of the float64 gradients (float32 noise is ~4e-6).
    @Test(arguments: ["mlp15_n100", "logit_paris"])
    func smollm2ReferenceGradients(name: String) throws {
        let model = try loadSmolLM2()
        let json = try Fixtures.json(Fixtures.smollm2 + "/grad_smollm2.json")
        let ids = flatInts((json["prompt"] as! [String: Any])["ids"])
        let objectives = try #require(json["objectives"] as? [[String: Any]])
        let o = try #require(objectives.first { $0["name"] as? String == name })
        let objective: Objective = name == "mlp15_n100" ? .neuron(layer: 15, index: 100, position: -1) : .logit(token: 7042, position: -1)
        let result = try model.gradient(of: objective, ids: ids)
        let value = try #require(o["value_f64"] as? Double)
        #expect(abs(Double(result.value) - value) <= 1e-4, "value \(result.value), reference \(value)")
        let ref = try Fixtures.float32s(Fixtures.smollm2 + "/grad_smollm2_\(name)_f64.f32")
        let err = relativeL2(result.embeddings.data, ref)
        #expect(err <= 1e-4, "relative L2 \(err)")
    }

    /// The embedding gradient of whole models, for three kinds of objective:
    /// checked by nudging the embeddings along a random direction u and
    /// comparing the change of the objective with ⟨grad, u⟩ (central
    /// differences of the Float32 objective; its rounding, ~1e-6 relative,
    /// divided by the step bounds the agreement at 2e-3). The gradients at
    /// the other hook points are checked against float64 autograd in
    /// FamilyTests.hookGradientsMatchAutograd.
    @Test(arguments: ["tiny-gpt2", "tiny-llama"])
    func wholeModelAgainstFiniteDifferences(checkpoint: String) throws {
        let model = try Model(path: Fixtures.tiny + "/" + checkpoint)
        let ids = model.tokenize("The cat sat on the mat.")
        let e = try model.embed(ids)
        var rng = TestRandom(state: 11)
        // A unit direction: the step moves the embeddings by 1e-2 in norm,
        // small enough for the peaky attention of these random weights.
        let raw = rng.array(e.count)
        let norm = raw.reduce(0) { $0 + $1 * $1 }.squareRoot()
        let u = raw.map { $0 / norm }
        for objective in [Objective.logit(token: 42, position: -1), .neuron(layer: 0, index: 3, position: nil),
                          .direction(layer: 1, vector: rng.array(64), position: 2)] {
            let g = try model.gradient(of: objective, embeddings: e)
            let h: Float = 1e-2
            func value(_ s: Float) throws -> Double {
                let shifted = Tensor(shape: e.shape, data: zip(e.data, u).map { $0 + s * $1 })
                return Double(try model.gradient(of: objective, embeddings: shifted).value)
            }
            let numeric = (try value(h) - value(-h)) / (2 * Double(h))
            let analytic = zip(g.embeddings.data, u).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            #expect(abs(numeric - analytic) <= 2e-3 * max(1, abs(analytic)), "\(checkpoint) \(objective): fd \(numeric), analytic \(analytic)")
        }
    }

    /// Hook gradients: the residual gradient entering block 0 is the
    /// embedding gradient, and a neuron's own hook gradient is its one-hot seed.
    @Test func hookGradients() throws {
        let model = try Model(path: Fixtures.tiny + "/tiny-llama")
        let ids = model.tokenize("hooks")
        let g = try model.gradient(of: .neuron(layer: 1, index: 5, position: -1), ids: ids, hooks: .all)
        #expect(g.hooks[.residPre(0)]?.data == g.embeddings.data)
        let post = try #require(g.hooks[.mlpPost(1)])
        #expect(post.data.reduce(0, +) == 1 && post[ids.count - 1, 5] == 1)
        #expect(g.hooks[.residPost(1)] == nil, "nothing after the objective")
    }

    @Test func badObjectivesAreErrors() throws {
        let model = try Model(path: Fixtures.tiny + "/tiny-llama")
        let ids = model.tokenize("hi")
        #expect { try model.gradient(of: .neuron(layer: 2, index: 0, position: nil), ids: ids) } throws: {
            "\($0)" == "objective: layer 2 is out of range (the model has blocks 0 to 1)"
        }
        #expect { try model.gradient(of: .neuron(layer: 0, index: 176, position: nil), ids: ids) } throws: { "\($0)".contains("neuron 176 is out of range") }
        #expect { try model.gradient(of: .direction(layer: 0, vector: [1, 2], position: 0), ids: ids) } throws: {
            "\($0)".contains("the direction has 2 values but the residual stream has 64")
        }
        #expect { try model.gradient(of: .logit(token: 1, position: 9), ids: ids) } throws: { "\($0)".contains("position 9 is outside") }
    }
}
