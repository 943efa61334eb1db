import Foundation
@testable import LoupeModel
import Testing

/// Activation patching on every family, with the three checks that follow
/// from what patching is: resid_pre of block 0 patched at every position
/// where the prompts differ is the clean run (metric 1); the last block's
/// resid_post patched at the measured position gives the clean logits
/// (metric 1); a position before the first difference holds the same
/// activations in both runs (metric 0). And the packed, shortened runs
/// (each starts at its block, only one row unembedded) agree with plain
/// single runs of the same patches.
///
/// Tolerance: 1e-4 of max(1, |logit difference|) in logits, divided by the
/// clean − corrupted gap to put it in the metric's units. The runs are
/// float32 passes in another packing than the baselines, whose products
/// sum in another order (about 1e-6 of the logits' scale); a patch in the
/// wrong place, row or head moves the metric by whole tenths.
@Suite struct PatchingTests {
    /// Every family's small checkpoint; SmolLM2's own checks are in
    /// `ioiOnSmolLM2` (one site: its runs take seconds, not milliseconds).
    static let checkpoints = AttributionTests.checkpoints.filter { $0 != "smollm2" }

    func load(_ name: String) throws -> Model {
        name == "smollm2" ? try loadSmolLM2() : try Model(path: Fixtures.reference + "/" + name)
    }

    /// A clean prompt, a corrupted one of the same length (two tokens past
    /// the start replaced), and the target and counterfactual whose logit
    /// difference the two disagree on most among the clean run's top ten.
    func pair(_ model: Model, _ name: String) throws -> (clean: [Int], corrupted: [Int], target: Int, counterfactual: Int) {
        if name == "smollm2" {
            let clean = model.tokenize("When Mary and John went to the store, John gave a drink to")
            let corrupted = model.tokenize("When John and Mary went to the store, Mary gave a drink to")
            return (clean, corrupted, model.tokenize(" Mary").last!, model.tokenize(" John").last!)
        }
        var clean: [Int]
        if name.hasPrefix("families/") {
            let ref = try Fixtures.json(Fixtures.reference + "/" + name + "/reference.json")
            clean = flatInts(try #require(ref["prompts"] as? [[String: Any]])[0]["ids"])
        } else {
            clean = model.tokenize("The quick brown fox jumps over the lazy dog")
        }
        clean = Array(clean.prefix(12))
        var corrupted = clean
        for q in [2, clean.count - 3] { corrupted[q] = (clean[q] + 17) % model.config.vocabularySize }
        let a = try #require(try model.forward(clean, hooks: .none).logits).row(clean.count - 1)
        let b = try #require(try model.forward(corrupted, hooks: .none).logits).row(clean.count - 1)
        let target = Logits.topK(a, 1)[0]
        func gap(_ cf: Int) -> Double {
            abs(Double(a[a.startIndex + target] - a[a.startIndex + cf]) - Double(b[b.startIndex + target] - b[b.startIndex + cf]))
        }
        let counterfactual = try #require(Logits.topK(a, 10).dropFirst().max { gap($0) < gap($1) })
        return (clean, corrupted, target, counterfactual)
    }

    func tolerance(_ r: ActivationPatching) -> Double {
        1e-4 * max(1, abs(r.cleanDifference), abs(r.corruptedDifference)) / abs(r.cleanDifference - r.corruptedDifference)
    }

    @Test(arguments: checkpoints)
    func patchingChecks(checkpoint: String) throws {
        let model = try load(checkpoint)
        let (clean, corrupted, target, counterfactual) = try pair(model, checkpoint)
        let T = clean.count, L = model.config.layers, first = try #require(clean.indices.first { clean[$0] != corrupted[$0] })
        for site in [Patch.Site.residPre, .attnOut, .mlpOut, .z] {
            let r = try model.activationPatching(clean: clean, corrupted: corrupted, site: site, position: T - 1, target: target,
                                                 counterfactual: counterfactual)
            let tol = tolerance(r), label = "\(checkpoint) \(site.rawValue)"
            #expect(abs(r.embeddingCheck - 1) <= tol, "\(label): resid_pre 0 at every differing position gives \(r.embeddingCheck)")
            #expect(abs(r.finalCheck - 1) <= tol, "\(label): the final residual at the last position gives \(r.finalCheck)")
            #expect(r.values.count == L && r.values.allSatisfy { $0.count == (site == .z ? model.config.heads : T) })
            #expect(r.runs == L * (site == .z ? model.config.heads : T) + 2)
            if site != .z {
                for l in 0 ..< L {
                    for q in 0 ..< first {
                        #expect(abs(r.values[l][q]) <= tol, "\(label) block \(l) position \(q), before the first difference: \(r.values[l][q])")
                    }
                }
            }
            // Independently: a few cells as plain single runs with full logits.
            let H = model.config.heads
            let cells = site == .z ? [(0, 0), (L / 2, H / 2), (L - 1, H - 1)] : [(0, first), (L / 2, T - 1), (L - 1, T - 1)]
            let cleanPass = try model.forward(clean, hooks: .matching([site == .z ? "blocks.*.attn.hook_z" : "blocks.*.hook_" + site.rawValue]))
            let batch = cells.map { l, i -> [Patch] in
                let tensor = cleanPass.cache[site.hook(l)]!
                if site == .z {
                    let hd = model.config.headDim
                    return (0 ..< T).map { q in
                        let from = (q * model.config.heads + i) * hd
                        return Patch(site: .z, layer: l, position: q, head: i, values: Array(tensor.data[from ..< from + hd]))
                    }
                }
                return [Patch(site: site, layer: l, position: i, values: Array(tensor.row(i)))]
            }
            let single = try model.forward(batch: cells.map { _ in corrupted }, patches: batch, rowsPerPass: 1)
            for ((l, i), pass) in zip(cells, single) {
                let row = try #require(pass.logits).row(T - 1)
                let ld = Double(row[row.startIndex + target]) - Double(row[row.startIndex + counterfactual])
                #expect(abs(r.normalised(ld) - r.values[l][i]) <= tol, "\(label) block \(l), \(i): single run \(r.normalised(ld)), packed \(r.values[l][i])")
            }
        }
    }

    /// On SmolLM2's IOI pair the three checks hold; the repeated name
    /// (position 10) patched into block 0 alone restores nearly all of the
    /// difference (measured 1.03), and the last position does from block 24
    /// on (0.94 at block 29): the name's information has moved there. The
    /// runs take a few dozen passes, not one per patch.
    @Test func ioiOnSmolLM2() throws {
        let model = try loadSmolLM2()
        let (clean, corrupted, target, counterfactual) = try pair(model, "smollm2")
        #expect(clean.count == corrupted.count)
        let r = try model.activationPatching(clean: clean, corrupted: corrupted, site: .residPre, position: clean.count - 1,
                                             target: target, counterfactual: counterfactual)
        #expect(r.cleanDifference > 1 && r.corruptedDifference < -1, "clean \(r.cleanDifference), corrupted \(r.corruptedDifference)")
        let tol = tolerance(r)
        #expect(abs(r.embeddingCheck - 1) <= tol && abs(r.finalCheck - 1) <= tol, "checks \(r.embeddingCheck), \(r.finalCheck)")
        #expect(r.values.allSatisfy { abs($0[0]) <= tol && abs($0[1]) <= tol }, "before the first difference")
        #expect(r.differing == [2, 4, 10], "\(r.differing)")
        #expect(r.values[0][10] > 0.9 && r.values[29][clean.count - 1] > 0.9 && r.values[29][10] < 0.1,
                "block 0 at the repeated name \(r.values[0][10]); block 29 at the last position \(r.values[29][clean.count - 1]), at the name \(r.values[29][10])")
        #expect(r.passes < r.runs / 4, "\(r.passes) passes for \(r.runs) runs")
        print("activation patching, SmolLM2 IOI pair (\(clean.count) tokens, \(model.config.layers) blocks): \(r.runs) runs in \(r.passes) passes")
    }

    /// What cannot be patched is refused with the reason.
    @Test func refusals() throws {
        let model = try Model(path: Fixtures.reference + "/tiny/tiny-llama")
        let clean = model.tokenize("The quick brown fox")
        func message(_ body: () throws -> Void) -> String {
            do { try body(); return "" } catch { return String(describing: error) }
        }
        let lengths = message { _ = try model.activationPatching(clean: clean, corrupted: Array(clean.dropLast()), site: .residPre,
                                                                 position: 0, target: 1, counterfactual: 2) }
        #expect(lengths.contains("\(clean.count) tokens") && lengths.contains("\(clean.count - 1)"), "\(lengths)")
        let same = message { _ = try model.activationPatching(clean: clean, corrupted: clean, site: .residPre, position: 0, target: 1,
                                                              counterfactual: 2) }
        #expect(same.contains("same tokens"), "\(same)")
        var other = clean
        other[1] = (other[1] + 1) % model.config.vocabularySize
        let flat = message { _ = try model.activationPatching(clean: clean, corrupted: other, site: .residPre, position: 0, target: 1,
                                                              counterfactual: 2) }
        #expect(flat.contains("gap"), "position 0 comes before the difference: \(flat)")
        let badPatch = message { _ = try model.forward(batch: [clean], patches: [[Patch(site: .mlpOut, layer: 0, position: 0, values: [1])]]) }
        #expect(badPatch.contains("holds 1 values, not \(model.config.dModel)"), "\(badPatch)")
    }
}
