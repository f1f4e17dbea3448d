/* Tensors: creation, views, strides, reshape (view vs copy), transpose,
   overflow and bad input. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "nn.h"
#include "tensor/tensor_impl.h"

static void test_new_is_zero_and_contiguous(void **state)
{
    (void)state;
    nn_tensor *t = nn_tensor_new(NN_SHAPE(2, 3, 4));
    assert_non_null(t);
    assert_int_equal(t->ndim, 3);
    assert_int_equal(nn_tensor_numel(t), 24);
    assert_int_equal(t->stride[0], 12);
    assert_int_equal(t->stride[1], 4);
    assert_int_equal(t->stride[2], 1);
    assert_true(nn_tensor_is_contiguous(t));
    for (int i = 0; i < 24; i++)
        assert_true(t->data[i] == 0.0f);
    assert_int_equal((uintptr_t)t->data % 64, 0);
    nn_tensor_free(t);
}

static void test_from_copies(void **state)
{
    (void)state;
    float src[6] = {1, 2, 3, 4, 5, 6};
    nn_tensor *t = nn_tensor_from(src, NN_SHAPE(2, 3));
    assert_non_null(t);
    src[0] = 100;
    assert_true(t->data[0] == 1.0f);
    assert_true(nn_tensor_get(t, (int64_t[]){1, 2}) == 6.0f);
    assert_true(isnan(nn_tensor_get(t, (int64_t[]){2, 0})));
    assert_non_null(strstr(nn_last_error(), "[2, 3]"));
    nn_tensor_free(t);
}

static void test_scalar_and_zero_size(void **state)
{
    (void)state;
    nn_tensor *s = nn_tensor_new(0, NULL);
    assert_non_null(s);
    assert_int_equal(nn_tensor_numel(s), 1);
    nn_tensor_free(s);
    nn_tensor *z = nn_tensor_new(NN_SHAPE(3, 0, 2));
    assert_non_null(z);
    assert_int_equal(nn_tensor_numel(z), 0);
    assert_true(nn_tensor_is_contiguous(z));
    nn_tensor *r = nn_tensor_reshape(z, NN_SHAPE(0, 6));
    assert_non_null(r);
    assert_int_equal(r->shape[1], 6);
    nn_tensor_free(r);
    nn_tensor_free(z);
}

static void test_bad_shapes(void **state)
{
    (void)state;
    assert_null(nn_tensor_new(NN_SHAPE(2, -1)));
    assert_non_null(strstr(nn_last_error(), "nn_tensor_new"));
    assert_non_null(strstr(nn_last_error(), "[2, -1]"));
    assert_null(nn_tensor_new(NN_SHAPE(INT64_C(1) << 40, INT64_C(1) << 40)));
    assert_null(nn_tensor_new(NN_SHAPE(INT64_MAX / 2, 3)));
    assert_null(nn_tensor_new(9, (int64_t[9]){1, 1, 1, 1, 1, 1, 1, 1, 1}));
    assert_null(nn_tensor_new(-1, NULL));
    assert_null(nn_tensor_from(NULL, NN_SHAPE(2)));
    assert_null(nn_tensor_reshape(NULL, NN_SHAPE(2)));
    assert_null(nn_tensor_transpose(NULL, 0, 1));
    assert_null(nn_tensor_contiguous(NULL));
    assert_int_equal(nn_tensor_numel(NULL), -1);
    assert_false(nn_tensor_is_contiguous(NULL));
    nn_tensor_free(NULL);
}

static nn_tensor *iota(int ndim, const int64_t *shape)
{
    nn_tensor *t = nn_tensor_new(ndim, shape);
    for (int64_t i = 0; i < nn_tensor_numel(t); i++)
        t->data[i] = (float)i;
    return t;
}

static void test_transpose_is_view(void **state)
{
    (void)state;
    nn_tensor *t = iota(NN_SHAPE(2, 3));
    nn_tensor *tt = nn_tensor_transpose(t, 0, 1);
    assert_non_null(tt);
    assert_ptr_equal(tt->data, t->data);
    assert_int_equal(tt->shape[0], 3);
    assert_int_equal(tt->stride[0], 1);
    assert_int_equal(tt->stride[1], 3);
    assert_false(nn_tensor_is_contiguous(tt));
    assert_true(nn_tensor_get(tt, (int64_t[]){2, 1}) == 5.0f);
    float out[6];
    assert_int_equal(nn_tensor_copy_out(tt, out), NN_OK);
    const float expect[6] = {0, 3, 1, 4, 2, 5};
    assert_memory_equal(out, expect, sizeof expect);
    /* copy_in through the strided view lands transposed in t's storage */
    assert_int_equal(nn_tensor_copy_in(tt, (const float[]){10, 13, 11, 14, 12, 15}), NN_OK);
    const float stored[6] = {10, 11, 12, 13, 14, 15};
    assert_memory_equal(t->data, stored, sizeof stored);
    assert_int_equal(nn_tensor_copy_in(tt, expect), NN_OK);
    assert_int_equal(nn_tensor_copy_in(tt, NULL), NN_EINVAL);
    assert_int_equal(nn_tensor_copy_in(NULL, expect), NN_EINVAL);
    /* storage outlives the original */
    nn_tensor_free(t);
    assert_true(nn_tensor_get(tt, (int64_t[]){1, 1}) == 4.0f);
    nn_tensor *c = nn_tensor_contiguous(tt);
    assert_true(nn_tensor_is_contiguous(c));
    assert_ptr_not_equal(c->data, tt->data);
    assert_memory_equal(c->data, expect, sizeof expect);
    assert_null(nn_tensor_transpose(c, 0, 2));
    assert_non_null(strstr(nn_last_error(), "[3, 2]"));
    nn_tensor *neg = nn_tensor_transpose(c, -1, -2);
    assert_int_equal(neg->shape[0], 2);
    nn_tensor_free(neg);
    nn_tensor_free(c);
    nn_tensor_free(tt);
}

static void test_reshape_view_when_possible(void **state)
{
    (void)state;
    nn_tensor *t = iota(NN_SHAPE(2, 3, 4));
    nn_tensor *r = nn_tensor_reshape(t, NN_SHAPE(6, -1));
    assert_non_null(r);
    assert_ptr_equal(r->data, t->data);
    assert_int_equal(r->shape[1], 4);
    assert_int_equal(r->stride[0], 4);
    nn_tensor_free(r);
    /* transposed [4,3,2]: merging the last two dims of [2,3,4]^T is impossible,
       but splitting the (contiguous-with-itself) first dim is a view */
    nn_tensor *tt = nn_tensor_transpose(t, 0, 2);
    nn_tensor *split = nn_tensor_reshape(tt, NN_SHAPE(2, 2, 3, 2));
    assert_non_null(split);
    assert_ptr_equal(split->data, t->data);
    assert_int_equal(split->stride[0], 2);
    assert_int_equal(split->stride[1], 1);
    assert_int_equal(split->stride[2], 4);
    assert_int_equal(split->stride[3], 12);
    nn_tensor_free(split);
    nn_tensor *flat = nn_tensor_reshape(tt, NN_SHAPE(24));
    assert_non_null(flat);
    assert_ptr_not_equal(flat->data, t->data);
    /* element [i,j,k] of tt is t[k,j,i] = 12k + 4j + i */
    assert_true(flat->data[1] == 12.0f);
    assert_true(flat->data[2] == 4.0f);
    assert_true(flat->data[6] == 1.0f);
    nn_tensor_free(flat);
    assert_null(nn_tensor_reshape(t, NN_SHAPE(5, 5)));
    assert_non_null(strstr(nn_last_error(), "[2, 3, 4]"));
    assert_null(nn_tensor_reshape(t, NN_SHAPE(-1, -1)));
    assert_null(nn_tensor_reshape(t, NN_SHAPE(7, -1)));
    nn_tensor_free(tt);
    nn_tensor_free(t);
}

static void test_reshape_size_one_dims(void **state)
{
    (void)state;
    nn_tensor *t = iota(NN_SHAPE(4, 1, 3));
    nn_tensor *tt = nn_tensor_transpose(t, 0, 1); /* [1,4,3], still dense */
    assert_true(nn_tensor_is_contiguous(tt));
    nn_tensor *r = nn_tensor_reshape(tt, NN_SHAPE(12));
    assert_ptr_equal(r->data, t->data);
    nn_tensor *s = nn_tensor_reshape(r, 0, NULL);
    assert_null(s);
    nn_tensor *one = nn_tensor_new(NN_SHAPE(1, 1));
    s = nn_tensor_reshape(one, 0, NULL);
    assert_non_null(s);
    assert_int_equal(s->ndim, 0);
    nn_tensor_free(s);
    nn_tensor_free(one);
    nn_tensor_free(r);
    nn_tensor_free(tt);
    nn_tensor_free(t);
}

static void test_strided_fill_and_gather(void **state)
{
    (void)state;
    nn_tensor *t = iota(NN_SHAPE(3, 4));
    nn_tensor *tt = nn_tensor_transpose(t, 0, 1);
    assert_int_equal(nn_tensor_fill(tt, 7.0f), NN_OK);
    for (int i = 0; i < 12; i++)
        assert_true(t->data[i] == 7.0f);
    nn_tensor_free(tt);
    nn_tensor_free(t);
}

static int64_t last_of(int ndim, const int64_t *shape) { return ndim * 100 + shape[ndim - 1]; }

static void test_shape_macro(void **state)
{
    (void)state;
    assert_int_equal(last_of(NN_SHAPE(5, 6, 7)), 307);
    assert_int_equal(last_of(NN_SHAPE(9)), 109);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_is_zero_and_contiguous),
        cmocka_unit_test(test_from_copies),
        cmocka_unit_test(test_scalar_and_zero_size),
        cmocka_unit_test(test_bad_shapes),
        cmocka_unit_test(test_transpose_is_view),
        cmocka_unit_test(test_reshape_view_when_possible),
        cmocka_unit_test(test_reshape_size_one_dims),
        cmocka_unit_test(test_strided_fill_and_gather),
        cmocka_unit_test(test_shape_macro),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
