/* X509, names, stacks, X509_STORE_CTX (verify callbacks), OBJ, CRYPTO_free. */

int i2d_X509(X509 *x, unsigned char **out);
X509 *d2i_X509(X509 **px, const unsigned char **in, long len);
void X509_free(X509 *a);
const X509_NAME *X509_get_subject_name(const X509 *x);
const X509_NAME *X509_get_issuer_name(const X509 *x);
int X509_NAME_print_ex(BIO *out, const X509_NAME *nm, int indent, unsigned long flags);
int OPENSSL_sk_num(const OPENSSL_STACK *);
void *OPENSSL_sk_value(const OPENSSL_STACK *, int);
int X509_STORE_CTX_get_error(X509_STORE_CTX *ctx);
void X509_STORE_CTX_set_error(X509_STORE_CTX *ctx, int s);
int X509_STORE_CTX_get_error_depth(X509_STORE_CTX *ctx);
X509 *X509_STORE_CTX_get_current_cert(X509_STORE_CTX *ctx);
void *X509_STORE_CTX_get_ex_data(X509_STORE_CTX *ctx, int idx);
void CRYPTO_free(void *ptr, const char *file, int line);
const char *OBJ_nid2sn(int n);
const char *OBJ_nid2ln(int n);

/* Names to verify: an IP literal is an iPAddress, not a DNS name (1.1.1's
 * SSL_set1_host checks "127.0.0.1" as a host name). */
X509_VERIFY_PARAM *SSL_get0_param(SSL *ssl);
int X509_VERIFY_PARAM_set1_ip_asc(X509_VERIFY_PARAM *param, const char *ipasc);
