import Foundation
import LoupeCore
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
        let target = DreamTarget(layer: settings.layer, neuron: settings.neuron, direction: settings.direction)
        let m = try target.measure(model, prefix: settings.prefix, texts: [ids], fluency: false)[0]
        return (m.activation, m.perToken)
    }
}

/// What a dream excites: a neuron of `blocks.{layer}.mlp.hook_post`, or a
/// direction in `blocks.{layer}.hook_resid_post`; its value on a text is the
/// mean over the positions after the prefix.
public struct DreamTarget: Sendable {
    public var layer: Int
    public var neuron: Int?
    public var direction: [Float]?

    public init(layer: Int, neuron: Int?, direction: [Float]?) {
        self.layer = layer; self.neuron = direction == nil ? neuron ?? 0 : nil; self.direction = direction
    }

    public var hook: HookPoint { direction == nil ? .mlpPost(layer) : .residPost(layer) }

    public func objective(from: Int) -> Objective {
        if let direction { return .directionMean(layer: layer, vector: direction, from: from) }
        return .neuronMean(layer: layer, index: neuron ?? 0, from: from)
    }

    /// The target at `position` of a recorded pass.
    func value(_ activations: Tensor, _ position: Int, _ config: ModelConfig) -> Double {
        let x = activations.data
        if let direction {
            let d = config.dModel
            var s = 0.0
            for j in 0 ..< d { s += Double(x[position * d + j]) * Double(direction[j]) }
            return s
        }
        return Double(x[position * config.dMLP + (neuron ?? 0)])
    }

    /// A text measured: the target per free position and its mean, and the
    /// text's cross-entropy under the model (the mean of −log p of each free
    /// token given what precedes it) when asked for.
    public struct Measured: Sendable {
        public var ids: [Int]
        public var activation: Double
        public var perToken: [Double]
        public var crossEntropy: Double?
    }

    /// Runs `prefix + text` for every text, in packed passes, stopping at the
    /// target's block unless the cross-entropy (which needs the logits) is asked for.
    public func measure(_ model: Model, prefix: [Int], texts: [[Int]], fluency: Bool) throws -> [Measured] {
        let runs = try model.forward(batch: texts.map { prefix + $0 }, hooks: .matching([hook.name]), lastBlock: fluency ? nil : layer)
        return zip(texts, runs).map { ids, r in
            let per = (prefix.count ..< prefix.count + ids.count).map { value(r.cache[hook]!, $0, model.config) }
            var ce: Double?
            if fluency, let logits = r.logits {
                let all = prefix + ids
                ce = (prefix.count ..< all.count).reduce(0.0) { s, p in
                    let row = logits.row(p - 1)
                    return s + Double(Logits.logSumExp(row) - row[row.startIndex + all[p]])
                } / Double(ids.count)
            }
            return Measured(ids: ids, activation: per.reduce(0, +) / Double(max(1, per.count)), perToken: per, crossEntropy: ce)
        }
    }
}

/// What to excite, and how to search, by token swaps.
public struct SwapSettings: Sendable {
    public var target: DreamTarget
    /// Fixed token ids before the free positions (BOS by default).
    public var prefix: [Int]
    /// The free positions' starting tokens.
    public var start: [Int]
    /// Candidate texts evaluated per step, and the tokens per position they draw from.
    public var candidates: Int
    public var topK: Int
    /// Texts kept from step to step (the beam).
    public var beam: Int
    /// The weight λ of the text's cross-entropy: each candidate scores
    /// activation − λ · cross-entropy (0: activation alone).
    public var fluency: Double
    public var seed: UInt64

    public init(target: DreamTarget, prefix: [Int], start: [Int], candidates: Int, topK: Int, beam: Int, fluency: Double, seed: UInt64) {
        self.target = target; self.prefix = prefix; self.start = start; self.candidates = candidates; self.topK = topK
        self.beam = beam; self.fluency = fluency; self.seed = seed
    }
}

/// Text deep dream by gradient-guided token swaps, in the manner of GCG
/// (Zou et al. 2023) and EPO (Thompson et al. 2024).
///
/// A beam of the best texts found so far is kept. Each step takes, for
/// every text of the beam, the gradient of the target with respect to its
/// one-hot input (dEmb · Eᵀ, one row per free position, in one packed
/// pass), keeps each position's `topK` tokens with the largest gradient
/// (with a fluency weight, also the model's own `topK` predictions for that
/// position), and builds `candidates` texts, shared out over the beam, that
/// each swap one position of one text for one of those tokens. The
/// candidates run through the model for real, in packed passes, and the
/// beam becomes the best distinct texts of the old beam and the candidates:
/// the best text never gets worse, and the others keep the search off a
/// single path (where GCG, with one text, moves to its best candidate even
/// when it is worse). A candidate whose text does not tokenise back to its
/// own ids is never built, so every text reported is one a reader can paste
/// and re-run.
public struct SwapDreamer {
    public let model: Model
    public let settings: SwapSettings
    /// Best first.
    public private(set) var beam: [DreamTarget.Measured]
    public var current: DreamTarget.Measured { beam[0] }
    private var rng: SeededRandom
    /// Every text run so far, so none runs twice.
    private var seen: Set<[Int]>
    /// Tokens a candidate may use: not special, not control, valid UTF-8 on their own.
    private let allowed: [Bool]

    public init(model: Model, settings: SwapSettings) throws {
        let vocab = model.config.vocabularySize
        for id in settings.start + settings.prefix where !(0 ..< vocab).contains(id) {
            throw ModelError.tokenOutOfVocabulary(id: id, vocabularySize: vocab)
        }
        self.model = model
        self.settings = settings
        rng = SeededRandom(seed: settings.seed)
        let t = model.tokenizer
        let special = Set(t.specialTokens.values).union([t.bosId, t.eosId].compactMap { $0 })
        allowed = (0 ..< vocab).map { id in
            guard !special.contains(id) else { return false }
            let text = t.displayText(of: id)
            return !text.isEmpty && !text.contains("\\x") && !text.unicodeScalars.contains { $0.value < 0x20 && $0 != "\n" }
        }
        beam = try settings.target.measure(model, prefix: settings.prefix, texts: [settings.start], fluency: true)
        seen = [settings.start]
    }

    /// What a candidate is worth: activation − λ · cross-entropy.
    public func score(_ m: DreamTarget.Measured) -> Double {
        m.activation - settings.fluency * (m.crossEntropy ?? 0)
    }

    /// Whether `ids` are what their own text tokenises to.
    func roundTrips(_ ids: [Int]) -> Bool {
        model.tokenizer.encode(model.tokenizer.decode(ids)) == ids
    }

    /// The `k` allowed ids of largest `values[row]`, largest first.
    func top(_ values: [Float], row: Int, _ k: Int) -> [Int] {
        let vocab = model.config.vocabularySize
        var best: [(Float, Int)] = []
        for j in 0 ..< vocab where allowed[j] {
            let v = values[row * vocab + j]
            if best.count < k {
                best.append((v, j))
                if best.count == k { best.sort { $0 > $1 } }
            } else if v > best[k - 1].0 {
                best[k - 1] = (v, j)
                var i = k - 1
                while i > 0, best[i].0 > best[i - 1].0 { best.swapAt(i, i - 1); i -= 1 }
            }
        }
        return best.sorted { $0 > $1 }.map(\.1)
    }

    /// For each text of the beam, each free position's candidate tokens.
    func pools() throws -> [[[Int]]] {
        let s = settings, n = s.start.count, d = model.config.dModel, vocab = model.config.vocabularySize
        let texts = beam.map(\.ids)
        let objective = s.target.objective(from: s.prefix.count)
        let grads = try model.gradient(of: texts.map { _ in objective }, batch: try texts.map { try model.embed(s.prefix + $0) })
        let predicted = s.fluency > 0 ? try model.forward(batch: texts.map { s.prefix + $0 }, hooks: .none) : []
        return try texts.indices.map { b in
            let rows = Tensor(shape: [n, d], data: Array(grads[b].embeddings.data[s.prefix.count * d ..< (s.prefix.count + n) * d]))
            let dP = model.mixtureGradient(rows)
            let logits = predicted.isEmpty ? nil : predicted[b].logits
            return try (0 ..< n).map { i in
                var pool = top(dP, row: i, s.topK)
                if let logits {
                    let row = Array(logits.row(s.prefix.count + i - 1))
                    guard row.count == vocab else { throw ModelError.badObjective("logits of \(row.count) for a vocabulary of \(vocab)") }
                    for id in top(row, row: 0, s.topK) where !pool.contains(id) { pool.append(id) }
                }
                return pool.filter { $0 != texts[b][i] }
            }
        }
    }

    /// One step: proposes, runs the candidates, and keeps the best. Returns
    /// how many candidates ran.
    @discardableResult
    public mutating func step() throws -> Int {
        let pools = try pools()
        let n = settings.start.count
        var texts: [[Int]] = []
        var attempts = 0
        while texts.count < settings.candidates, attempts < settings.candidates * 8 {
            let b = attempts % beam.count
            attempts += 1
            let i = Int(rng.next() % UInt64(n))
            guard !pools[b][i].isEmpty else { continue }
            var ids = beam[b].ids
            ids[i] = pools[b][i][Int(rng.next() % UInt64(pools[b][i].count))]
            guard seen.insert(ids).inserted, roundTrips(ids) else { continue }
            texts.append(ids)
        }
        guard !texts.isEmpty else { return 0 }
        var measured = try settings.target.measure(model, prefix: settings.prefix, texts: texts, fluency: settings.fluency > 0)
        measured.sort { score($0) > score($1) }
        // The cross-entropy of the texts kept, for the figure, when the search did not need it.
        var kept = Array((beam + measured.prefix(settings.beam)).sorted { score($0) > score($1) }.prefix(settings.beam))
        let missing = kept.indices.filter { kept[$0].crossEntropy == nil }
        if !missing.isEmpty {
            let again = try settings.target.measure(model, prefix: settings.prefix, texts: missing.map { kept[$0].ids }, fluency: true)
            for (k, m) in zip(missing, again) { kept[k].crossEntropy = m.crossEntropy }
        }
        beam = kept
        return texts.count
    }
}
