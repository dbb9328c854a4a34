// The error log: operator-facing messages (startup, config problems, bad input, upstream
// failures). Thread-safe; each line is written whole with one write(2). Rare by design, so a
// mutex is fine here; request lines go to the access log (proxy/core/access_log.h) instead.
#pragma once

#include <string>

#include "proxy/config/config.h"

namespace pforte::log {

using config::LogLevel;

/// Opens `path` ("-" = stderr) for the error log at `level`. Returns false (and keeps the old
/// target) if the file cannot be opened. May be called again to reopen (SIGUSR1).
bool open(const std::string& path, LogLevel level);
/// Reopens the current file (log rotation).
void reopen();
bool enabled(LogLevel level);
/// Changes the level (reload). Any thread.
void set_level(LogLevel level);
/// Writes one line: "<time> <level> <message>".
void write(LogLevel level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

}  // namespace pforte::log

#define PF_LOG(level, ...)                                                       \
  do {                                                                           \
    if (::pforte::log::enabled(level)) ::pforte::log::write(level, __VA_ARGS__); \
  } while (0)
#define PF_DEBUG(...) PF_LOG(::pforte::config::LogLevel::kDebug, __VA_ARGS__)
#define PF_INFO(...) PF_LOG(::pforte::config::LogLevel::kInfo, __VA_ARGS__)
#define PF_WARN(...) PF_LOG(::pforte::config::LogLevel::kWarn, __VA_ARGS__)
#define PF_ERROR(...) PF_LOG(::pforte::config::LogLevel::kError, __VA_ARGS__)
