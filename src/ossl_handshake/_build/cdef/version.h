/* The libcrypto the module runs against (OPENSSL_VERSION_NUMBER is the build's). */

unsigned long OpenSSL_version_num(void);
const char *OpenSSL_version(int type);
