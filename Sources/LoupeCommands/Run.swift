import ArgumentParser
import Foundation
import LoupeModel

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the model and save its activation cache as safetensors.",
        discussion: """
        Writes one tensor per hook point, named as TransformerLens names it
        (blocks.3.hook_resid_pre [T, d_model], blocks.3.attn.hook_pattern
        [heads, T, T], ...), plus 'tokens' (int32 [T]). The header's metadata
        holds the model and the prompt. Read it in Python with
        safetensors.numpy.load_file.

        Examples:
          loupe run --prompt "The capital of France is" --out cache.safetensors
          loupe run --prompt "Hello" --hooks 'blocks.*.attn.hook_pattern,logits' --out attn.safetensors
        """)

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var input: InputOptions
    @Option(help: ArgumentHelp("Comma-separated hook names or globs to record (default: all).", valueName: "pattern,..."))
    var hooks: String?
    @Option(help: ArgumentHelp("The safetensors file to write.", valueName: "file"))
    var out: String

    func run() throws {
        _ = try FileTransaction.checkTarget(out)
        let model = try modelOptions.load()
        let ids = try input.tokens(for: model)
        let patterns = hooks.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } }
        if let patterns, patterns.isEmpty {
            throw OptionError("--hooks is empty: give hook patterns such as 'blocks.*.attn.hook_pattern,logits', or leave it out to record every hook")
        }
        let filter: HookFilter = patterns.map { .matching($0) } ?? .all
        let result = try model.forward(ids, hooks: filter)
        var writer = SafetensorsWriter()
        for hook in result.cache.order { writer.add(hook.name, result.cache[hook]!) }
        writer.add("tokens", shape: [ids.count], int32: ids.map { Int32($0) })
        writer.metadata = [
            "model": model.name,
            "model_path": model.path,
            "prompt": input.description,
            "ids": ids.map(String.init).joined(separator: ","),
            "loupe_version": LoupeCommand.version,
        ]
        try writer.write(to: out)
        printError("wrote \(result.cache.count) hook points for \(ids.count) tokens to \(out)")
    }
}
