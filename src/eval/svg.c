/* A small SVG writer for eval plots: overlaid histograms of two series. */
#include "svg.h"
#include <stdio.h>

static void esc(FILE *f, const char *s) {
    for (; *s; s++) {
        if (*s == '<') fputs("&lt;", f);
        else if (*s == '>') fputs("&gt;", f);
        else if (*s == '&') fputs("&amp;", f);
        else if (*s == '"') fputs("&quot;", f);
        else fputc(*s, f);
    }
}

int ember_svg_histograms(const char *path, const char *title, const char *xlabel, const int *a, int na,
                         const char *la, const int *b, int nb, const char *lb) {
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    int mx = 1;
    for (int i = 0; i < na; i++) mx = a[i] > mx ? a[i] : mx;
    for (int i = 0; i < nb; i++) mx = b[i] > mx ? b[i] : mx;
    enum { BINS = 20, W = 640, H = 360, L = 60, B = 50 };
    int ha[BINS] = {0}, hb[BINS] = {0}, hmax = 1;
    for (int i = 0; i < na; i++) ha[a[i] * BINS / (mx + 1)]++;
    for (int i = 0; i < nb; i++) hb[b[i] * BINS / (mx + 1)]++;
    for (int k = 0; k < BINS; k++) { hmax = ha[k] > hmax ? ha[k] : hmax; hmax = hb[k] > hmax ? hb[k] : hmax; }
    const double bw = (double)(W - L - 20) / BINS, sy = (double)(H - B - 40) / hmax;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" font-size=\"12\">\n", W, H);
    fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n<text x=\"%d\" y=\"20\" font-size=\"14\">", L);
    esc(f, title);
    fprintf(f, "</text>\n");
    for (int k = 0; k < BINS; k++) {
        const double x = L + k * bw;
        fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#1f77b4\" fill-opacity=\"0.6\"/>\n", x,
                H - B - ha[k] * sy, bw / 2, ha[k] * sy);
        fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#d62728\" fill-opacity=\"0.6\"/>\n", x + bw / 2,
                H - B - hb[k] * sy, bw / 2, hb[k] * sy);
    }
    fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"black\"/>\n", L, H - B, W - 20, H - B);
    fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"black\"/>\n", L, 30, L, H - B);
    fprintf(f, "<text x=\"%d\" y=\"%d\">0</text><text x=\"%d\" y=\"%d\" text-anchor=\"end\">%d</text>\n", L, H - B + 15, W - 20, H - B + 15, mx);
    fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">", (L + W) / 2, H - 15);
    esc(f, xlabel);
    fprintf(f, "</text>\n");
    fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%d</text>\n", L - 5, 40, hmax);
    fprintf(f, "<rect x=\"%d\" y=\"35\" width=\"12\" height=\"12\" fill=\"#1f77b4\"/><text x=\"%d\" y=\"46\">", W - 200, W - 184);
    esc(f, la);
    fprintf(f, "</text>\n<rect x=\"%d\" y=\"55\" width=\"12\" height=\"12\" fill=\"#d62728\"/><text x=\"%d\" y=\"66\">", W - 200, W - 184);
    esc(f, lb);
    fprintf(f, "</text>\n");
    fprintf(f, "</svg>\n");
    return fclose(f) ? -1 : 0;
}
