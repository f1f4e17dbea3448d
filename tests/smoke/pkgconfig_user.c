/* A program outside the tree, linked the way users link libnn:
   cc user.c $(pkg-config --cflags --libs --static nn) */
#include <math.h>
#include <stdio.h>

#include <nn.h>

int main(void)
{
    nn_manual_seed(0);
    nn_module *net = nn_sequential();
    if (!net || nn_sequential_add(net, NULL, nn_relu()) < 0) {
        fprintf(stderr, "setup failed: %s\n", nn_last_error());
        return 1;
    }
    nn_tensor *x = nn_tensor_from((const float[]){-1.0f, 2.0f, -3.0f, 4.0f}, NN_SHAPE(2, 2));
    nn_tensor *y = nn_forward(net, x);
    int ok = y && y->data[0] == 0.0f && y->data[1] == 2.0f && y->data[3] == 4.0f;
    /* errors are reported, not fatal */
    ok = ok && nn_tensor_new(NN_SHAPE(-1)) == NULL && nn_last_error()[0] != '\0';
    printf("pkg-config user: %s (last error: %s)\n", ok ? "ok" : "FAILED", nn_last_error());
    nn_tensor_free(x);
    nn_module_free(net);
    return ok ? 0 : 1;
}
