// PNG encoding with libpng's full API. It lives in C because libpng reports
// errors by longjmp, which only C code can receive safely.
#include "CPNGWriter.h"

#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    unsigned char *data;
    size_t size;
    size_t capacity;
    int failed;
} buffer;

typedef struct {
    char *message;
    size_t size;
} error_sink;

static void on_error(png_structp png, png_const_charp message) {
    error_sink *sink = (error_sink *)png_get_error_ptr(png);
    if (sink && sink->size > 0) {
        strncpy(sink->message, message, sink->size - 1);
        sink->message[sink->size - 1] = 0;
    }
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp message) {
    (void)png;
    (void)message;
}

static void on_write(png_structp png, png_bytep data, png_size_t length) {
    buffer *b = (buffer *)png_get_io_ptr(png);
    if (b->failed) return;
    if (b->size + length > b->capacity) {
        size_t capacity = b->capacity ? b->capacity * 2 : 1 << 16;
        while (capacity < b->size + length) capacity *= 2;
        unsigned char *grown = realloc(b->data, capacity);
        if (!grown) {
            b->failed = 1;
            png_error(png, "out of memory while encoding");
            return;
        }
        b->data = grown;
        b->capacity = capacity;
    }
    memcpy(b->data + b->size, data, length);
    b->size += length;
}

static void on_flush(png_structp png) { (void)png; }

int loupe_png_encode_xrgb32(const unsigned char *pixels, int width, int height, size_t row_bytes,
                         unsigned int pixels_per_metre, const loupe_png_text *texts, int text_count,
                         int compression_level, unsigned char **out, size_t *out_size,
                         char *error, size_t error_size) {
    error_sink sink = {error, error_size};
    if (error_size > 0) error[0] = 0;
    buffer b = {0};
    png_textp chunks = NULL;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &sink, on_error, on_warning);
    if (!png) {
        if (error_size > 0) strncpy(error, "png_create_write_struct failed", error_size - 1);
        return 1;
    }
    png_infop info = png_create_info_struct(png);
    if (!info || setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, info ? &info : NULL);
        free(b.data);
        free(chunks);
        if (error_size > 0 && error[0] == 0) strncpy(error, "png_create_info_struct failed", error_size - 1);
        return 1;
    }
    png_set_write_fn(png, &b, on_write, on_flush);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    // Figures are flat colour, text and small images: unfiltered rows at a
    // light zlib level compress them nearly as well as the defaults, several times faster.
    png_set_filter(png, PNG_FILTER_TYPE_BASE, PNG_FILTER_NONE);
    png_set_compression_level(png, compression_level);
    if (pixels_per_metre > 0) {
        png_set_pHYs(png, info, pixels_per_metre, pixels_per_metre, PNG_RESOLUTION_METER);
    }
    if (text_count > 0) {
        chunks = calloc((size_t)text_count, sizeof(png_text));
        if (!chunks) png_error(png, "out of memory for text chunks");
        for (int i = 0; i < text_count; i++) {
            chunks[i].compression = PNG_ITXT_COMPRESSION_NONE;
            chunks[i].key = (png_charp)texts[i].keyword;
            chunks[i].text = (png_charp)texts[i].text;
            chunks[i].itxt_length = strlen(texts[i].text);
            chunks[i].lang = NULL;
            chunks[i].lang_key = NULL;
        }
        png_set_text(png, info, chunks, text_count);
    }
    png_write_info(png, info);
    // Cairo's pixels are 32-bit words 0xXXRRGGBB in native (little-endian)
    // order, that is B, G, R, X in memory: swap to RGB and drop the filler.
    png_set_bgr(png);
    png_set_filler(png, 0, PNG_FILLER_AFTER);
    for (int y = 0; y < height; y++) {
        png_write_row(png, (png_const_bytep)(pixels + (size_t)y * row_bytes));
    }
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    free(chunks);
    *out = b.data;
    *out_size = b.size;
    return 0;
}
