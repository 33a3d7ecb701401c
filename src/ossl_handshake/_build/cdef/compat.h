/* What glue/compat.c decides from the OpenSSL headers at build time. Declared
 * here, not in glue.h: in C two of them are #defines chosen under #if. */

static const int OSSL_BUILD_VERSION_NUMBER;
static const int OSSL_HAVE_NEGOTIATED_GROUP;
static const int OSSL_HAVE_WANT_RETRY_VERIFY;
static const int OSSL_HAVE_IGNORE_UNEXPECTED_EOF;
