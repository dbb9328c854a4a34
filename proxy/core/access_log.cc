#include "proxy/core/access_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>

namespace pforte::core {

AccessLog::AccessLog(std::string path) : path_(std::move(path)), enabled_(path_ != "off") {}

AccessLog::~AccessLog() {
  close();
}

bool AccessLog::open() {
  if (!enabled_) return true;
  if (path_ == "-") {
    fd_ = 1;
  } else {
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd_ < 0) return false;
  }
  writer_ = std::thread([this] { run(); });
  return true;
}

void AccessLog::append(std::string_view line) {
  if (!enabled_) return;
  std::lock_guard lock(mutex_);
  if (buffer_.size() + line.size() + 1 > kMaxBuffered) {
    dropped_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  bool was_empty = buffer_.empty();
  buffer_.append(line);
  buffer_.push_back('\n');
  if (was_empty) wake_.notify_one();
}

void AccessLog::close() {
  {
    std::lock_guard lock(mutex_);
    if (!writer_.joinable()) return;
    stopping_ = true;
  }
  wake_.notify_one();
  writer_.join();
  if (fd_ > 2) ::close(fd_);
  fd_ = -1;
}

void AccessLog::run() {
  std::string batch;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      // Wake at least every 100 ms so reopen requests are honoured promptly.
      wake_.wait_for(lock, std::chrono::milliseconds(100),
                     [&] { return stopping_ || !buffer_.empty(); });
      batch.swap(buffer_);
      if (batch.empty() && stopping_) return;
    }
    if (reopen_.exchange(false) && fd_ > 2) {
      int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
      if (fd >= 0) {
        ::close(fd_);
        fd_ = fd;
      }
    }
    size_t off = 0;
    while (off < batch.size()) {
      ssize_t n = ::write(fd_, batch.data() + off, batch.size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;  // the disk is gone: drop this batch rather than spin
      off += static_cast<size_t>(n);
    }
    batch.clear();
  }
}

}  // namespace pforte::core
