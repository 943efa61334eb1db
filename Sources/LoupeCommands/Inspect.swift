import ArgumentParser
import Foundation
import LoupeModel

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a model's architecture, sizes, metadata and tensors.",
        discussion: """
        Examples:
          loupe inspect
          loupe inspect --model path/to/model.gguf --json
        """)

    @OptionGroup var modelOptions: ModelOptions
    @Flag(help: "Print JSON instead of text.") var json = false

    struct Report: Encodable {
        let model: String
        let path: String
        let format: String
        let config: ModelConfig
        let parameters: Int
        let bos_id: Int?
        let prepends_bos: Bool
        let pre_tokenizer: String
        let hook_points: Int
        let metadata: [String: String]
        let tensors: [TensorSummary]
    }

    func run() throws {
        let model = try modelOptions.load()
        let parameters = model.tensorTable.reduce(0) { $0 + $1.shape.reduce(1, *) }
        if json {
            let report = Report(
                model: model.name, path: model.path, format: model.format.rawValue, config: model.config,
                parameters: parameters, bos_id: model.tokenizer.bosId, prepends_bos: model.prependsBOS,
                pre_tokenizer: model.tokenizer.preTokenizer.rawValue,
                hook_points: HookPoint.all(for: model.config).count,
                metadata: Dictionary(model.metadata.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a }),
                tensors: model.tensorTable)
            print(try jsonLine(report))
            return
        }
        let c = model.config
        print("\(model.name)  (\(model.format.rawValue), \(model.path))")
        print("  family         \(c.family.rawValue), \(c.layers) blocks\(c.parallelResidual ? ", parallel attention and MLP" : "")\(c.postNorms ? ", post-norms" : "")")
        print("  d_model        \(c.dModel)")
        print("  heads          \(c.heads) query / \(c.kvHeads) key-value, head size \(c.headDim)")
        print("  d_mlp          \(c.dMLP)")
        print("  vocabulary     \(c.vocabularySize) (\(model.tokenizer.preTokenizer.rawValue) pre-tokenizer)")
        print("  context        \(c.contextLength)")
        print("  norm           \(c.norm == .rms ? "RMSNorm" : "LayerNorm"), eps \(c.normEpsilon)")
        print("  MLP            \(c.gatedMLP ? "gated, " : "")\(c.activation.rawValue)")
        if c.rotary {
            print("  rope theta     \(c.ropeTheta) over \(c.ropeDimensions) of \(c.headDim) dims")
            print("  rope scaling   \(c.ropeScaling?.summary ?? "none")")
        } else {
            print("  positions      learned")
        }
        print("  attention      scale \(c.attentionScale)\(c.attentionSoftcap.map { ", soft cap \($0)" } ?? "")")
        print("  windows        \(windowSummary(c.slidingWindows))")
        if let cap = c.finalSoftcap { print("  logit soft cap \(cap)") }
        if let scale = c.embeddingScale { print("  embedding ×    \(scale)") }
        print("  embeddings     \(c.tiedEmbeddings ? "tied" : "untied")")
        print("  BOS            \(model.tokenizer.bosId.map(String.init) ?? "none")\(model.prependsBOS ? ", prepended to prompts" : "")")
        print("  parameters     \(parameters.formatted())")
        print("  hook points    \(HookPoint.all(for: c).count) (e.g. blocks.0.attn.hook_pattern)")
        print("\nmetadata")
        for (k, v) in model.metadata { print("  \(k.padding(toLength: max(k.count, 40), withPad: " ", startingAt: 0)) \(v)") }
        print("\ntensors")
        for t in model.tensorTable {
            print("  \(t.name.padding(toLength: max(t.name.count, 40), withPad: " ", startingAt: 0)) \(t.type.padding(toLength: 6, withPad: " ", startingAt: 0)) \(t.shape)")
        }
    }
}

/// Sliding windows per block, compressed: "none", "5 in every block", or "6 in blocks 0, 2".
func windowSummary(_ windows: [Int?]) -> String {
    let sliding = windows.enumerated().compactMap { l, w in w.map { (l, $0) } }
    guard let first = sliding.first else { return "none (full causal attention)" }
    if sliding.count == windows.count, sliding.allSatisfy({ $0.1 == first.1 }) { return "\(first.1) tokens in every block" }
    let sizes = Set(sliding.map(\.1))
    let blocks = sliding.map { String($0.0) }.joined(separator: ", ")
    if sizes.count == 1 { return "\(first.1) tokens in blocks \(blocks); full attention in the others" }
    return sliding.map { "block \($0.0): \($0.1)" }.joined(separator: ", ")
}
