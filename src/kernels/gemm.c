/* GEMM in the Goto/BLIS structure. For each block of kc steps of the K
   reduction, a kc x nc panel of op(B) and then an mc x kc block of op(A)
   are packed (transposes are resolved here, so the inner loops never see
   them) into micro-panels laid out in the order the micro-kernel reads
   them; the micro-kernel (gemm_ukernels.c, chosen per CPU) then sweeps
   GEMM_MR x nr tiles of C with rank-1 updates held in registers.

   Threads take rectangles of C whose corners lie on the register-tile
   grid, and every thread uses the same kc blocking, so each element of C
   goes through the same operations in the same order whatever the thread
   count: results are bit-identical. Small products skip the packing. */
#include <pthread.h>
#include <string.h>

#include "tensor/tensor_impl.h"
#include "gemm_internal.h"
#include "gemm_small.h"
#include "kernels.h"
#include "base/parallel_impl.h"

/* Products with fewer multiply-adds than this run the direct loops. */
#define GEMM_DIRECT_MAX_FLOPS 8192
/* Products with fewer multiply-adds than this stay on one thread. */
#define GEMM_PARALLEL_MIN_FLOPS (1 << 21) /* waking a worker costs ~5-20 us */

typedef struct {
    bool ta, tb;
    int64_t M, N, K;
    float alpha, beta;
    const float *A, *B;
    float *C;
    int64_t lda, ldb, ldc;
    const nn_gemm_arch *arch;
    int64_t grid_m, grid_n; /* thread rectangles */
} gemm_args;

/* --- direct loops: small products, and the fallback when no workspace */

/* C[r0:r1, c0:c1] = alpha * op(A) op(B) + beta * C with plain loops. The
   innermost loop runs along the longest of the three dimensions, so tiny
   products (SimpleNet's 64x5x2, 5x2x64, ...) spend their time multiplying,
   not looping; transposes are just strides here. */
static void gemm_direct(const gemm_args *g, int64_t r0, int64_t r1, int64_t c0, int64_t c1)
{
    const float *A = g->A, *B = g->B;
    float *C = g->C;
    const float alpha = g->alpha, beta = g->beta;
    const int64_t K = g->K, ldc = g->ldc;
    /* op(A)[i,k] = A[i*ai + k*ak], op(B)[k,j] = B[k*bk + j*bj] */
    const int64_t ai = g->ta ? 1 : g->lda, ak = g->ta ? g->lda : 1;
    const int64_t bk = g->tb ? 1 : g->ldb, bj = g->tb ? g->ldb : 1;
    const int64_t m = r1 - r0, n = c1 - c0;

    for (int64_t i = r0; i < r1; i++)
        for (int64_t j = c0; j < c1; j++)
            C[i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
    if (K >= m && K >= n) {
        /* C[i,j] += alpha * dot(op(A)[i,:], op(B)[:,j]) */
        for (int64_t i = r0; i < r1; i++)
            for (int64_t j = c0; j < c1; j++) {
                const float *a = A + i * ai, *b = B + j * bj;
                float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f; /* four chains hide latency */
                int64_t k = 0;
                for (; k + 4 <= K; k += 4) {
                    s0 += a[k * ak] * b[k * bk];
                    s1 += a[(k + 1) * ak] * b[(k + 1) * bk];
                    s2 += a[(k + 2) * ak] * b[(k + 2) * bk];
                    s3 += a[(k + 3) * ak] * b[(k + 3) * bk];
                }
                for (; k < K; k++)
                    s0 += a[k * ak] * b[k * bk];
                C[i * ldc + j] += alpha * ((s0 + s1) + (s2 + s3));
            }
    } else if (n >= m) {
        /* C[i,:] += (alpha * op(A)[i,k]) * op(B)[k,:] */
        for (int64_t i = r0; i < r1; i++) {
            float *c = C + i * ldc;
            for (int64_t k = 0; k < K; k++) {
                float a = alpha * A[i * ai + k * ak];
                const float *b = B + k * bk;
                if (bj == 1)
                    for (int64_t j = c0; j < c1; j++)
                        c[j] += a * b[j];
                else
                    for (int64_t j = c0; j < c1; j++)
                        c[j] += a * b[j * bj];
            }
        }
    } else {
        /* C[:,j] += op(A)[:,k] * (alpha * op(B)[k,j]) */
        for (int64_t j = c0; j < c1; j++)
            for (int64_t k = 0; k < K; k++) {
                float b = alpha * B[k * bk + j * bj];
                const float *a = A + k * ak;
                for (int64_t i = r0; i < r1; i++)
                    C[i * ldc + j] += a[i * ai] * b;
            }
    }
}

/* --- packing */

/* op(A)[i0:i0+mc, p0:p0+kc] as micro-panels of GEMM_MR rows, each stored
   k-major (dst[k * MR + r]), rows past mc zero (the variant's packer). */
static void pack_a(const gemm_args *g, int64_t i0, int64_t mc, int64_t p0, int64_t kc,
                   float *dst)
{
    for (int64_t ir = 0; ir < mc; ir += GEMM_MR, dst += kc * GEMM_MR) {
        int m = mc - ir < GEMM_MR ? (int)(mc - ir) : GEMM_MR;
        int64_t i = i0 + ir;
        const float *src = g->ta ? g->A + p0 * g->lda + i : g->A + i * g->lda + p0;
        g->arch->pack_a(src, g->lda, g->ta, kc, m, dst);
    }
}

/* op(B)[p0:p0+kc, j0:j0+nc] as micro-panels of nr columns (the variant's
   packer, vectorised for its width). */
static void pack_b(const gemm_args *g, int64_t p0, int64_t kc, int64_t j0, int64_t nc, int nr,
                   float *dst)
{
    for (int64_t jr = 0; jr < nc; jr += nr, dst += kc * nr) {
        int n = nc - jr < nr ? (int)(nc - jr) : nr;
        int64_t j = j0 + jr;
        const float *src = g->tb ? g->B + j * g->ldb + p0 : g->B + p0 * g->ldb + j;
        g->arch->pack_b(src, g->ldb, g->tb, kc, n, dst);
    }
}

/* --- per-thread workspace: allocated on a thread's first packed product,
   grown when a larger one comes, kept for the thread's life (released at
   thread exit with the release function it was allocated under). */
typedef struct {
    nn_release_fn release;
} ws_header;

static _Thread_local void *ws_raw;
static _Thread_local size_t ws_floats;
static pthread_key_t ws_key;
static pthread_once_t ws_once = PTHREAD_ONCE_INIT;
static bool ws_key_ok;

/* Workspaces of different threads are allocated and released one at a
   time, so the user's allocator (nn_set_allocator) is never entered
   concurrently by our threads. */
static pthread_mutex_t ws_lock = PTHREAD_MUTEX_INITIALIZER;

static void ws_free(void *raw)
{
    if (raw) {
        pthread_mutex_lock(&ws_lock);
        ((ws_header *)raw)->release(raw);
        pthread_mutex_unlock(&ws_lock);
    }
}

static void ws_init(void)
{
    ws_key_ok = pthread_key_create(&ws_key, ws_free) == 0;
}

static float *ws_align(void *raw)
{
    uintptr_t p = (uintptr_t)raw + sizeof(ws_header);
    return (float *)((p + 63) & ~(uintptr_t)63);
}

/* At least `floats` floats, 64-byte aligned; NULL when memory runs out. */
static float *workspace(size_t floats)
{
    if (ws_raw && ws_floats >= floats)
        return ws_align(ws_raw);
    pthread_once(&ws_once, ws_init);
    pthread_mutex_lock(&ws_lock);
    void *raw = nn_alloc(sizeof(ws_header) + 64 + floats * sizeof(float));
    if (raw)
        ((ws_header *)raw)->release = nn_current_release();
    pthread_mutex_unlock(&ws_lock);
    if (!raw)
        return NULL;
    ws_free(ws_raw);
    ws_raw = raw;
    ws_floats = floats;
    if (ws_key_ok)
        pthread_setspecific(ws_key, raw);
    return ws_align(raw);
}

/* --- the blocked loops over one rectangle of C */

static int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }
static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

static void gemm_packed(const gemm_args *g, int64_t r0, int64_t r1, int64_t c0, int64_t c1)
{
    const nn_gemm_arch *ar = g->arch;
    int nr = ar->nr;
    int64_t mc_max = min64(ar->mc, round_up(r1 - r0, GEMM_MR));
    int64_t nc_max = min64(ar->nc, round_up(c1 - c0, nr));
    /* K in equal blocks of at most kc (288 = 2 x 144, not 256 + 32): a thin
       last block would cost a full pass over C */
    int64_t kblocks = (g->K + ar->kc - 1) / ar->kc, kc_max = (g->K + kblocks - 1) / kblocks;
    float *pa = workspace((size_t)(mc_max * kc_max + kc_max * nc_max));
    if (!pa) { /* out of memory: correct, but rounded as the direct loops round */
        gemm_direct(g, r0, r1, c0, c1);
        return;
    }
    float *pb = pa + mc_max * kc_max;
    for (int64_t jc = c0; jc < c1; jc += nc_max) {
        int64_t nc = min64(nc_max, c1 - jc);
        for (int64_t pc = 0; pc < g->K; pc += kc_max) {
            int64_t kc = min64(kc_max, g->K - pc);
            float beta = pc == 0 ? g->beta : 1.0f; /* later K blocks add to C */
            pack_b(g, pc, kc, jc, nc, nr, pb);
            for (int64_t ic = r0; ic < r1; ic += mc_max) {
                int64_t mc = min64(mc_max, r1 - ic);
                pack_a(g, ic, mc, pc, kc, pa);
                for (int64_t jr = 0; jr < nc; jr += nr) {
                    int n = (int)min64(nr, nc - jr);
                    for (int64_t ir = 0; ir < mc; ir += GEMM_MR) {
                        int m = (int)min64(GEMM_MR, mc - ir);
                        ar->kernel(kc, pa + ir * kc, pb + jr * kc,
                                   g->C + (ic + ir) * g->ldc + jc + jr, g->ldc, g->alpha, beta,
                                   m, n);
                    }
                }
            }
        }
    }
}

/* --- op(B) packed once (kernels.h): K in the blocks gemm_packed uses;
   block p (rows pc.. of op(B)) at pc * round_up(N, nr), its micro-panels
   of nr columns kc_p * nr floats each. */

static int64_t k_block(const nn_gemm_arch *ar, int64_t K)
{
    int64_t kblocks = (K + ar->kc - 1) / ar->kc;
    return (K + kblocks - 1) / kblocks;
}

int64_t nn_gemm_packed_b_size(int64_t K, int64_t N)
{
    return K * round_up(N, nn_gemm_current_arch()->nr);
}

void nn_gemm_prepack_b(bool trans_b, int64_t K, int64_t N, const float *B, int64_t ldb, float *Bp)
{
    const nn_gemm_arch *ar = nn_gemm_current_arch();
    gemm_args g = {.tb = trans_b, .B = B, .ldb = ldb, .arch = ar};
    int64_t kc_max = k_block(ar, K), npad = round_up(N, ar->nr);
    for (int64_t pc = 0; pc < K; pc += kc_max)
        pack_b(&g, pc, min64(kc_max, K - pc), 0, N, ar->nr, Bp + pc * npad);
}

int64_t nn_gemm_prepacked_ws_size(int64_t M, int64_t K)
{
    const nn_gemm_arch *ar = nn_gemm_current_arch();
    return min64(ar->mc, round_up(M, GEMM_MR)) * k_block(ar, K);
}

void nn_gemm_prepacked_cat(int64_t M, int64_t N, int64_t K1, const float *A1, int64_t lda1, int64_t K2,
                           const float *A2, int64_t lda2, const float *Bp, float beta, float *C, int64_t ldc,
                           float *ws)
{
    const nn_gemm_arch *ar = nn_gemm_current_arch();
    int nr = ar->nr;
    int64_t K = K1 + K2, kc_max = k_block(ar, K), npad = round_up(N, nr), mc_max = min64(ar->mc, round_up(M, GEMM_MR));
    for (int64_t pc = 0; pc < K; pc += kc_max) {
        int64_t kc = min64(kc_max, K - pc);
        float b = pc == 0 ? beta : 1.0f; /* later K blocks add to C */
        const float *pb = Bp + pc * npad;
        /* this K block: steps [pc, e1) of A1, [s2, pc + kc) of A2 */
        int64_t e1 = min64(pc + kc, K1), s2 = pc > K1 ? pc : K1;
        for (int64_t ic = 0; ic < M; ic += mc_max) {
            int64_t mc = min64(mc_max, M - ic);
            for (int64_t ir = 0; ir < mc; ir += GEMM_MR) {
                int m = (int)min64(GEMM_MR, mc - ir);
                float *dst = ws + ir * kc;
                if (e1 > pc)
                    ar->pack_a(A1 + (ic + ir) * lda1 + pc, lda1, false, e1 - pc, m, dst);
                if (pc + kc > s2)
                    ar->pack_a(A2 + (ic + ir) * lda2 + (s2 - K1), lda2, false, pc + kc - s2, m,
                               dst + (s2 - pc) * GEMM_MR);
            }
            for (int64_t jr = 0; jr < N; jr += nr) {
                int n = (int)min64(nr, N - jr);
                for (int64_t ir = 0; ir < mc; ir += GEMM_MR)
                    ar->kernel(kc, ws + ir * kc, pb + jr * kc, C + (ic + ir) * ldc + jr, ldc, 1.0f, b,
                               (int)min64(GEMM_MR, mc - ir), n);
            }
        }
    }
}

void nn_gemm_prepacked(bool trans_a, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                       const float *Bp, float beta, float *C, int64_t ldc, float *ws)
{
    const nn_gemm_arch *ar = nn_gemm_current_arch();
    gemm_args g = {.ta = trans_a, .A = A, .lda = lda, .arch = ar};
    int nr = ar->nr;
    int64_t kc_max = k_block(ar, K), npad = round_up(N, nr), mc_max = min64(ar->mc, round_up(M, GEMM_MR));
    for (int64_t pc = 0; pc < K; pc += kc_max) {
        int64_t kc = min64(kc_max, K - pc);
        float b = pc == 0 ? beta : 1.0f; /* later K blocks add to C */
        const float *pb = Bp + pc * npad;
        for (int64_t ic = 0; ic < M; ic += mc_max) {
            int64_t mc = min64(mc_max, M - ic);
            pack_a(&g, ic, mc, pc, kc, ws);
            for (int64_t jr = 0; jr < N; jr += nr) {
                int n = (int)min64(nr, N - jr);
                for (int64_t ir = 0; ir < mc; ir += GEMM_MR)
                    ar->kernel(kc, ws + ir * kc, pb + jr * kc, C + (ic + ir) * ldc + jr, ldc, alpha, b,
                               (int)min64(GEMM_MR, mc - ir), n);
            }
        }
    }
}

/* --- threads: a grid_m x grid_n grid of rectangles on the tile grid */

static void tile_range(int64_t tiles, int64_t parts, int64_t p, int64_t tile, int64_t size,
                       int64_t *lo, int64_t *hi)
{
    *lo = min64(size, tiles * p / parts * tile);
    *hi = min64(size, tiles * (p + 1) / parts * tile);
}

static void gemm_part(void *ctx, int64_t begin, int64_t end, int tid)
{
    (void)tid;
    const gemm_args *g = ctx;
    int64_t tm = (g->M + GEMM_MR - 1) / GEMM_MR, tn = (g->N + g->arch->nr - 1) / g->arch->nr;
    for (int64_t p = begin; p < end; p++) {
        int64_t r0, r1, c0, c1;
        tile_range(tm, g->grid_m, p / g->grid_n, GEMM_MR, g->M, &r0, &r1);
        tile_range(tn, g->grid_n, p % g->grid_n, g->arch->nr, g->N, &c0, &c1);
        if (r0 < r1 && c0 < c1)
            gemm_packed(g, r0, r1, c0, c1);
    }
}

/* Picks the grid for `threads` threads that minimises the largest
   rectangle's multiply-adds plus its packing (each thread packs its own
   rows of A and columns of B). */
static void choose_grid(gemm_args *g, int threads)
{
    int64_t tm = (g->M + GEMM_MR - 1) / GEMM_MR, tn = (g->N + g->arch->nr - 1) / g->arch->nr;
    double best = -1.0;
    g->grid_m = g->grid_n = 1;
    for (int64_t pn = 1; pn <= threads; pn++) {
        int64_t pm = threads / pn;
        if (pn > tn || pm > tm)
            continue;
        double rows = (double)((tm + pm - 1) / pm * GEMM_MR);
        double cols = (double)((tn + pn - 1) / pn * g->arch->nr);
        double cost = rows * cols + 8.0 * (rows + cols);
        if (best < 0 || cost < best) {
            best = cost;
            g->grid_m = pm;
            g->grid_n = pn;
        }
    }
}

static void scale_c(const gemm_args *g)
{
    for (int64_t i = 0; i < g->M; i++) {
        float *c = g->C + i * g->ldc;
        if (g->beta == 0.0f)
            memset(c, 0, (size_t)g->N * sizeof *c);
        else if (g->beta != 1.0f)
            for (int64_t j = 0; j < g->N; j++)
                c[j] *= g->beta;
    }
}

void nn_gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
             const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
             int64_t ldc)
{
    if (M <= 0 || N <= 0)
        return;
    double flops = (double)M * (double)N * (double)K;
    /* small products first: nothing to set up */
    if (K > 0 && alpha != 0.0f && flops < GEMM_DIRECT_MAX_FLOPS &&
        nn_gemm_small(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc))
        return;
    gemm_args g = {trans_a, trans_b, M, N, K, alpha, beta, A, B, C, lda, ldb, ldc,
                   nn_gemm_current_arch(), 1, 1};
    if (K <= 0 || alpha == 0.0f) {
        scale_c(&g);
        return;
    }
    if (flops < GEMM_DIRECT_MAX_FLOPS) {
        gemm_direct(&g, 0, M, 0, N);
        return;
    }
    int threads = flops < GEMM_PARALLEL_MIN_FLOPS ? 1 : nn_get_num_threads();
    choose_grid(&g, threads);
    int64_t parts = g.grid_m * g.grid_n;
    if (parts == 1)
        gemm_packed(&g, 0, M, 0, N);
    else
        nn_parallel_for(parts, 1, (int)parts, gemm_part, &g);
}
