// Fragments: HTML answers of routes with `fragments = { enabled = true, timeout = "200ms" }` are
// composed from ESI (modules/isolation/esi.h) so that a slow, hung or dead side system (a blog box
// on the home page) costs the page at most its fragment timeout (DESIGN.md, "Isolation").
//
// Phases:
//   request        on a fragments route: drop Accept-Encoding, Range and If-Range, so the page
//                  arrives as plain, whole HTML that can be parsed (no markup may ever leak).
//   response_head  an HTML answer with a body: mark it rewritten (no Content-Length; ETag and
//                  Last-Modified dropped, they describe the template, not the composed page).
//   response_body  feed the ESI parser; each <esi:include> becomes an internal request through
//                  pforte's own routes (so it gets that route's upstream, cache and isolation),
//                  all includes of a page in parallel; the page goes out up to the first include
//                  still pending; the end is held until every include is settled.
//
// An include settles as: the fragment (2xx, its own markup stripped) within `timeout`; else the
// last good copy of that URL (LastGoodStore, shared by all workers, kept across reloads); else the
// `alt` (fetched as soon as the source failed, or speculatively when the source is still pending
// at half the timeout, within what is left of the timeout); else nothing. So a page ends at most
// about `timeout` after its last include was read. `onerror` is parsed but every failure renders
// as above: a page is never failed for a fragment.
//
// Nesting: a fragment served on a fragments route is composed by its own exchange, up to fetch
// depth kMaxDepth; deeper includes render as nothing. Fragments are fetched without the client's
// cookies or credentials (the last good copy is shared by URL, so it must not be personal), with
// the page's X-Request-Id.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "proxy/module/module.h"

namespace pforte::modules::isolation {

/// The route key `fragments = { enabled = true, timeout = "200ms" }`.
struct FragmentsRouteConfig : config::ModuleConfig {
  bool enabled = false;
  Millis timeout{200};  ///< per include, from the moment the include was read
};

/// Includes nested deeper than this render as nothing.
inline constexpr int kMaxFragmentDepth = 3;

/// Where an include's `src` points, relative to the page.
struct IncludeTarget {
  std::string scheme;     ///< "http" or "https"
  std::string authority;  ///< host[:port]
  std::string path;       ///< origin-form: path and query
  /// The key of the last good copy: authority + path.
  std::string key() const { return authority + path; }
};

/// Resolves `src` ("/news/latest", "news/latest", "http://host/news") against the page's scheme,
/// authority and path. nullopt for anything else (other schemes, empty, whitespace or control
/// characters, a fragment part).
std::optional<IncludeTarget> resolve_include(std::string_view src, std::string_view scheme,
                                             std::string_view authority,
                                             std::string_view page_path);

/// Parses the route key (a pure function for tests).
std::shared_ptr<const config::ModuleConfig> parse_fragments_route(const toml::node& node,
                                                                  config::ErrorSink& errors);

module::ModuleFactory fragments_factory();

}  // namespace pforte::modules::isolation
