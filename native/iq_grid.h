/* The lattice grids of the IQ1/IQ2/IQ3 types and what their quantizers derive from them: the grid
 * points, the map from packed levels to a grid point, and for every reachable point off the grid
 * the list of its nearest grid points (ggml's iq2xs_init_impl / iq3xs_init_impl). */
#ifndef QN_IQ_GRID_H
#define QN_IQ_GRID_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

extern const uint16_t qn_kgrid_2bit_256[256];
extern const uint16_t qn_kgrid_2bit_512[512];
extern const uint16_t qn_kgrid_2bit_1024[1024];
extern const uint16_t qn_kgrid_1bit_2048[2048];
extern const uint16_t qn_kgrid_3bit_256[256];
extern const uint16_t qn_kgrid_3bit_512[512];

enum qn_iq_grid_id {
    QN_GRID_IQ2_XXS, QN_GRID_IQ2_XS, QN_GRID_IQ2_S, QN_GRID_IQ1, QN_GRID_IQ3_XXS, QN_GRID_IQ3_S, QN_GRID_COUNT
};

typedef struct {
    const uint16_t *kgrid; /* the packed levels of each point */
    int size;              /* grid points */
    int dim;               /* coordinates per point: 8 (IQ1/IQ2) or 4 (IQ3) */
    int bits;              /* bits per level in a packed index: 2 or 3 */
    int8_t *points;        /* size * dim coordinates, each 2*level + 1 */
    /* Packed levels -> grid point (>= 0), or -(offset + 1): neighbours[offset] is the count of the
     * point's nearest grid points, which follow, nearest first, ties by grid index. Packed levels the
     * quantizers cannot produce (a 2-bit level of 3) hold INT32_MIN and have no list. */
    int32_t *map;
    uint16_t *neighbours;
    /* The neighbours' levels again, by coordinate, each coordinate's row padded to a multiple of 8
     * entries: for packed levels u with a list of n, coordinate i's levels are
     * levels[level_offset[u] + i * qn_iq_padded(n) + j], j = 0..n-1. A search can so score all
     * neighbours of a list side by side, in whole vectors (16 zero bytes follow the last list). */
    int8_t *levels;
    uint32_t *level_offset;
    /* The lists once more as 32-bit words, at the same offsets as neighbours: the count, then each
     * neighbour as grid index << 16 | its packed levels, then QN_IQ_MAX_NEIGHBOURS + 1 zeros. The
     * SIMD scans load a whole entry per lane, and may read past a short list while a longer one in
     * another lane runs on. */
    int32_t *entries;
    int longest_list;
} qn_iq_grid;

/* No list is longer (the longest, IQ2_XS's, has 292 entries); a grid with a longer one fails to build. */
#define QN_IQ_MAX_NEIGHBOURS 320

/* The grid, built on first use (thread-safe); NULL only if memory ran out. */
const qn_iq_grid *qn_iq_grid_get(int id);

/* The neighbour list for packed levels u (not on the grid). */
static inline const uint16_t *qn_iq_grid_neighbours(const qn_iq_grid *g, int u) {
    return g->neighbours - g->map[u] - 1;
}

static inline int qn_iq_padded(int n) { return (n + 7) & ~7; }

/* The levels of that list's neighbours, coordinate by coordinate (see levels above). */
static inline const int8_t *qn_iq_grid_neighbour_levels(const qn_iq_grid *g, int u) {
    return g->levels + g->level_offset[u];
}

#ifdef __cplusplus
}
#endif

#endif
