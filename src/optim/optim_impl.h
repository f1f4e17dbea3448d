/* Internal: the optimizer interface shared by the files in src/optim/, and
   a generic view of an optimizer's state for checkpointing code (which saves and
   restores it without knowing which optimizer it is).

   State layout: each optimizer keeps a fixed list of per-parameter buffer
   keys named as torch.optim's state_dict names them ("exp_avg",
   "exp_avg_sq", "max_exp_avg_sq", "momentum_buffer", "square_avg",
   "grad_avg", "sum"), one float array of the parameter's numel per
   (parameter, key), all in one block allocated at construction so that a
   step allocates nothing. torch creates most of them lazily at the first
   step; here they exist from the start but count as "present" only when
   torch would have them: after the first step (step count > 0), or always
   for eager state (Adagrad's "sum"). */
#ifndef NN_OPTIM_IMPL_H
#define NN_OPTIM_IMPL_H

#include "tensor/tensor_impl.h"
#include "nn/optim.h"

#define NN_OPTIM_MAX_KEYS 4

/* A hyperparameter: a float or bool field of the optimizer's options. */
typedef struct {
    const char *name;  /* torch's param_groups key: "lr", "betas.0", "nesterov" */
    size_t offset;     /* of the field in the options struct */
    bool is_bool;
} nn_optim_hparam_desc;

typedef struct nn_optim_ops {
    const char *type;        /* "Adam" */
    const char *constructor; /* "nn_adam", named in error messages */
    size_t opts_size;
    const nn_optim_hparam_desc *hparams;
    int n_hparams;
    bool has_step;   /* torch keeps state[p]["step"] (all but SGD) */
    bool lazy_state; /* buffers appear at the first step (all but Adagrad) */
    /* NN_OK, or nn_fail naming fn and the bad option */
    int (*validate)(const char *fn, const void *opts);
    /* buffer keys in use for these options; returns their count */
    int (*keys)(const void *opts, const char **keys);
    /* fills the freshly allocated buffers (zeros already) */
    void (*init_state)(nn_optim *o);
    /* one update of n elements of one parameter; bufs[k] follows keys() */
    void (*update)(const nn_optim *o, float *param, const float *grad, float *const *bufs,
                   int64_t n);
} nn_optim_ops;

struct nn_optim {
    const nn_optim_ops *ops;
    void *opts;          /* the options struct inside the derived optimizer */
    nn_param *params;    /* copy of the module's list taken at construction,
                            followed in the same block by copies of the names */
    int64_t *numel;      /* per parameter */
    int n_params;
    int64_t total;       /* sum of numel */
    int64_t step;        /* steps taken (torch's state[p]["step"], same for all p) */
    int n_keys;
    const char *keys[NN_OPTIM_MAX_KEYS];
    float *state;        /* n_keys * total floats: key-major, then parameter */
    int64_t *offset;     /* per parameter, into each key's section */
    /* the parameters' value tensors, then their grad tensors; construction
       packs them in this order into one flat block (nn_tensor_pack) so that
       a step is one loop over total elements while they stay packed */
    nn_tensor **tensors;
    /* the module the parameters came from, and its structure version
       then: a step refuses a model whose parameter list changed since */
    nn_module *module;
    uint64_t module_version;
};

/* Shared constructor: validates opts (copied into the derived struct of
   `size` bytes whose first member is nn_optim and whose options live at
   opts_offset), gathers m's parameters and allocates the state. */
nn_optim *nn_optim_create(const nn_optim_ops *ops, nn_module *m, const void *opts,
                          size_t size, size_t opts_offset);
/* Buffer k of parameter i. */
float *nn_optim_buffer(const nn_optim *o, int i, int k);

/* In a struct written by hand, a float field left 0 takes torch's default. */
static inline void nn_optim_default_if_zero(float *field, float torch_default)
{
    if (*field == 0.0f)
        *field = torch_default;
}

/* Validation in torch's terms; NN_OK or nn_fail naming fn, the option and
   its value. NaN and infinities are refused too. */
int nn_optim_check_nonneg(const char *fn, const char *name, float v); /* v >= 0 */
int nn_optim_check_unit(const char *fn, const char *name, float v);   /* 0 <= v < 1 */

/* Adam's and AdamW's options (the same fields; adam.c): their checks, and
   the names of their state buffers into keys (2, or 3 with amsgrad),
   returning how many. */
int nn_adam_check(const char *fn, float lr, float eps, float beta1, float beta2, float weight_decay);
int nn_adam_keys(bool amsgrad, const char **keys);

/* --- generic state access for checkpointing ------------------------- */

typedef struct {
    int param;              /* index in the optimizer's parameter list */
    const char *param_name; /* the module's name for it: "0.weight" */
    const char *key;        /* "exp_avg" */
    float *data;            /* length floats, owned by the optimizer */
    int64_t length;
    /* false while torch would not have the entry yet (lazy state before
       the first step): a saver skips it */
    bool present;
} nn_optim_state_entry;

/* Number of state buffers: parameters x keys. */
int nn_optim_state_count(const nn_optim *o);
/* Entry index (0 .. count-1, parameter-major as torch orders state);
   negative nn_status when out of range. */
int nn_optim_state_at(const nn_optim *o, int index, nn_optim_state_entry *out);
/* "state.<param>.<key>" into buf; negative when it does not fit. */
int nn_optim_state_name(const nn_optim_state_entry *e, char *buf, size_t size);

/* torch's state.<i>.step (false for SGD, which keeps none). */
bool nn_optim_has_step(const nn_optim *o);
int64_t nn_optim_get_step(const nn_optim *o);
/* Restores the step count. A loader sets it before copying buffers: with
   step > 0 lazy buffers count as present (for SGD, which saves no step,
   use 1 when the file has momentum buffers); step 0 resets lazy buffers
   to zero, as a fresh optimizer. Negative step: NN_EINVAL. */
int nn_optim_set_step(nn_optim *o, int64_t step);

/* Hyperparameters as (name, value) pairs; bools are 0 or 1. */
int nn_optim_hparam_count(const nn_optim *o);
int nn_optim_hparam_at(const nn_optim *o, int index, const char **name, double *value);
/* Sets one by name, validated as the constructor does; a value that would
   change which buffers exist (amsgrad, centered, momentum to or from 0) is
   refused. On error nothing changes. */
int nn_optim_hparam_set(nn_optim *o, const char *name, double value);

#endif
