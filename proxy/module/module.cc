#include "proxy/module/module.h"

#include <algorithm>

#include "modules/admin/admin.h"
#include "modules/isolation/fragments.h"
#include "modules/isolation/isolation.h"
#include "modules/request_id/request_id.h"
#include "modules/waiting_room/waiting_room.h"

namespace pforte::module {

Decision Decision::reply(int status, std::string_view body, std::string_view content_type) {
  LocalReply r;
  r.response.status = status;
  r.response.headers.add("content-type", content_type);
  r.response.headers.add("cache-control", "no-store");
  r.body = make_evbuffer();
  evbuffer_add(r.body.get(), body.data(), body.size());
  return reply(std::move(r));
}

bool ResumeHandle::resume(Decision decision) {
  std::shared_ptr<ExchangeContext> target = target_.lock();
  if (!target) return false;
  target->resume(std::move(decision));
  return true;
}

const std::vector<ModuleFactory>& registry() {
  static const std::vector<ModuleFactory> factories = [] {
    std::vector<ModuleFactory> all;
    all.push_back(modules::request_id::factory());
    all.push_back(modules::admin::factory());
    all.push_back(modules::isolation::fragments_factory());
    all.push_back(modules::isolation::isolation_factory());
    all.push_back(modules::waiting_room::factory());
    std::stable_sort(all.begin(), all.end(), [](const ModuleFactory& a, const ModuleFactory& b) {
      return a.order < b.order;
    });
    return all;
  }();
  return factories;
}

std::expected<std::shared_ptr<const Generation>, std::string> prepare_generation(
    std::shared_ptr<const config::Config> config, const Generation* previous) {
  auto gen = std::make_shared<Generation>();
  gen->config = std::move(config);
  gen->number = previous ? previous->number + 1 : 1;
  const std::vector<ModuleFactory>& factories = registry();
  gen->shared.resize(factories.size());
  for (size_t i = 0; i < factories.size(); ++i) {
    if (!factories[i].prepare) continue;
    std::shared_ptr<ModuleShared> before =
        previous && i < previous->shared.size() ? previous->shared[i] : nullptr;
    auto shared = factories[i].prepare(*gen->config, std::move(before));
    if (!shared) return std::unexpected(shared.error());
    gen->shared[i] = std::move(*shared);
  }
  return gen;
}

void ServerInfo::set_reload_result(bool ok, std::string message, int64_t when_unix) {
  std::lock_guard lock(mutex_);
  reload_ = Reload{true, ok, std::move(message), when_unix};
}

ServerInfo::Reload ServerInfo::reload() const {
  std::lock_guard lock(mutex_);
  return reload_;
}

ServerInfo& server_info() {
  static ServerInfo info;
  return info;
}

std::vector<config::ModuleConfigParser> config_parsers() {
  std::vector<config::ModuleConfigParser> parsers;
  for (const ModuleFactory& f : registry()) {
    if (f.parser.parse_section || f.parser.parse_route) parsers.push_back(f.parser);
  }
  return parsers;
}

}  // namespace pforte::module
