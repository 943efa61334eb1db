import CCairo
import CPNGWriter
import Foundation
@_exported import LoupeSupport

/// The file formats a figure can be written in.
public enum FigureFormat: String, Sendable, Codable, CaseIterable {
    case png, svg, pdf

    /// The format named by a path's extension, if any.
    public init?(path: String) {
        self.init(rawValue: (path as NSString).pathExtension.lowercased())
    }
}

/// Provenance written into every figure file: PNG text chunks, PDF metadata.
public struct FigureMetadata: Sendable {
    public var title: String
    /// Key-value pairs (view, model, prompt, options, version), in order.
    public var entries: [(key: String, value: String)]
    public var software: String

    public init(title: String, entries: [(key: String, value: String)] = [], software: String) {
        self.title = title; self.entries = entries; self.software = software
    }
}

/// Renders drawings to PNG, SVG and PDF.
///
/// Sizes are in points. A PNG is rasterised at `dpi` (its pixel size is
/// size × dpi / 72) and carries the DPI in a pHYs chunk, so that it prints at
/// the size asked for. Files are written to a temporary name in the target
/// folder and renamed into place: a reader never sees half a figure, and an
/// existing file survives a failed write.
public enum FigureWriter {
    /// Pixels allowed along one side of a PNG.
    static let maxPixels = 16_000.0

    /// Draws and writes one figure file. With a `transaction`, the file is
    /// staged in it and appears only when the transaction commits (a figure
    /// and its data together); without one, it is committed at once.
    public static func write(to path: String, format: FigureFormat, size: Size, dpi: Double = 200,
                             metadata: FigureMetadata, in transaction: FileTransaction? = nil,
                             draw: (Canvas) throws -> Void) throws {
        let t = transaction ?? FileTransaction()
        switch format {
        case .png:
            let data = try png(size: size, dpi: dpi, metadata: metadata, draw: draw)
            try t.stage(data, to: path)
        case .svg, .pdf:
            try t.stage(path) { temporary in
                do { try vector(format, to: temporary, size: size, metadata: metadata, draw: draw) } catch RenderError.cairo(let m)
                    where m.contains("writing") || m.contains("write") {
                    throw FileProblem(path, .write, "\(FileTransaction.reason(errno, path)) (cairo: \(m))")
                }
            }
        }
        if transaction == nil { try t.commit() }
    }

    /// The output folder, checked to exist and be writable before any
    /// drawing, and the output, if it exists, to be a regular file.
    @discardableResult
    public static func checkFolder(of path: String) throws -> String {
        try FileTransaction.checkTarget(path)
    }

    /// The pixel size of a PNG of `size` points at `dpi`.
    public static func pixelSize(_ size: Size, dpi: Double) throws -> (width: Int, height: Int) {
        let w = (size.width * dpi / 72).rounded(.up), h = (size.height * dpi / 72).rounded(.up)
        guard w >= 1, h >= 1, w <= maxPixels, h <= maxPixels, dpi > 0 else {
            throw RenderError.badSize(width: size.width, height: size.height, dpi: dpi)
        }
        return (Int(w), Int(h))
    }

    /// A drawing rasterised and encoded as PNG bytes.
    public static func png(size: Size, dpi: Double, metadata: FigureMetadata, draw: (Canvas) throws -> Void) throws -> Data {
        let (w, h) = try pixelSize(size, dpi: dpi)
        let surface = try CairoSurface(cairo_image_surface_create(CAIRO_FORMAT_RGB24, Int32(w), Int32(h)))
        do {
            // Scale so that the figure's points fill the whole pixels exactly
            // (the pixel size is rounded up): no half-covered edge row.
            let canvas = try Canvas(surface: surface, scaleX: Double(w) / size.width, scaleY: Double(h) / size.height)
            canvas.fill(Rect(x: 0, y: 0, width: size.width, height: size.height), .white)
            try draw(canvas)
            try canvas.checkStatus()
        }
        cairo_surface_flush(surface.pointer)
        let stride = Int(cairo_image_surface_get_stride(surface.pointer))
        guard let pixels = cairo_image_surface_get_data(surface.pointer) else { throw RenderError.cairo("the image surface has no data") }
        let text = [("Title", metadata.title), ("Software", metadata.software)] + metadata.entries.map { ($0.key, $0.value) }
        return try encodePNG(pixels, stride: stride, width: w, height: h, pixelsPerMetre: UInt32((dpi / 0.0254).rounded()), text: text)
    }

    private static func vector(_ format: FigureFormat, to path: String, size: Size, metadata: FigureMetadata,
                               draw: (Canvas) throws -> Void) throws {
        let raw: OpaquePointer? = format == .pdf
            ? cairo_pdf_surface_create(path, size.width, size.height)
            : cairo_svg_surface_create(path, size.width, size.height)
        guard let raw else { throw RenderError.cairo("cannot create a \(format.rawValue) surface") }
        let surface = try CairoSurface(raw)
        if format == .pdf {
            cairo_pdf_surface_set_metadata(raw, CAIRO_PDF_METADATA_TITLE, metadata.title)
            cairo_pdf_surface_set_metadata(raw, CAIRO_PDF_METADATA_CREATOR, metadata.software)
            let subject = metadata.entries.map { "\($0.key): \($0.value)" }.joined(separator: "; ")
            cairo_pdf_surface_set_metadata(raw, CAIRO_PDF_METADATA_SUBJECT, subject)
        } else {
            cairo_svg_surface_set_document_unit(raw, CAIRO_SVG_UNIT_PT)
        }
        do {
            let canvas = try Canvas(surface: surface)
            try draw(canvas)
            try canvas.checkStatus()
        }
        try surface.finish()
    }

    /// Encodes Cairo's xRGB32 pixels with libpng (through CPNGWriter): pHYs
    /// carries the DPI, iTXt chunks the provenance (UTF-8, so any prompt
    /// survives). Figures are opaque (every view paints its background), so
    /// the PNG has no alpha channel.
    static func encodePNG(_ pixels: UnsafeMutablePointer<UInt8>, stride: Int, width: Int, height: Int, pixelsPerMetre: UInt32,
                          text: [(String, String)]) throws -> Data {
        // Keywords are 1–79 Latin-1 bytes; ours are ASCII.
        let keys = text.map { strdup(String(decoding: $0.0.utf8.prefix(79), as: UTF8.self)) }
        let values = text.map { strdup($0.1) }
        defer { (keys + values).forEach { free($0) } }
        var chunks = zip(keys, values).map { loupe_png_text(keyword: $0, text: $1) }
        var out: UnsafeMutablePointer<UInt8>?
        var size = 0
        var message = [CChar](repeating: 0, count: 256)
        let status = chunks.withUnsafeMutableBufferPointer { c in
            loupe_png_encode_xrgb32(pixels, Int32(width), Int32(height), stride, pixelsPerMetre,
                                    c.baseAddress, Int32(c.count), 1, &out, &size, &message, message.count)
        }
        guard status == 0, let out else {
            throw RenderError.png(String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        defer { free(out) }
        return Data(bytes: out, count: size)
    }
}
