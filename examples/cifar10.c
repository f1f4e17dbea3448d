/* CIFAR-10 with the 3-channel variant of the Fashion-MNIST CNN:

     Conv2d(3,32,3,1,1) -> ReLU -> MaxPool2d(2) -> Conv2d(32,64,3,1,1) -> ReLU
     -> MaxPool2d(2) -> Flatten -> Linear(4096,128) -> ReLU -> Linear(128,10)

   Adam(1e-3), batch 64, cross-entropy. --data DIR holds the binary version
   (data_batch_1.bin .. data_batch_5.bin, test_batch.bin), directly or in
   DIR/cifar-10-batches-bin as the archive unpacks. */
#include "imgcls_common.h"

static const char *const cifar_names[10] = {"airplane", "automobile", "bird",  "cat",  "deer",
                                             "dog",      "frog",       "horse", "ship", "truck"};

static nn_module *cifar_net(void)
{
    nn_module *net = nn_sequential();
    nn_module *layers[] = {nn_conv2d(3, 32, 3, 1, 1), nn_relu(), nn_maxpool2d(2, 0),
                           nn_conv2d(32, 64, 3, 1, 1), nn_relu(), nn_maxpool2d(2, 0),
                           nn_flatten(), nn_linear(64 * 8 * 8, 128, true), nn_relu(),
                           nn_linear(128, 10, true)};
    for (size_t i = 0; i < sizeof layers / sizeof *layers; i++) {
        if (!net || !layers[i] || nn_sequential_add(net, NULL, layers[i]) < 0) {
            for (size_t j = i; j < sizeof layers / sizeof *layers; j++)
                nn_module_free(layers[j]);
            nn_module_free(net);
            return NULL;
        }
    }
    return net;
}

int main(int argc, char **argv)
{
    run_opts o = {.data = "cifar-10-batches-bin", .svg = "cifar10.svg", .epochs = 2, .batch_size = 64,
                  .seed = 0, .lr = 1e-3f};
    parse_args(argc, argv, &o);
    nn_manual_seed(o.seed);
    nn_module *net = cifar_net();
    if (!net) {
        fprintf(stderr, "cannot build the network: %s\n", nn_last_error());
        return 1;
    }
    int rc = run(&o, net, nn_cifar10_load,
                 "Pass --data DIR with the binary version of CIFAR-10 (cifar-10-binary.tar.gz unpacked: "
                 "data_batch_1.bin .. data_batch_5.bin, test_batch.bin)",
                 "CIFAR-10", cifar_names);
    nn_module_free(net);
    return rc;
}
