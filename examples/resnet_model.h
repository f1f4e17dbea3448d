/* The small ResNet of examples/resnet_fashion_mnist.c (also timed by
   build/bench): torchvision's BasicBlock and ResNet structure as libnn
   Graphs, printed and named exactly as PyTorch's. Header-only. */
#ifndef RESNET_MODEL_H
#define RESNET_MODEL_H

#include <nn.h>

/* the example's default --width: stages of 16, 32 and 64 channels */
#define RESNET_DEFAULT_WIDTH 16

static inline nn_module *conv(int64_t in, int64_t out, int k, int stride)
{
    nn_conv2d_opts o = nn_conv2d_defaults(in, out, k);
    o.stride_h = o.stride_w = stride;
    o.pad_h = o.pad_w = k / 2;
    o.bias = false; /* a BatchNorm follows */
    return nn_conv2d_ex(&o);
}

/* torchvision's BasicBlock: relu(bn2(conv2(relu(bn1(conv1(x))))) + identity),
   the identity through a 1x1 convolution and BatchNorm when the shape changes. */
static inline nn_module *basic_block(int64_t inplanes, int64_t planes, int stride)
{
    nn_module *b = nn_graph();
    nn_module_set_class_name(b, "BasicBlock");
    nn_graph_add(b, "conv1", conv(inplanes, planes, 3, stride));
    nn_graph_add(b, "bn1", nn_batchnorm2d(planes));
    nn_graph_add(b, "relu", nn_relu_ex(&(nn_relu_opts){.inplace = true}));
    nn_graph_add(b, "conv2", conv(planes, planes, 3, 1));
    nn_graph_add(b, "bn2", nn_batchnorm2d(planes));
    int x = nn_graph_input(b), identity = x;
    if (stride != 1 || inplanes != planes) {
        nn_module *ds = nn_sequential();
        nn_sequential_add(ds, NULL, conv(inplanes, planes, 1, stride));
        nn_sequential_add(ds, NULL, nn_batchnorm2d(planes));
        nn_graph_add(b, "downsample", ds);
        identity = nn_graph_apply(b, "downsample", x);
    }
    int out = nn_graph_apply(b, "relu", nn_graph_apply(b, "bn1", nn_graph_apply(b, "conv1", x)));
    out = nn_graph_apply(b, "bn2", nn_graph_apply(b, "conv2", out));
    out = nn_graph_apply(b, "relu", nn_graph_sum(b, out, identity));
    if (nn_graph_output(b, out) < 0) {
        nn_module_free(b);
        return NULL;
    }
    return b;
}

/* A Sequential holding one block, as torchvision's _make_layer builds it. */
static inline nn_module *layer(nn_module *block)
{
    nn_module *s = nn_sequential();
    if (nn_sequential_add(s, NULL, block) < 0) {
        nn_module_free(block);
        nn_module_free(s);
        return NULL;
    }
    return s;
}

/* torchvision's ResNet forward, its children named and printed as there;
   stem and stages of w, 2w and 4w channels (the example's --width) */
static inline nn_module *resnet_model_width(int64_t w)
{
    nn_module *net = nn_graph();
    nn_module_set_class_name(net, "ResNet");
    nn_graph_add(net, "conv1", conv(1, w, 3, 1));
    nn_graph_add(net, "bn1", nn_batchnorm2d(w));
    nn_graph_add(net, "relu", nn_relu_ex(&(nn_relu_opts){.inplace = true}));
    nn_graph_add(net, "layer1", layer(basic_block(w, w, 1)));
    nn_graph_add(net, "layer2", layer(basic_block(w, 2 * w, 2)));
    nn_graph_add(net, "layer3", layer(basic_block(2 * w, 4 * w, 2)));
    nn_graph_add(net, "avgpool", nn_adaptive_avgpool2d(1, 1));
    nn_graph_add(net, "fc", nn_linear(4 * w, 10, true));
    int x = nn_graph_apply(net, "relu", nn_graph_apply(net, "bn1", nn_graph_apply(net, "conv1", nn_graph_input(net))));
    x = nn_graph_apply(net, "layer3", nn_graph_apply(net, "layer2", nn_graph_apply(net, "layer1", x)));
    x = nn_graph_apply(net, "fc", nn_graph_flatten(net, nn_graph_apply(net, "avgpool", x), 1, -1));
    if (nn_graph_output(net, x) < 0) {
        nn_module_free(net);
        return NULL;
    }
    return net;
}

/* the example's default width */
static inline nn_module *resnet_model(void)
{
    return resnet_model_width(RESNET_DEFAULT_WIDTH);
}

#endif
