import Foundation

/// A byte-level BPE tokenizer (GPT-2 style), immutable once built.
///
/// Text is split into words by the model's `PreTokenizer`, each word's UTF-8
/// bytes are mapped to GPT-2's byte alphabet, and adjacent symbols are merged
/// by ascending merge rank until no ranked pair is left.
public struct Tokenizer: Sendable {
    /// Vocabulary strings in byte-level form, indexed by id.
    public let pieces: [String]
    public let preTokenizer: PreTokenizer
    /// Ids of control tokens (matched in text only when asked to), by their text.
    public let specialTokens: [String: Int]
    /// Ids of added tokens that are not special (Pythia's runs of spaces), by
    /// their text: matched in text always, before splitting, as Hugging Face
    /// tokenizers matches them.
    public let addedTokens: [String: Int]
    public let bosId: Int?
    public let eosId: Int?
    /// When a whole word is in the vocabulary, take it without merging (Llama 3).
    public let ignoreMerges: Bool
    /// Text is put in Unicode normal form C before splitting (Qwen2's tokenizer.json says so).
    public let normalizesNFC: Bool

    private let ids: [String: Int]
    /// (left id, right id) → (rank, merged id).
    private let merges: [MergePair: Merge]
    /// Id of each single byte's symbol, or -1 where the vocabulary lacks it.
    private let byteIds: [Int32]

    struct MergePair: Hashable { let left: Int32, right: Int32 }
    struct Merge { let rank: Int32, id: Int32 }

    public var vocabularySize: Int { pieces.count }

    /// Builds a tokenizer; `merges` are pairs of vocabulary strings in rank order.
    public init(pieces: [String], merges: [(String, String)], preTokenizer: PreTokenizer,
                specialTokens: [String: Int], addedTokens: [String: Int] = [:], bosId: Int?, eosId: Int?,
                ignoreMerges: Bool = false, normalizesNFC: Bool = false, source: String) throws {
        self.addedTokens = addedTokens
        self.normalizesNFC = normalizesNFC
        self.pieces = pieces
        self.preTokenizer = preTokenizer
        self.specialTokens = specialTokens
        // The file's own ids must name tokens: a bad BOS would otherwise
        // surface as the user's "token id out of range".
        for (name, id) in [("BOS", bosId), ("EOS", eosId)] {
            if let id, !(0 ..< pieces.count).contains(id) {
                throw ModelError.badTokenizer(path: source, detail: "its \(name) token id \(id) is outside its vocabulary of \(pieces.count)")
            }
        }
        for (text, id) in specialTokens.merging(addedTokens, uniquingKeysWith: { a, _ in a }) where !(0 ..< pieces.count).contains(id) {
            throw ModelError.badTokenizer(path: source, detail: "token '\(shown(text))' has id \(id), outside its vocabulary of \(pieces.count)")
        }
        self.bosId = bosId
        self.eosId = eosId
        self.ignoreMerges = ignoreMerges
        var ids: [String: Int] = [:]
        ids.reserveCapacity(pieces.count)
        for (i, p) in pieces.enumerated() where ids[p] == nil { ids[p] = i }
        self.ids = ids
        // Some vocabularies leave out bytes that never occur in their training
        // text (SmolLM2 lacks 21: control characters and bytes that cannot
        // appear in UTF-8). Such bytes are dropped when encoding, as llama.cpp
        // and Hugging Face tokenizers do. A vocabulary that is not byte-level
        // at all has no symbol for the letters either.
        let byteIds = (0 ..< 256).map { b in Int32(ids[String(Character(ByteLevel.byteToScalar[b]))] ?? -1) }
        guard byteIds[Int(UInt8(ascii: "a"))] >= 0, byteIds[Int(UInt8(ascii: " "))] >= 0 else {
            throw ModelError.badTokenizer(path: source, detail: "the vocabulary has no byte-level symbols ('a', 'Ġ'); only byte-level BPE is supported")
        }
        self.byteIds = byteIds
        var table: [MergePair: Merge] = [:]
        table.reserveCapacity(merges.count)
        for (rank, (a, b)) in merges.enumerated() {
            guard let l = ids[a], let r = ids[b], let m = ids[a + b] else {
                throw ModelError.badTokenizer(path: source, detail: "merge \(rank) ('\(shown(a))' '\(shown(b))') uses a string that is not in the vocabulary")
            }
            let key = MergePair(left: Int32(l), right: Int32(r))
            if table[key] == nil { table[key] = Merge(rank: Int32(rank), id: Int32(m)) }
        }
        self.merges = table
    }

    /// The id of a vocabulary string.
    public func id(of piece: String) -> Int? { ids[piece] }

    /// Token ids of `text`, without BOS. Control tokens written in the text
    /// (`<|im_start|>`) are matched as such only when `parseSpecial` is set;
    /// otherwise they are ordinary text.
    public func encode(_ text: String, parseSpecial: Bool = false) -> [Int] {
        var out: [Int] = []
        for segment in segments(text, parseSpecial: parseSpecial) {
            switch segment {
            case let .special(id): out.append(id)
            case let .text(t):
                let text = normalizesNFC ? t.precomposedStringWithCanonicalMapping : t
                for word in preTokenizer.split(text) { encodeWord(word, into: &out) }
            }
        }
        return out
    }

    private enum Segment { case text(String), special(Int) }

    private func segments(_ text: String, parseSpecial: Bool) -> [Segment] {
        let matched = parseSpecial ? specialTokens.merging(addedTokens) { a, _ in a } : addedTokens
        guard !matched.isEmpty else { return [.text(text)] }
        // Longest match first, so that one token's text containing another's wins.
        let specials = matched.sorted { $0.key.count > $1.key.count || ($0.key.count == $1.key.count && $0.key < $1.key) }
        var result: [Segment] = []
        var rest = Substring(text)
        var pending = ""
        outer: while !rest.isEmpty {
            for (s, id) in specials where rest.hasPrefix(s) {
                if !pending.isEmpty { result.append(.text(pending)); pending = "" }
                result.append(.special(id))
                rest = rest.dropFirst(s.count)
                continue outer
            }
            pending.append(rest.removeFirst())
        }
        if !pending.isEmpty { result.append(.text(pending)) }
        return result
    }

    private func encodeWord(_ word: String, into out: inout [Int]) {
        let bytes = Array(word.utf8)
        if ignoreMerges, let whole = ids[ByteLevel.encode(bytes)] {
            out.append(whole)
            return
        }
        // A byte missing from the vocabulary stays as -1: no merge pair
        // contains it, so it blocks merges across it, and it is dropped at the end.
        var symbols = bytes.map { byteIds[Int($0)] }
        // Repeatedly merge the lowest-ranked adjacent pair, every occurrence
        // left to right. Words are short, so the quadratic scan is cheap.
        while symbols.count > 1 {
            var best: Merge?
            var bestPair = MergePair(left: 0, right: 0)
            for i in 0 ..< symbols.count - 1 {
                let pair = MergePair(left: symbols[i], right: symbols[i + 1])
                if let m = merges[pair], m.rank < (best?.rank ?? .max) {
                    best = m
                    bestPair = pair
                }
            }
            guard let merge = best else { break }
            var merged: [Int32] = []
            merged.reserveCapacity(symbols.count)
            var i = 0
            while i < symbols.count {
                if i + 1 < symbols.count, symbols[i] == bestPair.left, symbols[i + 1] == bestPair.right {
                    merged.append(merge.id)
                    i += 2
                } else {
                    merged.append(symbols[i])
                    i += 1
                }
            }
            symbols = merged
        }
        for s in symbols where s >= 0 { out.append(Int(s)) }
    }

    /// The raw bytes a token stands for. Control tokens stand for their text.
    public func bytes(of id: Int) -> [UInt8] {
        guard id >= 0, id < pieces.count else { return [] }
        return ByteLevel.decode(pieces[id]) ?? Array(pieces[id].utf8)
    }

    /// The text of a sequence of ids; invalid UTF-8 is replaced by U+FFFD.
    public func decode(_ ids: [Int]) -> String {
        String(decoding: ids.flatMap { bytes(of: $0) }, as: UTF8.self)
    }

    /// One token's text for display: its bytes as UTF-8, with bytes that do
    /// not form valid UTF-8 (a token may hold part of a character) written `\xNN`.
    public func displayText(of id: Int) -> String {
        Self.escapingInvalidUTF8(bytes(of: id))
    }

    static func escapingInvalidUTF8(_ bytes: [UInt8]) -> String {
        var out = ""
        var i = 0
        while i < bytes.count {
            let b = bytes[i]
            let length = b < 0x80 ? 1 : b >> 5 == 0x6 ? 2 : b >> 4 == 0xE ? 3 : b >> 3 == 0x1E ? 4 : 0
            if length > 0, i + length <= bytes.count,
               let s = String(validating: bytes[i ..< i + length], as: UTF8.self) {
                out += s
                i += length
            } else {
                out += String(format: "\\x%02x", b)
                i += 1
            }
        }
        return out
    }
}
