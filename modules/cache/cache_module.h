// The edge cache module: serves GET and HEAD from the shared store, coalesces upstream fetches
// per key, revalidates, serves stale copies when allowed, and answers PURGE on the admin listener.
//
// Phases:
//   request        lookup; fresh hit → local reply (no body copy); stale-while-revalidate → serve
//                  and start one background refresh (an internal fetch with kFetchRefresh);
//                  otherwise prepare the upstream request (revalidation headers, no Range) and
//                  lead the key's fetch or suspend until its leader is done. PURGE → 405.
//   admin          PURGE of a URL or a prefix ("/static/*"); the Host names the site.
//   upstream_error serve a stale copy within stale-if-error.
//   response_head  304 → refresh the stored entry and answer from it (replace_response); 5xx →
//                  stale copy if allowed; else decide whether to store; Cache-Status on every
//                  answer of a caching route.
//   response_body  copy the pieces into the entry being built (never hold them); insert at the
//                  end and wake the waiters.
//   log            LogRecord::cache_status.
//
// Process-wide state (CacheShared): the store and the coalescing table, kept across reloads while
// [cache] memory and max_object stay the same.
#pragma once

#include <expected>
#include <memory>
#include <string>

#include "modules/cache/cache_config.h"
#include "modules/cache/inflight.h"
#include "modules/cache/store.h"
#include "proxy/module/module.h"

namespace pforte::modules::cache {

/// The store and the table of running fetches. Any thread.
struct CacheCore {
  explicit CacheCore(const StoreOptions& options) : store(options) {}
  Store store;
  Inflight inflight;
};

/// The cache's ModuleShared for one config generation.
class CacheShared final : public module::ModuleShared {
 public:
  explicit CacheShared(std::shared_ptr<CacheCore> core) : core_(std::move(core)) {}
  CacheCore& core() const { return *core_; }
  const std::shared_ptr<CacheCore>& core_ptr() const { return core_; }

  void write_metrics(module::MetricsWriter& out) const override;
  void write_status_json(std::string& out) const override;
  void write_status_html(std::string& out) const override;

 private:
  std::shared_ptr<CacheCore> core_;
};

/// Store options for a [cache] section. The shard count (at most 16) is lowered until each
/// shard's share holds two objects of max_object, so that max_object is really storable.
StoreOptions store_options(const SectionConfig& section);

/// ModuleFactory::prepare: a new store, or the previous one when memory and max_object match.
std::expected<std::shared_ptr<module::ModuleShared>, std::string> prepare(
    const config::Config& config, std::shared_ptr<module::ModuleShared> previous);

module::ModuleFactory factory();

}  // namespace pforte::modules::cache
