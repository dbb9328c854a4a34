#include "modules/admin/admin.h"

#include <ctime>

#include "pforte_version.h"
#include "proxy/module/text.h"

namespace pforte::modules::admin {

namespace {

struct Traffic {
  uint64_t requests = 0;
  uint64_t by_class[6] = {};  ///< index = status / 100 (0: none)
  int64_t h1 = 0;
  int64_t h2 = 0;
};

Traffic traffic() {
  Traffic t;
  for (const auto& [labels, value] : module::metrics().counters("pforte_requests_total")) {
    t.requests += value;
    for (const auto& [name, v] : labels) {
      if (name == "code" && !v.empty() && v[0] >= '1' && v[0] <= '5')
        t.by_class[v[0] - '0'] += value;
    }
  }
  for (const auto& [labels, value] : module::metrics().gauges("pforte_connections")) {
    for (const auto& [name, v] : labels) {
      if (name != "protocol") continue;
      if (v == "h2")
        t.h2 += value;
      else
        t.h1 += value;
    }
  }
  return t;
}

std::string utc_text(int64_t unix_seconds) {
  time_t t = static_cast<time_t>(unix_seconds);
  tm parts;
  gmtime_r(&t, &parts);
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &parts);
  return buf;
}

std::string duration_text(int64_t seconds) {
  char buf[64];
  if (seconds >= 86400)
    snprintf(buf, sizeof buf, "%lldd %lldh", static_cast<long long>(seconds / 86400),
             static_cast<long long>(seconds % 86400 / 3600));
  else if (seconds >= 3600)
    snprintf(buf, sizeof buf, "%lldh %lldm", static_cast<long long>(seconds / 3600),
             static_cast<long long>(seconds % 3600 / 60));
  else if (seconds >= 60)
    snprintf(buf, sizeof buf, "%lldm %llds", static_cast<long long>(seconds / 60),
             static_cast<long long>(seconds % 60));
  else
    snprintf(buf, sizeof buf, "%llds", static_cast<long long>(seconds));
  return buf;
}

void append_addresses(std::string& out, const std::vector<config::SocketAddress>& list) {
  out.push_back('[');
  for (size_t i = 0; i < list.size(); ++i) {
    if (i) out.push_back(',');
    module::append_json_string(out, list[i].text);
  }
  out.push_back(']');
}

module::LocalReply text_reply(std::string body, std::string_view content_type) {
  module::LocalReply r;
  r.response.status = 200;
  r.response.headers.add("content-type", content_type);
  r.response.headers.add("cache-control", "no-store");
  r.body = make_evbuffer();
  evbuffer_add(r.body.get(), body.data(), body.size());
  return r;
}

class AdminModule : public module::Module {
 public:
  module::Decision on_admin(module::ExchangeContext& ctx) override {
    const module::Request& req = ctx.request();
    std::string_view path = req.path;
    if (size_t q = path.find('?'); q != std::string_view::npos) path = path.substr(0, q);
    if (path != "/metrics" && path != "/status" && path != "/status.json" && path != "/")
      return module::Decision::proceed();
    if (req.method != "GET" && req.method != "HEAD") {
      module::LocalReply r = text_reply("Use GET.\n", "text/plain; charset=utf-8");
      r.response.status = 405;
      r.response.headers.add("allow", "GET, HEAD");
      return module::Decision::reply(std::move(r));
    }
    const module::Generation& gen = ctx.generation();
    if (path == "/metrics") {
      return module::Decision::reply(
          text_reply(metrics_text(gen), "text/plain; version=0.0.4; charset=utf-8"));
    }
    if (path == "/status.json") {
      return module::Decision::reply(text_reply(status_json(gen), "application/json"));
    }
    return module::Decision::reply(text_reply(status_html(gen), "text/html; charset=utf-8"));
  }
};

}  // namespace

std::string metrics_text(const module::Generation& generation) {
  module::MetricsWriter out;
  module::metrics().write(out);
  const module::ServerInfo& info = module::server_info();
  out.gauge("pforte_config_generation",
            "Number of the running config generation (1 at start, +1 per accepted reload).", {},
            static_cast<double>(info.generation.load()));
  out.gauge("pforte_start_time_seconds", "When the process started (Unix time).", {},
            static_cast<double>(info.started_unix));
  out.gauge("pforte_workers", "Worker threads.", {}, static_cast<double>(info.workers));
  for (const auto& shared : generation.shared) {
    if (shared) shared->write_metrics(out);
  }
  return out.text();
}

std::string status_json(const module::Generation& generation) {
  const config::Config& cfg = *generation.config;
  const module::ServerInfo& info = module::server_info();
  int64_t now = time(nullptr);
  Traffic t = traffic();
  std::string out = "{\"pforte\":{\"version\":";
  module::append_json_string(out, PFORTE_VERSION);
  out.append(",\"started\":");
  module::append_json_string(out, utc_text(info.started_unix));
  out.append(",\"uptime_seconds\":").append(std::to_string(now - info.started_unix));
  out.append(",\"workers\":").append(std::to_string(info.workers));
  out.append(",\"config\":");
  module::append_json_string(out, cfg.source_path);
  out.append(",\"generation\":").append(std::to_string(generation.number));
  out.append(",\"last_reload\":");
  module::ServerInfo::Reload reload = info.reload();
  if (!reload.happened) {
    out.append("null");
  } else {
    out.append("{\"ok\":").append(reload.ok ? "true" : "false").append(",\"time\":");
    module::append_json_string(out, utc_text(reload.when_unix));
    out.append(",\"message\":");
    module::append_json_string(out, reload.message);
    out.push_back('}');
  }
  out.append("},\"traffic\":{\"connections\":{\"http/1.1\":").append(std::to_string(t.h1));
  out.append(",\"h2\":").append(std::to_string(t.h2)).append("},\"requests_total\":");
  out.append(std::to_string(t.requests)).append(",\"requests_by_class\":{");
  for (int c = 1; c <= 5; ++c) {
    if (c > 1) out.push_back(',');
    out.append("\"")
        .append(std::to_string(c))
        .append("xx\":")
        .append(std::to_string(t.by_class[c]));
  }
  out.append("}},\"upstreams\":[");
  for (size_t i = 0; i < cfg.upstreams.size(); ++i) {
    const config::UpstreamConfig& u = cfg.upstreams[i];
    if (i) out.push_back(',');
    out.append("{\"name\":");
    module::append_json_string(out, u.name);
    out.append(",\"servers\":");
    append_addresses(out, u.servers);
    out.append(",\"backup\":");
    append_addresses(out, u.backup);
    out.append(",\"balance\":\"")
        .append(u.balance == config::Balance::kLeastConn ? "least_conn" : "round_robin")
        .append("\"}");
  }
  out.append("],\"modules\":{");
  const auto& factories = module::registry();
  bool first = true;
  for (size_t i = 0; i < generation.shared.size() && i < factories.size(); ++i) {
    if (!generation.shared[i]) continue;
    std::string part;
    generation.shared[i]->write_status_json(part);
    if (part.empty()) continue;
    if (!first) out.push_back(',');
    first = false;
    module::append_json_string(out, factories[i].name);
    out.push_back(':');
    out.append(part);
  }
  out.append("}}\n");
  return out;
}

std::string status_html(const module::Generation& generation) {
  const config::Config& cfg = *generation.config;
  const module::ServerInfo& info = module::server_info();
  int64_t now = time(nullptr);
  Traffic t = traffic();
  module::ServerInfo::Reload reload = info.reload();
  bool reload_failed = reload.happened && !reload.ok;
  uint64_t errors = t.by_class[5];
  std::string out;
  out.reserve(8192);
  out.append(
      "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
      "<meta http-equiv=\"refresh\" content=\"5\"><title>pforte status</title><style>"
      "body{font:15px/1.4 system-ui,sans-serif;margin:1.5rem;color:#1b1b1b;max-width:70rem}"
      "h1{font-size:1.4rem;margin:0 0 .3rem}h2{font-size:1.1rem;margin:1.4rem 0 .4rem}"
      "table{border-collapse:collapse;margin:.2rem 0}td,th{padding:.25rem .7rem;text-align:left;"
      "border-bottom:1px solid #ddd}th{background:#f3f3f3}.ok{color:#0a6b2d;font-weight:600}"
      ".bad{color:#b00020;font-weight:700}.warn{color:#8a5a00;font-weight:600}"
      ".banner{padding:.6rem .9rem;border-radius:.3rem;margin:.6rem 0;font-weight:600}"
      ".banner.ok{background:#e3f4e8}.banner.bad{background:#fde7ea}"
      ".num{text-align:right;font-variant-numeric:tabular-nums}small{color:#555}"
      "</style></head><body>\n<h1>pforte ");
  module::append_html_escaped(out, PFORTE_VERSION);
  out.append("</h1>\n<p><small>up ").append(duration_text(now - info.started_unix));
  out.append(" &middot; ").append(std::to_string(info.workers)).append(" worker");
  if (info.workers != 1) out.push_back('s');
  out.append(" &middot; config ");
  module::append_html_escaped(out, cfg.source_path);
  out.append(" (generation ").append(std::to_string(generation.number)).append(")");
  out.append(" &middot; page refreshes every 5 s</small></p>\n");
  if (reload_failed) {
    out.append("<div class=\"banner bad\">Last reload was REFUSED at ");
    out.append(utc_text(reload.when_unix)).append("; the previous config keeps serving: ");
    module::append_html_escaped(out, reload.message);
    out.append("</div>\n");
  } else {
    out.append("<div class=\"banner ok\">Serving");
    if (reload.happened)
      out.append("; last reload accepted at ").append(utc_text(reload.when_unix));
    out.append("</div>\n");
  }
  out.append(
      "<h2>Traffic</h2>\n<table><tr><th>open connections</th><th>requests</th>"
      "<th>2xx</th><th>3xx</th><th>4xx</th><th>5xx</th></tr><tr>");
  out.append("<td class=\"num\">").append(std::to_string(t.h1 + t.h2)).append(" <small>(h1 ");
  out.append(std::to_string(t.h1))
      .append(", h2 ")
      .append(std::to_string(t.h2))
      .append(")</small></td>");
  out.append("<td class=\"num\">").append(std::to_string(t.requests)).append("</td>");
  for (int c = 2; c <= 5; ++c) {
    out.append(c == 5 && errors ? "<td class=\"num warn\">" : "<td class=\"num\">");
    out.append(std::to_string(t.by_class[c])).append("</td>");
  }
  out.append(
      "</tr></table>\n<h2>Upstreams</h2>\n<table><tr><th>upstream</th><th>servers</th>"
      "<th>backup</th><th>balance</th></tr>\n");
  for (const config::UpstreamConfig& u : cfg.upstreams) {
    out.append("<tr><td>");
    module::append_html_escaped(out, u.name);
    out.append("</td><td>");
    for (size_t i = 0; i < u.servers.size(); ++i) {
      if (i) out.append(", ");
      module::append_html_escaped(out, u.servers[i].text);
    }
    out.append("</td><td>");
    for (size_t i = 0; i < u.backup.size(); ++i) {
      if (i) out.append(", ");
      module::append_html_escaped(out, u.backup[i].text);
    }
    out.append("</td><td>")
        .append(u.balance == config::Balance::kLeastConn ? "least_conn" : "round_robin")
        .append("</td></tr>\n");
  }
  out.append("</table>\n");
  for (const auto& shared : generation.shared) {
    if (shared) shared->write_status_html(out);
  }
  out.append(
      "<p><small>Machine-readable: <a href=\"/status.json\">/status.json</a>, "
      "<a href=\"/metrics\">/metrics</a></small></p>\n</body></html>\n");
  return out;
}

module::ModuleFactory factory() {
  module::ModuleFactory f;
  f.name = "admin";
  f.order = 5;
  f.create = [](const module::WorkerInfo&) -> std::unique_ptr<module::Module> {
    return std::make_unique<AdminModule>();
  };
  return f;
}

}  // namespace pforte::modules::admin
