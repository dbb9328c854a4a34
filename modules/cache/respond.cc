#include "modules/cache/respond.h"

#include <string>

#include "modules/cache/compress.h"

namespace pforte::modules::cache {

namespace {

void set_cache_fields(http::Headers& headers, const Entry& entry, TimePoint now,
                      CacheStatus& status) {
  headers.set("age", std::to_string(current_age(entry.freshness, now).count()));
  status.ttl = time_to_live(entry.freshness, now);
  headers.set("cache-status", format_cache_status(status));
}

/// Marks the answer as one of several codings of the entry: Vary: Accept-Encoding, and for a
/// compressed coding Content-Encoding and a weak ETag (the bytes differ from the identity's).
void set_coding_fields(http::Headers& headers, Coding coding, bool has_codings) {
  if (!has_codings) return;
  if (!headers.contains_token("vary", "accept-encoding")) {
    std::string vary(headers.get("vary").value_or(""));
    vary.append(vary.empty() ? "" : ", ").append("Accept-Encoding");
    headers.set("vary", vary);
  }
  if (coding == Coding::kIdentity) return;
  headers.set("content-encoding", to_string(coding));
  if (auto etag = headers.get("etag"); etag && !etag->starts_with("W/")) {
    headers.set("etag", "W/" + std::string(*etag));
  }
}

}  // namespace

module::LocalReply reply_from_entry(const http::Headers& request_headers,
                                    const std::shared_ptr<const Entry>& entry, TimePoint now,
                                    CacheStatus status) {
  module::LocalReply reply;
  reply.body = make_evbuffer();
  const uint64_t length = entry->body.size();

  const bool has_codings = !entry->body_br.empty() || !entry->body_gzip.empty();
  // Ranges are served from the identity body: byte positions of a coding nobody asked to range
  // over would surprise resuming downloads.
  const Coding coding =
      request_headers.has("range")
          ? Coding::kIdentity
          : choose_coding(request_headers, !entry->body_br.empty(), !entry->body_gzip.empty());
  const std::string& coded = coding == Coding::kBrotli ? entry->body_br
                             : coding == Coding::kGzip ? entry->body_gzip
                                                       : entry->body;

  Conditional conditional = Conditional::kUnconditional;
  if (entry->status == 200) {
    conditional =
        evaluate_conditional(request_headers, entry->headers, entry->freshness.response_time);
  }
  if (conditional == Conditional::kNotModified) {
    reply.response.status = 304;
    reply.response.headers = not_modified_headers(entry->headers);
    set_coding_fields(reply.response.headers, coding, has_codings);
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
      set_coding_fields(reply.response.headers, coding, has_codings);
      set_cache_fields(reply.response.headers, *entry, now, status);
      return reply;
    }
    if (rr.kind == RangeRequest::Kind::kSatisfiable && rr.ranges.size() == 1) {
      const ByteRange r = rr.ranges.front();
      reply.response.status = 206;
      reply.response.headers = entry->headers;
      reply.response.headers.set("content-range", content_range(r, length));
      set_coding_fields(reply.response.headers, coding, has_codings);
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
      set_coding_fields(reply.response.headers, coding, has_codings);
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
  // Room for what is added here and by the exchange (age, cache-status, x-request-id, ...), so
  // that the copy is the only allocation of the field list.
  reply.response.headers.reserve(entry->headers.size() + 8);
  reply.response.headers = entry->headers;
  if (entry->status == 200 && !entry->headers.has("accept-ranges")) {
    reply.response.headers.add("accept-ranges", "bytes");
  }
  set_coding_fields(reply.response.headers, coding, has_codings);
  set_cache_fields(reply.response.headers, *entry, now, status);
  add_reference(reply.body.get(), entry, coded, 0, coded.size());
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
