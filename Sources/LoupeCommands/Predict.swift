import ArgumentParser
import Foundation
import LoupeModel

struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the model's top next-token predictions at every position.",
        discussion: """
        Examples:
          loupe predict --prompt "The capital of France is" --top 3
          loupe predict --ids 1,504,3575,282,4649,314 --json
        """)

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var input: InputOptions
    @Option(help: "How many predictions to show per position.") var top = 5
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        guard top > 0 else { throw ValidationError("--top must be at least 1") }
    }

    struct Candidate: Encodable {
        let id: Int
        let token: String
        let logit: Float
        let prob: Float
    }

    struct Position: Encodable {
        let top: [Candidate]
        let logsumexp: Float
    }

    struct Output: Encodable {
        let model: String
        let ids: [Int]
        let tokens: [String]
        let positions: [Position]
    }

    func run() throws {
        let model = try modelOptions.load()
        let ids = try input.tokens(for: model)
        let result = try model.forward(ids, hooks: .none)
        guard let logits = result.logits else { return }
        let vocab = model.config.vocabularySize
        let k = min(top, vocab)
        var positions: [Position] = []
        for p in 0 ..< ids.count {
            let row = logits.row(p)
            let lse = Logits.logSumExp(row)
            let best = Logits.topK(row, k)
            positions.append(Position(
                top: best.map { Candidate(id: $0, token: model.tokenizer.displayText(of: $0), logit: row[row.startIndex + $0],
                                          prob: Float(exp(Double(row[row.startIndex + $0]) - Double(lse)))) },
                logsumexp: lse))
        }
        let tokens = ids.map { model.tokenizer.displayText(of: $0) }
        if json {
            print(try jsonLine(Output(model: model.name, ids: ids, tokens: tokens, positions: positions)))
            return
        }
        let width = min(24, tokens.map { TokenText.visible($0).count }.max() ?? 0)
        for (p, position) in positions.enumerated() {
            let shown = TokenText.visible(tokens[p])
            let label = shown.count > width ? String(shown.prefix(width - 1)) + "…" : shown.padding(toLength: width, withPad: " ", startingAt: 0)
            let preds = position.top.map { "\(TokenText.visible($0.token)) \(String(format: "%.3f", $0.prob))" }.joined(separator: "   ")
            print("\(String(p).padding(toLength: 4, withPad: " ", startingAt: 0)) \(label) → \(preds)")
        }
    }
}
