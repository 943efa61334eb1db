import CCairo
import CPNG
import Foundation

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

    public static func write(to path: String, format: FigureFormat, size: Size, dpi: Double = 200,
                             metadata: FigureMetadata, draw: (Canvas) throws -> Void) throws {
        let folder = try checkFolder(of: path)
        let temporary = folder + "/." + (path as NSString).lastPathComponent + ".partial.\(getpid()).\(UInt32.random(in: 0 ... .max))"
        defer { unlink(temporary) }
        switch format {
        case .png:
            let data = try png(size: size, dpi: dpi, metadata: metadata, draw: draw)
            guard FileManager.default.createFile(atPath: temporary, contents: data) else {
                throw RenderError.writeFailed(path: path, reason: "the folder '\(folder)' is not writable")
            }
        case .svg, .pdf:
            try vector(format, to: temporary, size: size, metadata: metadata, draw: draw)
        }
        guard rename(temporary, path) == 0 else {
            throw RenderError.writeFailed(path: path, reason: String(cString: strerror(errno)))
        }
    }

    /// The output folder, checked to exist and be writable before any drawing.
    @discardableResult
    public static func checkFolder(of path: String) throws -> String {
        let parent = (path as NSString).deletingLastPathComponent
        let folder = parent.isEmpty ? "." : parent
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDir), isDir.boolValue else {
            throw RenderError.writeFailed(path: path, reason: "the folder '\(folder)' does not exist")
        }
        guard FileManager.default.isWritableFile(atPath: folder) else {
            throw RenderError.writeFailed(path: path, reason: "the folder '\(folder)' is not writable")
        }
        return folder
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
        var encoded = try encodePNG(packedRGB(pixels, width: w, height: h, stride: stride), width: w, height: h)
        insertChunks(into: &encoded, dpi: dpi, metadata: metadata)
        return encoded
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

    /// Cairo's native-endian xRGB32 → packed RGB bytes. Figures are opaque
    /// (every view paints its background), so PNGs carry no alpha channel.
    private static func packedRGB(_ p: UnsafeMutablePointer<UInt8>, width: Int, height: Int, stride: Int) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: width * height * 3) { out, count in
            for y in 0 ..< height {
                let row = UnsafeRawPointer(p + y * stride).assumingMemoryBound(to: UInt32.self)
                var o = y * width * 3
                for x in 0 ..< width {
                    let v = row[x]
                    out[o] = UInt8(truncatingIfNeeded: v >> 16)
                    out[o + 1] = UInt8(truncatingIfNeeded: v >> 8)
                    out[o + 2] = UInt8(truncatingIfNeeded: v)
                    o += 3
                }
            }
            count = width * height * 3
        }
    }

    /// Encodes with libpng's simplified API, which reports errors by return
    /// value (the classic API needs setjmp, which Swift cannot use).
    private static func encodePNG(_ rgb: [UInt8], width: Int, height: Int) throws -> Data {
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        image.width = UInt32(width)
        image.height = UInt32(height)
        image.format = 2 // PNG_FORMAT_RGB: PNG_FORMAT_FLAG_COLOR (0x02)
        // PNG_IMAGE_FLAG_FAST: faster zlib settings and filters; figures are
        // flat colour and text, so files grow little and encode several times faster.
        image.flags = 2
        var size: Int = 0
        let ok = rgb.withUnsafeBytes { png_image_write_to_memory(&image, nil, &size, 0, $0.baseAddress, Int32(width * 3), nil) }
        guard ok != 0, size > 0 else { throw RenderError.png(pngMessage(&image)) }
        var out = Data(count: size)
        let written = out.withUnsafeMutableBytes { dst in
            rgb.withUnsafeBytes { png_image_write_to_memory(&image, dst.baseAddress, &size, 0, $0.baseAddress, Int32(width * 3), nil) }
        }
        png_image_free(&image)
        guard written != 0 else { throw RenderError.png(pngMessage(&image)) }
        return out.prefix(size)
    }

    private static func pngMessage(_ image: inout png_image) -> String {
        withUnsafeBytes(of: &image.message) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }

    /// Adds pHYs (the DPI) and iTXt (provenance, UTF-8) chunks after IHDR.
    private static func insertChunks(into png: inout Data, dpi: Double, metadata: FigureMetadata) {
        var chunks = Data()
        let ppm = UInt32((dpi / 0.0254).rounded())
        var phys = Data()
        phys.appendBigEndian(ppm)
        phys.appendBigEndian(ppm)
        phys.append(1) // unit: metre
        chunks.append(chunk("pHYs", phys))
        let text = [("Title", metadata.title), ("Software", metadata.software)] + metadata.entries.map { ($0.key, $0.value) }
        for (key, value) in text {
            // iTXt: keyword, 0, compression flag 0, method 0, language "", 0, translated keyword "", 0, UTF-8 text.
            var body = Data(key.utf8.prefix(79))
            body.append(contentsOf: [0, 0, 0, 0, 0])
            body.append(Data(value.utf8))
            chunks.append(chunk("iTXt", body))
        }
        let afterIHDR = 8 + 4 + 4 + 13 + 4
        png.insert(contentsOf: chunks, at: png.startIndex + afterIHDR)
    }

    private static func chunk(_ type: String, _ body: Data) -> Data {
        var out = Data()
        out.appendBigEndian(UInt32(body.count))
        let typed = Data(type.utf8) + body
        out.append(typed)
        let crc = typed.withUnsafeBytes { crc32(0, $0.bindMemory(to: UInt8.self).baseAddress, UInt32(typed.count)) }
        out.appendBigEndian(UInt32(crc))
        return out
    }
}

extension Data {
    mutating func appendBigEndian(_ v: UInt32) {
        Swift.withUnsafeBytes(of: v.bigEndian) { append(contentsOf: $0) }
    }
}
