/* Fashion-MNIST with a small CNN, as in the PyTorch tutorial's image
   classification project:

     Conv2d(1,32,3,1,1) -> ReLU -> MaxPool2d(2) -> Conv2d(32,64,3,1,1) -> ReLU
     -> MaxPool2d(2) -> Flatten -> Linear(3136,128) -> ReLU -> Linear(128,10)

   Adam(1e-3), batch 64, cross-entropy. Prints the test accuracy after every
   epoch, then a confusion matrix, and writes the curves as an SVG.
   Data: Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist)
   or any directory holding the four IDX files, raw or .gz. */
#include "imgcls_common.h"

static const char *const fashion_names[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                               "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

int main(int argc, char **argv)
{
    run_opts o = {.data = "/usr/share/datasets/fashion-mnist", .svg = "fashion_mnist.svg", .epochs = 2,
                  .batch_size = 64, .seed = 0, .lr = 1e-3f, .normalize = true};
    parse_args(argc, argv, &o);
    nn_manual_seed(o.seed);
    nn_module *net = imgcls_net(1, 28);
    if (!net) {
        fprintf(stderr, "cannot build the network: %s\n", nn_last_error());
        return 1;
    }
    int rc = run(&o, net, nn_mnist_load,
                 "Install the data with: apt-get install dataset-fashion-mnist (or pass --data DIR holding "
                 "train-images-idx3-ubyte.gz and friends)",
                 "Fashion-MNIST", fashion_names);
    nn_module_free(net);
    return rc;
}
