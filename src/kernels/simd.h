/* Internal: the GCC/Clang vector types of every SIMD loop in the library,
   declared once, and the few operations more than one kernel needs.

   The types are GCC/Clang vector extensions: the compiler emits SSE2 for
   v4f on x86-64 and scalar code on targets without such vectors; the wider
   types are only computed with inside functions compiled for AVX2 or
   AVX-512 (target attributes). Each is aligned(4), so a pointer cast may
   point at any float, and may_alias, so such a cast may read and write
   float arrays. Only kernels (src/kernels/) include this header. */
#ifndef NN_SIMD_H
#define NN_SIMD_H

#include <math.h>
#include <stdint.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

typedef float v4f __attribute__((vector_size(16), aligned(4), may_alias));
typedef int32_t v4i __attribute__((vector_size(16), aligned(4), may_alias));
typedef float v8f __attribute__((vector_size(32), aligned(4), may_alias));
typedef int32_t v8i __attribute__((vector_size(32), aligned(4), may_alias));
typedef float v16f __attribute__((vector_size(64), aligned(4), may_alias));
typedef int32_t v16i __attribute__((vector_size(64), aligned(4), may_alias));
/* four doubles, for sums of floats kept in double (never passed to or
   returned from a function: without AVX that would change the ABI) */
typedef double v4d __attribute__((vector_size(32)));
/* two and eight doubles, the same way (v8d only inside AVX-512 functions) */
typedef double v2d __attribute__((vector_size(16)));
typedef double v8d __attribute__((vector_size(64)));

/* four floats from / to any float address */
static inline v4f loadu4(const float *p)
{
    v4f v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void storeu4(float *p, v4f v) { memcpy(p, &v, sizeof v); }

static inline v4f splat4(float x) { return (v4f){x, x, x, x}; }

/* lanes of a where mask (all ones), of b elsewhere */
static inline v4f select4(v4i mask, v4f a, v4f b)
{
    return (v4f)(((v4i)a & mask) | ((v4i)b & ~mask));
}

/* correctly rounded square root of each lane (SSE2's sqrtps, else sqrtf) */
static inline v4f sqrt4(v4f x)
{
#if defined(__SSE2__)
    return (v4f)_mm_sqrt_ps((__m128)x);
#else
    return (v4f){sqrtf(x[0]), sqrtf(x[1]), sqrtf(x[2]), sqrtf(x[3])};
#endif
}

/* lanes i0..i3 of the eight in a then b (constant indices) */
#if defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 12)
#define SHUFFLE4(a, b, i0, i1, i2, i3) __builtin_shufflevector(a, b, i0, i1, i2, i3)
#else
#define SHUFFLE4(a, b, i0, i1, i2, i3) __builtin_shuffle(a, b, (v4i){i0, i1, i2, i3})
#endif

#endif
