/* nn_tensor_print against the exact text PyTorch 1.13 printed for the same
   tensors (tests/gen_print.py -> tests/fixtures/print.h). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn.h"
#include "testutil.h"
#include "fixtures/print.h"

/* What nn_tensor_print wrote, as a malloc'd string. */
static char *print_to_string(const nn_tensor *t)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    nn_tensor_print(t, f);
    fclose(f);
    return text;
}

/* The fixture's lines joined, plus the final newline print() adds. */
static char *join_lines(const char *const *lines, const char *end)
{
    size_t len = strlen(end) + 1;
    for (const char *const *l = lines; *l; l++)
        len += strlen(*l);
    char *s = malloc(len);
    assert_non_null(s);
    s[0] = 0;
    for (const char *const *l = lines; *l; l++)
        strcat(s, *l);
    strcat(s, end);
    return s;
}

static nn_tensor *case_tensor(const print_case *c)
{
    float zero = 0.0f;
    nn_tensor *base = nn_tensor_from(c->data ? c->data : &zero, c->ndim, c->shape);
    assert_non_null(base);
    if (c->transpose0 < 0)
        return base;
    nn_tensor *v = nn_tensor_transpose(base, c->transpose0, c->transpose1);
    assert_non_null(v);
    assert_false(nn_tensor_is_contiguous(v));
    nn_tensor_free(base); /* the view keeps the storage */
    return v;
}

static void test_matches_torch(void **state)
{
    (void)state;
    int failed = 0;
    size_t n = sizeof print_cases / sizeof *print_cases;
    for (size_t i = 0; i < n; i++) {
        const print_case *c = &print_cases[i];
        nn_tensor *t = case_tensor(c);
        char *got = print_to_string(t);
        char *want = join_lines(c->want, "\n");
        if (strcmp(got, want)) {
            fprintf(stderr, "case %s:\n--- torch\n%s--- libnn\n%s", c->name, want, got);
            failed++;
        }
        free(want);
        free(got);
        nn_tensor_free(t);
    }
    assert_true(n > 50);
    assert_int_equal(failed, 0);
}

/* The same under a comma-decimal locale: torch's text keeps its '.'. */
static void test_matches_torch_comma_locale(void **state)
{
    comma_locale_begin();
    test_matches_torch(state);
    comma_locale_end();
}

static void test_null_is_an_error(void **state)
{
    (void)state;
    nn_tensor_print(NULL, stdout);
    assert_non_null(strstr(nn_last_error(), "nn_tensor_print"));
    nn_tensor *t = nn_tensor_new(NN_SHAPE(2));
    nn_tensor_print(t, NULL);
    assert_non_null(strstr(nn_last_error(), "stream"));
    nn_tensor_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matches_torch),
        cmocka_unit_test(test_matches_torch_comma_locale),
        cmocka_unit_test(test_null_is_an_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
