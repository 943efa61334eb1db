/// How text is split into words before byte-pair merging.
///
/// Each case is a hand-written scanner equivalent to its model's regular
/// expression. Scanners over Unicode scalars are exact, fast, and do not
/// depend on the regex engine's version of Unicode classes beyond the
/// standard library's general categories.
public enum PreTokenizer: String, Sendable, CaseIterable {
    /// GPT-2: `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
    case gpt2
    /// SmolLM: every `\p{N}` code point is split off on its own first, then GPT-2's pattern applies.
    case smollm
    /// Llama 3: `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
    case llama3
    /// Qwen2: Llama 3's pattern with single digits (`\p{N}` for `\p{N}{1,3}`).
    case qwen2

    /// The exact `Split` patterns of the tokenizer.json files that use the
    /// regex cases, as their tokenizer.json writes them.
    static let patterns: [String: PreTokenizer] = [
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#: .llama3,
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#: .qwen2,
    ]

    /// The pre-tokenizer for a GGUF `tokenizer.ggml.pre` value, if Loupe knows it.
    public init?(ggufName: String) {
        switch ggufName {
        case "gpt2", "default", "gpt-2", "phi-2", "jais", "starcoder", "refact", "olmo", "poro-chat", "viking", "codeshell":
            self = .gpt2
        case "smollm", "smaug-bpe":
            self = ggufName == "smollm" ? .smollm : .llama3
        case "llama3", "llama-bpe", "llama-v3", "dbrx":
            self = .llama3
        case "qwen2":
            self = .qwen2
        default:
            return nil
        }
    }

    /// Splits `text` into words (as arrays of Unicode scalars).
    public func split(_ text: String) -> [String] {
        let scalars = Array(text.unicodeScalars)
        var words: [String] = []
        switch self {
        case .gpt2:
            Self.gpt2Words(scalars[...]) { words.append($0) }
        case .smollm:
            var start = 0
            for i in 0 ... scalars.count {
                if i == scalars.count || Self.isNumber(scalars[i]) {
                    if start < i { Self.gpt2Words(scalars[start ..< i]) { words.append($0) } }
                    if i < scalars.count { words.append(String(Character(scalars[i]))) }
                    start = i + 1
                }
            }
        case .llama3:
            Self.llama3Words(scalars[...], digits: 3) { words.append($0) }
        case .qwen2:
            Self.llama3Words(scalars[...], digits: 1) { words.append($0) }
        }
        return words
    }

    // MARK: - Character classes

    @inline(__always)
    static func isLetter(_ s: Unicode.Scalar) -> Bool {
        if s.isASCII { return (s.value | 0x20) >= 0x61 && (s.value | 0x20) <= 0x7A }
        switch s.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return true
        default: return false
        }
    }

    @inline(__always)
    static func isNumber(_ s: Unicode.Scalar) -> Bool {
        if s.isASCII { return s.value >= 0x30 && s.value <= 0x39 }
        switch s.properties.generalCategory {
        case .decimalNumber, .letterNumber, .otherNumber: return true
        default: return false
        }
    }

    @inline(__always)
    static func isSpace(_ s: Unicode.Scalar) -> Bool {
        if s.isASCII { return s == " " || (s.value >= 0x09 && s.value <= 0x0D) }
        return s.properties.isWhitespace
    }

    // MARK: - Scanners

    private static func string(_ s: ArraySlice<Unicode.Scalar>) -> String {
        var view = String.UnicodeScalarView()
        view.append(contentsOf: s)
        return String(view)
    }

    /// Length of a contraction (`'s`, `'t`, `'re`, `'ve`, `'m`, `'ll`, `'d`) at `i`, or 0.
    private static func contraction(_ s: ArraySlice<Unicode.Scalar>, _ i: Int, caseInsensitive: Bool) -> Int {
        guard s[i] == "'", i + 1 < s.endIndex else { return 0 }
        func lower(_ c: Unicode.Scalar) -> Unicode.Scalar {
            caseInsensitive && c.value >= 0x41 && c.value <= 0x5A ? Unicode.Scalar(c.value | 0x20)! : c
        }
        let a = lower(s[i + 1])
        if a == "s" || a == "t" || a == "m" || a == "d" { return 2 }
        if i + 2 < s.endIndex {
            let b = lower(s[i + 2])
            if (a == "r" && b == "e") || (a == "v" && b == "e") || (a == "l" && b == "l") { return 3 }
        }
        return 0
    }

    /// Length of `\s+(?!\S)|\s+` at `i` (where `s[i]` is whitespace): the
    /// whole run if it ends the text, otherwise the run minus its last
    /// character (which then leads the next word), but at least one.
    private static func whitespace(_ s: ArraySlice<Unicode.Scalar>, _ i: Int) -> Int {
        var j = i
        while j < s.endIndex, isSpace(s[j]) { j += 1 }
        let run = j - i
        if j == s.endIndex || run == 1 { return run }
        return run - 1
    }

    private static func gpt2Words(_ s: ArraySlice<Unicode.Scalar>, _ emit: (String) -> Void) {
        var i = s.startIndex
        while i < s.endIndex {
            let start = i
            let c = s[i]
            let n = contraction(s, i, caseInsensitive: false)
            if n > 0 {
                i += n
            } else {
                // ` ?X+` where X is letters, numbers, or neither-nor-space.
                var j = i
                if c == " ", j + 1 < s.endIndex, !isSpace(s[j + 1]) { j += 1 }
                let lead = s[j]
                if isLetter(lead) {
                    while j < s.endIndex, isLetter(s[j]) { j += 1 }
                    i = j
                } else if isNumber(lead) {
                    while j < s.endIndex, isNumber(s[j]) { j += 1 }
                    i = j
                } else if !isSpace(lead) {
                    while j < s.endIndex, !isSpace(s[j]), !isLetter(s[j]), !isNumber(s[j]) { j += 1 }
                    i = j
                } else {
                    i += whitespace(s, i)
                }
            }
            emit(string(s[start ..< i]))
        }
    }

    private static func isNewline(_ s: Unicode.Scalar) -> Bool { s == "\r" || s == "\n" }

    /// Llama 3's pattern; `digits` is the longest run of numbers in one word (3; Qwen2: 1).
    private static func llama3Words(_ s: ArraySlice<Unicode.Scalar>, digits: Int, _ emit: (String) -> Void) {
        var i = s.startIndex
        while i < s.endIndex {
            let start = i
            let c = s[i]
            let n = contraction(s, i, caseInsensitive: true)
            if n > 0 {
                i += n
            } else if isLetter(c) || (!isNewline(c) && !isLetter(c) && !isNumber(c) && i + 1 < s.endIndex && isLetter(s[i + 1])) {
                // `[^\r\n\p{L}\p{N}]?\p{L}+`
                var j = isLetter(c) ? i : i + 1
                while j < s.endIndex, isLetter(s[j]) { j += 1 }
                i = j
            } else if isNumber(c) {
                // `\p{N}{1,3}` (Qwen2: `\p{N}`)
                var j = i
                while j < s.endIndex, j - i < digits, isNumber(s[j]) { j += 1 }
                i = j
            } else if (c == " " && i + 1 < s.endIndex && !isSpace(s[i + 1]) && !isLetter(s[i + 1]) && !isNumber(s[i + 1]))
                || (!isSpace(c) && !isLetter(c) && !isNumber(c)) {
                // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
                var j = c == " " ? i + 1 : i
                while j < s.endIndex, !isSpace(s[j]), !isLetter(s[j]), !isNumber(s[j]) { j += 1 }
                while j < s.endIndex, isNewline(s[j]) { j += 1 }
                i = j
            } else {
                // `\s*[\r\n]+`: whitespace up to and including the last newline of the run.
                var j = i
                var lastNewlineEnd = -1
                while j < s.endIndex, isSpace(s[j]) {
                    if isNewline(s[j]) { lastNewlineEnd = j + 1 }
                    j += 1
                }
                if lastNewlineEnd > 0 {
                    i = lastNewlineEnd
                } else {
                    i += whitespace(s, i)
                }
            }
            emit(string(s[start ..< i]))
        }
    }
}
