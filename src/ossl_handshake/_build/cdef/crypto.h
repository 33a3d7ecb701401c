/* libcrypto's AEAD ciphers and digests, for decrypting and re-encrypting TLS 1.3
 * records (core/record_crypto.py). The AEAD and HKDF calls themselves are glue
 * (glue/crypto.c, declared in glue.h): one C call per record. */

typedef ... EVP_CIPHER;

const EVP_MD *EVP_sha256(void);
const EVP_MD *EVP_sha384(void);
const EVP_CIPHER *EVP_aes_128_gcm(void);
const EVP_CIPHER *EVP_aes_256_gcm(void);
const EVP_CIPHER *EVP_chacha20_poly1305(void);
