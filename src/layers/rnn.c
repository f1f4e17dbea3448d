/* RNN: h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh), act tanh or
   relu, as torch.nn.RNN; the loops are recurrent.c's. */
#include "layers/recurrent.h"

static const nn_module_ops rnn_ops = {
    .type = "RNN", .forward = nn_recurrent_forward, .backward = nn_recurrent_backward,
    .backward_ex = nn_recurrent_backward_ex, .extra_repr = nn_recurrent_extra_repr, .destroy = nn_recurrent_destroy,
};

nn_rnn_opts nn_rnn_defaults(int64_t input_size, int64_t hidden_size)
{
    return (nn_rnn_opts){.input_size = input_size, .hidden_size = hidden_size, .num_layers = 1, .bias = true,
                         .nonlinearity = NN_RNN_TANH, .from_defaults = NN_OPTS_FROM_DEFAULTS};
}

nn_module *nn_rnn_ex(const nn_rnn_opts *o)
{
    if (!o)
        return nn_fail_null(NN_EINVAL, "nn_rnn: options are NULL");
    int by_hand = nn_opts_by_hand("nn_rnn", "nn_rnn_opts", "nn_rnn_defaults", o->from_defaults);
    if (by_hand < 0)
        return NULL;
    if (o->nonlinearity != NN_RNN_TANH && o->nonlinearity != NN_RNN_RELU)
        return nn_fail_null(NN_EINVAL, "nn_rnn: unknown nonlinearity %d (NN_RNN_TANH or NN_RNN_RELU)",
                            (int)o->nonlinearity);
    nn_rec_config c = {.mode = o->nonlinearity == NN_RNN_RELU ? NN_REC_RNN_RELU : NN_REC_RNN_TANH,
                       .input_size = o->input_size, .hidden_size = o->hidden_size,
                       .num_layers = by_hand && o->num_layers == 0 ? 1 : o->num_layers, .bias = o->bias,
                       .batch_first = o->batch_first, .bidirectional = o->bidirectional, .dropout = o->dropout};
    return nn_recurrent_new(&c, &rnn_ops, "nn_rnn");
}

nn_module *nn_rnn(int64_t input_size, int64_t hidden_size)
{
    nn_rnn_opts o = nn_rnn_defaults(input_size, hidden_size);
    return nn_rnn_ex(&o);
}
