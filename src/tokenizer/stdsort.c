/* llama.cpp orders its special tokens with std::sort by text length, which
 * is not stable: tokens of equal length end up in the order of libstdc++'s
 * introsort, and that order decides which of two overlapping (or equal)
 * texts is split out of the input. This is the same introsort (median of
 * three, unguarded partition, heapsort past the depth limit, insertion sort
 * of runs of 16), so the order is the same element for element. */
#include "vocab_internal.h"

typedef struct { int32_t *a; const uint32_t *len; } sorter;

static int less(const sorter *s, int32_t x, int32_t y) { return s->len[x] > s->len[y]; } /* longer first */
static void swap(int32_t *a, size_t i, size_t j) { const int32_t t = a[i]; a[i] = a[j]; a[j] = t; }

static void push_heap(const sorter *s, size_t first, size_t hole, size_t top, int32_t value) {
    int32_t *a = s->a + first;
    size_t parent = (hole - 1) / 2;
    while (hole > top && less(s, a[parent], value)) {
        a[hole] = a[parent];
        hole = parent;
        parent = (hole - 1) / 2;
    }
    a[hole] = value;
}

static void adjust_heap(const sorter *s, size_t first, size_t hole, size_t len, int32_t value) {
    int32_t *a = s->a + first;
    const size_t top = hole;
    size_t child = hole;
    while (len > 0 && child < (len - 1) / 2) {
        child = 2 * (child + 1);
        if (less(s, a[child], a[child - 1])) child--;
        a[hole] = a[child];
        hole = child;
    }
    if ((len & 1) == 0 && len >= 2 && child == (len - 2) / 2) {
        child = 2 * (child + 1);
        a[hole] = a[child - 1];
        hole = child - 1;
    }
    push_heap(s, first, hole, top, value);
}

static void heap_sort(const sorter *s, size_t first, size_t last) {
    const size_t len = last - first;
    if (len < 2) return;
    for (size_t parent = (len - 2) / 2;; parent--) {
        adjust_heap(s, first, parent, len, s->a[first + parent]);
        if (parent == 0) break;
    }
    for (size_t end = last; end - first > 1;) {
        end--;
        const int32_t v = s->a[end];
        s->a[end] = s->a[first];
        adjust_heap(s, first, 0, end - first, v);
    }
}

static void median_to_first(const sorter *s, size_t r, size_t x, size_t y, size_t z) {
    int32_t *a = s->a;
    if (less(s, a[x], a[y])) {
        if (less(s, a[y], a[z])) swap(a, r, y);
        else if (less(s, a[x], a[z])) swap(a, r, z);
        else swap(a, r, x);
    } else if (less(s, a[x], a[z])) swap(a, r, x);
    else if (less(s, a[y], a[z])) swap(a, r, z);
    else swap(a, r, y);
}

static size_t partition(const sorter *s, size_t first, size_t last, size_t pivot) {
    int32_t *a = s->a;
    for (;;) {
        while (less(s, a[first], a[pivot])) first++;
        last--;
        while (less(s, a[pivot], a[last])) last--;
        if (!(first < last)) return first;
        swap(a, first, last);
        first++;
    }
}

static void introsort(const sorter *s, size_t first, size_t last, int depth) {
    while (last - first > 16) {
        if (depth == 0) {
            heap_sort(s, first, last);
            return;
        }
        depth--;
        median_to_first(s, first, first + 1, first + (last - first) / 2, last - 1);
        const size_t cut = partition(s, first + 1, last, first);
        introsort(s, cut, last, depth);
        last = cut;
    }
}

static void linear_insert(const sorter *s, size_t i) { /* unguarded: a smaller element sits before */
    const int32_t v = s->a[i];
    while (less(s, v, s->a[i - 1])) {
        s->a[i] = s->a[i - 1];
        i--;
    }
    s->a[i] = v;
}

static void insertion_sort(const sorter *s, size_t first, size_t last) {
    for (size_t i = first + 1; i < last; i++) {
        if (less(s, s->a[i], s->a[first])) {
            const int32_t v = s->a[i];
            for (size_t j = i; j > first; j--) s->a[j] = s->a[j - 1];
            s->a[first] = v;
        } else {
            linear_insert(s, i);
        }
    }
}

void sort_by_len_desc(int32_t *ids, size_t n, const uint32_t *len) {
    if (n < 2) return;
    const sorter s = {ids, len};
    int lg = 0;
    while ((n >> (lg + 1)) > 0) lg++;
    introsort(&s, 0, n, 2 * lg);
    if (n > 16) {
        insertion_sort(&s, 0, 16);
        for (size_t i = 16; i < n; i++) linear_insert(&s, i);
    } else {
        insertion_sort(&s, 0, n);
    }
}
