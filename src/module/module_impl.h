/* Internal: the module interface (public in nn/module_ops.h) plus what
   the library's own layers and containers share. */
#ifndef NN_MODULE_IMPL_H
#define NN_MODULE_IMPL_H

#include "nn/module.h"
#include "nn/module_ops.h"
#include "tensor/tensor_impl.h"

/* The library's layers come from nn_alloc and go back through nn_release. */
#define NN_MODULE_INIT(m, ops) nn_module_init_alloc((m), (ops), nn_release)

/* nn_forward of ops->forward_absorbing: m(f(x)) for the pointwise f that
   m absorbs, with nn_forward's checks, sequencing and error naming. */
nn_tensor *nn_module_forward_absorbing(nn_module *m, const nn_tensor *x);
/* Whether next can take prev in (prev pointwise f, next absorbs f). */
bool nn_module_absorbs(const nn_module *next, const nn_module *prev);

/* Runs the named module as the child of a container named in errors:
   "<error> (in child (conv1) of BasicBlock)". */
nn_tensor *nn_child_forward(nn_module *parent, const nn_child *c, const nn_tensor *x, bool absorbing);
nn_tensor *nn_child_backward(const nn_module *parent, const nn_child *c, nn_module *m,
                             const nn_tensor *g, bool need_dx);
/* v the way Python prints a float: shortest round-trip digits, ".0" when
   integral ("0.5", "2.0", "1e-05"); buf holds NN_REPR_FLOAT_LEN chars. */
#define NN_REPR_FLOAT_LEN 32
const char *nn_repr_float(float v, char *buf);
/* After a failed backward of a container: m and every module under it
   whose backward had already run may run it again (NULL: no-op). */
void nn_module_rearm(nn_module *m);
/* For absorb_channel_affine of a layer whose params[0] is a weight with
   one row per output channel (Conv2d, Linear): row c scaled by scale[c],
   the bias (params[1], added as "bias" when *has_bias is false, which it
   then sets) becomes bias * scale + shift. NN_ESHAPE when channels is
   not the row count, NN_ENOMEM; nothing changes on failure. */
int nn_absorb_rows_affine(nn_module *m, bool *has_bias, const float *scale, const float *shift, int64_t channels);
/* Renames the public function the last error names: a message that
   starts "from:" starts "to:" instead (the core's helpers name
   themselves; the call the user made should be named). Returns rc. */
int nn_rename_failure(int rc, const char *from, const char *to);
/* Whether a is m or one of the containers above it (adding a to m would
   make a cycle). */
bool nn_module_is_within(const nn_module *m, const nn_module *a);
/* The class name printed for m. */
const char *nn_module_class(const nn_module *m);
/* Bumps the structure version of m and of every container above it. */
void nn_module_touch(nn_module *m);
/* Structure version of the subtree under m (optimizers compare it). */
uint64_t nn_module_version(const nn_module *m);

#endif
