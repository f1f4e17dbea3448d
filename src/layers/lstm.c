/* LSTM as torch.nn.LSTM: gates i, f, g, o from x_t W_ih^T + b_ih +
   h_{t-1} W_hh^T + b_hh; c_t = f c_{t-1} + i g, h_t = o tanh(c_t) (times
   W_hr^T with proj_size); the loops are recurrent.c's. */
#include "layers/recurrent.h"

static const nn_module_ops lstm_ops = {
    .type = "LSTM", .forward = nn_recurrent_forward, .backward = nn_recurrent_backward,
    .backward_ex = nn_recurrent_backward_ex, .extra_repr = nn_recurrent_extra_repr, .destroy = nn_recurrent_destroy,
};

nn_lstm_opts nn_lstm_defaults(int64_t input_size, int64_t hidden_size)
{
    return (nn_lstm_opts){.input_size = input_size, .hidden_size = hidden_size, .num_layers = 1, .bias = true,
                          .from_defaults = NN_OPTS_FROM_DEFAULTS};
}

nn_module *nn_lstm_ex(const nn_lstm_opts *o)
{
    if (!o)
        return nn_fail_null(NN_EINVAL, "nn_lstm: options are NULL");
    int by_hand = nn_opts_by_hand("nn_lstm", "nn_lstm_opts", "nn_lstm_defaults", o->from_defaults);
    if (by_hand < 0)
        return NULL;
    nn_rec_config c = {.mode = NN_REC_LSTM, .input_size = o->input_size, .hidden_size = o->hidden_size,
                       .proj_size = o->proj_size, .num_layers = by_hand && o->num_layers == 0 ? 1 : o->num_layers,
                       .bias = o->bias, .batch_first = o->batch_first, .bidirectional = o->bidirectional,
                       .dropout = o->dropout};
    return nn_recurrent_new(&c, &lstm_ops, "nn_lstm");
}

nn_module *nn_lstm(int64_t input_size, int64_t hidden_size)
{
    nn_lstm_opts o = nn_lstm_defaults(input_size, hidden_size);
    return nn_lstm_ex(&o);
}
