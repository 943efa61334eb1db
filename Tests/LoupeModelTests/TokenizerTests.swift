import Foundation
import LoupeModel
import Testing

/// Exact agreement with the reference tokenizations.
@Suite struct TokenizerTests {
    struct Case: Sendable, CustomTestStringConvertible {
        let text: String
        let ids: [Int]
        let pieces: [String]
        let tokenText: [String]?
        let decoded: String
        var testDescription: String { String(reflecting: text.prefix(40)) }
    }

    static func cases(_ path: String) -> [Case] {
        guard let json = try? Fixtures.json(path), let list = json["cases"] as? [[String: Any]] else { return [] }
        return list.map {
            Case(text: $0["text"] as! String, ids: flatInts($0["ids"]), pieces: $0["pieces"] as! [String],
                 tokenText: $0["token_text"] as? [String], decoded: $0["decoded"] as! String)
        }
    }

    static let smollmCases = cases(Fixtures.smollm2 + "/tokenizer.json")
    static let tinyCases = cases(Fixtures.tiny + "/tokenizer/reference.json")

    @Test func referenceSetsAreComplete() {
        #expect(Self.smollmCases.count == 184)
        #expect(Self.tinyCases.count == 43)
    }

    /// SmolLM2 from GGUF metadata, "smollm" pre-tokenizer: all 184 cases.
    @Test(arguments: smollmCases)
    func smollm2(_ c: Case) throws {
        let t = try loadSmolLM2().tokenizer
        let ids = t.encode(c.text)
        #expect(ids == c.ids)
        #expect(ids.map { t.pieces[$0] } == c.pieces)
        #expect(ids.map { t.displayText(of: $0) } == c.tokenText)
        #expect(t.decode(ids) == c.decoded)
    }

    static let tiny: Result<Tokenizer, any Error> = Result { try Model(path: Fixtures.tiny + "/tiny-gpt2").tokenizer }

    /// The tiny tokenizer from tokenizer.json, GPT-2 pre-tokenizer: all 43 cases.
    @Test(arguments: tinyCases)
    func tinyTokenizerJSON(_ c: Case) throws {
        let t = try Self.tiny.get()
        let ids = t.encode(c.text)
        #expect(ids == c.ids)
        #expect(ids.map { t.pieces[$0] } == c.pieces)
        #expect(t.decode(ids) == c.decoded)
    }

    @Test func controlTokensOnlyWhenAsked() throws {
        let t = try loadSmolLM2().tokenizer
        #expect(t.encode("<|im_start|>user", parseSpecial: true).first == 1)
        #expect(t.encode("<|im_start|>user").first != 1)
    }

    @Test func preTokenizerSplits() {
        #expect(PreTokenizer.gpt2.split("Hello  world's 123!!") == ["Hello", " ", " world", "'s", " 123", "!!"])
        #expect(PreTokenizer.smollm.split("a 123") == ["a", " ", "1", "2", "3"])
        #expect(PreTokenizer.gpt2.split("x \n\n y") == ["x", " \n\n", " y"])
        #expect(PreTokenizer.llama3.split("I'M 12345 ok\n\n") == ["I", "'M", " ", "123", "45", " ok", "\n\n"])
    }

    @Test func invalidUTF8IsEscaped() throws {
        let t = try loadSmolLM2().tokenizer
        let ids = t.encode("١")  // Arabic-Indic one: two bytes, tokenized as two byte tokens
        #expect(ids.map { t.displayText(of: $0) } == ["\\xd9", "\\xa1"])
        #expect(t.decode(ids) == "١")
    }
}
