import Foundation
import LoupeModel

/// What to excite, and how to search.
public struct DreamSettings: Sendable {
    public var layer: Int
    /// A neuron of `blocks.{layer}.mlp.hook_post`, or
    public var neuron: Int?
    /// a direction in `blocks.{layer}.hook_resid_post` (d_model values).
    public var direction: [Float]?
    /// Fixed token ids before the free positions (BOS by default).
    public var prefix: [Int]
    /// Token ids the free positions start from (their logits get `initLogit`).
    public var start: [Int]
    public var steps: Int
    public var learningRate: Float
    public var temperatureStart: Float
    public var temperatureEnd: Float
    public var initLogit: Float

    public var freePositions: Int { start.count }

    public init(layer: Int, neuron: Int?, direction: [Float]?, prefix: [Int], start: [Int], steps: Int,
                learningRate: Float, temperatureStart: Float, temperatureEnd: Float, initLogit: Float) {
        self.layer = layer; self.neuron = neuron; self.direction = direction; self.prefix = prefix; self.start = start
        self.steps = steps; self.learningRate = learningRate; self.temperatureStart = temperatureStart
        self.temperatureEnd = temperatureEnd; self.initLogit = initLogit
    }

    /// The temperature at `step` (0-based): geometric from start to end.
    public func temperature(at step: Int) -> Float {
        guard steps > 1 else { return temperatureStart }
        let f = Float(step) / Float(steps - 1)
        return temperatureStart * pow(temperatureEnd / temperatureStart, f)
    }
}

/// Text deep dream: gradient ascent on a relaxed one-hot input.
///
/// The free positions hold learnable logits z [N, V]; their input
/// embeddings are softmax(z / τ) · E, so the objective (a neuron's or a
/// direction's mean over the free positions) is differentiable in z. Adam
/// climbs it while τ anneals, pulling each row toward one token. Every step
/// the rows are also projected to real tokens (argmax) to measure what the
/// text really does.
public struct Dreamer {
    public let model: Model
    public let settings: DreamSettings
    /// [N, V]
    public private(set) var z: [Float]
    private var m: [Float], v: [Float]
    public private(set) var step = 0

    /// Throws when a starting token is outside the vocabulary.
    public init(model: Model, settings: DreamSettings) throws {
        for id in settings.start + settings.prefix where !(0 ..< model.config.vocabularySize).contains(id) {
            throw ModelError.tokenOutOfVocabulary(id: id, vocabularySize: model.config.vocabularySize)
        }
        self.model = model
        self.settings = settings
        let vocab = model.config.vocabularySize
        z = [Float](repeating: 0, count: settings.freePositions * vocab)
        for (i, id) in settings.start.enumerated() { z[i * vocab + id] = settings.initLogit }
        m = [Float](repeating: 0, count: z.count)
        v = m
    }

    var objective: Objective {
        let from = settings.prefix.count
        if let direction = settings.direction { return .directionMean(layer: settings.layer, vector: direction, from: from) }
        return .neuronMean(layer: settings.layer, index: settings.neuron ?? 0, from: from)
    }

    /// softmax(z / τ) per row. Sums run in Float64: 49 151 small terms added
    /// to a Float32 total lose enough to move a probability by 1e-3.
    public func probabilities(temperature tau: Float) -> [Float] {
        let vocab = model.config.vocabularySize
        var p = [Float](repeating: 0, count: z.count)
        for r in 0 ..< settings.freePositions {
            let row = r * vocab
            var mx = -Float.infinity
            for j in 0 ..< vocab { mx = max(mx, z[row + j] / tau) }
            var sum: Double = 0
            for j in 0 ..< vocab { let e = expf(z[row + j] / tau - mx); p[row + j] = e; sum += Double(e) }
            let inv = Float(1 / sum)
            for j in 0 ..< vocab { p[row + j] *= inv }
        }
        return p
    }

    /// What one step measures, before it moves z.
    public struct Evaluation: Sendable {
        /// The relaxed objective, and its gradients with respect to the
        /// mixed embeddings [N, d] and to z [N, V].
        public var relaxed: Float
        public var embeddings: Tensor
        public var z: [Float]
        /// The real tokens the rows point at (argmax of z), and the target's
        /// activation on them: per free position, and their mean.
        public var projected: [Int]
        public var mean: Double
        public var perToken: [Double]
    }

    /// The relaxed objective with its gradients, and the target on the
    /// projected tokens, in one packed pass of both inputs (see
    /// `Model.gradient(of:batch:)`): dz = (1/τ)·P ⊙ (dP − Σ_j P·dP), with
    /// dP = dEmb · Eᵀ. `fullModel` runs every block and the unembedding
    /// (for timing only).
    public func evaluate(temperature tau: Float, fullModel: Bool = false) throws -> Evaluation {
        let vocab = model.config.vocabularySize, d = model.config.dModel, n = settings.freePositions
        let p = probabilities(temperature: tau)
        let mixed = model.mixedEmbeddings(p, rows: n)
        let prefix = try model.embed(settings.prefix)
        let relaxed = Tensor(shape: [settings.prefix.count + n, d], data: prefix.data + mixed.data)
        let ids = projected()
        let real = try model.embed(settings.prefix + ids)
        let g = try model.gradient(of: [objective, objective], batch: [relaxed, real], fullForward: fullModel)
        let dEmb = Tensor(shape: [n, d], data: Array(g[0].embeddings.data[settings.prefix.count * d ..< (settings.prefix.count + n) * d]))
        let dP = model.mixtureGradient(dEmb)
        var dz = [Float](repeating: 0, count: n * vocab)
        for r in 0 ..< n {
            let row = r * vocab
            var dot: Double = 0
            for j in 0 ..< vocab { dot += Double(p[row + j]) * Double(dP[row + j]) }
            let dotF = Float(dot)
            for j in 0 ..< vocab { dz[row + j] = p[row + j] * (dP[row + j] - dotF) / tau }
        }
        let per = g[1].terms.map(Double.init)
        return Evaluation(relaxed: g[0].value, embeddings: dEmb, z: dz, projected: ids,
                          mean: per.reduce(0, +) / Double(per.count), perToken: per)
    }

    /// One Adam step of gradient ascent (β 0.9 / 0.999, ε 1e-8). Returns
    /// what was measured before the step.
    @discardableResult
    public mutating func ascend(temperature tau: Float, fullModel: Bool = false) throws -> Evaluation {
        let e = try evaluate(temperature: tau, fullModel: fullModel)
        step += 1
        let b1: Float = 0.9, b2: Float = 0.999, eps: Float = 1e-8
        let c1 = 1 - pow(b1, Float(step)), c2 = 1 - pow(b2, Float(step))
        let lr = settings.learningRate
        for i in 0 ..< z.count {
            let g = e.z[i]
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g * g
            z[i] += lr * (m[i] / c1) / ((v[i] / c2).squareRoot() + eps)
        }
        return e
    }

    /// The real tokens the rows point at (argmax of z).
    public func projected() -> [Int] {
        let vocab = model.config.vocabularySize
        return (0 ..< settings.freePositions).map { r in
            var best = 0
            var bestValue = -Float.infinity
            for j in 0 ..< vocab where z[r * vocab + j] > bestValue { bestValue = z[r * vocab + j]; best = j }
            return best
        }
    }

    /// The target's activation on real text: per free position, and their mean.
    public func activation(of ids: [Int]) throws -> (mean: Double, perToken: [Double]) {
        let all = settings.prefix + ids
        let l = settings.layer
        if let direction = settings.direction {
            let r = try model.forward(all, hooks: .matching(["blocks.\(l).hook_resid_post"]), lastBlock: l)
            let x = r.cache[.residPost(l)]!
            let d = model.config.dModel
            let per = (settings.prefix.count ..< all.count).map { p in
                (0 ..< d).reduce(0.0) { $0 + Double(x.data[p * d + $1]) * Double(direction[$1]) }
            }
            return (per.reduce(0, +) / Double(per.count), per)
        }
        let r = try model.forward(all, hooks: .matching(["blocks.\(l).mlp.hook_post"]), lastBlock: l)
        let post = r.cache[.mlpPost(l)]!
        let m = model.config.dMLP, n = settings.neuron ?? 0
        let per = (settings.prefix.count ..< all.count).map { Double(post.data[$0 * m + n]) }
        return (per.reduce(0, +) / Double(per.count), per)
    }
}
