/* mt19937 seeded the way PyTorch seeds its CPU generator, so the same seed
   gives the same initial weights as torch.manual_seed. */
#include <string.h>

#include "tensor/tensor_impl.h"
#include "nn/random.h"

#define MT_N 624
#define MT_M 397

static struct {
    uint32_t state[MT_N];
    int next;
    uint64_t seed;
    bool seeded;
} rng;

static void mt_seed(uint32_t s)
{
    rng.state[0] = s;
    for (int i = 1; i < MT_N; i++) {
        uint32_t prev = rng.state[i - 1];
        rng.state[i] = 1812433253u * (prev ^ (prev >> 30)) + (uint32_t)i;
    }
    rng.next = MT_N;
}

static void mt_twist(void)
{
    for (int i = 0; i < MT_N; i++) {
        uint32_t y = (rng.state[i] & 0x80000000u) | (rng.state[(i + 1) % MT_N] & 0x7fffffffu);
        uint32_t v = rng.state[(i + MT_M) % MT_N] ^ (y >> 1);
        rng.state[i] = (y & 1u) ? v ^ 0x9908b0dfu : v;
    }
    rng.next = 0;
}

void nn_manual_seed(uint64_t seed)
{
    rng.seed = seed;
    rng.seeded = true;
    mt_seed((uint32_t)(seed & 0xffffffffu)); /* torch keeps the low 32 bits */
}

uint64_t nn_initial_seed(void)
{
    return rng.seeded ? rng.seed : NN_DEFAULT_SEED;
}

uint32_t nn_random_u32(void)
{
    if (!rng.seeded)
        nn_manual_seed(NN_DEFAULT_SEED);
    if (rng.next >= MT_N)
        mt_twist();
    uint32_t y = rng.state[rng.next++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
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
    put_le(state + 16, (uint64_t)rng.next, 4);
    for (int i = 0; i < MT_N; i++)
        put_le(state + 20 + 4 * i, rng.state[i], 4);
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
    rng.next = (int)next;
    for (int i = 0; i < MT_N; i++)
        rng.state[i] = (uint32_t)get_le(state + 20 + 4 * i, 4);
    rng.seeded = true;
    return NN_OK;
}
