// Loads and validates a TOML config file into an immutable Config snapshot. Every problem found
// is reported with file, line and column; loading never stops at the first error. Pure apart from
// reading the file (and the files it names are not opened here: TLS files are checked when the
// listener is built).
#pragma once

#include <expected>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/config/config.h"

namespace toml {
inline namespace v3 {
class table;
class node;
}  // namespace v3
}  // namespace toml

namespace pforte::config {

/// One problem in a config file.
struct ConfigError {
  std::string file;
  int line = 0;
  int column = 0;
  std::string message;
  /// "FILE:LINE:COL: message"
  std::string to_string() const;
};

/// Collects errors while parsing; shared with module parsers.
class ErrorSink {
 public:
  explicit ErrorSink(std::string file) : file_(std::move(file)) {}
  void add(const toml::node& where, std::string message);
  void add(int line, int column, std::string message);
  const std::vector<ConfigError>& errors() const { return errors_; }
  const std::string& file() const { return file_; }

 private:
  std::string file_;
  std::vector<ConfigError> errors_;
};

/// A module's config parsers. The loader hands a module the tables it owns; keys the loader
/// does not know and no module claims are errors.
struct ModuleConfigParser {
  std::string name;  ///< module name, also the top-level section and the route key it owns
  /// Parses the top-level section `[name]` (or `[name.X]` tables: the node is the whole `name`
  /// table). May be empty if the module has no top-level section.
  std::function<std::shared_ptr<const ModuleConfig>(const toml::node&, ErrorSink&)> parse_section;
  /// Parses the value of the route key `name` (e.g. `cache = { enabled = true }`), with the
  /// already parsed top-level section (may be null) for cross-references. May be empty.
  std::function<std::shared_ptr<const ModuleConfig>(const toml::node&, const ModuleConfig*,
                                                    ErrorSink&)>
      parse_route;
};

/// Loads `path`. On success returns the snapshot; otherwise every error found.
std::expected<std::shared_ptr<const Config>, std::vector<ConfigError>> load_config_file(
    const std::string& path, const std::vector<ModuleConfigParser>& modules = {});

/// Same, from text; `name` is used as FILE in messages. For tests and the fuzzer.
std::expected<std::shared_ptr<const Config>, std::vector<ConfigError>> load_config_text(
    std::string_view text, const std::string& name,
    const std::vector<ModuleConfigParser>& modules = {});

}  // namespace pforte::config
