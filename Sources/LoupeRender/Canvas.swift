import CCairo
import Foundation

/// A font request: Pango picks the face and falls back across fonts, through
/// fontconfig, for characters the family lacks (CJK, Arabic, emoji, ...).
public struct Font: Sendable, Hashable, Codable {
    public var family: String
    /// Size in points.
    public var size: Double
    public var bold: Bool
    public var monospace: Bool

    public init(family: String = "DejaVu Sans", size: Double, bold: Bool = false, monospace: Bool = false) {
        self.family = family; self.size = size; self.bold = bold; self.monospace = monospace
    }

    public func sized(_ s: Double) -> Font { var f = self; f.size = s; return f }
    public func withBold(_ b: Bool = true) -> Font { var f = self; f.bold = b; return f }
}

/// Where a text's anchor point sits on the text.
public struct TextAnchor: Sendable, Equatable {
    public enum Horizontal: Sendable { case left, center, right }
    public enum Vertical: Sendable { case top, middle, baseline, bottom }
    public var horizontal: Horizontal
    public var vertical: Vertical
    public init(_ h: Horizontal, _ v: Vertical) { horizontal = h; vertical = v }
    public static let center = TextAnchor(.center, .middle)
    public static let topLeft = TextAnchor(.left, .top)
}

/// A Cairo surface, destroyed with its owner.
final class CairoSurface {
    let pointer: OpaquePointer
    init(_ pointer: OpaquePointer) throws {
        self.pointer = pointer
        try check(cairo_surface_status(pointer))
    }
    func finish() throws {
        cairo_surface_finish(pointer)
        try check(cairo_surface_status(pointer))
    }
    deinit { cairo_surface_destroy(pointer) }
}

/// Turns a Cairo status into a thrown error.
func check(_ status: cairo_status_t) throws {
    guard status == CAIRO_STATUS_SUCCESS else {
        throw RenderError.cairo(String(cString: cairo_status_to_string(status)))
    }
}

/// Drawing in points over a Cairo context. Views draw only through this type.
public final class Canvas {
    let context: OpaquePointer
    let surface: CairoSurface
    private var fonts: [Font: OpaquePointer] = [:]
    private let fontOptions: OpaquePointer
    /// One Pango context and one layout per font for the canvas's life:
    /// creating them per call costs more than shaping the text.
    private var pangoContext: OpaquePointer?
    private var layouts: [Font: OpaquePointer] = [:]
    private var measured: [MeasureKey: Size] = [:]

    /// A text drawn, for checking a figure's typesetting: its box on the
    /// page (the bounds of the turned box for turned text), its size, and
    /// whether it was cut with an ellipsis.
    public struct DrawnText: Sendable {
        public var text: String
        public var box: Rect
        public var size: Double
        public var cut: Bool
    }

    /// Every text drawn since `recordText()`; nil when not recording.
    public private(set) var drawnText: [DrawnText]?
    private var insideMarkedText = false

    /// Starts keeping a log of every text drawn (`drawnText`).
    public func recordText() { drawnText = [] }

    private struct MeasureKey: Hashable {
        let text: String
        let font: Font
    }

    convenience init(surface: CairoSurface, scale: Double = 1) throws {
        try self.init(surface: surface, scaleX: scale, scaleY: scale)
    }

    init(surface: CairoSurface, scaleX: Double, scaleY: Double) throws {
        self.surface = surface
        guard let cr = cairo_create(surface.pointer) else { throw RenderError.cairo("cairo_create returned nothing") }
        context = cr
        try check(cairo_status(cr))
        cairo_scale(cr, scaleX, scaleY)
        // Unhinted metrics: text measures the same in PNG, SVG and PDF, so a
        // layout fitted once holds in every format.
        fontOptions = cairo_font_options_create()
        cairo_font_options_set_hint_metrics(fontOptions, CAIRO_HINT_METRICS_OFF)
        cairo_font_options_set_hint_style(fontOptions, CAIRO_HINT_STYLE_NONE)
        cairo_font_options_set_antialias(fontOptions, CAIRO_ANTIALIAS_GRAY)
    }

    deinit {
        for (_, l) in layouts { g_object_unref(UnsafeMutableRawPointer(l)) }
        if let pangoContext { g_object_unref(UnsafeMutableRawPointer(pangoContext)) }
        for (_, d) in fonts { pango_font_description_free(d) }
        cairo_font_options_destroy(fontOptions)
        cairo_destroy(context)
    }

    /// A canvas that only measures text (its drawings go nowhere).
    public static func measuring() throws -> Canvas {
        let s = try CairoSurface(cairo_image_surface_create(CAIRO_FORMAT_ARGB32, 1, 1))
        return try Canvas(surface: s)
    }

    /// A canvas that records drawing without rasterising it: for checking
    /// that a drawing succeeds (the fuzz targets) at little cost.
    public static func recording() throws -> Canvas {
        let s = try CairoSurface(cairo_recording_surface_create(CAIRO_CONTENT_COLOR_ALPHA, nil))
        return try Canvas(surface: s)
    }

    /// Throws if Cairo has recorded an error on this canvas.
    public func checkStatus() throws { try check(cairo_status(context)) }

    // MARK: Shapes

    private func setColor(_ c: Color) {
        cairo_set_source_rgba(context, c.r, c.g, c.b, c.a)
    }

    public func fill(_ r: Rect, _ color: Color) {
        setColor(color)
        cairo_rectangle(context, r.x, r.y, r.width, r.height)
        cairo_fill(context)
    }

    public func stroke(_ r: Rect, _ color: Color, width: Double = 0.5) {
        setColor(color)
        cairo_set_line_width(context, width)
        cairo_rectangle(context, r.x, r.y, r.width, r.height)
        cairo_stroke(context)
    }

    public func line(_ a: Point, _ b: Point, _ color: Color, width: Double = 0.5, dash: [Double] = []) {
        polyline([a, b], color, width: width, dash: dash)
    }

    public func polyline(_ points: [Point], _ color: Color, width: Double = 1, dash: [Double] = []) {
        guard let first = points.first else { return }
        setColor(color)
        cairo_set_line_width(context, width)
        cairo_set_line_join(context, CAIRO_LINE_JOIN_ROUND)
        cairo_set_line_cap(context, CAIRO_LINE_CAP_ROUND)
        dash.withUnsafeBufferPointer { cairo_set_dash(context, $0.baseAddress, Int32(dash.count), 0) }
        cairo_move_to(context, first.x, first.y)
        for p in points.dropFirst() { cairo_line_to(context, p.x, p.y) }
        cairo_stroke(context)
        cairo_set_dash(context, nil, 0, 0)
    }

    public func fillCircle(center: Point, radius: Double, _ color: Color) {
        setColor(color)
        cairo_arc(context, center.x, center.y, radius, 0, 2 * .pi)
        cairo_fill(context)
    }

    /// Runs `body` with drawing clipped to `rect`.
    public func clipped(to rect: Rect, _ body: () throws -> Void) rethrows {
        cairo_save(context)
        cairo_rectangle(context, rect.x, rect.y, rect.width, rect.height)
        cairo_clip(context)
        defer { cairo_restore(context) }
        try body()
    }

    // MARK: Text

    private func description(_ font: Font) -> OpaquePointer {
        if let d = fonts[font] { return d }
        let d = pango_font_description_new()!
        pango_font_description_set_family(d, font.monospace ? "DejaVu Sans Mono" : font.family)
        pango_font_description_set_absolute_size(d, font.size * Double(PANGO_SCALE))
        pango_font_description_set_weight(d, font.bold ? PANGO_WEIGHT_BOLD : PANGO_WEIGHT_NORMAL)
        fonts[font] = d
        return d
    }

    /// The canvas's layout for `font`, holding `text`, ellipsized at `maxWidth`.
    private func layout(_ text: String, _ font: Font, maxWidth: Double?) -> OpaquePointer {
        let context: OpaquePointer
        if let pangoContext {
            context = pangoContext
        } else {
            context = pango_cairo_create_context(self.context)!
            pango_cairo_context_set_font_options(context, fontOptions)
            pangoContext = context
        }
        let layout: OpaquePointer
        if let cached = layouts[font] {
            layout = cached
        } else {
            layout = pango_layout_new(context)!
            pango_layout_set_font_description(layout, description(font))
            pango_layout_set_single_paragraph_mode(layout, 1)
            layouts[font] = layout
        }
        pango_layout_set_text(layout, text, -1)
        if let maxWidth {
            // Pango widths are Int32 in 1/1024 pt: beyond 10^6 pt means "no limit" anyway.
            let points = maxWidth.isNaN ? 1 : min(max(1, maxWidth), 1e6)
            pango_layout_set_width(layout, Int32(points * Double(PANGO_SCALE)))
            pango_layout_set_ellipsize(layout, PANGO_ELLIPSIZE_END)
        } else {
            pango_layout_set_width(layout, -1)
            pango_layout_set_ellipsize(layout, PANGO_ELLIPSIZE_NONE)
        }
        return layout
    }

    /// The size of `text` set in `font` (its logical extents, line height included).
    public func measure(_ text: String, _ font: Font) -> Size {
        let key = MeasureKey(text: text, font: font)
        if let size = measured[key] { return size }
        let l = layout(text, font, maxWidth: nil)
        var logical = PangoRectangle()
        pango_layout_get_extents(l, nil, &logical)
        let size = Size(Double(logical.width) / Double(PANGO_SCALE), Double(logical.height) / Double(PANGO_SCALE))
        measured[key] = size
        return size
    }

    /// Draws `text` with its anchor at `point`, turned by `angle` radians
    /// (negative is counter-clockwise), cut with an ellipsis at `maxWidth`.
    /// Returns the unrotated size drawn.
    @discardableResult
    public func text(_ text: String, at point: Point, font: Font, color: Color,
                     anchor: TextAnchor = .topLeft, angle: Double = 0, maxWidth: Double? = nil) -> Size {
        let l = layout(text, font, maxWidth: maxWidth)
        var logical = PangoRectangle()
        pango_layout_get_extents(l, nil, &logical)
        let w = Double(logical.width) / Double(PANGO_SCALE), h = Double(logical.height) / Double(PANGO_SCALE)
        let baseline = Double(pango_layout_get_baseline(l)) / Double(PANGO_SCALE)
        let dx: Double = switch anchor.horizontal { case .left: 0; case .center: -w / 2; case .right: -w }
        let dy: Double = switch anchor.vertical { case .top: 0; case .middle: -h / 2; case .baseline: -baseline; case .bottom: -h }
        let ox = dx - Double(logical.x) / Double(PANGO_SCALE)
        if drawnText != nil, !insideMarkedText {
            let corners = [Point(dx, dy), Point(dx + w, dy), Point(dx, dy + h), Point(dx + w, dy + h)].map {
                Point(point.x + $0.x * cos(angle) - $0.y * sin(angle), point.y + $0.x * sin(angle) + $0.y * cos(angle))
            }
            let xs = corners.map(\.x), ys = corners.map(\.y)
            drawnText?.append(DrawnText(text: text, box: Rect(x: xs.min()!, y: ys.min()!, width: xs.max()! - xs.min()!, height: ys.max()! - ys.min()!),
                                        size: font.size, cut: pango_layout_is_ellipsized(l) != 0))
        }
        setColor(color)
        // Token markers get their own drawing, unless the text is cut (then as glyphs).
        if maxWidth == nil || w < (maxWidth ?? 0), text.unicodeScalars.contains(where: Self.markerScalars.contains) {
            drawMarked(text, font: font, color: color, at: point, offset: Point(ox, dy), baseline: baseline, angle: angle)
            return Size(w, h)
        }
        if angle == 0 {
            // No transform: the Pango context keeps matching the canvas, so
            // the layout is not redone for every label.
            cairo_move_to(context, point.x + ox, point.y + dy)
            pango_cairo_update_layout(context, l)
            pango_cairo_show_layout(context, l)
        } else {
            cairo_save(context)
            cairo_translate(context, point.x, point.y)
            cairo_rotate(context, angle)
            cairo_move_to(context, ox, dy)
            pango_cairo_update_layout(context, l)
            pango_cairo_show_layout(context, l)
            cairo_restore(context)
        }
        return Size(w, h)
    }
}

extension Canvas {
    /// `text` broken at spaces into lines no wider than `width` in `font`
    /// (a single word wider than that is a line of its own).
    public func wrap(_ text: String, _ font: Font, width: Double) -> [String] {
        var lines: [String] = []
        for word in text.split(separator: " ", omittingEmptySubsequences: false).map(String.init) {
            if let last = lines.last, measure(last + " " + word, font).width <= width {
                lines[lines.count - 1] = last + " " + word
            } else {
                lines.append(word)
            }
        }
        return lines
    }

    /// The height of `text` wrapped to `width`.
    public func paragraphHeight(_ text: String, _ font: Font, width: Double) -> Double {
        Double(wrap(text, font, width: width).count) * measure("Ag", font).height
    }

    /// Draws `text` wrapped to `width`, each line anchored at `point`'s x
    /// (left, centre or right) from `point`'s y down; returns the height.
    @discardableResult
    public func paragraph(_ text: String, at point: Point, font: Font, color: Color, width: Double,
                          align: TextAnchor.Horizontal = .left) -> Double {
        let line = measure("Ag", font).height
        let lines = wrap(text, font, width: width)
        for (i, l) in lines.enumerated() {
            self.text(l, at: Point(point.x, point.y + Double(i) * line), font: font, color: color, anchor: TextAnchor(align, .top), maxWidth: width)
        }
        return Double(lines.count) * line
    }

    static let markerScalars: Set<Unicode.Scalar> = ["␣", "⍽", "↵", "⇥", "␍"]

    /// Draws text holding TokenText's markers. The text layer (what a PDF
    /// reader searches and copies) gets the real characters where it can:
    /// `␣` and `⍽` become a real space and no-break space, widened to the
    /// marker's width, and the marker is drawn over them as a shape. In
    /// rotated text every marker is drawn upright, so that an arrow keeps
    /// its direction (a turned `⇥` would read as `↑`). Widths are those of
    /// the marker glyphs, as `measure` reports them.
    func drawMarked(_ text: String, font: Font, color: Color, at point: Point, offset: Point, baseline: Double, angle: Double) {
        insideMarkedText = true
        defer { insideMarkedText = false }
        let l = layout(text, font, maxWidth: nil)
        var real = "", marks: [(scalar: Unicode.Scalar, byte: Int)] = []
        guard let attributes = pango_attr_list_new() else { return }
        for u in text.unicodeScalars {
            let byte = real.utf8.count
            switch u {
            case "␣", "⍽":
                let replacement: Unicode.Scalar = u == "␣" ? " " : "\u{00A0}"
                real.unicodeScalars.append(replacement)
                let extra = measure(String(u), font).width - measure(String(replacement), font).width
                if let a = pango_attr_letter_spacing_new(Int32((extra * Double(PANGO_SCALE)).rounded())) {
                    a.pointee.start_index = guint(byte)
                    a.pointee.end_index = guint(real.utf8.count)
                    pango_attr_list_insert(attributes, a)
                }
                marks.append((u, byte))
            case "↵", "⇥", "␍":
                real.unicodeScalars.append(u)
                if angle != 0 {
                    // Drawn upright below; the turned glyph is left transparent.
                    if let a = pango_attr_foreground_alpha_new(1) {
                        a.pointee.start_index = guint(byte)
                        a.pointee.end_index = guint(real.utf8.count)
                        pango_attr_list_insert(attributes, a)
                    }
                    marks.append((u, byte))
                }
            default:
                real.unicodeScalars.append(u)
            }
        }
        pango_layout_set_text(l, real, -1)
        pango_layout_set_attributes(l, attributes)
        pango_attr_list_unref(attributes)
        defer { pango_layout_set_attributes(l, nil) }
        cairo_save(context)
        cairo_translate(context, point.x, point.y)
        if angle != 0 { cairo_rotate(context, angle) }
        cairo_move_to(context, offset.x, offset.y)
        pango_cairo_update_layout(context, l)
        pango_cairo_show_layout(context, l)
        cairo_restore(context)
        // Each marker's slot, in page coordinates.
        let scale = Double(PANGO_SCALE)
        for m in marks {
            var r = PangoRectangle()
            pango_layout_index_to_pos(l, Int32(m.byte), &r)
            let along = Double(abs(r.width)) / scale
            let x = offset.x + (Double(r.x) + Double(r.width) / 2) / scale
            // On the baseline for upright text; across the middle of the line for turned text.
            let y = offset.y + (angle == 0 ? baseline : baseline - 0.3 * font.size)
            let c = Point(point.x + x * cos(angle) - y * sin(angle), point.y + x * sin(angle) + y * cos(angle))
            switch m.scalar {
            case "␣", "⍽":
                let size = min(along * 0.9, font.size * 0.55), rise = size * 0.45
                let bottom = angle == 0 ? c.y : c.y + rise / 2
                polyline([Point(c.x - size / 2, bottom - rise), Point(c.x - size / 2, bottom), Point(c.x + size / 2, bottom),
                          Point(c.x + size / 2, bottom - rise)], color, width: font.size * 0.07)
                if m.scalar == "⍽" { line(Point(c.x, bottom), Point(c.x, bottom - rise), color, width: font.size * 0.07) }
            default:
                let glyph = measure(String(m.scalar), font)
                let fit = font.sized(font.size * min(1, along / max(glyph.height * 0.75, 1e-6)))
                self.text(String(m.scalar), at: c, font: fit, color: color, anchor: .center)
            }
        }
    }

    /// Paints a grid of colours (row-major, `columns` wide) scaled into
    /// `rect` without smoothing: one image instead of thousands of
    /// rectangles, for large heatmaps and small multiples.
    public func image(_ colors: [Color], columns: Int, in rect: Rect) throws {
        let rows = colors.count / max(1, columns)
        guard rows > 0, columns > 0 else { return }
        let surface = try CairoSurface(cairo_image_surface_create(CAIRO_FORMAT_ARGB32, Int32(columns), Int32(rows)))
        cairo_surface_flush(surface.pointer)
        let stride = Int(cairo_image_surface_get_stride(surface.pointer))
        guard let data = cairo_image_surface_get_data(surface.pointer) else { throw RenderError.cairo("no image data") }
        for y in 0 ..< rows {
            let row = UnsafeMutableRawPointer(data + y * stride).assumingMemoryBound(to: UInt32.self)
            for x in 0 ..< columns {
                let c = colors[y * columns + x]
                let a = max(0, min(1, c.a))
                func byte(_ v: Double) -> UInt32 { UInt32((max(0, min(1, v)) * a * 255).rounded()) }
                row[x] = UInt32((a * 255).rounded()) << 24 | byte(c.r) << 16 | byte(c.g) << 8 | byte(c.b)
            }
        }
        cairo_surface_mark_dirty(surface.pointer)
        cairo_save(context)
        cairo_translate(context, rect.x, rect.y)
        cairo_scale(context, rect.width / Double(columns), rect.height / Double(rows))
        cairo_set_source_surface(context, surface.pointer, 0, 0)
        cairo_pattern_set_filter(cairo_get_source(context), CAIRO_FILTER_NEAREST)
        cairo_rectangle(context, 0, 0, Double(columns), Double(rows))
        cairo_fill(context)
        cairo_restore(context)
    }
}
