// The access log: one JSON line per request, written by a background thread so that no worker
// ever waits for the disk. Workers append whole lines under a short lock (no I/O under it); the
// writer thread swaps the buffer out and writes it. If the disk cannot keep up, lines beyond a
// bound are dropped and counted rather than growing memory without limit.
#pragma once

#include "proxy/module/text.h"

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

namespace pforte::core {

class AccessLog {
 public:
  /// `path`: a file, "-" for stdout, "off" to discard.
  explicit AccessLog(std::string path);
  ~AccessLog();
  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;

  bool enabled() const { return enabled_; }
  /// Opens the target; false with errno set if the file cannot be opened.
  bool open();
  /// Appends one line (without the newline). Any thread.
  void append(std::string_view line);
  /// Reopens the file on the next write (SIGUSR1). Any thread.
  void reopen() { reopen_.store(true); }
  /// Writes what is buffered and stops the writer thread.
  void close();
  uint64_t dropped() const { return dropped_.load(); }

 private:
  void run();

  static constexpr size_t kMaxBuffered = 16 * 1024 * 1024;

  std::string path_;
  bool enabled_;
  int fd_ = -1;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::string buffer_;
  bool stopping_ = false;
  std::atomic<bool> reopen_{false};
  std::atomic<uint64_t> dropped_{0};
  std::thread writer_;
};

using module::append_json_string;

}  // namespace pforte::core
