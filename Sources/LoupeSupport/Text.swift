import Foundation

/// Token strings made fit to print: whitespace visible, control characters named.
public enum TokenText {
    /// `·` for a space, `↵` for a newline, `→` for a tab, `␍` for a carriage
    /// return; other control characters as `\xNN`. Text that is already
    /// escaped (`\xd9` for a byte that is not valid UTF-8) passes through.
    public static func visible(_ s: String) -> String {
        var out = ""
        for u in s.unicodeScalars {
            switch u {
            case " ": out += "·"
            case "\n": out += "↵"
            case "\t": out += "→"
            case "\r": out += "␍"
            default:
                if u.value < 0x20 || u.value == 0x7F {
                    out += "\\x" + String(u.value, radix: 16).leftPadded(to: 2)
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
