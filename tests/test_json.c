/* The JSON pull parser behind nn_load (src/io/json.c) on its own: the
   depth limit, integer range, escapes decoded in place, sticky errors. */
#include "testutil.h"

#include "io/json.h"

static void test_depth_limit(void **state)
{
    (void)state;
    char text[100];
    memset(text, '[', sizeof text);
    json j;
    json_init(&j, text, sizeof text);
    int depth = 0;
    while (json_begin_array(&j))
        depth++;
    assert_int_equal(depth, JSON_MAX_DEPTH);
    assert_non_null(strstr(j.err, "nesting deeper than 32"));
    assert_false(json_end(&j)); /* errors stick */
}

static void test_integers(void **state)
{
    (void)state;
    char text[] = "[9223372036854775807,-9223372036854775808,-0,12,9223372036854775808]";
    json j;
    json_init(&j, text, strlen(text));
    int64_t v;
    assert_true(json_begin_array(&j));
    assert_int_equal(json_next_item(&j), 1);
    assert_true(json_int(&j, INT64_MIN, INT64_MAX, &v));
    assert_true(v == INT64_MAX);
    assert_int_equal(json_next_item(&j), 1);
    assert_true(json_int(&j, INT64_MIN, INT64_MAX, &v));
    assert_true(v == INT64_MIN);
    assert_int_equal(json_next_item(&j), 1);
    assert_true(json_int(&j, 0, 10, &v));
    assert_true(v == 0);
    assert_int_equal(json_next_item(&j), 1);
    assert_false(json_int(&j, 0, 10, &v));
    assert_non_null(strstr(j.err, "integer 12 outside [0, 10]"));

    char big[] = "9223372036854775808";
    json_init(&j, big, strlen(big));
    assert_false(json_int(&j, INT64_MIN, INT64_MAX, &v));
    assert_non_null(strstr(j.err, "integer out of range"));
}

static void test_strings_decode_in_place(void **state)
{
    (void)state;
    char text[] = "{\"a\\u00e9\\ud83d\\ude00\\t\":\"\\\"x\\\"\"}";
    json j;
    json_init(&j, text, strlen(text));
    json_str k, v;
    assert_true(json_begin_object(&j));
    assert_int_equal(json_next_key(&j, &k), 1);
    assert_int_equal(k.len, 1 + 2 + 4 + 1);
    assert_memory_equal(k.p, "a\xc3\xa9\xf0\x9f\x98\x80\t", k.len);
    assert_true(json_string(&j, &v));
    assert_true(json_str_eq(v, "\"x\""));
    assert_int_equal(json_next_key(&j, &k), 0);
    assert_true(json_end(&j));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_integers),
        cmocka_unit_test(test_strings_decode_in_place),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
