#include "proxy/common/log.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace pforte::log {

namespace {
std::mutex g_mutex;
int g_fd = 2;
std::string g_path = "-";
std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};

const char* level_name(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kError:
      return "error";
  }
  return "?";
}

int open_fd(const std::string& path) {
  if (path == "-") return 2;
  return ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
}
}  // namespace

bool open(const std::string& path, LogLevel level) {
  int fd = open_fd(path);
  if (fd < 0) return false;
  std::lock_guard lock(g_mutex);
  if (g_fd > 2) ::close(g_fd);
  g_fd = fd;
  g_path = path;
  g_level.store(static_cast<int>(level));
  return true;
}

void reopen() {
  std::string path;
  {
    std::lock_guard lock(g_mutex);
    path = g_path;
  }
  open(path, static_cast<LogLevel>(g_level.load()));
}

void set_level(LogLevel level) {
  g_level.store(static_cast<int>(level));
}

bool enabled(LogLevel level) {
  return static_cast<int>(level) >= g_level.load(std::memory_order_relaxed);
}

void write(LogLevel level, const char* fmt, ...) {
  char line[2048];
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  tm t;
  gmtime_r(&ts.tv_sec, &t);
  int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s ", t.tm_year + 1900,
                   t.tm_mon + 1, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, ts.tv_nsec / 1000000,
                   level_name(level));
  va_list ap;
  va_start(ap, fmt);
  int m = vsnprintf(line + n, sizeof line - n - 1, fmt, ap);
  va_end(ap);
  size_t len = n + (m < 0 ? 0 : std::min<size_t>(m, sizeof line - n - 2));
  line[len++] = '\n';
  std::lock_guard lock(g_mutex);
  ssize_t ignored = ::write(g_fd, line, len);
  (void)ignored;
}

}  // namespace pforte::log
