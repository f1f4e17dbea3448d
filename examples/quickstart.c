/* The README quickstart: XOR with SimpleNet (Linear(2,5) -> ReLU ->
   Linear(5,1)), MSE and SGD; verbatim but for the command-line check that
   every example has. CI also builds it outside the tree through pkg-config,
   the way users link libnn. */
#include <stdio.h>

#include <nn.h>

#include "demo_args.h"

static const char *usage = "usage: quickstart\n"
                           "  trains Linear(2,5) -> ReLU -> Linear(5,1) on XOR and prints the loss\n";

int main(int argc, char **argv)
{
    if (argc > 1) { /* it takes no flags but --help */
        bool help = demo_wants_help(argc, argv);
        fputs(usage, help ? stdout : stderr);
        return help ? 0 : 2;
    }
    nn_manual_seed(1);                        /* same weights as torch.manual_seed(1) */
    nn_module *net = nn_sequential();
    nn_sequential_add(net, "fc1", nn_linear(2, 5, true));
    nn_sequential_add(net, "relu", nn_relu());
    nn_sequential_add(net, "fc2", nn_linear(5, 1, true));
    nn_module_print(net, stdout);             /* prints like print(model) */

    nn_tensor *x = nn_tensor_from((const float[]){0, 0, 0, 1, 1, 0, 1, 1}, NN_SHAPE(4, 2));
    nn_tensor *y = nn_tensor_from((const float[]){0, 1, 1, 0}, NN_SHAPE(4, 1));
    nn_loss *mse = nn_mse_loss();
    nn_sgd_opts so = nn_sgd_defaults(0.1f);
    nn_optim *opt = nn_sgd(net, &so);

    for (int step = 0; step < 1000; step++) {
        nn_optim_zero_grad(opt);
        nn_tensor *out = nn_forward(net, x);        /* owned by net */
        float loss = nn_loss_forward(mse, out, y);  /* NaN on error */
        nn_backward(net, nn_loss_backward(mse));
        nn_optim_step(opt);
        if (step % 100 == 0)
            printf("step %d loss %.4f\n", step, loss);
    }
    nn_optim_free(opt);
    nn_loss_free(mse);
    nn_tensor_free(x);
    nn_tensor_free(y);
    nn_module_free(net);
    return 0;
}
