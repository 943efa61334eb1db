import Foundation

/// Token strings made fit to print: whitespace and invisible characters
/// shown by one marker set, control characters named.
///
/// | shown | stands for |
/// |---|---|
/// | `␣` | a space |
/// | `⍽` | a no-break space (U+00A0) |
/// | `↵` | a newline |
/// | `⇥` | a tab |
/// | `␍` | a carriage return |
/// | `\u200d` | an invisible or format character (zero-width joiner, BOM, other spaces, bidi marks, soft hyphen), by code point |
/// | `\x1b` | a control character, or a byte that is not valid UTF-8 (from the tokenizer) |
/// | `∅` | the empty token |
///
/// A marker character that is really in the text is escaped the same way
/// (`\u2423` for a literal `␣`), so that what is drawn reads one way only.
/// Canvases draw the markers upright in rotated labels, and put the real
/// space in a PDF's text layer (see `Canvas.text`).
public enum TokenText {
    /// The markers, and what each stands for.
    public static let markers: [(marker: Character, stands: Character)] = [
        ("␣", " "), ("⍽", "\u{00A0}"), ("↵", "\n"), ("⇥", "\t"), ("␍", "\r"),
    ]

    static let markerCharacters: Set<Unicode.Scalar> = ["␣", "⍽", "↵", "⇥", "␍", "∅"]

    /// Characters that draw as nothing or as blank space, shown by code point.
    static func invisible(_ u: Unicode.Scalar) -> Bool {
        switch u.value {
        case 0x0080 ... 0x009F, 0x00AD, 0x034F, 0x061C, 0x115F, 0x1160, 0x180E, 0x2000 ... 0x200F, 0x2028 ... 0x202F, 0x205F ... 0x206F,
             0x3000, 0x3164, 0xFE00 ... 0xFE0F, 0xFEFF, 0xFFA0, 0xFFF9 ... 0xFFFB, 0xE0000 ... 0xE007F:
            return true
        default:
            return u.properties.generalCategory == .format
        }
    }

    public static func visible(_ s: String) -> String {
        var out = ""
        for u in s.unicodeScalars {
            switch u {
            case " ": out += "␣"
            case "\u{00A0}": out += "⍽"
            case "\n": out += "↵"
            case "\t": out += "⇥"
            case "\r": out += "␍"
            default:
                if u.value < 0x20 || u.value == 0x7F {
                    out += "\\x" + String(u.value, radix: 16).leftPadded(to: 2)
                } else if invisible(u) || markerCharacters.contains(u) {
                    out += "\\u" + String(u.value, radix: 16).leftPadded(to: 4)
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out.isEmpty ? "∅" : out
    }
}

extension String {
    /// The text padded on the left to `n` characters.
    public func leftPadded(to n: Int, with c: Character = "0") -> String {
        count >= n ? self : String(repeating: c, count: n - count) + self
    }
}

/// Glob patterns, the one matcher of hook names (`blocks.*.hook_resid_pre`),
/// gallery items (`--only 'logit-lens/*'`) and golden names: `*` matches any
/// run of characters, `?` any one; everything else matches itself.
public enum Glob {
    public static func matches(_ pattern: String, _ text: String) -> Bool {
        let p = Array(pattern.unicodeScalars), t = Array(text.unicodeScalars)
        var pi = 0, ti = 0, star = -1, mark = 0
        while ti < t.count {
            if pi < p.count, p[pi] != "*", p[pi] == "?" || p[pi] == t[ti] {
                pi += 1; ti += 1
            } else if pi < p.count, p[pi] == "*" {
                star = pi; mark = ti; pi += 1
            } else if star >= 0 {
                pi = star + 1; mark += 1; ti = mark
            } else {
                return false
            }
        }
        while pi < p.count, p[pi] == "*" { pi += 1 }
        return pi == p.count
    }
}

extension Sequence<UInt8> {
    /// The bytes as lowercase hexadecimal, two digits each (a digest, say).
    public var hexDigits: String { map { String(format: "%02x", $0) }.joined() }
}
