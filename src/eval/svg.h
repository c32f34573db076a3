#ifndef EMBER_SVG_H
#define EMBER_SVG_H
/* Overlaid histograms of two integer series (e.g. generated tokens per run). */
int ember_svg_histograms(const char *path, const char *title, const char *xlabel, const int *a, int na,
                         const char *la, const int *b, int nb, const char *lb);
#endif
