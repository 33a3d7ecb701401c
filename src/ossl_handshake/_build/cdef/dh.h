/* DHE for TLS <= 1.2 servers (Context.set_dh_params). The PEM loading and
 * the version-dependent setter are glue (glue/dh.c, declared in glue.h). */

/* A macro over SSL_CTX_ctrl(SSL_CTRL_SET_DH_AUTO) in 1.1.1 through 4.0:
 * parameters matched to the certificate's security level (SSL_CTX_set_dh_auto(3)). */
long SSL_CTX_set_dh_auto(SSL_CTX *ctx, int onoff);
