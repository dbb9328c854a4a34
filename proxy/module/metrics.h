// Metrics for the Prometheus text format (exposition format 0.0.4), served by the admin module on
// /metrics. Counters and histograms are registered once (at module prepare or worker start) and
// then updated from any thread without a lock: each has one cache-line cell per worker shard, so
// workers never write the same line. Computed values (queue length, cache bytes, server health)
// are written at scrape time through MetricsWriter by ModuleShared::write_metrics.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pforte::module {

/// Label pairs, in the order they are written: {{"route", "static"}, {"code", "200"}}.
using Labels = std::vector<std::pair<std::string, std::string>>;

inline constexpr size_t kMetricShards = 16;

/// The shard the calling thread writes to. Workers call set_metric_shard(worker index) once;
/// other threads use shard 0.
size_t metric_shard();
void set_metric_shard(size_t shard);

/// A monotonically increasing count. Any thread, lock-free.
class Counter {
 public:
  void add(uint64_t n = 1) { cells_[metric_shard()].value.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const;

 private:
  struct alignas(64) Cell {
    std::atomic<uint64_t> value{0};
  };
  std::array<Cell, kMetricShards> cells_;
};

/// A value that goes up and down (open connections). Any thread, lock-free.
class Gauge {
 public:
  void add(int64_t n) { cells_[metric_shard()].value.fetch_add(n, std::memory_order_relaxed); }
  int64_t value() const;

 private:
  struct alignas(64) Cell {
    std::atomic<int64_t> value{0};
  };
  std::array<Cell, kMetricShards> cells_;
};

/// A distribution over fixed upper bounds (plus +Inf). Any thread, lock-free.
class Histogram {
 public:
  /// `bounds` ascending, in the metric's unit (seconds for durations).
  explicit Histogram(std::vector<double> bounds);
  void observe(double value);

  struct Snapshot {
    std::vector<double> bounds;
    std::vector<uint64_t> cumulative;  ///< per bound, then +Inf (= count)
    double sum = 0;
  };
  Snapshot snapshot() const;

 private:
  struct Shard {
    std::unique_ptr<std::atomic<uint64_t>[]> buckets;  ///< bounds.size() + 1
    std::atomic<double> sum{0};
  };
  std::vector<double> bounds_;
  std::array<Shard, kMetricShards> shards_;
};

/// Default bounds for request and wait durations, in seconds (1 ms .. 5 min).
const std::vector<double>& duration_buckets();

/// Builds one scrape: samples grouped by metric family, written in the text format.
class MetricsWriter {
 public:
  enum class Type : uint8_t { kCounter, kGauge, kHistogram };
  /// Adds one sample of family `name` (declared with `help` and `type` on first use).
  void sample(std::string_view name, std::string_view help, Type type, const Labels& labels,
              double value);
  void counter(std::string_view name, std::string_view help, const Labels& labels, double value) {
    sample(name, help, Type::kCounter, labels, value);
  }
  void gauge(std::string_view name, std::string_view help, const Labels& labels, double value) {
    sample(name, help, Type::kGauge, labels, value);
  }
  void histogram(std::string_view name, std::string_view help, const Labels& labels,
                 const Histogram::Snapshot& snapshot);
  /// The exposition text.
  std::string text() const;

 private:
  struct Family {
    std::string help;
    Type type = Type::kGauge;
    std::string lines;
  };
  std::map<std::string, Family, std::less<>> families_;
};

/// The process's registered counters and histograms. Registration takes a lock and returns a
/// reference that stays valid for the life of the process; updates do not lock.
class MetricsRegistry {
 public:
  /// The counter `name{labels}`, created on first use.
  Counter& counter(std::string_view name, std::string_view help, const Labels& labels);
  /// The gauge `name{labels}`, created on first use.
  Gauge& gauge(std::string_view name, std::string_view help, const Labels& labels);
  /// The histogram `name{labels}`, created on first use with `bounds`.
  Histogram& histogram(std::string_view name, std::string_view help, const Labels& labels,
                       const std::vector<double>& bounds = duration_buckets());
  /// Adds every registered metric to `out`.
  void write(MetricsWriter& out) const;
  /// Current value of a registered counter, or 0 (for the status page and tests).
  uint64_t counter_value(std::string_view name, const Labels& labels) const;
  /// Every counter of family `name` with its labels and value (for the status page).
  std::vector<std::pair<Labels, uint64_t>> counters(std::string_view name) const;
  /// Every gauge of family `name` with its labels and value.
  std::vector<std::pair<Labels, int64_t>> gauges(std::string_view name) const;

 private:
  struct Entry {
    std::string name;
    std::string help;
    Labels labels;
    std::unique_ptr<Counter> counter;
    std::unique_ptr<Gauge> gauge;
    std::unique_ptr<Histogram> histogram;
  };
  static std::string key(std::string_view name, const Labels& labels);

  mutable std::mutex mutex_;
  std::map<std::string, Entry, std::less<>> entries_;
};

/// The process-wide registry.
MetricsRegistry& metrics();

/// Escapes a label value for the text format (backslash, quote, newline).
std::string escape_label_value(std::string_view value);

}  // namespace pforte::module
