#include "proxy/module/metrics.h"

#include <cmath>
#include <cstdio>

namespace pforte::module {

namespace {

thread_local size_t t_shard = 0;

void append_number(std::string& out, double v) {
  if (std::isnan(v)) {
    out.append("NaN");
  } else if (std::isinf(v)) {
    out.append(v > 0 ? "+Inf" : "-Inf");
  } else if (v == std::floor(v) && std::fabs(v) < 1e15) {
    char buf[32];
    snprintf(buf, sizeof buf, "%.0f", v);
    out.append(buf);
  } else {
    char buf[32];
    snprintf(buf, sizeof buf, "%.9g", v);
    out.append(buf);
  }
}

void append_labels(std::string& out, const Labels& labels, std::string_view extra_name = {},
                   std::string_view extra_value = {}) {
  if (labels.empty() && extra_name.empty()) return;
  out.push_back('{');
  bool first = true;
  for (const auto& [n, v] : labels) {
    if (!first) out.push_back(',');
    first = false;
    out.append(n).append("=\"").append(escape_label_value(v)).push_back('"');
  }
  if (!extra_name.empty()) {
    if (!first) out.push_back(',');
    out.append(extra_name).append("=\"").append(extra_value).push_back('"');
  }
  out.push_back('}');
}

const char* type_name(MetricsWriter::Type t) {
  switch (t) {
    case MetricsWriter::Type::kCounter:
      return "counter";
    case MetricsWriter::Type::kHistogram:
      return "histogram";
    default:
      return "gauge";
  }
}

}  // namespace

size_t metric_shard() {
  return t_shard;
}

void set_metric_shard(size_t shard) {
  t_shard = shard % kMetricShards;
}

uint64_t Counter::value() const {
  uint64_t sum = 0;
  for (const Cell& c : cells_) sum += c.value.load(std::memory_order_relaxed);
  return sum;
}

int64_t Gauge::value() const {
  int64_t sum = 0;
  for (const Cell& c : cells_) sum += c.value.load(std::memory_order_relaxed);
  return sum;
}

Histogram::Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)) {
  for (Shard& s : shards_) {
    s.buckets = std::make_unique<std::atomic<uint64_t>[]>(bounds_.size() + 1);
    for (size_t i = 0; i <= bounds_.size(); ++i) s.buckets[i].store(0);
  }
}

void Histogram::observe(double value) {
  size_t i = 0;
  while (i < bounds_.size() && value > bounds_[i]) ++i;
  Shard& s = shards_[metric_shard()];
  s.buckets[i].fetch_add(1, std::memory_order_relaxed);
  double old = s.sum.load(std::memory_order_relaxed);
  while (!s.sum.compare_exchange_weak(old, old + value, std::memory_order_relaxed)) {
  }
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot snap;
  snap.bounds = bounds_;
  std::vector<uint64_t> counts(bounds_.size() + 1, 0);
  for (const Shard& s : shards_) {
    for (size_t i = 0; i <= bounds_.size(); ++i)
      counts[i] += s.buckets[i].load(std::memory_order_relaxed);
    snap.sum += s.sum.load(std::memory_order_relaxed);
  }
  uint64_t running = 0;
  for (uint64_t c : counts) {
    running += c;
    snap.cumulative.push_back(running);
  }
  return snap;
}

const std::vector<double>& duration_buckets() {
  static const std::vector<double> kBuckets = {
      0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300};
  return kBuckets;
}

void MetricsWriter::sample(std::string_view name, std::string_view help, Type type,
                           const Labels& labels, double value) {
  auto it = families_.find(name);
  if (it == families_.end()) {
    it = families_.emplace(std::string(name), Family{std::string(help), type, {}}).first;
  }
  std::string& out = it->second.lines;
  out.append(name);
  append_labels(out, labels);
  out.push_back(' ');
  append_number(out, value);
  out.push_back('\n');
}

void MetricsWriter::histogram(std::string_view name, std::string_view help, const Labels& labels,
                              const Histogram::Snapshot& snapshot) {
  auto it = families_.find(name);
  if (it == families_.end()) {
    it =
        families_.emplace(std::string(name), Family{std::string(help), Type::kHistogram, {}}).first;
  }
  std::string& out = it->second.lines;
  for (size_t i = 0; i < snapshot.cumulative.size(); ++i) {
    std::string le;
    if (i < snapshot.bounds.size())
      append_number(le, snapshot.bounds[i]);
    else
      le = "+Inf";
    out.append(name).append("_bucket");
    append_labels(out, labels, "le", le);
    out.push_back(' ');
    append_number(out, static_cast<double>(snapshot.cumulative[i]));
    out.push_back('\n');
  }
  out.append(name).append("_sum");
  append_labels(out, labels);
  out.push_back(' ');
  append_number(out, snapshot.sum);
  out.append("\n").append(name).append("_count");
  append_labels(out, labels);
  out.push_back(' ');
  append_number(
      out, snapshot.cumulative.empty() ? 0.0 : static_cast<double>(snapshot.cumulative.back()));
  out.push_back('\n');
}

std::string MetricsWriter::text() const {
  std::string out;
  for (const auto& [name, f] : families_) {
    out.append("# HELP ").append(name).push_back(' ');
    for (char c : f.help) {
      if (c == '\\')
        out.append("\\\\");
      else if (c == '\n')
        out.append("\\n");
      else
        out.push_back(c);
    }
    out.append("\n# TYPE ").append(name).push_back(' ');
    out.append(type_name(f.type)).push_back('\n');
    out.append(f.lines);
  }
  return out;
}

std::string MetricsRegistry::key(std::string_view name, const Labels& labels) {
  std::string k(name);
  append_labels(k, labels);
  return k;
}

Counter& MetricsRegistry::counter(std::string_view name, std::string_view help,
                                  const Labels& labels) {
  std::string k = key(name, labels);
  std::lock_guard lock(mutex_);
  auto it = entries_.find(k);
  if (it == entries_.end()) {
    Entry e{std::string(name),           std::string(help), labels,
            std::make_unique<Counter>(), nullptr,           nullptr};
    it = entries_.emplace(std::move(k), std::move(e)).first;
  }
  return *it->second.counter;
}

Gauge& MetricsRegistry::gauge(std::string_view name, std::string_view help, const Labels& labels) {
  std::string k = key(name, labels);
  std::lock_guard lock(mutex_);
  auto it = entries_.find(k);
  if (it == entries_.end()) {
    Entry e{std::string(name), std::string(help),         labels,
            nullptr,           std::make_unique<Gauge>(), nullptr};
    it = entries_.emplace(std::move(k), std::move(e)).first;
  }
  return *it->second.gauge;
}

Histogram& MetricsRegistry::histogram(std::string_view name, std::string_view help,
                                      const Labels& labels, const std::vector<double>& bounds) {
  std::string k = key(name, labels);
  std::lock_guard lock(mutex_);
  auto it = entries_.find(k);
  if (it == entries_.end()) {
    Entry e{std::string(name), std::string(help), labels,
            nullptr,           nullptr,           std::make_unique<Histogram>(bounds)};
    it = entries_.emplace(std::move(k), std::move(e)).first;
  }
  return *it->second.histogram;
}

void MetricsRegistry::write(MetricsWriter& out) const {
  std::lock_guard lock(mutex_);
  for (const auto& [k, e] : entries_) {
    if (e.counter) {
      out.counter(e.name, e.help, e.labels, static_cast<double>(e.counter->value()));
    } else if (e.gauge) {
      out.gauge(e.name, e.help, e.labels, static_cast<double>(e.gauge->value()));
    } else if (e.histogram) {
      out.histogram(e.name, e.help, e.labels, e.histogram->snapshot());
    }
  }
}

uint64_t MetricsRegistry::counter_value(std::string_view name, const Labels& labels) const {
  std::string k = key(name, labels);
  std::lock_guard lock(mutex_);
  auto it = entries_.find(k);
  return it != entries_.end() && it->second.counter ? it->second.counter->value() : 0;
}

std::vector<std::pair<Labels, uint64_t>> MetricsRegistry::counters(std::string_view name) const {
  std::vector<std::pair<Labels, uint64_t>> out;
  std::lock_guard lock(mutex_);
  for (const auto& [k, e] : entries_) {
    if (e.counter && e.name == name) out.emplace_back(e.labels, e.counter->value());
  }
  return out;
}

std::vector<std::pair<Labels, int64_t>> MetricsRegistry::gauges(std::string_view name) const {
  std::vector<std::pair<Labels, int64_t>> out;
  std::lock_guard lock(mutex_);
  for (const auto& [k, e] : entries_) {
    if (e.gauge && e.name == name) out.emplace_back(e.labels, e.gauge->value());
  }
  return out;
}

MetricsRegistry& metrics() {
  static MetricsRegistry registry;
  return registry;
}

std::string escape_label_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\')
      out.append("\\\\");
    else if (c == '"')
      out.append("\\\"");
    else if (c == '\n')
      out.append("\\n");
    else
      out.push_back(c);
  }
  return out;
}

}  // namespace pforte::module
