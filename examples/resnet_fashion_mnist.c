/* Fashion-MNIST with a small residual network, the image classifier
   people train today: torchvision's BasicBlock with BatchNorm, a stem
   convolution, global average pooling and a Linear head.

     conv1 3x3 (1 -> 16) - bn1 - relu
     layer1: BasicBlock(16, 16)     28x28
     layer2: BasicBlock(16, 32, 2)  14x14 (1x1 conv + BatchNorm downsample)
     layer3: BasicBlock(32, 64, 2)   7x7
     avgpool (global) - fc Linear(64, 10)            77,754 parameters

   --width N scales the channels (N, 2N, 4N; --width 32 is the 308,074-
   parameter model of the calibration run).
   Recipe: inputs Normalize(0.5, 0.5); RandomCrop(28, padding=2) and
   RandomHorizontalFlip(0.5) on the training images; AdamW(lr 2e-3,
   weight decay 5e-4) with a cosine schedule over all the run's batches;
   batch 64; cross-entropy. tests/ref_resnet_fashion_mnist.py is the same
   model and recipe in PyTorch. Flags as examples/fashion_mnist.c. */
#include "imgcls_common.h"
#include "resnet_model.h"

static const char *const fashion_names[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                               "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

int main(int argc, char **argv)
{
    run_opts o = {.data = "/usr/share/datasets/fashion-mnist", .svg = "resnet_fashion_mnist.svg", .epochs = 10,
                  .batch_size = 64, .seed = 0, .lr = 2e-3f, .normalize = true, .adamw = true, .cosine = true,
                  .weight_decay = 5e-4f, .crop_padding = 2, .flip_p = 0.5f, .width = RESNET_DEFAULT_WIDTH};
    parse_args(argc, argv, &o);
    nn_manual_seed(o.seed);
    nn_module *net = resnet_model_width(o.width);
    if (!net) {
        fprintf(stderr, "cannot build the network: %s\n", nn_last_error());
        return 1;
    }
    int rc = run(&o, net, nn_mnist_load,
                 "Install the data with: apt-get install dataset-fashion-mnist (or pass --data DIR holding "
                 "train-images-idx3-ubyte.gz and friends)",
                 "Fashion-MNIST (ResNet)", fashion_names);
    nn_module_free(net);
    return rc;
}
