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

#ifdef __cplusplus
}
#endif
#endif
