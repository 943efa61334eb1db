import ArgumentParser
import Foundation
import LoupeModel

struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show how text splits into tokens (no BOS is added).",
        discussion: """
        With no TEXT, reads one JSON string per line from standard input and
        writes one JSON object per line.

        Examples:
          loupe tokenize "Hello world"
          loupe tokenize --json "Hello world" "Bonjour"
          echo '"Hello world"' | loupe tokenize
        """)

    @OptionGroup var modelOptions: ModelOptions
    @Flag(help: "Print one JSON object {\"ids\", \"tokens\"} per text.") var json = false
    @Flag(help: "Match control tokens such as <|im_start|> written in the text.") var special = false
    @Argument(help: "Texts to tokenize.") var texts: [String] = []

    struct Output: Encodable {
        let ids: [Int]
        let tokens: [String]
    }

    func run() throws {
        let model = try modelOptions.load()
        let tokenizer = model.tokenizer
        func output(_ text: String) -> Output {
            let ids = tokenizer.encode(text, parseSpecial: special)
            return Output(ids: ids, tokens: ids.map { tokenizer.displayText(of: $0) })
        }
        if texts.isEmpty {
            var lineNumber = 0
            while let line = readLine(strippingNewline: true) {
                lineNumber += 1
                if line.trimmingCharacters(in: .whitespaces).isEmpty { continue }
                guard let text = try? JSONDecoder().decode(String.self, from: Data(line.utf8)) else {
                    throw ValidationError("standard input line \(lineNumber) is not a JSON string (write \"text\" with quotes)")
                }
                print(try jsonLine(output(text)))
            }
            return
        }
        for text in texts {
            let o = output(text)
            if json {
                print(try jsonLine(o))
            } else {
                print("\(o.ids.count) tokens")
                for (id, token) in zip(o.ids, o.tokens) { print("  \(String(id).padding(toLength: 7, withPad: " ", startingAt: 0)) \(TokenText.visible(token))") }
            }
        }
    }
}
