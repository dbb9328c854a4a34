#include "proxy/net/tls.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <cstring>

namespace pforte::net {

namespace {

std::string last_ssl_error() {
  unsigned long e = ERR_get_error();
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

int select_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                unsigned int inlen, void*) {
  // Prefer h2, then http/1.1; a client that offers neither gets http/1.1 semantics without ALPN.
  static const unsigned char kProtos[] = "\x02h2\x08http/1.1";
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, outlen, kProtos, sizeof kProtos - 1, in, inlen) ==
      OPENSSL_NPN_NEGOTIATED) {
    *out = selected;
    return SSL_TLSEXT_ERR_OK;
  }
  return SSL_TLSEXT_ERR_NOACK;
}

std::expected<SslCtxPtr, std::string> load(const config::TlsConfig& tls) {
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) return std::unexpected("cannot create TLS context: " + last_ssl_error());
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_options(
      ctx.get(), SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_RELEASE_BUFFERS);
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), tls.cert.c_str()) != 1) {
    return std::unexpected("cannot load certificate " + tls.cert + ": " + last_ssl_error());
  }
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), tls.key.c_str(), SSL_FILETYPE_PEM) != 1) {
    return std::unexpected("cannot load private key " + tls.key + ": " + last_ssl_error());
  }
  if (SSL_CTX_check_private_key(ctx.get()) != 1) {
    return std::unexpected("private key " + tls.key + " does not match certificate " + tls.cert);
  }
  SSL_CTX_set_alpn_select_cb(ctx.get(), &select_alpn, nullptr);
  return ctx;
}

std::vector<std::string> dns_names(SSL_CTX* ctx) {
  std::vector<std::string> names;
  X509* cert = SSL_CTX_get0_certificate(ctx);
  if (!cert) return names;
  auto* sans =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (sans) {
    for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
      const GENERAL_NAME* gn = sk_GENERAL_NAME_value(sans, i);
      if (gn->type != GEN_DNS) continue;
      const unsigned char* p = ASN1_STRING_get0_data(gn->d.dNSName);
      std::string name(reinterpret_cast<const char*>(p), ASN1_STRING_length(gn->d.dNSName));
      for (char& c : name) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
      names.push_back(std::move(name));
    }
    GENERAL_NAMES_free(sans);
  }
  return names;
}

bool name_matches(const std::string& pattern, std::string_view host) {
  if (pattern.starts_with("*.")) {
    size_t dot = host.find('.');
    return dot != std::string_view::npos && host.substr(dot) == std::string_view(pattern).substr(1);
  }
  return pattern == host;
}

}  // namespace

std::expected<std::unique_ptr<TlsContext>, std::string> TlsContext::create(
    const config::TlsConfig& tls) {
  auto ctx = load(tls);
  if (!ctx) return std::unexpected(ctx.error());
  auto out = std::unique_ptr<TlsContext>(new TlsContext());
  out->default_ = std::move(*ctx);
  SSL_CTX_set_tlsext_servername_callback(out->default_.get(), &TlsContext::on_servername);
  SSL_CTX_set_tlsext_servername_arg(out->default_.get(), out.get());
  return out;
}

std::expected<void, std::string> TlsContext::add_sni_certificate(const config::TlsConfig& tls) {
  auto ctx = load(tls);
  if (!ctx) return std::unexpected(ctx.error());
  SniEntry entry{dns_names(ctx->get()), std::move(*ctx)};
  sni_.push_back(std::move(entry));
  return {};
}

int TlsContext::on_servername(SSL* ssl, int*, void* arg) {
  auto* self = static_cast<TlsContext*>(arg);
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (!name || self->sni_.empty()) return SSL_TLSEXT_ERR_OK;
  std::string host(name);
  for (char& c : host) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
  for (const SniEntry& e : self->sni_) {
    for (const std::string& pattern : e.names) {
      if (name_matches(pattern, host)) {
        SSL_set_SSL_CTX(ssl, e.ctx.get());
        return SSL_TLSEXT_ERR_OK;
      }
    }
  }
  return SSL_TLSEXT_ERR_OK;
}

std::string negotiated_protocol(SSL* ssl) {
  const unsigned char* data = nullptr;
  unsigned int len = 0;
  SSL_get0_alpn_selected(ssl, &data, &len);
  return data ? std::string(reinterpret_cast<const char*>(data), len) : std::string();
}

}  // namespace pforte::net
