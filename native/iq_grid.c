/* Building the lattice grids' maps and neighbour lists, once per process per grid.
 *
 * ggml computes, for every packed index that is not a grid point, the squared distance (in 2l+1
 * coordinates) to every grid point, sorts by (distance, grid index) and keeps every point within the
 * nwant smallest distinct distances. We produce the same lists without sorting: find the nwant
 * smallest distances, then emit the points at each in index order, in one pass. Only indices the quantizers can
 * look up get a list (2-bit grids: every level <= 2, as levels are clamped to [0, 2]; 3-bit grids:
 * all), which is a seventh of ggml's work for the 2-bit grids. */
#include "iq_grid.h"

#include <stdlib.h>

#if defined(_WIN32)
#include <windows.h>
#else
#include <pthread.h>
#endif

typedef struct {
    const uint16_t *kgrid;
    int size, dim, bits, max_level, nwant;
} grid_spec;

static const grid_spec SPECS[QN_GRID_COUNT] = {
    [QN_GRID_IQ2_XXS] = {qn_kgrid_2bit_256, 256, 8, 2, 2, 2},
    [QN_GRID_IQ2_XS] = {qn_kgrid_2bit_512, 512, 8, 2, 2, 2},
    [QN_GRID_IQ2_S] = {qn_kgrid_2bit_1024, 1024, 8, 2, 2, 1},
    [QN_GRID_IQ1] = {qn_kgrid_1bit_2048, 2048, 8, 2, 2, 3},
    [QN_GRID_IQ3_XXS] = {qn_kgrid_3bit_256, 256, 4, 3, 7, 2},
    [QN_GRID_IQ3_S] = {qn_kgrid_3bit_512, 512, 4, 3, 7, 3},
};

static qn_iq_grid GRIDS[QN_GRID_COUNT];
static bool BUILT[QN_GRID_COUNT];

static bool reachable(const grid_spec *s, int u) {
    for (int k = 0; k < s->dim; ++k) {
        if (((u >> (s->bits * k)) & ((1 << s->bits) - 1)) > s->max_level) return false;
    }
    return true;
}

/* Distances from packed index u to every grid point (coordinates stored by dimension: points_t[k *
 * size + j]), and (in want[0..*nw)) the nwant smallest distinct ones. Returns how many points lie
 * within them. Every loop is element-wise or an integer minimum or count, which the compiler
 * vectorises. */
/* Squared distances of a packed index (coordinates p) to every grid point, for a fixed dimension so
 * that the compiler unrolls the coordinates and vectorises across points. */
#define QN_DISTANCES(DIM)                                                                                   \
    static void distances##DIM(const int16_t *restrict points_t, int size, const int16_t *p, int16_t *restrict d2) { \
        for (int j = 0; j < size; ++j) {                                                                      \
            int16_t acc = 0;                                                                                  \
            for (int k = 0; k < DIM; ++k) {                                                                   \
                const int16_t d = (int16_t)(points_t[k * size + j] - p[k]);                                   \
                acc = (int16_t)(acc + d * d);                                                                 \
            }                                                                                                 \
            d2[j] = acc;                                                                                      \
        }                                                                                                     \
    }
QN_DISTANCES(4)
QN_DISTANCES(8)

static int nearest(const grid_spec *s, const int16_t *points_t, int u, int16_t *restrict d2, int *want, int *nw) {
    const int size = s->size;
    int16_t p[8];
    for (int k = 0; k < s->dim; ++k) p[k] = (int16_t)(2 * ((u >> (s->bits * k)) & ((1 << s->bits) - 1)) + 1);
    if (s->dim == 8) distances8(points_t, size, p, d2);
    else distances4(points_t, size, p, d2);
    int16_t below = -1;
    *nw = 0;
    for (int w = 0; w < s->nwant; ++w) {
        int16_t m = INT16_MAX;
        for (int j = 0; j < size; ++j) {
            const int16_t v = d2[j] > below ? d2[j] : (int16_t)INT16_MAX;
            m = v < m ? v : m;
        }
        if (m == INT16_MAX) break;
        want[(*nw)++] = m;
        below = m;
    }
    int n = 0;
    for (int j = 0; j < size; ++j) n += d2[j] <= below;
    return n;
}

/* Growable arrays of the lists (count, indices...) and of their padded levels by coordinate. */
typedef struct {
    uint16_t *neighbours;
    int8_t *levels;
    size_t used, cap, lv_used, lv_cap;
} lists;

static bool grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return true;
    size_t c = *cap ? *cap : 4096;
    while (c < need) c *= 2;
    void *q = realloc(*p, c * elem);
    if (!q) return false;
    *p = q;
    *cap = c;
    return true;
}

static bool build(int id) {
    const grid_spec *s = &SPECS[id];
    const int map_size = 1 << (s->bits * s->dim);
    qn_iq_grid *g = &GRIDS[id];
    int8_t *points = malloc((size_t)s->size * s->dim);
    int16_t *points_t = malloc(sizeof(int16_t) * s->size * s->dim);
    int32_t *map = malloc(sizeof(int32_t) * map_size);
    int16_t *d2 = malloc(sizeof(int16_t) * s->size);
    uint32_t *level_offset = malloc(sizeof(uint32_t) * map_size);
    lists l = {NULL, NULL, 0, 0, 0, 0};
    int32_t *entries = NULL;
    if (!points || !points_t || !map || !d2 || !level_offset) goto fail;
    for (int k = 0; k < s->size; ++k) {
        for (int j = 0; j < s->dim; ++j) {
            points[k * s->dim + j] = (int8_t)(2 * ((s->kgrid[k] >> (s->bits * j)) & ((1 << s->bits) - 1)) + 1);
            points_t[j * s->size + k] = points[k * s->dim + j];
        }
    }
    for (int u = 0; u < map_size; ++u) map[u] = INT32_MIN;
    for (int k = 0; k < s->size; ++k) map[s->kgrid[k]] = k;

    int want[3], nw;
    for (int u = 0; u < map_size; ++u) {
        if (map[u] != INT32_MIN || !reachable(s, u)) continue;
        const int n = nearest(s, points_t, u, d2, want, &nw);
        const int npad = qn_iq_padded(n);
        if (n > QN_IQ_MAX_NEIGHBOURS || !grow((void **)&l.neighbours, &l.cap, l.used + 1 + (size_t)n, sizeof(uint16_t)) ||
            !grow((void **)&l.levels, &l.lv_cap, l.lv_used + (size_t)npad * s->dim, 1)) {
            goto fail;
        }
        const size_t offset = l.used;
        map[u] = -(int32_t)offset - 1;
        l.neighbours[offset] = (uint16_t)n;
        uint16_t *list = l.neighbours + offset + 1;
        int k = 0;
        for (int w = 0; w < nw; ++w) {
            for (int j = 0; j < s->size; ++j) {
                if (d2[j] == want[w]) list[k++] = (uint16_t)j;
            }
        }
        level_offset[u] = (uint32_t)l.lv_used;
        int8_t *lv = l.levels + l.lv_used;
        for (int i = 0; i < s->dim; ++i) {
            for (int j = 0; j < npad; ++j) lv[i * npad + j] = j < n ? (int8_t)((points[list[j] * s->dim + i] - 1) / 2) : 0;
        }
        l.used += 1 + (size_t)n;
        l.lv_used += (size_t)npad * s->dim;
    }
    /* A SIMD scan reads whole vectors of a coordinate's levels, up to 16 bytes past the last list. */
    if (!grow((void **)&l.levels, &l.lv_cap, l.lv_used + 16, 1)) goto fail;
    memset(l.levels + l.lv_used, 0, 16);
    /* Padded so that a scan may read up to the longest list's length past any list's start. */
    entries = calloc(l.used + QN_IQ_MAX_NEIGHBOURS + 1, sizeof(int32_t));
    if (!entries) goto fail;
    int longest = 0;
    for (size_t o = 0; o < l.used; o += 1 + (size_t)l.neighbours[o]) {
        entries[o] = l.neighbours[o];
        for (int j = 1; j <= l.neighbours[o]; ++j) entries[o + j] = l.neighbours[o + j] << 16 | s->kgrid[l.neighbours[o + j]];
        longest = QN_MAX(longest, (int)l.neighbours[o]);
    }
    free(d2);
    free(points_t);
    *g = (qn_iq_grid){s->kgrid, s->size, s->dim, s->bits, points, map, l.neighbours, l.levels, level_offset, entries, longest};
    return true;
fail:
    free(points);
    free(points_t);
    free(map);
    free(d2);
    free(level_offset);
    free(l.neighbours);
    free(l.levels);
    free(entries);
    return false;
}

#if defined(_WIN32)
static INIT_ONCE ONCE[QN_GRID_COUNT] = {INIT_ONCE_STATIC_INIT, INIT_ONCE_STATIC_INIT, INIT_ONCE_STATIC_INIT,
                                        INIT_ONCE_STATIC_INIT, INIT_ONCE_STATIC_INIT, INIT_ONCE_STATIC_INIT};
static BOOL CALLBACK build_once(PINIT_ONCE once, PVOID param, PVOID *ctx) {
    const int id = (int)(intptr_t)param;
    BUILT[id] = build(id);
    return TRUE;
}
const qn_iq_grid *qn_iq_grid_get(int id) {
    if (id < 0 || id >= QN_GRID_COUNT) return NULL;
    InitOnceExecuteOnce(&ONCE[id], build_once, (PVOID)(intptr_t)id, NULL);
    return BUILT[id] ? &GRIDS[id] : NULL;
}
#else
#define QN_ONCE_FN(ID) static void build_##ID(void) { BUILT[ID] = build(ID); }
QN_ONCE_FN(0) QN_ONCE_FN(1) QN_ONCE_FN(2) QN_ONCE_FN(3) QN_ONCE_FN(4) QN_ONCE_FN(5)
static void (*const BUILDERS[QN_GRID_COUNT])(void) = {build_0, build_1, build_2, build_3, build_4, build_5};
static pthread_once_t ONCE[QN_GRID_COUNT] = {PTHREAD_ONCE_INIT, PTHREAD_ONCE_INIT, PTHREAD_ONCE_INIT,
                                             PTHREAD_ONCE_INIT, PTHREAD_ONCE_INIT, PTHREAD_ONCE_INIT};
const qn_iq_grid *qn_iq_grid_get(int id) {
    if (id < 0 || id >= QN_GRID_COUNT) return NULL;
    pthread_once(&ONCE[id], BUILDERS[id]);
    return BUILT[id] ? &GRIDS[id] : NULL;
}
#endif
