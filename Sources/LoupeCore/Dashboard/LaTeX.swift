import Foundation
import LoupeModel
import LoupeRender

/// `\includegraphics` snippets for figures in LaTeX documents.
public enum LaTeX {
    /// `fig.pdf` → `fig.tex`: the figure at its own width, or at
    /// `\linewidth` where the column is narrower (it never runs off the
    /// page), with a note of the width at which its text has the theme's
    /// sizes. Render at the column's width (`--width 3.25in`) for true-size
    /// text in a column.
    public static func snippet(for pdf: String, size: Size) -> String {
        let name = (pdf as NSString).lastPathComponent
        let w = String(format: "%.2f", size.width / 72), h = String(format: "%.2f", size.height / 72)
        return """
        % \(name): \(w) in × \(h) in (\(String(format: "%.0f", size.width)) × \(String(format: "%.0f", size.height)) pt).
        % Its text is at its theme's sizes when it is included \(w) in wide, as here;
        % in a narrower column it is scaled to \\linewidth, and its text with it.
        \\includegraphics[width=\\ifdim\\linewidth<\(w)in \\linewidth\\else \(w)in\\fi]{\(name)}

        """
    }

    public static func snippetPath(for pdf: String) -> String {
        ((pdf as NSString).deletingPathExtension) + ".tex"
    }

    public static func writeSnippet(for pdf: String, size: Size, in transaction: FileTransaction? = nil) throws {
        let data = Data(snippet(for: pdf, size: size).utf8)
        if let transaction { try transaction.stage(data, to: snippetPath(for: pdf)) } else { try AtomicFile.write(data, to: snippetPath(for: pdf)) }
    }
}
