import Foundation
@testable import LoupeModel
import Testing

/// Packed batches against one sequence at a time, on every family (the
/// random-weight checkpoints of Fixtures/reference/families, with windows,
/// scaled rotary, parallel blocks and soft caps), on tiny gpt2 (learned
/// positions) and on SmolLM2.
///
/// Tolerance: every value within 1e-5 of the largest magnitude in its row
/// (a position's values; for an attention pattern, a query's row). Batch and
/// single pass compute the same sums, but the matrix products see more rows
/// in a batch, and BLAS then blocks them differently, adding in another
/// order. How much that moves a value depends on the terms summed, not on
/// the value: on llama3-rope's block 1 MLP output (40 tokens, row maxima
/// ~10), OpenBLAS's Haswell and Sandybridge kernels differ by 1.4e-5 on an
/// entry of -0.109, and one thread against two by 6.7e-6; a batch moves it
/// by 1.2e-5. A position that leaked into another sequence's attention, a
/// rotary angle or learned position counted from the batch's first row
/// instead of the sequence's, or rows of one sequence read as another's,
/// move values by 1e-2 of their row or more. Gradients are held to 1e-5 of
/// their tensor's largest magnitude instead (see `Scale`).
@Suite struct BatchTests {
    static let models = FamilyTests.families.map { FamilyTests.root + "/" + $0 } + [Fixtures.tiny + "/tiny-gpt2"]

    /// Three sequences of different lengths: shorter than every window,
    /// longer than the scaled rotary's original context of 32.
    static func sequences(_ model: Model) -> [[Int]] {
        let v = model.config.vocabularySize
        return [[3, 17, 5, 9, 1].map { $0 % v },
                (0 ..< 12).map { ($0 * 7 + 2) % v },
                (0 ..< 40).map { ($0 * 13 + 5) % v }]
    }

    /// What a value's 1e-5 is of: its row (a position, or a pattern's query
    /// row), or the whole tensor (for gradients, where one position's
    /// values are sums over every later position's, so their rounding
    /// follows the tensor's scale rather than the row's).
    enum Scale { case row, patternRow, tensor }

    func expectClose(_ batch: Tensor?, _ single: Tensor?, _ label: String, scale by: Scale = .row, tolerance: Float = 1e-5) {
        guard let single else { Issue.record("\(label): missing in the single pass"); return }
        guard let batch else { Issue.record("\(label): missing in the batch"); return }
        #expect(batch.shape == single.shape, "\(label): shape \(batch.shape), single \(single.shape)")
        guard batch.shape == single.shape, let first = single.shape.first, first > 0 else { return }
        let width = switch by {
        case .row: single.count / first
        case .patternRow: single.shape.last!
        case .tensor: single.count
        }
        var worst: (excess: Float, index: Int, scale: Float) = (0, -1, 0)
        for r in 0 ..< single.count / width {
            let row = r * width ..< (r + 1) * width
            let scale = single.data[row].reduce(0) { max($0, abs($1)) }
            for i in row {
                let excess = abs(batch.data[i] - single.data[i]) - tolerance * scale
                if excess > worst.excess { worst = (excess, i, scale) }
            }
        }
        if worst.index >= 0 {
            Issue.record("\(label)[\(worst.index)]: batch \(batch.data[worst.index]), single \(single.data[worst.index]), row maximum \(worst.scale)")
        }
    }

    func expectClose(_ batch: ActivationCache, _ single: ActivationCache, _ label: String) {
        #expect(batch.order == single.order, "\(label): hook order")
        for hook in single.order {
            let isPattern = if case .pattern = hook { true } else { false }
            expectClose(batch[hook], single[hook], "\(label) \(hook.name)", scale: isPattern ? .patternRow : .row)
        }
    }

    @Test(arguments: models)
    func forwardEqualsOneAtATime(path: String) throws {
        let model = try Model(path: path)
        let sequences = Self.sequences(model)
        let singles = try sequences.map { try model.forward($0) }
        // One pass; and passes of at most 20 rows (the 40-token sequence alone).
        for rows in [Model.rowsPerPass, 20] {
            let batch = try model.forward(batch: sequences, rowsPerPass: rows)
            #expect(batch.count == sequences.count)
            for (s, (b, single)) in zip(batch, singles).enumerated() {
                let label = "\((path as NSString).lastPathComponent) sequence \(s) (passes of \(rows) rows)"
                #expect(b.ids == sequences[s])
                expectClose(b.cache, single.cache, label)
                expectClose(b.logits, single.logits, "\(label) logits")
            }
        }
        // Stopping early (before the last block), with a few hooks.
        let l = max(0, model.config.layers - 2)
        let early = try model.forward(batch: sequences, hooks: .matching(["blocks.\(l).mlp.hook_post"]), lastBlock: l)
        for (s, e) in early.enumerated() {
            #expect((e.logits == nil) == (l < model.config.layers - 1))
            let single = try model.forward(sequences[s], hooks: .matching(["blocks.\(l).mlp.hook_post"]), lastBlock: l)
            expectClose(e.cache[.mlpPost(l)], single.cache[.mlpPost(l)], "sequence \(s) early")
        }
    }

    @Test(arguments: models)
    func gradientEqualsOneAtATime(path: String) throws {
        let model = try Model(path: path)
        let sequences = Self.sequences(model)
        let inputs = try sequences.map { try model.embed($0) }
        let last = model.config.layers - 1
        let d = model.config.dModel
        let direction = (0 ..< d).map { Float(($0 * 37) % 11) / 11 - 0.5 }
        // Each sequence with its own objective of one kind.
        let kinds: [[Objective]] = [
            [.neuron(layer: last, index: 3, position: -1), .neuron(layer: last, index: 5, position: nil), .neuronMean(layer: last, index: 1, from: 2)],
            [.logit(token: 4, position: -1), .logit(token: 9, position: 2), .logit(token: 1, position: 0)],
            [.direction(layer: 0, vector: direction, position: 1), .directionMean(layer: 0, vector: direction, from: 1),
             .direction(layer: 0, vector: direction, position: -1)],
        ]
        for objectives in kinds {
            let batch = try model.gradient(of: objectives, batch: inputs, hooks: .all)
            for s in 0 ..< sequences.count {
                let single = try model.gradient(of: objectives[s], embeddings: inputs[s], hooks: .all)
                let label = "\((path as NSString).lastPathComponent) \(objectives[s])"
                // The value is one of the row's values (or their mean).
                let scale = single.terms.reduce(abs(single.value)) { max($0, abs($1)) }
                #expect(abs(batch[s].value - single.value) <= 1e-5 * max(scale, 1), "\(label): value \(batch[s].value), single \(single.value)")
                #expect(batch[s].terms.count == single.terms.count)
                expectClose(batch[s].embeddings, single.embeddings, "\(label) input gradient", scale: .tensor)
                #expect(Set(batch[s].hooks.keys) == Set(single.hooks.keys), "\(label): hooks")
                for (hook, g) in single.hooks { expectClose(batch[s].hooks[hook], g, "\(label) d/d \(hook.name)", scale: .tensor) }
            }
        }
    }

    /// A bad sequence is named by its place in the batch.
    @Test func badSequencesAreNamed() throws {
        let model = try Model(path: FamilyTests.root + "/llama3-rope")
        let long = [Int](repeating: 1, count: model.config.contextLength + 1)
        #expect(throws: ModelError.inBatch(sequence: 1, count: 3, error: .promptTooLong(tokens: long.count, context: model.config.contextLength))) {
            try model.forward(batch: [[1, 2], long, [3]])
        }
        #expect(throws: ModelError.inBatch(sequence: 2, count: 3, error: .emptyPrompt)) { try model.forward(batch: [[1, 2], [3], []]) }
        let v = model.config.vocabularySize
        #expect(throws: ModelError.inBatch(sequence: 0, count: 2, error: .tokenOutOfVocabulary(id: v, vocabularySize: v))) {
            try model.forward(batch: [[v], [3]])
        }
        let e = try model.embed([1, 2, 3])
        #expect(throws: ModelError.self) {
            try model.gradient(of: [.logit(token: 1, position: -1), .neuron(layer: 0, index: 0, position: 0)], batch: [e, e])
        }
    }

    /// SmolLM2 (the default model, 4-bit weights): prompts of the topic set's
    /// lengths, at the hook neuron clusters read, and the dream's objective.
    @Test func smolLM2() throws {
        let model = try loadSmolLM2()
        let prompts = ["The Eiffel Tower is located in the city of", "Photosynthesis turns light into",
                       "def fibonacci(n):\n    return", "In 1815 the battle of Waterloo ended"]
        let ids = prompts.map { model.tokenize($0) }
        let l = 15
        let batch = try model.forward(batch: ids, hooks: .matching(["blocks.\(l).mlp.hook_post", "blocks.\(l).hook_resid_post"]), lastBlock: l)
        // 5e-5 here: sixteen blocks of the 4-bit model, whose BOS residual
        // reaches 25 000, amplify the rounding. On AMD EPYC a batch moved
        // block 15's MLP activations by up to 1.2e-5 of their row's maximum,
        // and Sandybridge against Haswell kernels (no batch) by 4.2e-6.
        for (s, b) in batch.enumerated() {
            let single = try model.forward(ids[s], hooks: .matching(["blocks.\(l).mlp.hook_post", "blocks.\(l).hook_resid_post"]), lastBlock: l)
            expectClose(b.cache[.mlpPost(l)], single.cache[.mlpPost(l)], "SmolLM2 prompt \(s) mlp.hook_post", tolerance: 5e-5)
            expectClose(b.cache[.residPost(l)], single.cache[.residPost(l)], "SmolLM2 prompt \(s) hook_resid_post", tolerance: 5e-5)
        }
        let inputs = try ids.map { try model.embed($0) }
        let objectives = ids.map { _ in Objective.neuronMean(layer: l, index: 100, from: 1) }
        let grads = try model.gradient(of: objectives, batch: inputs)
        for s in ids.indices {
            let single = try model.gradient(of: objectives[s], embeddings: inputs[s])
            #expect(abs(grads[s].value - single.value) <= 1e-5 * max(abs(single.value), 1))
            // 1e-4 here: fifteen blocks of the 4-bit model, with its massive
            // activation, amplify the rounding. On AMD EPYC the largest
            // difference was 2.3e-5 of the tensor's maximum with Haswell
            // kernels on two threads, and under 1e-5 with Sandybridge
            // kernels or one thread: the order of the sums, not the batch.
            expectClose(grads[s].embeddings, single.embeddings, "SmolLM2 prompt \(s) input gradient", scale: .tensor, tolerance: 1e-4)
        }
    }
}
