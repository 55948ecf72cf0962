// The system OpenSSL (libssl-dev) as seen from Swift. The few OpenSSL "functions" that are
// really macros cannot be imported by Swift; each gets a one-line inline wrapper here.
#ifndef ETCDLOCK_COPENSSL_SHIM_H
#define ETCDLOCK_COPENSSL_SHIM_H

#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/// SSL_CTX_set_min_proto_version (a macro over SSL_CTX_ctrl).
static inline int etcdlock_ssl_ctx_set_min_proto_version(SSL_CTX *context, int version) {
    return (int)SSL_CTX_set_min_proto_version(context, version);
}

/// SSL_CTX_set_mode (a macro over SSL_CTX_ctrl).
static inline long etcdlock_ssl_ctx_set_mode(SSL_CTX *context, long mode) {
    return SSL_CTX_set_mode(context, mode);
}

/// SSL_set_tlsext_host_name (a macro over SSL_ctrl): the SNI name sent in the ClientHello.
static inline int etcdlock_ssl_set_server_name(SSL *session, const char *name) {
    return (int)SSL_set_tlsext_host_name(session, name);
}

/// The options every context gets: no compression, no renegotiation, and a peer that closes
/// without close_notify reads as an end of stream (HTTP's own framing detects truncation).
static inline void etcdlock_ssl_ctx_set_default_options(SSL_CTX *context) {
    SSL_CTX_set_options(context, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF);
}

#endif
