/* nn_module_print against PyTorch 1.13's print(model) for the same nets
   (tests/gen_print.py -> tests/fixtures/print.h, module_prints). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn.h"
#include "fixtures/print.h"

static nn_module *add(nn_module *seq, const char *name, nn_module *child)
{
    assert_non_null(child);
    assert_int_equal(nn_sequential_add(seq, name, child), NN_OK);
    return child;
}

static nn_module *named_sequential(const char *class_name)
{
    nn_module *s = nn_sequential();
    assert_non_null(s);
    if (class_name)
        assert_int_equal(nn_sequential_set_class_name(s, class_name), NN_OK);
    return s;
}

static nn_module *build(const char *name)
{
    if (!strcmp(name, "simple_net")) {
        nn_module *m = named_sequential("SimpleNet");
        add(m, "fc1", nn_linear(2, 5, true));
        add(m, "relu", nn_relu());
        add(m, "fc2", nn_linear(5, 1, true));
        return m;
    }
    if (!strcmp(name, "my_data")) {
        nn_module *m = named_sequential("MyData");
        add(m, "conv1", nn_conv2d(1, 20, 1, 1, 0));
        add(m, "relu1", nn_relu());
        add(m, "conv2", nn_conv2d(20, 20, 5, 1, 0));
        add(m, "relu2", nn_relu());
        return m;
    }
    if (!strcmp(name, "nested")) {
        nn_module *m = named_sequential(NULL);
        nn_module *a = add(m, NULL, named_sequential(NULL));
        add(a, NULL, nn_conv2d(3, 8, 3, 1, 1));
        add(a, NULL, nn_relu());
        nn_module *b = add(m, NULL, named_sequential(NULL));
        nn_conv2d_opts o = {.in_channels = 8, .out_channels = 8, .kernel_h = 3, .kernel_w = 5,
                            .stride_h = 2, .stride_w = 1, .pad_h = 0, .pad_w = 2,
                            .dilation_h = 1, .dilation_w = 2, .bias = false};
        add(b, NULL, nn_conv2d_ex(&o));
        add(b, NULL, nn_sigmoid());
        add(b, NULL, named_sequential(NULL));
        add(m, NULL, nn_linear(4, 3, false));
        add(m, NULL, nn_tanh());
        return m;
    }
    if (!strcmp(name, "empty"))
        return named_sequential(NULL);
    return NULL;
}

static void test_matches_torch(void **state)
{
    (void)state;
    int checked = 0;
    for (size_t i = 0; i < sizeof module_prints / sizeof *module_prints; i++) {
        nn_module *m = build(module_prints[i].name);
        assert_non_null(m);
        char *got = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&got, &len);
        assert_non_null(f);
        nn_module_print(m, f);
        fclose(f);
        size_t want_len = 1;
        for (const char *const *l = module_prints[i].want; *l; l++)
            want_len += strlen(*l);
        char *want = calloc(1, want_len);
        assert_non_null(want);
        for (const char *const *l = module_prints[i].want; *l; l++)
            strcat(want, *l);
        if (strcmp(got, want)) {
            fprintf(stderr, "%s:\n--- torch\n%s--- libnn\n%s", module_prints[i].name, want, got);
            fail();
        }
        free(want);
        free(got);
        nn_module_free(m);
        checked++;
    }
    assert_int_equal(checked, sizeof module_prints / sizeof *module_prints);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matches_torch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
