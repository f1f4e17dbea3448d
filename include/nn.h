/* libnn: a minimal neural-network library in C11.

   A training step reads like PyTorch:

       #include <nn.h>

       nn_manual_seed(0);
       nn_module *net = nn_sequential();
       nn_sequential_add(net, "fc1", nn_linear(2, 5, true));
       nn_sequential_add(net, "relu", nn_relu());
       nn_sequential_add(net, "fc2", nn_linear(5, 1, true));
       nn_loss *mse = nn_mse_loss();
       nn_sgd_opts so = nn_sgd_defaults(0.1f);
       nn_optim *opt = nn_sgd(net, &so);

       nn_optim_zero_grad(opt);
       nn_tensor *out = nn_forward(net, x);          // owned by net
       float loss = nn_loss_forward(mse, out, y);    // NaN on error
       nn_backward(net, nn_loss_backward(mse));
       nn_optim_step(opt);

       nn_optim_free(opt); nn_loss_free(mse); nn_module_free(net);

   Errors: NULL / negative nn_status / NaN, and nn_last_error() says why.

   Writing a layer of your own: #include <nn/module_ops.h> as well (the
   module base and its ops table; examples/custom_layer.c). It stays out
   of this header so that programs that only use layers do not depend on
   the base's layout. */
#ifndef NN_H
#define NN_H

#include "nn/error.h"
#include "nn/tensor.h"
#include "nn/random.h"
#include "nn/module.h"
#include "nn/loss.h"
#include "nn/optim.h"
#include "nn/parallel.h"
#include "nn/io.h"
#include "nn/data.h"
#include "nn/csv.h"
#include "nn/viz.h"

#endif
