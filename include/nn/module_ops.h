/* libnn: the module interface, for writing your own layers and containers.

   A layer is a struct whose first member is nn_module, pointing at a
   constant nn_module_ops table. The module core (this header's functions
   and nn/module.h's) does everything generic for every module alike:
   parameter and buffer naming ("layer1.0.conv1.weight"), state_dict files,
   zero_grad, train/eval, printing, ownership of children, cycle checks,
   and the failure rules. A layer only computes.

   A worked example, a learnable per-channel scale y[n,c,...] = x[n,c,...] * s[c]
   (examples/channel_scale.h has it in full, with a bias; examples/custom_layer.c
   trains it in a Sequential and in a Graph, saves and loads it):

       typedef struct { nn_module base; nn_tensor *x; nn_tensor *y, *dx; } scale;

       static nn_tensor *scale_forward(nn_module *m, const nn_tensor *x) { ... }
       static nn_tensor *scale_backward(nn_module *m, const nn_tensor *g) { ... }
       static int scale_extra_repr(const nn_module *m, char *buf, size_t size)
       { return snprintf(buf, size, "num_channels=%lld", ...); }
       static void scale_destroy(nn_module *m) { ...free what forward made... }

       static const nn_module_ops scale_ops = {
           .type = "ChannelScale", .forward = scale_forward, .backward = scale_backward,
           .extra_repr = scale_extra_repr, .destroy = scale_destroy,
       };
       nn_module *channel_scale(int64_t c)
       {
           scale *s = calloc(1, sizeof *s);              // any allocator
           if (!s) return NULL;
           nn_module_init(&s->base, &scale_ops);
           nn_tensor *w = nn_module_add_param(&s->base, "weight", NN_SHAPE(c));
           if (!w) { nn_module_free(&s->base); return NULL; }
           nn_tensor_fill(w, 1.0f);
           return &s->base;
       }

   What the core guarantees a layer:
   - forward gets a checked tensor (not NULL, sane shape; it may be strided:
     use nn_tensor_is_contiguous / nn_tensor_contiguous or the strides).
   - backward is only called after a forward succeeded and at most once per
     forward (the core refuses a second backward, as PyTorch does), with
     grad_out checked the same way (its shape is not checked: do that).
   - a module in a container is freed by the container, through destroy
     then the core's own release of parameters, buffers and children.

   What the core expects of a layer:
   - forward returns a tensor the layer owns (valid until its next forward
     or free) or NULL after recording an error (nn_set_error); it changes
     nothing the user can see when it fails.
   - backward returns dL/dx (owned by the layer) and ADDS into the
     gradients of its parameters (p->grad); NULL + error on failure, with
     the gradients unchanged.
   - after the first call at a given shape, neither allocates (training
     steps then allocate nothing).
   - destroy frees what the layer allocated itself, not the nn_module
     memory (the core frees that with the release function given to
     nn_module_init_alloc, else with free()), not parameters or buffers.

   Ownership: every pointer these functions return is owned by the module
   and lives as long as it does, unless said otherwise. */
#ifndef NN_MODULE_OPS_H
#define NN_MODULE_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "error.h"
#include "module.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nn_module_ops {
    /* Class name, printed by nn_module_print ("Linear"); a static string. */
    const char *type;
    /* Required. */
    nn_tensor *(*forward)(nn_module *m, const nn_tensor *x);
    nn_tensor *(*backward)(nn_module *m, const nn_tensor *grad_out);
    /* Optional: backward that may skip dL/dx when need_dx is false (it then
       returns any non-NULL tensor on success); with need_dx true, the same
       as backward. nn_backward_params and containers use it. */
    nn_tensor *(*backward_ex)(nn_module *m, const nn_tensor *grad_out, bool need_dx);
    /* Optional: what PyTorch's extra_repr returns, the text between the
       parentheses of "Linear(in_features=2, ...)", written snprintf-style
       (returns the length it needed). Numbers come out with '.' decimals:
       the core prints in the C locale. */
    int (*extra_repr)(const nn_module *m, char *buf, size_t size);
    /* Optional: frees what the layer owns besides the core's parts. */
    void (*destroy)(nn_module *m);
    /* Optional: told after m->training changed (children are the core's). */
    void (*set_training)(nn_module *m, bool training);
    /* Optional, for parameter-free layers: a new module configured as m,
       owned by the caller. A graph uses it to apply one module at several
       places in a pass (each place needs its own forward cache). */
    nn_module *(*clone)(const nn_module *m);
    /* Optional fusion. A pointwise layer names the function it computes
       (pointwise = "relu"); a layer that can take such a function in ahead
       of itself names it in absorbs and gives forward_absorbing(m, x),
       which computes m(f(x)) without making f(x); its next backward then
       returns dL/dx of f's input, bit for bit what the two layers in turn
       give. Sequential uses it for any such pair (ReLU -> MaxPool2d). */
    const char *pointwise;
    const char *absorbs;
    nn_tensor *(*forward_absorbing)(nn_module *m, const nn_tensor *x);
    /* Optional folding for inference (nn_fold_batchnorm). A layer that is
       now a per-channel affine map y[:, c] = x[:, c] * scale[c] + shift[c]
       (BatchNorm in evaluation mode) says so: with scale NULL it returns
       its channel count, else fills both arrays; negative when it is not
       one now. A layer whose output channels can take such a map into its
       weights (Conv2d, Linear) does so in absorb_channel_affine (NN_OK, or
       negative and nothing changed). */
    int64_t (*channel_affine)(const nn_module *m, float *scale, float *shift);
    int (*absorb_channel_affine)(nn_module *m, const float *scale, const float *shift, int64_t channels);
    /* Optional, for containers: the child whose input is exactly child
       i's output and nothing else reads that output (Sequential: i + 1),
       or -1. Folding pairs children through it. */
    int (*next_exclusive)(const nn_module *m, int i);
} nn_module_ops;

/* A child: a named submodule, owned by its parent. */
typedef struct {
    const char *name;
    nn_module *module;
} nn_child;

/* The module base. A layer reads ops, training and its own params[i]
   (in the order it added them); the rest is the core's bookkeeping,
   changed only through the functions below. */
struct nn_module {
    const nn_module_ops *ops;
    bool training;          /* true (default): training mode */
    nn_param *params;       /* own parameters, names as added ("weight") */
    int n_params;
    nn_buffer *buffers;     /* own buffers */
    int n_buffers;
    nn_child *children;     /* registration order, as PyTorch's _modules */
    int n_children;
    /* --- the core's alone */
    nn_module *parent;      /* the container that owns m, or NULL */
    char *class_name;       /* printed instead of ops->type when set */
    void (*release)(void *);/* frees the struct itself */
    uint64_t version;       /* changes with the structure of m's subtree */
    uint64_t gathered;      /* version the gathered lists below were made at */
    nn_param *all_params;   /* the subtree's parameters, full names */
    nn_buffer *all_buffers; /* and buffers */
    char *all_names;
    int n_all_params, n_all_buffers;
    int run_state;          /* forward/backward sequencing, see module.c */
    int children_run;       /* children whose forward succeeded in this forward */
    const char *failed_child; /* the child whose forward failed, or NULL */
    bool warm;              /* a backward succeeded at warm_shape / warm_threads */
    int warm_threads, warm_ndim;
    int64_t warm_shape[NN_MAX_DIMS];
    nn_backward_hook backward_hook; /* nn_module_set_backward_hook */
    void *backward_hook_ctx;
};

/* Initialises the base of a layer struct (zero-filled or not) that the
   caller allocated with malloc/calloc: nn_module_free releases it with
   free(). */
void nn_module_init(nn_module *m, const nn_module_ops *ops);
/* The same, for memory from another allocator: release frees it. */
void nn_module_init_alloc(nn_module *m, const nn_module_ops *ops, void (*release)(void *));

/* Adds a zero-filled parameter with a zero gradient of the same shape;
   name is copied (no '.', unique among m's parameters, buffers and
   children). Returns its value tensor (owned by m), or NULL + error. */
nn_tensor *nn_module_add_param(nn_module *m, const char *name, int ndim, const int64_t *shape);
/* Adds a zero-filled float buffer (torch's register_buffer): saved by
   nn_save when persistent, never seen by optimizers. NULL + error. */
nn_tensor *nn_module_add_buffer(nn_module *m, const char *name, int ndim, const int64_t *shape,
                                bool persistent);
/* Adds a 0-dim int64 buffer set to 0 (torch's num_batches_tracked):
   files store it as safetensors I64. Returns where it lives, or NULL. */
int64_t *nn_module_add_int_buffer(nn_module *m, const char *name, bool persistent);
/* Adds child under name; on success m owns it, on failure the caller
   still does. Fails when child is NULL (the error then keeps the message
   its constructor left), when the name is empty, has a '.', or is taken,
   when child already has a parent, or when it would make a cycle. */
int nn_module_add_child(nn_module *m, const char *name, nn_module *child);

/* The child registered under name, or NULL. */
nn_module *nn_module_child(const nn_module *m, const char *name);

/* For layers: a forward or backward that calls another module (a child)
   uses these, which apply the core's checks and sequencing. need_dx false
   lets the child skip dL/dx of its input. */
nn_tensor *nn_module_backward(nn_module *m, const nn_tensor *grad_out, bool need_dx);

/* Records an error for nn_last_error() (printf-style) and returns s. A
   layer's message names the public call and itself:
   "nn_forward: ChannelScale(num_channels=3) expected input [N, 3, ...], got [2, 4]". */
int nn_set_error(nn_status s, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Initialisation from the library generator, as torch.nn.init does. */
void nn_init_uniform(nn_tensor *t, double bound);        /* U(-bound, bound), memory order */
void nn_init_kaiming_uniform(nn_tensor *weight, nn_tensor *bias, double fan_in);
/* N(mean, std) as torch.nn.init.normal_ (tensor.normal_) on a contiguous
   t: bit for bit torch's CPU kernel with the AVX2 capability (the usual
   x86-64 build: its Box-Muller over blocks of 16 uniform floats, with
   avx_mathfun's log / sin / cos); fewer than 16 elements: torch's double
   Box-Muller, whose spare second value the generator keeps for the next
   normal draw as torch's does (not part of nn_random_get_state). */
void nn_init_normal(nn_tensor *t, double mean, double std);

#ifdef __cplusplus
}
#endif
#endif
