/* mt19937 seeded the way PyTorch seeds its CPU generator, so the same seed
   gives the same initial weights as torch.manual_seed. */
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
    rng.mt.next = (int)next;
    for (int i = 0; i < MT_N; i++)
        rng.mt.state[i] = (uint32_t)get_le(state + 20 + 4 * i, 4);
    rng.seeded = true;
    return NN_OK;
}
