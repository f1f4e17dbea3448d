/* libnn: the global random generator (mt19937, seeded like PyTorch's CPU
   generator). Before any nn_manual_seed the seed is NN_DEFAULT_SEED, so
   runs reproduce. Not thread-safe: seed and build models on one thread. */
#ifndef NN_RANDOM_H
#define NN_RANDOM_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* torch's default_rng_seed_val: the seed a fresh torch.Generator() has. */
#define NN_DEFAULT_SEED UINT64_C(67280421310721)

/* Like torch.manual_seed(seed): only the low 32 bits count, as in torch. */
void nn_manual_seed(uint64_t seed);

/* The seed last set (NN_DEFAULT_SEED before any nn_manual_seed). */
uint64_t nn_initial_seed(void);

/* Next raw 32-bit output of the generator. */
uint32_t nn_random_u32(void);

/* A float drawn from U(from, to) exactly as torch's tensor.uniform_ draws
   one on the CPU (24 random bits). */
float nn_random_uniform(double from, double to);

/* torch.randperm(n, generator=g) with g = torch.Generator() seeded by
   g.manual_seed(seed) (its low 32 bits), as torch 1.13 computes it on the
   CPU: the same permutation of 0 .. n-1 into out[0 .. n), bit for bit
   (tests/gen_randperm.py). Uses a generator of its own: the library
   generator is untouched. What DistributedSampler shuffles with (its
   seed + epoch). NN_OK, or NN_EINVAL for n < 0 or a NULL out. */
int nn_randperm(int64_t n, uint64_t seed, int64_t *out);

/* The generator's whole state as bytes (like torch.get_rng_state), to
   resume a run exactly: the DataLoader's shuffles and Dropout's masks then
   continue as if never interrupted. Little-endian, so a saved state reads
   back on any machine. */
#define NN_RANDOM_STATE_BYTES 2520
void nn_random_get_state(uint8_t state[NN_RANDOM_STATE_BYTES]);

/* Restores a state from nn_random_get_state. Returns NN_OK, or NN_EINVAL
   (generator untouched) when the bytes are not such a state. A normal
   sample torch would keep for its next normal draw (nn_init_normal of
   fewer than 16 elements leaves one) is not in the state: it is dropped
   here, and by nn_manual_seed as torch does. */
int nn_random_set_state(const uint8_t state[NN_RANDOM_STATE_BYTES]);

#ifdef __cplusplus
}
#endif
#endif
