// TLS server contexts: certificate and key loading, ALPN (h2, then http/1.1), TLS 1.2+.
// A context is built once and shared read-only by all workers (SSL_CTX is safe for concurrent
// SSL_new). SNI-ready: a context can carry further certificates selected by server name.
#pragma once

#include <openssl/ssl.h>

#include <expected>
#include <memory>
#include <string>
#include <vector>

#include "proxy/config/config.h"

namespace pforte::net {

struct SslCtxFree {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxFree>;

/// A listener's TLS setup: the default certificate, plus certificates chosen by SNI.
class TlsContext {
 public:
  /// Loads the listener's certificate chain and key; the message names the file and the reason.
  static std::expected<std::unique_ptr<TlsContext>, std::string> create(
      const config::TlsConfig& tls);

  SSL_CTX* default_ctx() const { return default_.get(); }
  /// Adds a certificate served when the client's SNI matches one of its DNS names.
  std::expected<void, std::string> add_sni_certificate(const config::TlsConfig& tls);

 private:
  struct SniEntry {
    std::vector<std::string> names;  ///< lower-case DNS names from the certificate (may be *.x)
    SslCtxPtr ctx;
  };
  static int on_servername(SSL* ssl, int* alert, void* arg);

  SslCtxPtr default_;
  std::vector<SniEntry> sni_;
};

/// The ALPN protocol negotiated on `ssl` ("h2", "http/1.1" or empty).
std::string negotiated_protocol(SSL* ssl);

}  // namespace pforte::net
