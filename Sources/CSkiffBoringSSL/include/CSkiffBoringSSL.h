#ifndef C_SKIFF_BORINGSSL_H
#define C_SKIFF_BORINGSSL_H

#include <stddef.h>
#include <stdint.h>

/* The few BoringSSL context settings swift-nio-ssl does not expose. The functions live in
 * swift-nio-ssl's vendored BoringSSL (symbol prefix CNIOBoringSSL_), which is linked into every
 * binary that uses NIOSSL; that package does not export its C module, so they are declared here
 * with BoringSSL's own signatures (SSL_CTX is opaque to Skiff). */

#define SKIFF_SSL_SESS_CACHE_OFF 0x0000
#define SKIFF_SSL_OP_NO_TICKET 0x00004000

int CNIOBoringSSL_SSL_CTX_set_session_cache_mode(void *ctx, int mode);
int CNIOBoringSSL_SSL_CTX_get_session_cache_mode(const void *ctx);
size_t CNIOBoringSSL_SSL_CTX_sess_number(const void *ctx);
uint32_t CNIOBoringSSL_SSL_CTX_set_options(void *ctx, uint32_t options);

#endif
