/* mt19937 seeded the way PyTorch seeds its CPU generator, so the same seed
   gives the same initial weights as torch.manual_seed. */
#include "core.h"
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
