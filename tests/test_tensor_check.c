/* nn_tensor_all_finite: NaN and both infinities anywhere, strided views,
   scalars, empty tensors. */
#include "testutil.h"

#include <float.h>

static void test_all_finite(void **state)
{
    (void)state;
    nn_tensor *t = nn_tensor_from((float[]){1, 2, 3, 4, 5, 6}, NN_SHAPE(2, 3));
    assert_true(nn_tensor_all_finite(t));
    t->data[4] = NAN;
    assert_false(nn_tensor_all_finite(t));
    nn_tensor *tr = nn_tensor_transpose(t, 0, 1);
    assert_false(nn_tensor_all_finite(tr));
    t->data[4] = INFINITY;
    assert_false(nn_tensor_all_finite(t));
    t->data[4] = -INFINITY;
    assert_false(nn_tensor_all_finite(tr));
    t->data[4] = 5;
    assert_true(nn_tensor_all_finite(tr));
    /* a strided view [2, 2] of the first two columns skips column 2 */
    t->data[5] = NAN;
    nn_tensor view = *t;
    view.shape[1] = 2;
    assert_true(nn_tensor_all_finite(&view));
    assert_false(nn_tensor_all_finite(t));
    nn_tensor *s = nn_tensor_from((float[]){FLT_MAX}, 0, NULL);
    assert_true(nn_tensor_all_finite(s));
    s->data[0] = NAN;
    assert_false(nn_tensor_all_finite(s));
    nn_tensor *e = nn_tensor_new(NN_SHAPE(0, 3));
    assert_true(nn_tensor_all_finite(e));
    assert_false(nn_tensor_all_finite(NULL));
    nn_tensor_free(e);
    nn_tensor_free(s);
    nn_tensor_free(tr);
    nn_tensor_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_finite),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
