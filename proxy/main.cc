// pforte: the command line. See DESIGN.md "Command line" and man/pforte.8.
#include <cstdio>
#include <cstring>
#include <string>

#include "pforte_version.h"
#include "proxy/config/loader.h"
#include "proxy/module/module.h"
#include "proxy/net/tls.h"
#include "proxy/server/server.h"

namespace {

void usage(FILE* out) {
  fprintf(out,
          "usage: pforte [-c FILE]      run (default /etc/pforte/pforte.toml)\n"
          "       pforte -t [-c FILE]   check the config and exit (0 = valid)\n"
          "       pforte --version\n");
}

}  // namespace

int main(int argc, char** argv) {
  std::string path = "/etc/pforte/pforte.toml";
  bool test_only = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "-c" && i + 1 < argc) {
      path = argv[++i];
    } else if (arg == "-t") {
      test_only = true;
    } else if (arg == "--version" || arg == "-v") {
      printf("pforte %s\n", PFORTE_VERSION);
      return 0;
    } else if (arg == "-h" || arg == "--help") {
      usage(stdout);
      return 0;
    } else {
      fprintf(stderr, "pforte: unknown argument %s\n", argv[i]);
      usage(stderr);
      return 2;
    }
  }

  auto loaded = pforte::config::load_config_file(path, pforte::module::config_parsers());
  if (!loaded) {
    for (const auto& e : loaded.error()) fprintf(stderr, "%s\n", e.to_string().c_str());
    return 1;
  }
  if (test_only) {
    // Also load what the config names, as the server would at start.
    bool ok = true;
    for (const auto& listener : (*loaded)->listeners) {
      if (!listener.tls) continue;
      auto ctx = pforte::net::TlsContext::create(*listener.tls);
      if (!ctx) {
        fprintf(stderr, "%s:%d:%d: listener %s: %s\n", path.c_str(), listener.tls->line,
                listener.tls->column, listener.address.text.c_str(), ctx.error().c_str());
        ok = false;
      }
    }
    if (!ok) return 1;
    auto generation = pforte::module::prepare_generation(*loaded, nullptr);
    if (!generation) {
      fprintf(stderr, "%s\n", generation.error().c_str());
      return 1;
    }
    fprintf(stderr, "%s: configuration is valid\n", path.c_str());
    return 0;
  }
  auto generation = pforte::module::prepare_generation(*loaded, nullptr);
  if (!generation) {
    fprintf(stderr, "%s\n", generation.error().c_str());
    return 1;
  }
  return pforte::server::run(*generation);
}
