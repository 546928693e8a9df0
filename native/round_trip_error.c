/* The error a type makes on a row: the importance-weighted sum of squared differences between the
 * row and its dequantized quantization. The target-size planner compares types by it. Accumulated in
 * double in element order, so the value does not depend on the thread that computed it. */
#include "kernels.h"

double qn_row_sq_error(const float *x, const float *y, const float *w, int64_t n) {
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i) {
        const double d = (double)x[i] - (double)y[i];
        sum += (w ? (double)w[i] : 1.0) * d * d;
    }
    return sum;
}
