#include "modules/request_id/request_id.h"

#include <sys/random.h>

#include <cstring>

namespace pforte::modules::request_id {

namespace {

constexpr std::string_view kHeader = "x-request-id";

uint64_t rotl(uint64_t x, int k) {
  return (x << k) | (x >> (64 - k));
}

uint64_t splitmix(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/// The id in place (at most 128 characters, see is_acceptable): no string allocation per request.
struct State : module::ModuleState {
  char text[128];
  size_t size = 0;
  std::string_view id() const { return {text, size}; }
  void assign(std::string_view s) {
    size = s.size();
    std::memcpy(text, s.data(), size);
  }
};

class RequestIdModule : public module::Module {
 public:
  explicit RequestIdModule(size_t index) : index_(index) {}

  module::Decision on_request(module::ExchangeContext& ctx) override {
    auto state = std::make_unique<State>();
    http::Headers& headers = ctx.request().headers;
    std::optional<std::string_view> incoming = headers.get(kHeader);
    if (incoming && is_acceptable(*incoming)) {
      state->assign(*incoming);
    } else {
      state->size = generator_.next(state->text);
      if (incoming) {
        headers.set(kHeader, state->id());  // replaces the unacceptable one
      } else {
        headers.add(kHeader, state->id());
      }
    }
    ctx.state(index_) = std::move(state);
    return module::Decision::proceed();
  }

  void on_response_head(module::ExchangeContext& ctx, module::Response& response) override {
    if (const State* s = state(ctx)) response.headers.set(kHeader, s->id());
  }

  void on_log(module::ExchangeContext& ctx, module::LogRecord& record) override {
    if (const State* s = state(ctx)) record.request_id = s->id();
  }

 private:
  const State* state(module::ExchangeContext& ctx) {
    return static_cast<const State*>(ctx.state(index_).get());
  }

  size_t index_;
  Generator generator_;
};

}  // namespace

bool is_acceptable(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == ':' || c == '-';
    if (!ok) return false;
  }
  return true;
}

Generator::Generator() {
  uint64_t seed = 0;
  if (getrandom(&seed, sizeof seed, 0) != sizeof seed) seed = reinterpret_cast<uintptr_t>(this);
  *this = Generator(seed);
}

Generator::Generator(uint64_t seed) {
  for (uint64_t& s : s_) s = splitmix(seed);
}

uint64_t Generator::next64() {
  uint64_t result = rotl(s_[1] * 5, 7) * 9;
  uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

size_t Generator::next(char* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (int half = 0; half < 2; ++half) {
    uint64_t bits = next64();
    for (int i = 0; i < 16; ++i, bits >>= 4) *out++ = kHex[bits & 0xf];
  }
  return kIdSize;
}

std::string Generator::next() {
  std::string id(kIdSize, '0');
  next(id.data());
  return id;
}

module::ModuleFactory factory() {
  module::ModuleFactory f;
  f.name = "request_id";
  f.order = 0;  // first: every later module and log line can use the id
  f.create = [](const module::WorkerInfo& info) -> std::unique_ptr<module::Module> {
    return std::make_unique<RequestIdModule>(info.module_index);
  };
  return f;
}

}  // namespace pforte::modules::request_id
