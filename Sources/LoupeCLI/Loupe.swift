import ArgumentParser
import LoupeModel

@main
struct Loupe: ParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "loupe",
        abstract: "Look inside transformer language models.",
        discussion: """
        Runs a model in-process (GGUF, safetensors or a Hugging Face folder; the
        default is SmolLM2-135M-Instruct from the cache) and reports what happens
        inside it.

        Example:
          loupe predict --prompt "The capital of France is" --top 3
        """,
        version: version,
        subcommands: [Inspect.self, Tokenize.self, Predict.self, Run.self, Bench.self])
}
