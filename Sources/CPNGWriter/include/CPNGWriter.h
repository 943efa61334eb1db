#ifndef LOUPE_CPNGWRITER_H
#define LOUPE_CPNGWRITER_H

#include <stddef.h>

/// One text chunk: a Latin-1 keyword (1–79 bytes) and UTF-8 text, written as iTXt.
typedef struct {
    const char *keyword;
    const char *text;
} loupe_png_text;

/// Encodes rows of Cairo's native 32-bit xRGB pixels (little-endian: B, G,
/// R, unused) as an 8-bit RGB PNG, into a buffer allocated with malloc.
/// `pixels_per_metre` goes into a pHYs chunk (0 leaves it out).
/// Returns 0 on success, with `*out` and `*out_size` set (free `*out` with free());
/// otherwise non-zero, with libpng's message copied into `error` (NUL-terminated).
int loupe_png_encode_xrgb32(const unsigned char *pixels, int width, int height, size_t row_bytes,
                         unsigned int pixels_per_metre, const loupe_png_text *texts, int text_count,
                         int compression_level, unsigned char **out, size_t *out_size,
                         char *error, size_t error_size);

#endif
