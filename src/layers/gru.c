/* GRU as torch.nn.GRU: gates r, z from x_t W_ih^T + b_ih + h_{t-1} W_hh^T
   + b_hh; n = tanh(x_t W_in^T + b_in + r * (h_{t-1} W_hn^T + b_hn)),
   h_t = (1 - z) n + z h_{t-1}; the loops are recurrent.c's. */
#include "layers/recurrent.h"

static const nn_module_ops gru_ops = {
    .type = "GRU", .forward = nn_recurrent_forward, .backward = nn_recurrent_backward,
    .backward_ex = nn_recurrent_backward_ex, .extra_repr = nn_recurrent_extra_repr, .destroy = nn_recurrent_destroy,
};

nn_gru_opts nn_gru_defaults(int64_t input_size, int64_t hidden_size)
{
    return (nn_gru_opts){.input_size = input_size, .hidden_size = hidden_size, .num_layers = 1, .bias = true,
                         .from_defaults = NN_OPTS_FROM_DEFAULTS};
}

nn_module *nn_gru_ex(const nn_gru_opts *o)
{
    if (!o)
        return nn_fail_null(NN_EINVAL, "nn_gru: options are NULL");
    int by_hand = nn_opts_by_hand("nn_gru", "nn_gru_opts", "nn_gru_defaults", o->from_defaults);
    if (by_hand < 0)
        return NULL;
    nn_rec_config c = {.mode = NN_REC_GRU, .input_size = o->input_size, .hidden_size = o->hidden_size,
                       .num_layers = by_hand && o->num_layers == 0 ? 1 : o->num_layers, .bias = o->bias,
                       .batch_first = o->batch_first, .bidirectional = o->bidirectional, .dropout = o->dropout};
    return nn_recurrent_new(&c, &gru_ops, "nn_gru");
}

nn_module *nn_gru(int64_t input_size, int64_t hidden_size)
{
    nn_gru_opts o = nn_gru_defaults(input_size, hidden_size);
    return nn_gru_ex(&o);
}
