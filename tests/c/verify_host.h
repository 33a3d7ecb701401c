/* The name a client verifies, set the way the linked OpenSSL wants it: the one
 * copy for the C programs of tests/c and bench/c.
 *
 * SSL_set1_host is deprecated in OpenSSL 4.0: there an IP literal goes to
 * SSL_set1_ipaddr and anything else to SSL_set1_dnsname. */
#ifndef OSSL_HANDSHAKE_TESTS_VERIFY_HOST_H
#define OSSL_HANDSHAKE_TESTS_VERIFY_HOST_H

#include <openssl/ssl.h>

#if OPENSSL_VERSION_NUMBER >= 0x40000000L
#include <arpa/inet.h>
static int set1_verify_host(SSL *ssl, const char *name)
{
    unsigned char buf[16];
    if (inet_pton(AF_INET, name, buf) == 1 || inet_pton(AF_INET6, name, buf) == 1)
        return SSL_set1_ipaddr(ssl, name);
    return SSL_set1_dnsname(ssl, name);
}
#else
#define set1_verify_host SSL_set1_host
#endif

#endif
