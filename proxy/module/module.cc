#include "proxy/module/module.h"

#include <algorithm>

#include "modules/request_id/request_id.h"

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
    std::stable_sort(all.begin(), all.end(), [](const ModuleFactory& a, const ModuleFactory& b) {
      return a.order < b.order;
    });
    return all;
  }();
  return factories;
}

std::vector<config::ModuleConfigParser> config_parsers() {
  std::vector<config::ModuleConfigParser> parsers;
  for (const ModuleFactory& f : registry()) {
    if (f.parser.parse_section || f.parser.parse_route) parsers.push_back(f.parser);
  }
  return parsers;
}

}  // namespace pforte::module
