#include "modules/cache/respond.h"

#include <string>

namespace pforte::modules::cache {

namespace {

void set_cache_fields(http::Headers& headers, const Entry& entry, TimePoint now,
                      CacheStatus& status) {
  headers.set("age", std::to_string(current_age(entry.freshness, now).count()));
  status.ttl = time_to_live(entry.freshness, now);
  headers.set("cache-status", format_cache_status(status));
}

}  // namespace

module::LocalReply reply_from_entry(const http::Headers& request_headers,
                                    const std::shared_ptr<const Entry>& entry, TimePoint now,
                                    CacheStatus status) {
  module::LocalReply reply;
  reply.body = make_evbuffer();
  const uint64_t length = entry->body.size();

  Conditional conditional = Conditional::kUnconditional;
  if (entry->status == 200) {
    conditional =
        evaluate_conditional(request_headers, entry->headers, entry->freshness.response_time);
  }
  if (conditional == Conditional::kNotModified) {
    reply.response.status = 304;
    reply.response.headers = not_modified_headers(entry->headers);
    set_cache_fields(reply.response.headers, *entry, now, status);
    return reply;
  }

  std::optional<std::string_view> range = request_headers.get("range");
  if (range && entry->status == 200 && if_range_allows(request_headers, entry->headers)) {
    RangeRequest rr = parse_range(*range, length);
    if (rr.kind == RangeRequest::Kind::kUnsatisfiable) {
      reply.response.status = 416;
      reply.response.headers = entry->headers;
      reply.response.headers.remove("content-type");
      reply.response.headers.remove("content-encoding");
      reply.response.headers.set("content-range", content_range_unsatisfied(length));
      set_cache_fields(reply.response.headers, *entry, now, status);
      return reply;
    }
    if (rr.kind == RangeRequest::Kind::kSatisfiable && rr.ranges.size() == 1) {
      const ByteRange r = rr.ranges.front();
      reply.response.status = 206;
      reply.response.headers = entry->headers;
      reply.response.headers.set("content-range", content_range(r, length));
      set_cache_fields(reply.response.headers, *entry, now, status);
      add_body_reference(reply.body.get(), entry, r.first, r.size());
      return reply;
    }
    if (rr.kind == RangeRequest::Kind::kSatisfiable) {
      std::string_view type =
          entry->headers.get("content-type").value_or("application/octet-stream");
      MultipartPlan plan = plan_multipart(rr.ranges, length, type, kMultipartBoundary);
      reply.response.status = 206;
      reply.response.headers = entry->headers;
      reply.response.headers.set("content-type", plan.content_type);
      set_cache_fields(reply.response.headers, *entry, now, status);
      for (const MultipartPlan::Part& part : plan.parts) {
        evbuffer_add(reply.body.get(), part.head.data(), part.head.size());
        add_body_reference(reply.body.get(), entry, part.range.first, part.range.size());
      }
      evbuffer_add(reply.body.get(), plan.tail.data(), plan.tail.size());
      return reply;
    }
  }

  reply.response.status = entry->status;
  reply.response.headers = entry->headers;
  if (entry->status == 200 && !entry->headers.has("accept-ranges")) {
    reply.response.headers.add("accept-ranges", "bytes");
  }
  set_cache_fields(reply.response.headers, *entry, now, status);
  add_body_reference(reply.body.get(), entry, 0, length);
  return reply;
}

module::LocalReply only_if_cached_miss(CacheStatus status) {
  module::LocalReply reply;
  reply.response.status = 504;
  reply.response.headers.add("content-type", "text/plain; charset=utf-8");
  reply.response.headers.add("cache-control", "no-store");
  reply.response.headers.add("cache-status", format_cache_status(status));
  reply.body = make_evbuffer();
  static constexpr std::string_view kText = "Not in the cache (only-if-cached).\n";
  evbuffer_add(reply.body.get(), kText.data(), kText.size());
  return reply;
}

}  // namespace pforte::modules::cache
