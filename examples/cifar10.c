/* CIFAR-10 with the 3-channel variant of the Fashion-MNIST CNN:

     Conv2d(3,32,3,1,1) -> ReLU -> MaxPool2d(2) -> Conv2d(32,64,3,1,1) -> ReLU
     -> MaxPool2d(2) -> Flatten -> Linear(4096,128) -> ReLU -> Linear(128,10)

   Adam(1e-3), batch 64, cross-entropy. --data DIR holds the binary version
   (data_batch_1.bin .. data_batch_5.bin, test_batch.bin), directly or in
   DIR/cifar-10-batches-bin as the archive unpacks. */
#include "imgcls_common.h"

static const char *const cifar_names[10] = {"airplane", "automobile", "bird",  "cat",  "deer",
                                             "dog",      "frog",       "horse", "ship", "truck"};

int main(int argc, char **argv)
{
    run_opts o = {.data = "cifar-10-batches-bin", .svg = "cifar10.svg", .epochs = 2, .batch_size = 64,
                  .seed = 0, .lr = 1e-3f, .normalize = true};
    parse_args(argc, argv, &o);
    nn_manual_seed(o.seed);
    nn_module *net = imgcls_net(3, 32);
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
