import Foundation
import LoupeModel
import LoupeRender

/// `\includegraphics` snippets for figures in LaTeX documents.
public enum LaTeX {
    /// `fig.pdf` → `fig.tex`: the figure at its own width, with its size noted.
    public static func snippet(for pdf: String, size: Size) -> String {
        let name = (pdf as NSString).lastPathComponent
        let w = String(format: "%.2f", size.width / 72), h = String(format: "%.2f", size.height / 72)
        return """
        % \(name): \(w) in × \(h) in (\(String(format: "%.0f", size.width)) × \(String(format: "%.0f", size.height)) pt), drawn at this size:
        % its text is at the sizes of its theme only when it is included at this width.
        \\includegraphics[width=\(w)in]{\(name)}

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
