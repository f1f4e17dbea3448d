/* Internal: what RNN, LSTM and GRU (rnn.c, lstm.c, gru.c) share -- the
   stacking of layers and directions, the time loop forward and backward,
   the caches and the state functions (recurrent.c). Each class file holds
   its options, its constructors and its ops table. */
#ifndef NN_LAYERS_RECURRENT_H
#define NN_LAYERS_RECURRENT_H

#include "module/module_impl.h"

typedef enum { NN_REC_RNN_TANH, NN_REC_RNN_RELU, NN_REC_LSTM, NN_REC_GRU } nn_rec_mode;

/* The options every class has, after the options rule was applied. */
typedef struct {
    nn_rec_mode mode;
    int64_t input_size, hidden_size, proj_size;
    int num_layers;
    bool bias, batch_first, bidirectional;
    float dropout;
} nn_rec_config;

/* Validates c as torch does (messages name fn) and builds the module with
   ops (whose forward, backward, backward_ex, extra_repr and destroy are
   the nn_recurrent_* below), its parameters initialised as torch's. */
nn_module *nn_recurrent_new(const nn_rec_config *c, const nn_module_ops *ops, const char *fn);

nn_tensor *nn_recurrent_forward(nn_module *m, const nn_tensor *x);
nn_tensor *nn_recurrent_backward(nn_module *m, const nn_tensor *g);
nn_tensor *nn_recurrent_backward_ex(nn_module *m, const nn_tensor *g, bool need_dx);
int nn_recurrent_extra_repr(const nn_module *m, char *buf, size_t size);
void nn_recurrent_destroy(nn_module *m);

#endif
