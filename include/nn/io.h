/* libnn: saving and loading a module's state_dict (its parameters and
   persistent buffers) in the safetensors format
   (https://github.com/huggingface/safetensors), keyed by PyTorch's
   state_dict names, so files move freely between libnn and PyTorch:
   safetensors.torch.load_file reads what nn_save writes, and a file saved
   from a torch model's state_dict loads into the same architecture built
   with libnn.

   Layout: 8-byte little-endian header length N, N bytes of JSON
   {"__metadata__": {"format": "pt"}, "fc1.bias": {"dtype": "F32",
   "shape": [5], "data_offsets": [0, 20]}, ...} padded with spaces to a
   multiple of 8, then the raw little-endian data. Parameters and float
   buffers are F32; int64 buffers (num_batches_tracked) are I64 of shape []
   (8 bytes), as torch stores them. Non-persistent buffers
   (register_buffer(..., persistent=False)) are not in the file. nn_save
   orders the tensors as the reference implementation does: I64 ones
   first, then F32 ones, each sorted by name; so it writes the very bytes
   of torch's state_dict saved by safetensors. Any order loads.

   Loading is strict, like torch's load_state_dict(strict=True): a missing
   key, an unexpected key (a non-persistent buffer's among them), a wrong
   shape or a dtype other than the model's (F32, or I64 for an int64
   buffer) fails with a message naming the key. Untrusted files are safe to load: every length
   and offset is checked (offsets must tile the data exactly), nesting and
   string lengths are bounded, strings must be UTF-8, keys must be unique.
   A failed load leaves every weight and buffer exactly as it was. */
#ifndef NN_IO_H
#define NN_IO_H

#include <stdio.h>

#include "module.h"
#include "optim.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Writes m's parameters and persistent buffers to path atomically: a temporary file next to it is
   written, flushed, fsync'ed and renamed over path, then the directory is
   fsync'ed. On failure (missing directory, no permission, disk full) returns
   a negative nn_status, leaves any previous file at path intact and removes
   the temporary. path must not be a directory; a symlink at path is
   replaced by the file. */
int nn_save(nn_module *m, const char *path);

/* Loads path into m's parameters and persistent buffers (all or nothing). The data must end
   exactly at the end of the file. */
int nn_load(nn_module *m, const char *path);

/* Stream twins for callers who manage their own FILE*: nn_save_fp writes
   at the current position and flushes; nn_load_fp reads one image from the
   current position and leaves the stream just after its data. Neither
   closes f. No fsync: durability of f is the caller's. */
int nn_save_fp(nn_module *m, FILE *f);
int nn_load_fp(nn_module *m, FILE *f);

/* Optimizer checkpoints, the same format: every state buffer as a tensor
   named as in torch's optimizer state_dict, "state.<parameter index>.<key>"
   ("state.0.exp_avg", "state.3.momentum_buffer"), shaped as its parameter,
   and in __metadata__ "optimizer" ("Adam"), "step" and every
   hyperparameter ("lr", "betas.0", "amsgrad", ... as text that reads back
   exactly). Save the module with nn_save alongside. Loading into an
   optimizer of the same type and options that change which buffers exist
   (amsgrad, centered, momentum zero or not) over a model of the same
   shapes restores it exactly, hyperparameters included: training then
   continues bit-identically to an uninterrupted run. All or nothing, with
   the same checks and atomic saving as nn_load / nn_save. */
int nn_optim_save(nn_optim *o, const char *path);
int nn_optim_load(nn_optim *o, const char *path);
int nn_optim_save_fp(nn_optim *o, FILE *f);
int nn_optim_load_fp(nn_optim *o, FILE *f);

#ifdef __cplusplus
}
#endif
#endif
