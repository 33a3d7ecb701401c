/* The headers the glue is written against, and the one spelling the cdef
 * needs: cffi cannot parse STACK_OF(X509), so the cdef (cdef/types.h) and
 * glue.h call it STACK_OF_X509. Included by glue.h; never fed to cffi. */
#ifndef OSSL_HANDSHAKE_GLUE_OPENSSL_H
#define OSSL_HANDSHAKE_GLUE_OPENSSL_H

#define STACK_OF_X509 STACK_OF(X509)

#include <errno.h>
#include <string.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/opensslv.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#endif /* OSSL_HANDSHAKE_GLUE_OPENSSL_H */
