/* libnn: modules (layers and containers), their parameters, forward and
   backward.

   Ownership: a constructor returns a module the caller owns and frees with
   nn_module_free, unless it is handed to nn_sequential_add, which takes it
   over. nn_forward and nn_backward return tensors owned by the module: valid
   until the module's next forward (or backward) or its free; never free
   them. nn_backward returns dL/dx and ADDS into the parameter gradients
   (they accumulate until nn_zero_grad, as in PyTorch). */
#ifndef NN_MODULE_H
#define NN_MODULE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "opts.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nn_module nn_module;

/* Options structs here end with `uint32_t from_defaults`: the one rule
   for them all is in nn/opts.h. */

/* name: as PyTorch's state_dict() names it ("0.weight", "fc1.bias").
   All three pointers are owned by the module. */
typedef struct {
    const char *name;
    nn_tensor *value;
    nn_tensor *grad;
} nn_param;

/* A buffer: a named tensor that is state but not a parameter (torch's
   register_buffer: BatchNorm's running_mean). F32 buffers live in value;
   I64 ones are 0-dim int64 scalars at int_value (num_batches_tracked).
   Non-persistent buffers stay out of saved files. Owned by the module. */
typedef enum { NN_F32 = 0, NN_I64 = 1 } nn_dtype;
typedef struct {
    const char *name;
    nn_dtype dtype;
    nn_tensor *value;   /* NN_F32, else NULL */
    int64_t *int_value; /* NN_I64, else NULL */
    bool persistent;
} nn_buffer;

/* y = x W^T + b over the last dimension of x (any rank >= 1, leading
   dimensions may be 0); W [out, in]. Initialised as torch.nn.Linear from
   the library generator. Sizes must be positive (NULL otherwise). */
nn_module *nn_linear(int64_t in_features, int64_t out_features, bool bias);

/* 2-D convolution (cross-correlation) on [N, C, H, W] or unbatched [C, H, W]
   input (output [N, out, OH, OW] or [out, OH, OW]); weight [out, in/groups,
   kh, kw], bias [out]; zero padding. Initialised as torch.nn.Conv2d. Channels and
   kernel sizes must be positive, padding >= 0, stride and dilation >= 0
   (0 means 1); NULL otherwise. Bias: yes. Forward fails when the dilated
   kernel is larger than the padded input. */
nn_module *nn_conv2d(int64_t in_channels, int64_t out_channels, int kernel_size,
                     int stride, int padding);
/* torch.nn.Conv2d's arguments (options rule: nn/opts.h), but for
   padding_mode, which is always torch's 'zeros'.
   groups: torch's groups; in_channels and out_channels must be divisible by
   it (groups == in_channels: depthwise). Channel group g of the output sees
   only channel group g of the input; weight [out, in/groups, kh, kw], its
   init's fan_in in/groups*kh*kw, as torch.
   padding_same: torch's padding='same' (pad_h and pad_w must then be 0,
   stride 1): the output has the input's size; the total padding
   dilation*(kernel-1) per dimension is split with the odd one at the
   bottom / right, as torch. Prints "padding=same". (torch's
   padding='valid' is padding 0, printed "padding=valid"; not offered.) */
typedef struct {
    int64_t in_channels, out_channels;
    int kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w;
    bool bias;
    int groups;        /* 1 (defaults); written by hand, 0 means 1 */
    bool padding_same; /* torch's padding='same' */
    uint32_t from_defaults; /* NN_OPTS_FROM_DEFAULTS from nn_conv2d_defaults, else 0 */
} nn_conv2d_opts;
/* torch.nn.Conv2d(in_channels, out_channels, kernel_size)'s defaults: square
   kernel, stride 1, padding 0, dilation 1, groups 1, bias true, no
   padding_same. Taken as written by nn_conv2d_ex: stride, dilation or
   groups 0 there is refused, bias false means no bias. */
nn_conv2d_opts nn_conv2d_defaults(int64_t in_channels, int64_t out_channels, int kernel_size);
/* Written by hand (from_defaults 0): stride, dilation and groups 0 mean 1;
   channels and kernel sizes have no default (0 is refused); bias is a bool
   and is taken as written: leaving it out means NO bias, unlike
   torch.nn.Conv2d's bias=True (write .bias = true, or start from
   nn_conv2d_defaults). Refused as torch refuses them: groups not dividing
   both channel counts, padding_same with a stride other than 1. */
nn_module *nn_conv2d_ex(const nn_conv2d_opts *o);

/* Transposed 2-D convolution as torch.nn.ConvTranspose2d (the gradient of
   a Conv2d with respect to its input) on [N, in, H, W] or [in, H, W];
   output [N, out, OH, OW] with OH = (H-1)*stride_h - 2*pad_h +
   dilation_h*(kernel_h-1) + output_pad_h + 1 (OW alike). Weight [in,
   out/groups, kh, kw], bias [out]; initialised as torch does (its fan_in
   from the weight's size(1): out/groups*kh*kw). Zero padding_mode only;
   torch's forward(input, output_size) is not offered. Prints as torch,
   e.g. "ConvTranspose2d(16, 8, kernel_size=(2, 2), stride=(2, 2))".
   nn_conv_transpose2d: square kernel, stride (0 means 1) and padding,
   bias yes. */
nn_module *nn_conv_transpose2d(int64_t in_channels, int64_t out_channels, int kernel_size, int stride,
                               int padding);
/* torch.nn.ConvTranspose2d's arguments (options rule: nn/opts.h;
   output_pad_h / output_pad_w are torch's output_padding). */
typedef struct {
    int64_t in_channels, out_channels;
    int kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, output_pad_h, output_pad_w, dilation_h,
        dilation_w;
    int groups;
    bool bias;
    uint32_t from_defaults; /* NN_OPTS_FROM_DEFAULTS from nn_conv_transpose2d_defaults, else 0 */
} nn_conv_transpose2d_opts;
/* torch.nn.ConvTranspose2d(in_channels, out_channels, kernel_size)'s
   defaults: square kernel, stride 1, padding 0, output_padding 0, groups 1,
   dilation 1, bias true; taken as written by nn_conv_transpose2d_ex
   (stride, dilation or groups 0 there is refused). */
nn_conv_transpose2d_opts nn_conv_transpose2d_defaults(int64_t in_channels, int64_t out_channels,
                                                      int kernel_size);
/* Written by hand (from_defaults 0): stride, dilation and groups 0 mean 1;
   channels and kernel sizes have no default; bias as written (leaving it
   out means no bias). Refused as torch refuses them: groups not dividing
   both channel counts, and (torch: at forward; here at construction) an
   output padding not smaller than either the stride or the dilation. */
nn_module *nn_conv_transpose2d_ex(const nn_conv_transpose2d_opts *o);

/* --- Sequences and tables: Conv1d, MaxPool1d, AvgPool1d, Embedding,
   LayerNorm as torch.nn's (PyTorch 1.13), plus Chomp1d (a libnn
   addition for causal convolutions). */

/* 1-D convolution (cross-correlation) as torch.nn.Conv1d on [N, C, L] or
   unbatched [C, L] (output [N, out, OL] or [out, OL], OL = (L + 2*padding
   - dilation*(kernel_size-1) - 1) / stride + 1); weight [out, in/groups,
   kernel_size], bias [out], initialised as torch (fan_in
   in/groups*kernel_size). Runs on Conv2d's machinery (the input seen as
   [N, C, 1, L]): the same speed, and results independent of the thread
   count. Zero padding_mode only. Prints as torch, with one-element
   tuples: "Conv1d(4, 8, kernel_size=(3,), stride=(1,), dilation=(2,))".
   nn_conv1d: bias yes, groups 1; stride and dilation 0 mean 1. */
nn_module *nn_conv1d(int64_t in_channels, int64_t out_channels, int kernel_size, int stride, int padding,
                     int dilation);
/* torch.nn.Conv1d's arguments (options rule: nn/opts.h). padding_same is
   torch's padding='same' (padding must then be 0 and stride 1): total
   padding dilation*(kernel_size-1), the odd one on the right, as torch. */
typedef struct {
    int64_t in_channels, out_channels;
    int kernel_size, stride, padding, dilation;
    int groups;        /* 1 (defaults); written by hand, 0 means 1 */
    bool bias;         /* true (defaults); written by hand: as written */
    bool padding_same; /* torch's padding='same' */
    uint32_t from_defaults; /* NN_OPTS_FROM_DEFAULTS from nn_conv1d_defaults, else 0 */
} nn_conv1d_opts;
/* torch.nn.Conv1d(in_channels, out_channels, kernel_size)'s defaults:
   stride 1, padding 0, dilation 1, groups 1, bias true, no padding_same;
   taken as written by nn_conv1d_ex (stride, dilation or groups 0 there is
   refused). Written by hand (from_defaults 0): stride, dilation and
   groups 0 mean 1; channels and kernel_size have no default; bias as
   written (leaving it out means NO bias). */
nn_conv1d_opts nn_conv1d_defaults(int64_t in_channels, int64_t out_channels, int kernel_size);
nn_module *nn_conv1d_ex(const nn_conv1d_opts *o);

/* Max / average pooling over windows along the last dimension of
   [N, C, L] or [C, L], as torch.nn.MaxPool1d / AvgPool1d (torch runs them
   as the 2-D poolings on [N, C, 1, L]; so does libnn, with the 2-D
   kernels): ties go to the first maximum, a NaN wins; padding at most half
   the window (checked here at construction, by torch at forward).
   return_indices is not offered. Print as torch:
   "MaxPool1d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)",
   "AvgPool1d(kernel_size=(3,), stride=(3,), padding=(0,))".
   nn_maxpool1d / nn_avgpool1d: stride 0 is kernel_size. */
nn_module *nn_maxpool1d(int kernel_size, int stride);
typedef struct {
    int kernel_size, stride, padding, dilation;
    bool ceil_mode;
    uint32_t from_defaults; /* NN_OPTS_FROM_DEFAULTS from nn_maxpool1d_defaults, else 0 */
} nn_maxpool1d_opts;
/* stride = kernel_size, padding 0, dilation 1, ceil_mode false; taken as
   written by nn_maxpool1d_ex. Written by hand: stride 0 is kernel_size,
   dilation 0 is 1; kernel_size has no default. */
nn_maxpool1d_opts nn_maxpool1d_defaults(int kernel_size);
nn_module *nn_maxpool1d_ex(const nn_maxpool1d_opts *o);
nn_module *nn_avgpool1d(int kernel_size, int stride);
typedef struct {
    int kernel_size, stride, padding;
    bool ceil_mode, count_include_pad;
    uint32_t from_defaults; /* NN_OPTS_FROM_DEFAULTS from nn_avgpool1d_defaults, else 0 */
} nn_avgpool1d_opts;
/* stride = kernel_size, padding 0, ceil_mode false, count_include_pad
   TRUE; taken as written by nn_avgpool1d_ex. Written by hand: stride 0 is
   kernel_size; the bools as written (leaving count_include_pad out means
   false, unlike torch's default). */
nn_avgpool1d_opts nn_avgpool1d_defaults(int kernel_size);
nn_module *nn_avgpool1d_ex(const nn_avgpool1d_opts *o);

/* libnn addition (not a torch.nn class): Chomp1d(chomp_size) drops the
   last chomp_size entries of the last dimension, y = x[..., :L - chomp],
   as the Chomp1d module of the temporal convolutional networks (TCN)
   code does after a Conv1d padded by (kernel_size-1)*dilation on both
   sides: Conv1d + Chomp1d is a causal convolution. Input of 1 to 8
   dimensions whose last is larger than chomp_size (>= 1; 0 is refused).
   dL/dx: g, zero in the chomped entries. Prints "Chomp1d(chomp_size=4)". */
nn_module *nn_chomp1d(int64_t chomp_size);

/* A lookup table as torch.nn.Embedding: weight [num_embeddings,
   embedding_dim] ~ N(0, 1) from the library generator, bit for bit
   torch's normal_ (see nn_init_normal); the row padding_idx is then zeroed
   and never gets a gradient. Input: indices as a float tensor of any shape
   (0-dim too, strided too) holding whole numbers in [0, num_embeddings)
   (libnn tensors are float only: torch's LongTensor of indices, as floats;
   a fraction, NaN or an index out of range is refused with the index and
   its position). Output [*input shape, embedding_dim]. Backward adds
   g[pos] into weight.grad's row input[pos] (in input order) and returns a
   zero tensor of the input's shape: indices have no gradient (torch
   gives None). max_norm, norm_type, scale_grad_by_freq and sparse are not
   offered. Prints "Embedding(10, 3)" / "Embedding(10, 3, padding_idx=0)". */
nn_module *nn_embedding(int64_t num_embeddings, int64_t embedding_dim);
typedef struct {
    int64_t num_embeddings, embedding_dim;
    /* torch's padding_idx: used when has_padding_idx; negative counts from
       the end (-1: the last row) and is stored as num_embeddings +
       padding_idx, as torch does; outside [-num_embeddings,
       num_embeddings) is refused */
    bool has_padding_idx;
    int64_t padding_idx;
    uint32_t from_defaults; /* NN_OPTS_FROM_DEFAULTS from nn_embedding_defaults, else 0 */
} nn_embedding_opts;
/* No padding_idx. Sizes have no default (0 is refused). */
nn_embedding_opts nn_embedding_defaults(int64_t num_embeddings, int64_t embedding_dim);
nn_module *nn_embedding_ex(const nn_embedding_opts *o);

/* Layer normalisation as torch.nn.LayerNorm over the last ndim (1 to 8)
   dimensions of the input, whose sizes must equal normalized_shape: per
   leading index, y = (x - mean) / sqrt(var + eps) * weight + bias with the
   biased variance. weight (1) and bias (0), of shape normalized_shape,
   when elementwise_affine. Prints "LayerNorm((16,), eps=1e-05,
   elementwise_affine=True)". nn_layernorm(NN_SHAPE(16)): the defaults. */
typedef struct {
    int ndim;
    int64_t normalized_shape[NN_MAX_DIMS];
    float eps;               /* 1e-5; written by hand, 0 means 1e-5 */
    bool elementwise_affine; /* true (defaults); written by hand: as written */
    uint32_t from_defaults;  /* NN_OPTS_FROM_DEFAULTS from nn_layernorm_defaults, else 0 */
} nn_layernorm_opts;
/* eps 1e-5, elementwise_affine true (ndim outside 1..8 is refused by the
   constructor, which names it). */
nn_layernorm_opts nn_layernorm_defaults(int ndim, const int64_t *normalized_shape);
nn_module *nn_layernorm(int ndim, const int64_t *normalized_shape);
nn_module *nn_layernorm_ex(const nn_layernorm_opts *o);

nn_module *nn_relu(void);    /* f(x) = max{0, x} */
/* ReLU(inplace=True) as torchvision's blocks print it. inplace changes
   only the printing: libnn never writes into a layer's input. NULL opts:
   defaults (inplace false). */
typedef struct {
    bool inplace;
} nn_relu_opts;
nn_module *nn_relu_ex(const nn_relu_opts *o);
nn_module *nn_sigmoid(void); /* f(x) = 1 / (1 + exp(-x)) */
nn_module *nn_tanh(void);    /* f(x) = tanh(x) */

/* Modern CNNs' activations, as torch.nn's (PyTorch 1.13): forward,
   backward and printing. Each takes any shape (0-dim and empty too) and
   strided input; results do not depend on the thread count. Options
   follow the rule in nn/opts.h: nn_<x>_defaults() is torch's
   defaults; a struct written by hand (from_defaults 0) gets torch's
   default for a float left 0, and its bools as written; NULL options are
   the defaults (but Softmax's dim has none). An inplace flag is printed
   as torch prints it; libnn never writes into a layer's input, but
   LeakyReLU and ELU with inplace=True differentiate as torch's in-place
   functions do: through the result (ELU: g * (y + alpha) where y <= 0),
   and refuse a negative negative_slope / alpha at backward with torch's
   message. */

/* LeakyReLU: x > 0 ? x : negative_slope * x; gradient 1 where x > 0,
   negative_slope elsewhere (also at 0). Any slope (NaN too) is accepted,
   as torch does. Prints LeakyReLU(negative_slope=0.01[, inplace=True])
   (torch prints an int slope without ".0"; here it is always a float). */
typedef struct {
    float negative_slope;   /* 0.01; written by hand, 0 means 0.01 (use nn_leaky_relu(0.0f) for 0) */
    bool inplace;           /* false */
    uint32_t from_defaults; /* NN_OPTS_FROM_DEFAULTS from nn_leaky_relu_defaults, else 0 */
} nn_leaky_relu_opts;
nn_leaky_relu_opts nn_leaky_relu_defaults(void);
nn_module *nn_leaky_relu_ex(const nn_leaky_relu_opts *o);
nn_module *nn_leaky_relu(float negative_slope); /* taken as written, 0 included */

/* ELU: x > 0 ? x : alpha * (exp(x) - 1); gradient alpha * exp(x) where
   x <= 0. Prints ELU(alpha=1.0[, inplace=True]). */
typedef struct {
    float alpha;            /* 1.0; written by hand, 0 means 1.0 (use nn_elu(0.0f) for 0) */
    bool inplace;           /* false */
    uint32_t from_defaults; /* NN_OPTS_FROM_DEFAULTS from nn_elu_defaults, else 0 */
} nn_elu_opts;
nn_elu_opts nn_elu_defaults(void);
nn_module *nn_elu_ex(const nn_elu_opts *o);
nn_module *nn_elu(float alpha); /* taken as written */

/* GELU: torch's approximate='none' (the exact x * Phi(x), with erf) or
   'tanh', as an enum: NN_GELU_NONE is 0, so a struct written by hand
   without .approximate is the exact form. Any other value is refused.
   Prints GELU(approximate='none') / GELU(approximate='tanh'). */
typedef enum { NN_GELU_NONE = 0, NN_GELU_TANH = 1 } nn_gelu_approximate;
typedef struct {
    nn_gelu_approximate approximate; /* NN_GELU_NONE */
    uint32_t from_defaults;          /* NN_OPTS_FROM_DEFAULTS from nn_gelu_defaults, else 0 */
} nn_gelu_opts;
nn_gelu_opts nn_gelu_defaults(void);
nn_module *nn_gelu_ex(const nn_gelu_opts *o);
nn_module *nn_gelu(void); /* approximate='none' */

/* SiLU: x * sigmoid(x). Prints SiLU() or SiLU(inplace=True). */
typedef struct {
    bool inplace;           /* false */
    uint32_t from_defaults; /* NN_OPTS_FROM_DEFAULTS from nn_silu_defaults, else 0 */
} nn_silu_opts;
nn_silu_opts nn_silu_defaults(void);
nn_module *nn_silu_ex(const nn_silu_opts *o);
nn_module *nn_silu(void);

/* Hardswish: x * relu6(x + 3) / 6; gradient 0 below -3, x / 3 + 1/2 on
   [-3, 3) (so -1/2 at -3), 1 from 3 on, as torch 1.13's vectorised
   kernel (its scalar loop, which takes the last n % 16 elements of a
   tensor, gives 3/2 at exactly 3). Prints Hardswish() whatever inplace
   is, as torch does. */
typedef struct {
    bool inplace;           /* false */
    uint32_t from_defaults; /* NN_OPTS_FROM_DEFAULTS from nn_hardswish_defaults, else 0 */
} nn_hardswish_opts;
nn_hardswish_opts nn_hardswish_defaults(void);
nn_module *nn_hardswish_ex(const nn_hardswish_opts *o);
nn_module *nn_hardswish(void);

/* Softmax / LogSoftmax along dim (negative: from the end) of an input of
   any rank, numerically stable (the maximum along dim is subtracted).
   dim is checked against the input's rank at forward, with torch's
   message ("Dimension out of range (expected to be in range of [-2, 1],
   but got 2)"); a 0-dim input counts as rank 1. torch's legacy dim=None
   is not supported. Print Softmax(dim=1) / LogSoftmax(dim=1). dim has no
   default: NULL options are refused, and a hand-written 0 is dim 0. */
typedef struct {
    int dim;
    uint32_t from_defaults; /* NN_OPTS_FROM_DEFAULTS from nn_softmax_defaults, else 0 */
} nn_softmax_opts;
typedef struct {
    int dim;
    uint32_t from_defaults; /* NN_OPTS_FROM_DEFAULTS from nn_log_softmax_defaults, else 0 */
} nn_log_softmax_opts;
nn_softmax_opts nn_softmax_defaults(int dim);
nn_log_softmax_opts nn_log_softmax_defaults(int dim);
nn_module *nn_softmax_ex(const nn_softmax_opts *o);
nn_module *nn_log_softmax_ex(const nn_log_softmax_opts *o);
nn_module *nn_softmax(int dim);
nn_module *nn_log_softmax(int dim);

/* Identity: y = x (a copy the module owns), dL/dx = g. Prints Identity(). */
nn_module *nn_identity(void);

/* Max pooling over windows of [N, C, H, W] or [C, H, W]; stride 0: kernel_size. */
nn_module *nn_maxpool2d(int kernel_size, int stride);
/* Rectangular windows, padding (at most half the window; padding never wins),
   dilation and ceil_mode as torch.nn.MaxPool2d. Prints like torch, e.g.
   MaxPool2d(kernel_size=(2, 3), ...). Options rule: nn/opts.h. */
typedef struct {
    int kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w;
    bool ceil_mode;
    uint32_t from_defaults; /* NN_OPTS_FROM_DEFAULTS from nn_maxpool2d_defaults, else 0 */
} nn_maxpool2d_opts;
/* torch.nn.MaxPool2d(kernel_size)'s defaults: square window, stride =
   kernel_size, padding 0, dilation 1, ceil_mode false; taken as written by
   nn_maxpool2d_ex (stride or dilation 0 there is refused). */
nn_maxpool2d_opts nn_maxpool2d_defaults(int kernel_size);
/* Written by hand (from_defaults 0): 0 stride is the kernel size, 0
   dilation 1; kernel sizes have no default (0 is refused). */
nn_module *nn_maxpool2d_ex(const nn_maxpool2d_opts *o);

/* --- Modern CNNs: average and adaptive pooling, Flatten's dims. Input
   [N, C, H, W] or unbatched [C, H, W]; N may be 0 (an empty result) where
   PyTorch allows it, other empty sizes are refused as PyTorch does. */

/* Average pooling as torch.nn.AvgPool2d(kernel_size, stride); stride 0:
   kernel_size. Prints AvgPool2d(kernel_size=2, stride=2, padding=0). */
nn_module *nn_avgpool2d(int kernel_size, int stride);
/* All of torch.nn.AvgPool2d's arguments. Each window's sum of the taps
   inside the input is divided by divisor_override when it is not 0, else
   by the window's size clipped to the padded input (count_include_pad:
   padding counts, the ceil_mode overhang past it does not) or to the input.
   Padding at most half the window. Prints kernel_size, stride and padding
   only, as torch (a side pair prints as one int when equal); the output
   size rule is MaxPool2d's. Options rule: nn/opts.h. */
typedef struct {
    int kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w;
    bool ceil_mode, count_include_pad;
    int divisor_override; /* 0: none (torch's None) */
    uint32_t from_defaults; /* NN_OPTS_FROM_DEFAULTS from nn_avgpool2d_defaults, else 0 */
} nn_avgpool2d_opts;
/* torch.nn.AvgPool2d(kernel_size)'s defaults: square window, stride =
   kernel_size, padding 0, ceil_mode false, count_include_pad TRUE, no
   divisor_override; taken as written by nn_avgpool2d_ex (stride 0 there
   is refused). */
nn_avgpool2d_opts nn_avgpool2d_defaults(int kernel_size);
/* Written by hand (from_defaults 0): 0 stride is the kernel size; kernel
   sizes have no default (0 is refused); the bools are taken as written:
   leaving count_include_pad out means FALSE, unlike torch's default True
   (write .count_include_pad = true, or start from nn_avgpool2d_defaults). */
nn_module *nn_avgpool2d_ex(const nn_avgpool2d_opts *o);

/* Adaptive pooling to an output of out_h x out_w (each >= 1; larger than
   the input is fine): output row i averages (or takes the max of) input
   rows [floor(i*H/out_h), ceil((i+1)*H/out_h)), columns likewise. These
   print as torch given a tuple: AdaptiveAvgPool2d(output_size=(1, 1)). */
nn_module *nn_adaptive_avgpool2d(int out_h, int out_w);
/* Max of each window, dL/dx to its first maximum (a NaN wins), as
   torch.nn.AdaptiveMaxPool2d(return_indices=False). */
nn_module *nn_adaptive_maxpool2d(int out_h, int out_w);
/* torch's output_size argument: an int (size_is_int, out_h == out_w;
   prints output_size=7) or a tuple (prints output_size=(7, 7)). */
typedef struct {
    int out_h, out_w;
    bool size_is_int;
    uint32_t from_defaults; /* NN_OPTS_FROM_DEFAULTS from nn_adaptive_*pool2d_defaults, else 0 */
} nn_adaptive_avgpool2d_opts;
typedef nn_adaptive_avgpool2d_opts nn_adaptive_maxpool2d_opts;
/* torch.nn.AdaptiveAvgPool2d(output_size) with an int: out_h = out_w =
   output_size, size_is_int true. Sizes have no default: 0 is refused
   (written by hand too). */
nn_adaptive_avgpool2d_opts nn_adaptive_avgpool2d_defaults(int output_size);
nn_adaptive_maxpool2d_opts nn_adaptive_maxpool2d_defaults(int output_size);
nn_module *nn_adaptive_avgpool2d_ex(const nn_adaptive_avgpool2d_opts *o);
nn_module *nn_adaptive_maxpool2d_ex(const nn_adaptive_maxpool2d_opts *o);

/* torch.nn.Flatten(start_dim, end_dim): dimensions start_dim..end_dim
   (negative: from the end) become one; prints Flatten(start_dim=1,
   end_dim=-1). A 0-D input counts as 1-D. start_dim after end_dim (both
   of one sign) is refused here, the rest at forward as torch does. */
nn_module *nn_flatten_ex(int start_dim, int end_dim);
/* Flattens every dimension but the first: [N, ...] -> [N, prod(...)]:
   nn_flatten_ex(1, -1). */
nn_module *nn_flatten(void);
/* Training mode: zeroes each element with probability p and scales the
   rest by 1/(1-p); evaluation mode: identity. */
nn_module *nn_dropout(float p);

/* --- Sequences: RNN, LSTM, GRU as torch.nn.RNN / LSTM / GRU (PyTorch
   1.13): the same equations and gate order (LSTM i, f, g, o; GRU r, z, n
   with the reset gate applied to the hidden product plus its bias), two
   biases, the same parameter names in the same order, per layer k and
   direction: weight_ih_l<k>, weight_hh_l<k>, bias_ih_l<k>, bias_hh_l<k>
   (LSTM with proj_size: then weight_hr_l<k>), the reverse direction's with
   the suffix "_reverse" (weight_ih_l0_reverse). Shapes: weight_ih [G*H,
   in], weight_hh [G*H, H_out], biases [G*H], weight_hr [proj_size, H]
   with G = 1 (RNN), 4 (LSTM), 3 (GRU), H = hidden_size, H_out = proj_size
   or H, in = input_size for layer 0 and D*H_out above (D = 2 when
   bidirectional, else 1). Every parameter is drawn from U(-1/sqrt(H),
   1/sqrt(H)) in that order from the library generator: bit-identical to
   torch's reset_parameters for the same seed.

   nn_forward(m, x): x is [T, N, input_size] (sequence first), or [N, T,
   input_size] with batch_first, or unbatched [T, input_size]; it may be
   strided. Returns the output sequence [T, N, D*H_out] ([N, T, D*H_out]
   with batch_first, [T, D*H_out] unbatched): the last layer's h at every
   step, the two directions side by side (forward first), as torch's
   output. T must be >= 1 (torch: "Expected sequence length to be larger
   than 0"); N may be 0. In training mode with dropout > 0, each layer's
   output but the last is multiplied by a Bernoulli(1 - dropout) mask
   scaled by 1/(1 - dropout) before the next layer, drawn from the
   library generator (so it cannot match torch's draws); in evaluation
   mode never. nn_backward(m, g) takes dL/d(output) of the output's shape
   and returns dL/dx, adding into the parameter gradients (backward
   through time over the whole sequence; memory is the forward's cache,
   nothing grows with the steps taken); the gradient with respect to the
   final state is zero unless nn_rnn_set_final_state_grad gave one. The
   initial state is zero unless nn_rnn_set_state gave one; the final state
   is read with nn_rnn_final_state and dL/d(initial state) with
   nn_rnn_state_grad. Threads: the products are nn_gemm's, the gate
   arithmetic is split over the batch: results are bit-identical for any
   thread count. After the first step at a given shape nothing allocates.

   Printing as torch, e.g. "LSTM(32, 128, num_layers=2, batch_first=True,
   dropout=0.1, bidirectional=True)" (RNN never prints its nonlinearity,
   as torch). Options rule: nn/opts.h. Written by hand (from_defaults 0):
   num_layers 0 means 1; input_size and hidden_size have no default (0 is
   refused); the bools are taken as written, so leaving .bias out means NO
   biases, unlike torch's bias=True (write .bias = true, or start from
   nn_<x>_defaults). Refused as torch refuses them: dropout outside [0, 1],
   proj_size not smaller than hidden_size. (torch warns about dropout > 0
   with one layer; libnn accepts it silently: it then has no effect.) */
typedef enum { NN_RNN_TANH = 0, NN_RNN_RELU = 1 } nn_rnn_nonlinearity;
typedef struct {
    int64_t input_size, hidden_size;
    int num_layers;        /* 1 */
    bool bias;             /* true (defaults); by hand: as written */
    bool batch_first;      /* false */
    float dropout;         /* 0 */
    bool bidirectional;    /* false */
    nn_rnn_nonlinearity nonlinearity; /* NN_RNN_TANH: h = tanh(...), NN_RNN_RELU: relu */
    uint32_t from_defaults; /* NN_OPTS_FROM_DEFAULTS from nn_rnn_defaults, else 0 */
} nn_rnn_opts;
/* LSTM: proj_size > 0 gives torch's projected LSTM: h = W_hr (o * tanh(c)),
   h of size proj_size (h0, h_n and the output use it; c keeps H). */
typedef struct {
    int64_t input_size, hidden_size;
    int num_layers;
    bool bias;
    bool batch_first;
    float dropout;
    bool bidirectional;
    int64_t proj_size;     /* 0: none */
    uint32_t from_defaults; /* NN_OPTS_FROM_DEFAULTS from nn_lstm_defaults, else 0 */
} nn_lstm_opts;
typedef struct {
    int64_t input_size, hidden_size;
    int num_layers;
    bool bias;
    bool batch_first;
    float dropout;
    bool bidirectional;
    uint32_t from_defaults; /* NN_OPTS_FROM_DEFAULTS from nn_gru_defaults, else 0 */
} nn_gru_opts;
/* torch's defaults: one layer, bias, sequence first, no dropout, one
   direction, tanh, no projection. */
nn_rnn_opts nn_rnn_defaults(int64_t input_size, int64_t hidden_size);
nn_lstm_opts nn_lstm_defaults(int64_t input_size, int64_t hidden_size);
nn_gru_opts nn_gru_defaults(int64_t input_size, int64_t hidden_size);
nn_module *nn_rnn(int64_t input_size, int64_t hidden_size);  /* torch.nn.RNN(input_size, hidden_size) */
nn_module *nn_lstm(int64_t input_size, int64_t hidden_size); /* torch.nn.LSTM(input_size, hidden_size) */
nn_module *nn_gru(int64_t input_size, int64_t hidden_size);  /* torch.nn.GRU(input_size, hidden_size) */
nn_module *nn_rnn_ex(const nn_rnn_opts *o);
nn_module *nn_lstm_ex(const nn_lstm_opts *o);
nn_module *nn_gru_ex(const nn_gru_opts *o);

/* The initial state of every following forward of m (an RNN, LSTM or
   GRU), until the next call: torch's hx (h_0, c_0). h0 is [L*D, N, H_out]
   for batched input, [L*D, H_out] for unbatched (L = num_layers); c0,
   LSTM only, is [L*D, N, H] / [L*D, H]. NULL h0: zeros (c0 must then be
   NULL); NULL c0 with an LSTM: zeros. The values are copied (strided
   tensors too), so h0 may be what nn_rnn_final_state just gave (carrying
   the state from one chunk of a long sequence to the next, as torch's
   truncated backpropagation does with h.detach()). The number of
   dimensions and the sizes of dim 0 and the last dim are checked here;
   the batch size against the input at forward. NN_OK, or a negative
   nn_status with nothing changed. */
int nn_rnn_set_state(nn_module *m, const nn_tensor *h0, const nn_tensor *c0);
/* After a successful forward: torch's h_n [L*D, N, H_out] ([L*D, H_out]
   unbatched; the reverse direction's is its state after its last step,
   at time 0) and, LSTM only, c_n [L*D, N, H] (else *c_n = NULL). Either
   pointer may be NULL. Owned by m, valid until its next forward. */
int nn_rnn_final_state(nn_module *m, nn_tensor **h_n, nn_tensor **c_n);
/* After a successful nn_backward (or nn_backward_params): dL/dh0 and,
   LSTM only, dL/dc0 (else NULL), of h0's and c0's shapes; computed
   whether or not nn_rnn_set_state gave a state. Owned by m, valid until
   its next forward or backward. */
int nn_rnn_state_grad(nn_module *m, nn_tensor **dh0, nn_tensor **dc0);
/* For a loss that uses the final state too (torch: fc(h_n[-1]), or
   h_n in the loss): dL/dh_n and, LSTM only, dL/dc_n, of h_n's and c_n's
   shapes from the last forward, which the next nn_backward adds to what
   flows back from the output sequence. NULL: zero. Copied; called after
   the forward, before the backward; the next forward clears them. NN_OK,
   or a negative nn_status with nothing changed. */
int nn_rnn_set_final_state_grad(nn_module *m, const nn_tensor *dh_n, const nn_tensor *dc_n);

/* libnn addition, not a torch class: Select(dim, index) is torch.select
   as a layer -- x.select(dim, index), which drops dimension dim; PyTorch
   code writes it as out[:, -1, :] (dim 1, index -1). Negative dim and
   index count from the end, checked against the input at forward with
   torch's message ("select(): index 5 out of range for tensor of size
   [2, 5, 8] at dimension 1"). Backward puts the gradient at the selected
   slice and zeros elsewhere. Prints "Select(dim=1, index=-1)". The usual
   forecasting model, last time step to a linear head:
       nn_module *net = nn_sequential();
       nn_lstm_opts o = nn_lstm_defaults(8, 64);
       o.batch_first = true;
       nn_sequential_add(net, "lstm", nn_lstm_ex(&o));   // [N, T, 64]
       nn_sequential_add(net, "last", nn_select(1, -1)); // [N, 64]
       nn_sequential_add(net, "head", nn_linear(64, 1, true)); */
nn_module *nn_select(int dim, int64_t index);

/* Batch normalisation as torch.nn.BatchNorm1d ([N, C] or [N, C, L]) and
   BatchNorm2d ([N, C, H, W]): per channel c, y = (x - mean) / sqrt(var +
   eps) * weight + bias. Training mode (or track_running_stats false) uses
   the batch's mean and biased variance and, when tracking, moves the
   buffers running_mean / running_var (unbiased variance) by momentum, or
   by 1 / num_batches_tracked when momentum_none (torch's momentum=None);
   evaluation mode uses the running ones. Parameters weight (1) and bias
   (0) when affine; buffers running_mean (0), running_var (1) and the int64
   num_batches_tracked when track_running_stats. Training on one value per
   channel is refused, as PyTorch does. Options rule: nn/opts.h
   (written by hand: eps 0 and momentum 0 mean torch's 1e-5 and 0.1; the
   bools are taken as written, so start from the defaults). */
typedef struct {
    int64_t num_features;
    float eps, momentum;
    bool momentum_none; /* torch's momentum=None: a cumulative average */
    bool affine, track_running_stats;
    uint32_t from_defaults; /* NN_OPTS_FROM_DEFAULTS from nn_batchnorm2d_defaults, else 0 */
} nn_batchnorm2d_opts;
typedef nn_batchnorm2d_opts nn_batchnorm1d_opts;
/* eps 1e-5, momentum 0.1, affine and track_running_stats true */
nn_batchnorm2d_opts nn_batchnorm2d_defaults(int64_t num_features);
nn_batchnorm1d_opts nn_batchnorm1d_defaults(int64_t num_features);
nn_module *nn_batchnorm1d(int64_t num_features);
nn_module *nn_batchnorm2d(int64_t num_features);
nn_module *nn_batchnorm1d_ex(const nn_batchnorm1d_opts *o);
nn_module *nn_batchnorm2d_ex(const nn_batchnorm2d_opts *o);

/* torch.nn.Upsample(scale_factor=s, mode='nearest'): each element of a
   4-D [N, C, H, W] input repeated s times along H and W (output
   [N, C, s*H, s*W]); a 3-D [N, C, L] input is repeated along L only, as
   torch treats it. Backward sums the gradient over each block. Prints
   "Upsample(scale_factor=2.0, mode=nearest)". s from 1 to 65535. */
nn_module *nn_upsample(int scale_factor);
/* Separate factors for H and W (4-D input only), printed as torch prints
   a tuple: "Upsample(scale_factor=(2.0, 3.0), mode=nearest)". */
typedef struct {
    int scale_h, scale_w;
} nn_upsample_opts;
nn_module *nn_upsample_ex(const nn_upsample_opts *o);

/* Container running its children in order. A ReLU directly followed by a
   MaxPool2d runs as one pass (pooling relu(x) without making it): the same
   bits as the two in turn, with one pass less over the larger tensor; the
   ReLU child's own forward and backward are then skipped. */
nn_module *nn_sequential(void);
/* Appends child under name (NULL: its index, "0", "1", ...). On success the
   sequential owns child; on failure the caller still does. Names must be
   non-empty, unique and free of '.'. A module belongs to at most one
   container: adding it to a second one fails. */
int nn_sequential_add(nn_module *seq, const char *name, nn_module *child);
/* Class name printed by nn_module_print ("SimpleNet" prints "SimpleNet(");
   copied. Default "Sequential". */
int nn_sequential_set_class_name(nn_module *seq, const char *class_name);

/* Graph: a container whose children are wired as a directed acyclic graph,
   for residual blocks, skips and branches. Children are registered by
   name (printed and named in the state_dict in that order, as PyTorch's
   attributes); the wiring is a list of values: value 0 is the input, and
   every call below adds one value made from earlier ones and returns its
   id (>= 0). A failed call returns a negative nn_status; any call given a
   negative id returns it unchanged, so a builder can chain calls and
   check once, at nn_graph_output, which reports the first failure.

       nn_module *b = nn_graph();                    // torchvision's BasicBlock
       nn_module_set_class_name(b, "BasicBlock");
       nn_graph_add(b, "conv1", conv3x3(inplanes, planes, stride));
       nn_graph_add(b, "relu", nn_relu_ex(&(nn_relu_opts){.inplace = true}));
       nn_graph_add(b, "conv2", conv3x3(planes, planes, 1));
       int x = nn_graph_input(b);
       int out = nn_graph_apply(b, "relu", nn_graph_apply(b, "conv1", x));
       out = nn_graph_sum(b, nn_graph_apply(b, "conv2", out), x);
       if (nn_graph_output(b, nn_graph_apply(b, "relu", out)) < 0) ...

   A value used by several nodes gets the sum of their gradients. A child
   applied at several places (the block's one relu) runs as its own copy
   at each further place (a module with a clone op: the parameter-free
   layers); a module with parameters is applied once. */
#define NN_GRAPH_MAX_INPUTS 8
nn_module *nn_graph(void);
/* Registers child under name. The graph owns child from this call on,
   also when it fails (the child is then freed, unless it belongs to
   another container), so builders need no cleanup per call. */
int nn_graph_add(nn_module *graph, const char *name, nn_module *child);
/* The input value: 0. */
int nn_graph_input(nn_module *graph);
/* The child registered under name applied to value x. */
int nn_graph_apply(nn_module *graph, const char *name, int x);
/* a + b, elementwise; the shapes must be equal (no broadcasting). */
int nn_graph_sum(nn_module *graph, int a, int b);
/* torch.cat of n values (1 .. NN_GRAPH_MAX_INPUTS) along dim (negative:
   from the end); the other sizes must agree. */
int nn_graph_cat(nn_module *graph, const int *values, int n, int dim);
/* torch.flatten(v, start_dim, end_dim) as a forward written in PyTorch
   calls it (no module: nothing printed or named); dims negative from the
   end. */
int nn_graph_flatten(nn_module *graph, int v, int start_dim, int end_dim);
/* Makes value v what forward returns; NN_OK, or the first error any
   builder call on this graph met (its message again in nn_last_error). */
int nn_graph_output(nn_module *graph, int v);
/* y = body(x) + shortcut(x), or body(x) + x when shortcut is NULL: a
   Graph printed as "Residual" with children (body) and (shortcut). Takes
   both modules, also on failure. */
nn_module *nn_residual(nn_module *body, nn_module *shortcut);

/* Class name printed instead of the type, for any module ("BasicBlock");
   copied. */
int nn_module_set_class_name(nn_module *m, const char *class_name);

/* NULL + nn_last_error() on failure (a shape that does not fit, a NULL or
   malformed tensor, no memory). A failed call of a layer changes nothing:
   its last results, its gradients and what its next backward computes
   stay as they were. So does a failed nn_backward of a Sequential: the
   first backward at a new input shape (or thread count) saves the
   gradients and puts them back if a child fails; later ones allocate
   nothing. A failed forward of a Sequential has run the children before
   the one that failed (a Dropout among them has drawn its random
   numbers), so until a forward succeeds, its backward refuses (NN_EINVAL)
   rather than mix two inputs' caches. */
nn_tensor *nn_forward(nn_module *m, const nn_tensor *x);
nn_tensor *nn_backward(nn_module *m, const nn_tensor *grad_out);

/* Like nn_backward, but only adds into the parameter gradients (the very
   same values nn_backward adds) and returns NN_OK or a negative nn_status:
   the module may skip computing dL/dx of its own input, as PyTorch does for
   an input that does not require grad (a Sequential skips it in its first
   child; Conv2d and Linear then save their input-gradient GEMM). The
   tensor an earlier nn_backward returned may then hold stale values. */
int nn_backward_params(nn_module *m, const nn_tensor *grad_out);

/* A backward hook: told, during a backward, when a module's own
   parameter gradients are final for that backward: right after the
   module's backward added into them (a module with parameters runs once
   per pass, so nothing adds to them later in the same backward). In a
   Sequential the modules finish in reverse layer order; in a Graph in
   reverse order of the forward's dependencies. m is the module, params
   its own parameters (names as it registered them: "weight"); their grad
   tensors are views into the optimizer's gradient block once an optimizer
   exists (nn_optim_grad_block: p->grad->data - block is the offset). The
   hook runs on the thread that called nn_backward; it must not run a
   forward or backward itself. What it is for: starting the reduction of a
   bucket of gradients (data-parallel training) while the backward of the
   earlier layers still runs. If the backward fails after a hook was
   called, the gradients may be put back as they were (see nn_forward):
   treat that step as failed. */
typedef void (*nn_backward_hook)(void *ctx, nn_module *m, const nn_param *params, int n_params);
/* Sets (fn NULL: removes) the hook for every module with parameters in
   m's subtree, m included; a module tells the nearest module up its
   parent chain (itself first) that has one. Costs nothing while none is
   set, and never allocates. NN_OK, or NN_EINVAL for a NULL m. */
int nn_module_set_backward_hook(nn_module *m, nn_backward_hook fn, void *ctx);

/* Sets every parameter gradient to zero. */
void nn_zero_grad(nn_module *m);

/* Stores in *params an array of the module's parameters (owned by m, valid
   until m changes structure or is freed) and returns their count, or a
   negative nn_status. params may be NULL to only count. */
int nn_module_params(nn_module *m, nn_param **params);

/* Stores in *buffers the subtree's buffers with full names
   ("bn1.running_mean"), persistent or not, and returns their count (or a
   negative nn_status). Owned by m; valid until m's structure changes. */
int nn_module_buffers(nn_module *m, nn_buffer **buffers);

/* Folds every BatchNorm (in evaluation mode, with running statistics)
   that directly and alone follows a Conv2d or Linear, in any container of
   m, into that layer's weight and bias (a bias is added when it had
   none), and puts an Identity in the BatchNorm's place under the same
   name, as torch's fuse_conv_bn_eval does for each pair: outputs equal the
   unfolded model's to float rounding. m must be in evaluation mode (a
   training model is refused, NN_EINVAL). Returns the number of pairs
   folded, or a negative nn_status; each pair is folded whole or not at
   all, so after a failure part-way (no memory) the model still computes
   what it did. The parameter list changes: make optimizers afterwards. */
int nn_fold_batchnorm(nn_module *m);

/* Training (default) or evaluation mode for m and every module inside it. */
void nn_module_train(nn_module *m, bool training);

/* Type name: "Linear", "Sequential", ... (owned by the library). */
const char *nn_module_type(const nn_module *m);

/* Prints m the way PyTorch's print(model) does. */
void nn_module_print(const nn_module *m, FILE *f);

/* Frees m and everything it owns. NULL: no-op. A module that belongs to a
   container is freed by the container: freeing it directly does nothing
   but record an error. */
void nn_module_free(nn_module *m);

#ifdef __cplusplus
}
#endif
#endif
