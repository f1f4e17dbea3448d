/* mt19937 seeded the way PyTorch seeds its CPU generator, so the same seed
   gives the same initial weights as torch.manual_seed. */
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "tensor/tensor_impl.h"
#include "nn/random.h"

#define MT_N 624
#define MT_M 397

typedef struct {
    uint32_t state[MT_N];
    int next;
} mt19937;

static struct {
    mt19937 mt;
    uint64_t seed;
    bool seeded;
    /* torch's next_double_normal_sample: the second value of the last
       double Box-Muller pair, for the next normal draw (reset by a seed) */
    bool has_normal;
    double next_normal;
} rng;

static void mt_seed(mt19937 *mt, uint32_t s)
{
    mt->state[0] = s;
    for (int i = 1; i < MT_N; i++) {
        uint32_t prev = mt->state[i - 1];
        mt->state[i] = 1812433253u * (prev ^ (prev >> 30)) + (uint32_t)i;
    }
    mt->next = MT_N;
}

static void mt_twist(mt19937 *mt)
{
    for (int i = 0; i < MT_N; i++) {
        uint32_t y = (mt->state[i] & 0x80000000u) | (mt->state[(i + 1) % MT_N] & 0x7fffffffu);
        uint32_t v = mt->state[(i + MT_M) % MT_N] ^ (y >> 1);
        mt->state[i] = (y & 1u) ? v ^ 0x9908b0dfu : v;
    }
    mt->next = 0;
}

static uint32_t mt_next(mt19937 *mt)
{
    if (mt->next >= MT_N)
        mt_twist(mt);
    uint32_t y = mt->state[mt->next++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
}

void nn_manual_seed(uint64_t seed)
{
    rng.seed = seed;
    rng.seeded = true;
    rng.has_normal = false;
    mt_seed(&rng.mt, (uint32_t)(seed & 0xffffffffu)); /* torch keeps the low 32 bits */
}

uint64_t nn_initial_seed(void)
{
    return rng.seeded ? rng.seed : NN_DEFAULT_SEED;
}

uint32_t nn_random_u32(void)
{
    if (!rng.seeded)
        nn_manual_seed(NN_DEFAULT_SEED);
    return mt_next(&rng.mt);
}

/* torch 1.13's randperm_cpu: the identity, then for i = 0 .. n-2 a swap of
   element i with element i + random() % (n - i), on a generator of its own
   (torch.Generator().manual_seed(seed): the low 32 bits). */
int nn_randperm(int64_t n, uint64_t seed, int64_t *out)
{
    if (n < 0 || (n > 0 && !out))
        return nn_fail(NN_EINVAL, "nn_randperm: %s", n < 0 ? "negative n" : "out is NULL");
    mt19937 mt;
    mt_seed(&mt, (uint32_t)(seed & 0xffffffffu));
    for (int64_t i = 0; i < n; i++)
        out[i] = i;
    for (int64_t i = 0; i < n - 1; i++) {
        int64_t z = (int64_t)((uint64_t)mt_next(&mt) % (uint64_t)(n - i));
        int64_t t = out[i];
        out[i] = out[z + i];
        out[z + i] = t;
    }
    return NN_OK;
}

/* torch: uniform_real_distribution<float> takes 24 bits of one 32-bit draw;
   from/to pass through float as the tensor's dtype does. */
float nn_random_uniform(double from, double to)
{
    double lo = (double)(float)from, hi = (double)(float)to;
    uint32_t r = nn_random_u32();
    return (float)((double)(r & 0xFFFFFFu) / 16777216.0 * (hi - lo) + lo);
}

/* Layout: magic "MT19937\0", seed (u64), next (u32), the 624 words (u32),
   then zeros to NN_RANDOM_STATE_BYTES; all little-endian. */
static const char state_magic[8] = "MT19937";

static void put_le(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

void nn_random_get_state(uint8_t state[NN_RANDOM_STATE_BYTES])
{
    if (!state)
        return;
    if (!rng.seeded)
        nn_manual_seed(NN_DEFAULT_SEED);
    memset(state, 0, NN_RANDOM_STATE_BYTES);
    memcpy(state, state_magic, 8);
    put_le(state + 8, rng.seed, 8);
    put_le(state + 16, (uint64_t)rng.mt.next, 4);
    for (int i = 0; i < MT_N; i++)
        put_le(state + 20 + 4 * i, rng.mt.state[i], 4);
}

int nn_random_set_state(const uint8_t state[NN_RANDOM_STATE_BYTES])
{
    if (!state)
        return nn_fail(NN_EINVAL, "nn_random_set_state: state is NULL");
    uint64_t next = get_le(state + 16, 4);
    if (memcmp(state, state_magic, 8) != 0 || next > MT_N)
        return nn_fail(NN_EINVAL, "nn_random_set_state: not a state from nn_random_get_state "
                                  "(expected magic \"MT19937\" and a position <= %d)", MT_N);
    for (size_t i = 20 + 4 * MT_N; i < NN_RANDOM_STATE_BYTES; i++)
        if (state[i])
            return nn_fail(NN_EINVAL, "nn_random_set_state: not a state from nn_random_get_state "
                                      "(nonzero padding at byte %zu)", i);
    rng.seed = get_le(state + 8, 8);
    rng.has_normal = false;
    rng.mt.next = (int)next;
    for (int i = 0; i < MT_N; i++)
        rng.mt.state[i] = (uint32_t)get_le(state + 20 + 4 * i, 4);
    rng.seeded = true;
    return NN_OK;
}

/* --- normal samples as torch's CPU normal_ (aten/src/ATen/native/cpu/
   DistributionTemplates.h, PyTorch 1.13). A contiguous float tensor of 16
   or more elements is first filled with U(0, 1) floats (24 bits each),
   then each block of 16 becomes 8 Box-Muller pairs: u1 = 1 - data[j],
   u2 = data[j + 8], radius = sqrt(-2 log u1), theta = 2 pi u2, data[j] =
   radius cos theta, data[j + 8] = radius sin theta; when 16 does not
   divide the size, the last 16 elements are drawn again and redone. On a
   machine whose CPU capability is AVX2 (torch.__config__.show() says
   "CPU capability usage: AVX2"; the usual x86-64 build) log, sin and cos
   are the polynomials of avx_mathfun.h (Cephes via Pommier's
   sse_mathfun), compiled by GCC with its default -ffp-contract=fast:
   several multiply-adds fused. The functions below are those polynomials
   in scalar C with the same operations and the same fused multiply-adds
   (fmaf), checked against the AVX2 code for all 2^24 possible inputs and
   against torch's normal_ for 819200 draws. (torch's builds without AVX2,
   and its AVX-512 kernels, use libm's logf / cosf / sinf instead and
   give other low bits.) Smaller tensors take torch's double path: two
   53-bit uniforms per pair, libm's log / sin / cos in double, the pair's
   second value kept in the generator for the next draw. */
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF /* only the fmaf calls below fuse */
#endif

static float float_of(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static uint32_t bits_of(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* avx_mathfun.h's log256_ps for x in (0, 1] (normal, positive). */
static float cephes_logf(float x)
{
    uint32_t b = bits_of(x);
    int32_t ei = (int32_t)(b >> 23) - 0x7f;
    x = float_of((b & ~0x7f800000u) | bits_of(0.5f)); /* mantissa in [0.5, 1) */
    float e = (float)ei + 1.0f, tmp = 0.0f;
    if (x < 0.707106781186547524f) { /* SQRTHF */
        e = e - 1.0f;
        tmp = x;
    }
    x = x - 1.0f;
    x = x + tmp;
    float z = x * x;
    float y = 7.0376836292E-2f;
    y = fmaf(y, x, -1.1514610310E-1f);
    y = fmaf(y, x, 1.1676998740E-1f);
    y = fmaf(y, x, -1.2420140846E-1f);
    y = fmaf(y, x, +1.4249322787E-1f);
    y = fmaf(y, x, -1.6668057665E-1f);
    y = fmaf(y, x, +2.0000714765E-1f);
    y = fmaf(y, x, -2.4999993993E-1f);
    y = fmaf(y, x, +3.3333331174E-1f);
    y = y * x;
    float eq1 = e * -2.12194440e-4f;
    y = fmaf(y, z, eq1);
    y = fmaf(-z, 0.5f, y);
    float s = x + y;
    return fmaf(e, 0.693359375f, s);
}

/* avx_mathfun.h's sincos256_ps for x >= 0. */
static void cephes_sincosf(float x, float *sin_out, float *cos_out)
{
    float y = x * 1.27323954473516f; /* 4 / pi */
    int32_t j = (int32_t)y;
    j = (j + 1) & ~1;
    y = (float)j;
    bool sin_negative = (j & 4) != 0, poly_cos = (j & 2) == 0;
    bool cos_negative = ((~(j - 2)) & 4) != 0;
    x = fmaf(y, -0.78515625f, x);
    x = fmaf(y, -2.4187564849853515625e-4f, x);
    x = fmaf(y, -3.77489497744594108e-8f, x);
    float z = x * x;
    float c = fmaf(2.443315711809948E-005f, z, -1.388731625493765E-003f);
    c = fmaf(c, z, 4.166664568298827E-002f);
    c = c * z;
    float half_z = z * 0.5f;
    c = fmaf(c, z, -half_z);
    c = c + 1.0f;
    float s = fmaf(-1.9515295891E-4f, z, 8.3321608736E-3f);
    s = fmaf(s, z, -1.6666654611E-1f);
    s = s * z;
    s = fmaf(s, x, x);
    /* the vector code adds the other polynomial's masked-out +0 */
    float rs = (poly_cos ? s : c) + 0.0f, rc = (poly_cos ? c : s) + 0.0f;
    *sin_out = sin_negative ? -rs : rs;
    *cos_out = cos_negative ? -rc : rc;
}

/* normal_fill_16_AVX2 */
static void normal_fill16(float *data, float mean, float std)
{
    const float two_pi = (float)(2.0f * 3.14159265358979323846);
    for (int j = 0; j < 8; j++) {
        float u1 = 1.0f - data[j], u2 = data[j + 8];
        float radius = sqrtf(-2.0f * cephes_logf(u1));
        float theta = two_pi * u2, sn, cs;
        cephes_sincosf(theta, &sn, &cs);
        float n1 = radius * cs, n2 = radius * sn;
        data[j] = fmaf(n1, std, mean);
        data[j + 8] = fmaf(n2, std, mean);
    }
}

/* torch's random64(): two 32-bit draws, the first the high half */
static double uniform53(void)
{
    uint64_t hi = nn_random_u32(), lo = nn_random_u32();
    uint64_t r = hi << 32 | lo;
    return (double)(r & ((UINT64_C(1) << 53) - 1)) * (1.0 / (double)(UINT64_C(1) << 53));
}

/* at::normal_distribution<double>: one draw, the pair's second kept */
static double normal_double(double mean, double std)
{
    double ret;
    if (rng.has_normal) {
        rng.has_normal = false;
        ret = rng.next_normal;
    } else {
        double u1 = uniform53(), u2 = uniform53();
        double r = sqrt(-2.0 * log(1.0 - u2));
        double theta = 2.0 * 3.14159265358979323846 * u1;
        rng.next_normal = r * sin(theta);
        rng.has_normal = true;
        ret = r * cos(theta);
    }
    double scaled = ret * std;
    return scaled + mean;
}

void nn_random_normal_fill(float *data, int64_t n, double mean, double std)
{
    if (!rng.seeded)
        nn_manual_seed(NN_DEFAULT_SEED);
    if (n < 16) {
        for (int64_t i = 0; i < n; i++)
            data[i] = (float)normal_double(mean, std);
        return;
    }
    const float m = (float)mean, s = (float)std;
    for (int64_t i = 0; i < n; i++)
        data[i] = nn_random_uniform(0.0, 1.0);
    for (int64_t i = 0; i + 16 <= n; i += 16)
        normal_fill16(data + i, m, s);
    if (n % 16 != 0) {
        float *last = data + n - 16;
        for (int i = 0; i < 16; i++)
            last[i] = nn_random_uniform(0.0, 1.0);
        normal_fill16(last, m, s);
    }
}
