/* test_st_catalog.c: RELIABILITY T2, the malformed-file catalog S1-S24 (each case its own named
 * check with its exact expected code, the bytes built here in C), the must-accept cases compared
 * to reference bytes, limit boundaries (T24), and an allocation-failure loop over the parser. */
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <unistd.h>

#include "alloc.h"
#include "st_test_util.h"

#define F32_22 "{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":"
#define VALID  "{\"a\":" F32_22 "[0,16]}}"

/* Case with a header built by printf. */
static void expectf(const char *id, size_t data_len, afloc_status want, const char *format, const char *arg) {
    char header[512];
    snprintf(header, sizeof header, format, arg);
    st_expect(id, header, data_len, want);
}

static void s1_s3(void) {
    unsigned char zeros[8] = {0};
    for (size_t n = 0; n < 8; n++) {
        char id[32];
        snprintf(id, sizeof id, "S1 file of %zu bytes", n);
        st_expect_bytes(id, zeros, n, NULL, AFLOC_ERR_FORMAT);
    }
    /* S2: rejected before any allocation: with every allocation failing, still FORMAT. */
    char spaces[0x20];
    memset(spaces, ' ', sizeof spaces);
    size_t size;
    unsigned char *b = st_build_raw(0x3C, spaces, sizeof spaces, 0, &size);
    afloc_test_inject_alloc_failure(0);
    st_expect_bytes("S2 N=0x3C with 0x20 bytes (no allocation)", b, size, NULL, AFLOC_ERR_FORMAT);
    free(b);
    b = st_build_raw(UINT64_MAX, spaces, sizeof spaces, 0, &size);
    st_expect_bytes("S2 N=2^64-1 (no allocation)", b, size, NULL, AFLOC_ERR_FORMAT);
    long made = afloc_test_inject_alloc_failure(-1);
    CHECK(made == 0);
    free(b);

    /* S3 from memory with a lowered cap, and from a sparse 100 MB file with the default cap: the
     * file path must refuse before allocating (again with every allocation failing). */
    afloc_st_limits limits;
    afloc_st_limits_default(&limits);
    limits.max_header_bytes = 16;
    b = st_build(VALID, strlen(VALID), 16, &size);
    st_expect_bytes("S3 header > cap (cap lowered to 16)", b, size, &limits, AFLOC_ERR_LIMIT);
    limits.max_header_bytes = strlen(VALID);
    st_expect_bytes("T24 header exactly at cap", b, size, &limits, AFLOC_OK);
    free(b);

    char path[] = "/tmp/afloc_st_s3_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    unsigned char prefix[8];
    uint64_t n = 100000001;
    for (int i = 0; i < 8; i++) prefix[i] = (unsigned char)(n >> (8 * i));
    CHECK(write(fd, prefix, 8) == 8);
    CHECK(ftruncate(fd, 8 + (off_t)n + 64) == 0);
    close(fd);
    afloc_st_file *file = NULL;
    afloc_test_inject_alloc_failure(0);
    afloc_status got = afloc_st_read_file(path, NULL, "test", &file);
    made = afloc_test_inject_alloc_failure(-1);
    st_cases++;
    CHECK(got == AFLOC_ERR_LIMIT && made == 0);
    printf("ok   %-44s %-24s %s\n", "S3 N=100,000,001 in a 100 MB file", afloc_status_string(got), afloc_last_error());
    unlink(path);
}

static void s4_s6(void) {
    expectf("S4 byte 0xFF", 16, AFLOC_ERR_FORMAT, "{\"a%s\":" F32_22 "[0,16]}}", "\xFF");
    expectf("S4 overlong C0 AF", 16, AFLOC_ERR_FORMAT, "{\"a%s\":" F32_22 "[0,16]}}", "\xC0\xAF");
    expectf("S4 lone surrogate ED A0 80", 16, AFLOC_ERR_FORMAT, "{\"a%s\":" F32_22 "[0,16]}}", "\xED\xA0\x80");
    expectf("S4 truncated E2 82", 16, AFLOC_ERR_FORMAT, "{\"a%s\":" F32_22 "[0,16]}}", "\xE2\x82");
    expectf("S4 4-byte above U+10FFFF", 16, AFLOC_ERR_FORMAT, "{\"a%s\":" F32_22 "[0,16]}}", "\xF4\x90\x80\x80");
    st_expect("S5 '{'", "{", 0, AFLOC_ERR_FORMAT);
    st_expect("S5 '{\"a\":'", "{\"a\":", 0, AFLOC_ERR_FORMAT);
    st_expect("S5 trailing garbage after '}'", VALID "x", 16, AFLOC_ERR_FORMAT);
    st_expect("S5 second object after '}'", VALID "{}", 16, AFLOC_ERR_FORMAT);
    st_expect("S5 missing comma", "{\"a\":" F32_22 "[0,16]} \"b\":1}", 16, AFLOC_ERR_FORMAT);
    static const char nul_after[] = VALID "\0";
    size_t size;
    unsigned char *b = st_build(nul_after, sizeof nul_after - 1, 16, &size);
    st_expect_bytes("S5 NUL after the object", b, size, NULL, AFLOC_ERR_FORMAT);
    free(b);
    static const char nul_in[] = "{\"a\0b\":" F32_22 "[0,16]}}";
    b = st_build(nul_in, sizeof nul_in - 1, 16, &size);
    st_expect_bytes("S5 NUL inside a name", b, size, NULL, AFLOC_ERR_FORMAT);
    free(b);
    st_expect("S5 \\u0000 escape in a name", "{\"a\\u0000b\":" F32_22 "[0,16]}}", 16, AFLOC_ERR_FORMAT);
    st_expect("S5 leading space (decision: refuse)", " " VALID, 16, AFLOC_ERR_FORMAT);
    st_expect("S5 UTF-8 BOM (decision: refuse)", "\xEF\xBB\xBF" VALID, 16, AFLOC_ERR_FORMAT);
    st_expect("S5 trailing newline (only 0x20 pads)", VALID "\n", 16, AFLOC_ERR_FORMAT);
    st_expect("S5 control byte between tokens", "{\x01\"a\":" F32_22 "[0,16]}}", 16, AFLOC_ERR_FORMAT);
    st_expect("S5 empty header", "", 0, AFLOC_ERR_FORMAT);
    st_expect("S6 top-level []", "[]", 0, AFLOC_ERR_FORMAT);
    st_expect("S6 top-level \"x\"", "\"x\"", 0, AFLOC_ERR_FORMAT);
    st_expect("S6 top-level 1", "1", 0, AFLOC_ERR_FORMAT);
}

static void s7_s11(void) {
    st_expect("S7 identical duplicate", "{\"a\":" F32_22 "[0,16]},\"a\":" F32_22 "[0,16]}}", 16, AFLOC_ERR_FORMAT);
    st_expect("S7 same name, other offsets", "{\"a\":" F32_22 "[0,16]},\"a\":" F32_22 "[16,32]}}", 32,
              AFLOC_ERR_FORMAT);
    st_expect("S7 duplicate __metadata__", "{\"__metadata__\":{},\"__metadata__\":{\"k\":\"v\"}," "\"a\":" F32_22
              "[0,16]}}", 16, AFLOC_ERR_FORMAT);
    st_expect("S7 duplicate metadata key", "{\"__metadata__\":{\"k\":\"v\",\"k\":\"w\"},\"a\":" F32_22 "[0,16]}}",
              16, AFLOC_ERR_FORMAT);
    st_expect("S7 duplicate field in an entry",
              "{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}", 16,
              AFLOC_ERR_FORMAT);
    st_expect("S8 missing dtype", "{\"a\":{\"shape\":[2,2],\"data_offsets\":[0,16]}}", 16, AFLOC_ERR_FORMAT);
    st_expect("S8 missing shape", "{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,16]}}", 16, AFLOC_ERR_FORMAT);
    st_expect("S8 missing data_offsets", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,2]}}", 16, AFLOC_ERR_FORMAT);
    st_expect("S8 extra field \"foo\":1",
              "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16],\"foo\":1}}", 16, AFLOC_ERR_FORMAT);
    st_expect("S8 entry not an object", "{\"a\":[1,2]}", 0, AFLOC_ERR_FORMAT);
    const char *bad[] = {"\"F31\"", "\"f32\"", "\"\"", "4", "null"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char id[64];
        snprintf(id, sizeof id, "S9 dtype %s", bad[i]);
        expectf(id, 16, AFLOC_ERR_FORMAT, "{\"a\":{\"dtype\":%s,\"shape\":[2,2],\"data_offsets\":[0,16]}}", bad[i]);
    }
    const char *unsupported[] = {"C64", "F8_E4M3", "F8_E5M2", "F4"};
    for (size_t i = 0; i < sizeof unsupported / sizeof *unsupported; i++) {
        char id[64];
        snprintf(id, sizeof id, "S9 valid but unsupported dtype %s", unsupported[i]);
        expectf(id, 16, AFLOC_ERR_UNSUPPORTED, "{\"a\":{\"dtype\":\"%s\",\"shape\":[2,2],\"data_offsets\":[0,16]}}",
                unsupported[i]);
    }
    const char *numbers[] = {"-1", "1.0", "1e3", "18446744073709551616", "-0", "\"16\"", "01", "2E0"};
    for (size_t i = 0; i < sizeof numbers / sizeof *numbers; i++) {
        char id[64];
        snprintf(id, sizeof id, "S10 offset %s", numbers[i]);
        expectf(id, 16, AFLOC_ERR_FORMAT, "{\"a\":" F32_22 "[0,%s]}}", numbers[i]);
        snprintf(id, sizeof id, "S10 shape entry %s", numbers[i]);
        expectf(id, 16, AFLOC_ERR_FORMAT, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,%s],\"data_offsets\":[0,16]}}",
                numbers[i]);
    }
    st_expect("S11 data_offsets [0]", "{\"a\":" F32_22 "[0]}}", 16, AFLOC_ERR_FORMAT);
    st_expect("S11 data_offsets [0,1,2]", "{\"a\":" F32_22 "[0,1,2]}}", 16, AFLOC_ERR_FORMAT);
    st_expect("S11 data_offsets [16,0]", "{\"a\":" F32_22 "[16,0]}}", 16, AFLOC_ERR_FORMAT);
    st_expect("S11 data_offsets not an array", "{\"a\":" F32_22 "16}}", 16, AFLOC_ERR_FORMAT);
}

static void s12_s18(void) {
    st_expect("S12 two tensors at [0,16]", "{\"a\":" F32_22 "[0,16]},\"b\":" F32_22 "[0,16]}}", 16, AFLOC_ERR_FORMAT);
    st_expect("S12 partial overlap [0,16] [8,24]", "{\"a\":" F32_22 "[0,16]},\"b\":" F32_22 "[8,24]}}", 24,
              AFLOC_ERR_FORMAT);
    st_expect("S13 hole [0,16] [20,36]", "{\"a\":" F32_22 "[0,16]},\"b\":" F32_22 "[20,36]}}", 36, AFLOC_ERR_FORMAT);
    st_expect("S14 first tensor at 4", "{\"a\":" F32_22 "[4,20]}}", 20, AFLOC_ERR_FORMAT);
    st_expect("S15 one byte appended", VALID, 17, AFLOC_ERR_FORMAT);
    st_expect("S15 one byte missing (truncated)", VALID, 15, AFLOC_ERR_CORRUPT);
    st_expect("S15 no tensors but data present", "{}", 4, AFLOC_ERR_FORMAT);
    st_expect("S16 I32 [2,2] with [0,4]", "{\"a\":{\"dtype\":\"I32\",\"shape\":[2,2],\"data_offsets\":[0,4]}}", 4,
              AFLOC_ERR_FORMAT);
    st_expect("S17 [2, 2^64-2]", "{\"a\":{\"dtype\":\"U8\",\"shape\":[2,18446744073709551614],"
              "\"data_offsets\":[0,4]}}", 4, AFLOC_ERR_FORMAT);
    st_expect("S17 [2, 2^63-1] x 4 bytes", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,9223372036854775807],"
              "\"data_offsets\":[0,4]}}", 4, AFLOC_ERR_FORMAT);
    st_expect("S17 product wraps to 0 == byte length", "{\"a\":{\"dtype\":\"U8\",\"shape\":[65536,65536,65536,65536],"
              "\"data_offsets\":[0,0]}}", 0, AFLOC_ERR_LIMIT);
    afloc_st_limits limits;
    afloc_st_limits_default(&limits);
    limits.max_dimension = (int64_t)1 << 40;
    const char *wrap = "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,0]}}";
    size_t size;
    unsigned char *b = st_build(wrap, strlen(wrap), 0, &size);
    st_expect_bytes("S17 2^32 x 2^32 wraps (dims cap raised)", b, size, &limits, AFLOC_ERR_LIMIT);
    free(b);
    st_expect("S18 dimension 2^40 (fake byte length)", "{\"a\":{\"dtype\":\"U8\",\"shape\":[1099511627776],"
              "\"data_offsets\":[0,1099511627776]}}", 0, AFLOC_ERR_LIMIT);
    char *rank = malloc(8192);
    int at = snprintf(rank, 8192, "{\"a\":{\"dtype\":\"U8\",\"shape\":[1");
    for (int r = 1; r < 1000; r++) at += snprintf(rank + at, 8192 - (size_t)at, ",1");
    snprintf(rank + at, 8192 - (size_t)at, "],\"data_offsets\":[0,1]}}");
    st_expect("S18 rank 1000", rank, 1, AFLOC_ERR_LIMIT);
    st_expect("T24 rank 8 (at the cap)", "{\"a\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1],"
              "\"data_offsets\":[0,1]}}", 1, AFLOC_OK);
    st_expect("T24 rank 9", "{\"a\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}", 1,
              AFLOC_ERR_LIMIT);
    st_expect("T24 dimension 2^31-1 (at the cap)", "{\"a\":{\"dtype\":\"U8\",\"shape\":[2147483647,0],"
              "\"data_offsets\":[0,0]}}", 0, AFLOC_OK);
    st_expect("T24 dimension 2^31", "{\"a\":{\"dtype\":\"U8\",\"shape\":[2147483648,0],\"data_offsets\":[0,0]}}", 0,
              AFLOC_ERR_LIMIT);
    free(rank);
}

static void s19_s20(void) {
    st_expect("S19 metadata value 0", "{\"__metadata__\":{\"k\":0}," "\"a\":" F32_22 "[0,16]}}", 16, AFLOC_ERR_FORMAT);
    st_expect("S19 metadata nested object", "{\"__metadata__\":{\"k\":{\"x\":\"y\"}}}", 0, AFLOC_ERR_FORMAT);
    st_expect("S19 metadata used as a tensor entry", "{\"__metadata__\":" F32_22 "[0,16]}}", 16, AFLOC_ERR_FORMAT);
    st_expect("S19 metadata is a string", "{\"__metadata__\":\"x\"}", 0, AFLOC_ERR_FORMAT);
    st_expect("S19 metadata is null", "{\"__metadata__\":null}", 0, AFLOC_ERR_FORMAT);
    st_expect("S19 checksum not hex", "{\"__metadata__\":{\"afloc.data_sha256\":\"xyz\"}}", 0, AFLOC_ERR_FORMAT);
    st_expect("S20 empty name", "{\"\":" F32_22 "[0,16]}}", 16, AFLOC_ERR_FORMAT);
    char *header = malloc(4096);
    char name[1026];
    memset(name, 'n', 1025);
    name[1025] = '\0';
    snprintf(header, 4096, "{\"%s\":" F32_22 "[0,16]}}", name);
    st_expect("S20 name of 1025 bytes", header, 16, AFLOC_ERR_FORMAT);
    name[1024] = '\0';
    snprintf(header, 4096, "{\"%s\":" F32_22 "[0,16]}}", name);
    st_expect("T24 name of 1024 bytes (at the cap)", header, 16, AFLOC_OK);
    free(header);
    st_expect("S20 raw control byte in a name", "{\"a\x01\":" F32_22 "[0,16]}}", 16, AFLOC_ERR_FORMAT);
    st_expect("S20 escaped control \\u0001 in a name", "{\"a\\u0001\":" F32_22 "[0,16]}}", 16, AFLOC_ERR_FORMAT);
    st_expect("S20 escaped newline in a name", "{\"a\\n\":" F32_22 "[0,16]}}", 16, AFLOC_ERR_FORMAT);
    st_expect("S20 non-UTF-8 name C3 28", "{\"\xC3\x28\":" F32_22 "[0,16]}}", 16, AFLOC_ERR_FORMAT);
    st_expect("S20 lone surrogate escape \\ud800", "{\"\\ud800\":" F32_22 "[0,16]}}", 16, AFLOC_ERR_FORMAT);
    st_expect("S20 escaped pair \\ud83d\\ude00 (valid)", "{\"\\ud83d\\ude00\":" F32_22 "[0,16]}}", 16, AFLOC_OK);
}

/* S23 and S24. */
static void s23_s24(void) {
    size_t cap = 80u << 20;
    char *header = malloc(cap);
    const int counts[] = {65536, 65537, 1000000};
    const afloc_status want[] = {AFLOC_OK, AFLOC_ERR_LIMIT, AFLOC_ERR_LIMIT};
    for (int k = 0; k < 3; k++) {
        size_t at = 0;
        header[at++] = '{';
        for (int t = 0; t < counts[k]; t++)
            at += (size_t)snprintf(header + at, cap - at, "%s\"t%d\":{\"dtype\":\"U8\",\"shape\":[0],"
                                   "\"data_offsets\":[0,0]}", t ? "," : "", t);
        header[at++] = '}';
        size_t size;
        unsigned char *b = st_build(header, at, 0, &size);
        char id[64];
        snprintf(id, sizeof id, "%s %d tiny entries (%zu-byte header)", k ? "S23" : "T24", counts[k], at);
        st_expect_bytes(id, b, size, NULL, want[k]);
        free(b);
    }
    /* S24: 10^5 '[' inside metadata. Our pre-scan caps depth at 64; cJSON alone must also refuse it
     * without exhausting the stack (its CJSON_NESTING_LIMIT is 1000). */
    size_t at = (size_t)snprintf(header, cap, "{\"__metadata__\":{\"k\":");
    memset(header + at, '[', 100000);
    at += 100000;
    header[at] = '\0';
    st_expect("S24 10^5 nested '[' in metadata", header, 0, AFLOC_ERR_FORMAT);
    cJSON *direct = cJSON_ParseWithLength(header, at);
    CHECK(direct == NULL);
    memset(header + at, ']', 100000);
    at += 100000;
    memcpy(header + at, "}}", 3);
    direct = cJSON_ParseWithLength(header, at + 2);
    CHECK(direct == NULL);
    printf("ok   %-44s cJSON alone refuses it too (CJSON_NESTING_LIMIT %d)\n", "S24 balanced 10^5 nesting",
           CJSON_NESTING_LIMIT);
    st_expect("S24 depth 65 (one over our cap)",
              "{\"__metadata__\":{\"k\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
              "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}}", 0, AFLOC_ERR_FORMAT);
    free(header);
}

/* Must-accept cases: load and compare to the reference bytes. */
static void accept_cases(void) {
    afloc_st_file *file = NULL;
    size_t size;
    /* rank-0 scalar, with an odd header length so the data is unaligned. */
    const char *scalar = "{\"s\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}";
    CHECK(strlen(scalar) % 2 == 1);
    unsigned char *b = st_build(scalar, strlen(scalar), 4, &size);
    float want = 3.25f;
    memcpy(b + size - 4, &want, 4);
    CHECK_STATUS(afloc_st_parse_from_memory(b, size, NULL, &file), AFLOC_OK);
    float got = 0.0f;
    if (file) {
        CHECK(file->tensor_count == 1 && file->tensors[0].rank == 0 && file->tensors[0].nbytes == 4);
        CHECK(((uintptr_t)file->data & 3) != 0); /* really unaligned */
        CHECK_STATUS(afloc_st_tensor_copy(file, 0, &got, sizeof got), AFLOC_OK);
        CHECK(got == want);
        afloc_st_free(file);
        file = NULL;
    }
    free(b);
    st_cases++;
    printf("ok   %-44s value %.2f copied from an unaligned address\n", "accept rank-0 scalar", (double)got);

    /* empty tensors at [k,k], trailing padding, empty metadata, unaligned F32 data. */
    const char *mixed = "{\"__metadata__\":{},\"e0\":{\"dtype\":\"F32\",\"shape\":[2,0],\"data_offsets\":[0,0]},"
                        "\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]},"
                        "\"e1\":{\"dtype\":\"F32\",\"shape\":[2,0],\"data_offsets\":[12,12]},"
                        "\"u\":{\"dtype\":\"U8\",\"shape\":[5],\"data_offsets\":[12,17]}}       ";
    b = st_build(mixed, strlen(mixed), 17, &size);
    CHECK_STATUS(afloc_st_parse_from_memory(b, size, NULL, &file), AFLOC_OK);
    if (file) {
        CHECK(file->tensor_count == 4 && file->metadata_count == 0);
        int32_t w = afloc_st_find(file, "w"), u = afloc_st_find(file, "u"), e1 = afloc_st_find(file, "e1");
        CHECK(w >= 0 && u >= 0 && e1 >= 0 && afloc_st_find(file, "zz") == -1);
        float values[3];
        unsigned char bytes[5], reference[17];
        for (size_t i = 0; i < 17; i++) reference[i] = st_pattern(i);
        CHECK_STATUS(afloc_st_tensor_copy(file, w, values, sizeof values), AFLOC_OK);
        CHECK(memcmp(values, reference, 12) == 0);
        CHECK_STATUS(afloc_st_tensor_copy(file, u, bytes, sizeof bytes), AFLOC_OK);
        CHECK(memcmp(bytes, reference + 12, 5) == 0);
        CHECK(file->tensors[e1].nbytes == 0 && file->tensors[e1].shape[1] == 0);
        CHECK_STATUS(afloc_st_tensor_copy(file, u, bytes, 4), AFLOC_ERR_INVALID_ARGUMENT);
        afloc_st_free(file);
        file = NULL;
    }
    free(b);
    st_cases++;
    printf("ok   %-44s bytes equal to the reference\n", "accept empty tensors, padding, empty metadata");
    st_expect("accept missing __metadata__", VALID, 16, AFLOC_OK);
    st_expect("accept no tensors at all", "{}", 0, AFLOC_OK);
    st_expect("accept whitespace inside the JSON", "{ \"a\" :\n\t" F32_22 " [ 0 , 16 ] } }  ", 16, AFLOC_OK);
    st_expect("accept all supported dtypes", "{\"a\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]},"
              "\"b\":{\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[8,10]},"
              "\"c\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[10,12]},"
              "\"d\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[12,20]},"
              "\"e\":{\"dtype\":\"I16\",\"shape\":[1],\"data_offsets\":[20,22]},"
              "\"f\":{\"dtype\":\"I8\",\"shape\":[1],\"data_offsets\":[22,23]},"
              "\"g\":{\"dtype\":\"BOOL\",\"shape\":[1],\"data_offsets\":[23,24]},"
              "\"h\":{\"dtype\":\"U16\",\"shape\":[1],\"data_offsets\":[24,26]},"
              "\"i\":{\"dtype\":\"U32\",\"shape\":[1],\"data_offsets\":[26,30]},"
              "\"j\":{\"dtype\":\"U64\",\"shape\":[1],\"data_offsets\":[30,38]},"
              "\"k\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[38,42]}}", 42, AFLOC_OK);
}

/* Every injected allocation failure gives OUT_OF_MEMORY (or OK once enough succeed), no leaks. */
static void oom_loop(void) {
    const char *header = "{\"__metadata__\":{\"k\":\"v\",\"z\":\"w\"},\"a\":" F32_22 "[0,16]},\"b\":" F32_22
                         "[16,32]},\"c\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[32,35]}}";
    size_t size;
    unsigned char *b = st_build(header, strlen(header), 35, &size);
    int oom = 0, ok = 0, other = 0;
    for (long k = 0; k < 100; k++) {
        afloc_test_inject_alloc_failure(k);
        afloc_st_file *file = NULL;
        afloc_status status = afloc_st_parse_from_memory(b, size, NULL, &file);
        afloc_test_inject_alloc_failure(-1);
        if (status == AFLOC_OK) {
            ok++;
            afloc_st_free(file);
            break;
        }
        if (status == AFLOC_ERR_OUT_OF_MEMORY) oom++;
        else other++;
    }
    free(b);
    CHECK(ok == 1 && other == 0 && oom > 0);
    printf("oom loop: %d injected failures -> OUT_OF_MEMORY, then OK; other codes: %d\n", oom, other);
}

int main(void) {
    s1_s3();
    s4_s6();
    s7_s11();
    s12_s18();
    s19_s20();
    s23_s24();
    accept_cases();
    oom_loop();
    printf("st_malformed_catalog: %d cases, %d failures\n", st_cases, test_failures);
    return test_finish("st_malformed_catalog");
}
