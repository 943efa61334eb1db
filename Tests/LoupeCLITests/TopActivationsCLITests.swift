import Foundation
import LoupeModel
import Testing

/// The top-activations view's numbers are those `loupe run` records for
/// the same texts, one at a time: each context's activations, the peak's
/// place, and each topic's mean. The view runs the set in packed passes,
/// so float32 sums may differ in their last bits: 1e-5 of the largest
/// |activation|.
@Suite struct TopActivationsCLITests {
    @Test func numbersMatchLoupeRun() throws {
        let folder = try Paths.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let texts: [(String, String)] = [("sea", "the ship sails on the sea"), ("sea", "a wave hits the shore"), ("sea", "gulls over the harbour"),
                                         ("food", "bread and jam for tea"), ("food", "a bowl of hot soup"), ("food", "an apple pie cooling")]
        let set = folder + "/set.jsonl"
        try texts.map { "{\"topic\": \"\($0.0)\", \"text\": \"\($0.1)\"}" }.joined(separator: "\n").write(toFile: set, atomically: true, encoding: .utf8)
        let r = try Loupe.run(["render", "top-activations", "--model", Paths.tinyLlama, "--set", "prompts=" + set, "--set", "layer=1",
                               "--set", "neuron=7", "--set", "k=3", "-o", folder + "/top.png"])
        #expect(r.status == 0, "\(r.stderr)")
        let record = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder + "/top.json"))) as? [String: Any])
        let data = try #require(record["data"] as? [String: Any])
        let contexts = try #require(data["contexts"] as? [[String: Any]]), topics = try #require(data["topics"] as? [[String: Any]])
        #expect(contexts.count == 3)

        // Every prompt through `loupe run`, alone.
        var neuron7: [[Double]] = []
        for (i, (_, text)) in texts.enumerated() {
            let out = folder + "/run\(i).safetensors"
            let run = try Loupe.run(["run", "--model", Paths.tinyLlama, "--prompt", text, "--hooks", "blocks.1.mlp.hook_post", "--out", out])
            #expect(run.status == 0, "\(run.stderr)")
            let t = try SafetensorsFile(path: out).tensor("blocks.1.mlp.hook_post")
            let m = t.shape[1]
            neuron7.append((0 ..< t.shape[0]).map { Double(t.data[$0 * m + 7]) })
        }
        let scale = neuron7.flatMap { $0 }.map(abs).max() ?? 1
        let first = 2 // BOS and the one skipped content token
        // The contexts: the prompts with the largest peaks, in order, with run's values.
        #expect(data["token_count"] as? Int == neuron7.map { $0.count - first }.reduce(0, +))
        let peaks = neuron7.map { $0[first...].max()! }
        let order = peaks.indices.sorted { peaks[$0] > peaks[$1] }
        for (k, c) in contexts.enumerated() {
            let prompt = try #require(c["prompt"] as? Int), position = try #require(c["position"] as? Int), peak = try #require(c["peak"] as? Int)
            let values = try #require(c["activations"] as? [Double])
            #expect(prompt == order[k], "context \(k) is prompt \(prompt), loupe run ranks \(order[k])")
            #expect(abs(neuron7[prompt][position] - peaks[prompt]) <= 1e-5 * scale)
            for (j, v) in values.enumerated() {
                #expect(abs(v - neuron7[prompt][position - peak + j]) <= 1e-5 * scale, "context \(k) token \(j)")
            }
        }
        // A direction: one-hot at residual dimension 5, read at hook_resid_post.
        let direction = folder + "/direction.txt"
        try (0 ..< 64).map { $0 == 5 ? "1" : "0" }.joined(separator: " ").write(toFile: direction, atomically: true, encoding: .utf8)
        let d = try Loupe.run(["render", "top-activations", "--model", Paths.tinyLlama, "--set", "prompts=" + set, "--set", "layer=1",
                               "--set", "direction=" + direction, "--set", "k=2", "-o", folder + "/direction.png"])
        #expect(d.status == 0, "\(d.stderr)")
        let dRecord = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder + "/direction.json"))) as? [String: Any])
        let dData = try #require(dRecord["data"] as? [String: Any])
        #expect(dData["hook"] as? String == "blocks.1.hook_resid_post" && dData["neuron"] == nil)
        let top = try #require((dData["contexts"] as? [[String: Any]])?.first)
        let prompt = try #require(top["prompt"] as? Int), position = try #require(top["position"] as? Int)
        let out = folder + "/resid.safetensors"
        _ = try Loupe.run(["run", "--model", Paths.tinyLlama, "--prompt", texts[prompt].1, "--hooks", "blocks.1.hook_resid_post", "--out", out])
        let resid = try SafetensorsFile(path: out).tensor("blocks.1.hook_resid_post")
        let peakIndex = try #require(top["peak"] as? Int)
        let peak = try #require(top["activations"] as? [Double])[peakIndex]
        #expect(abs(peak - Double(resid.data[position * 64 + 5])) <= 1e-5 * max(1, abs(peak)), "direction peak \(peak)")

        // A neuron and a direction at once is refused, not one of them ignored.
        let both = try Loupe.run(["render", "top-activations", "--model", Paths.tinyLlama, "--set", "prompts=" + set, "--set", "layer=1",
                                  "--set", "direction=" + direction, "--set", "neuron=3", "-o", folder + "/both.png"])
        #expect(both.status != 0 && both.stderr.contains("options 'neuron' and 'direction' both set"), "\(both.stderr)")
        #expect(!FileManager.default.fileExists(atPath: folder + "/both.png"))

        // The topic means, from run's values.
        for t in topics {
            let topic = try #require(t["topic"] as? String), mean = try #require(t["mean"] as? Double)
            let means = texts.indices.filter { texts[$0].0 == topic }.map { i in neuron7[i][first...].reduce(0, +) / Double(neuron7[i].count - first) }
            #expect(abs(mean - means.reduce(0, +) / Double(means.count)) <= 1e-5 * scale, "topic \(topic)")
        }
    }
}
