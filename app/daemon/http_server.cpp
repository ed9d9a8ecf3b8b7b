#include "http_server.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <list>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <linux/sockios.h>
#include <nlohmann/json.hpp>
#include <sys/ioctl.h>

#include "core/enum_names.hpp"
#include "core/log.hpp"
#include "metrics.hpp"
#include "model_page.hpp"
#include "net.hpp"
#include "picture_encoder.hpp"
#include "viewer/viewer_page.hpp"

namespace lookout {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using boost::system::error_code;
using tcp = asio::ip::tcp;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

// The endpoints, one name table (HTTP.md documents each).
enum class Endpoint {
  Viewer,
  Login,
  Health,
  Metrics,
  Status,
  LatestDetections,
  EventStream,
  Snapshot,
  MjpegStream,
  Events,
  EventSnapshot,  // /api/events/<id>/snapshot.jpg and /crop.jpg (not an exact path)
  ModelPage,
};

template <>
struct EnumTable<Endpoint> {
  static constexpr std::array<EnumName<Endpoint>, 12> entries{{
      {Endpoint::Viewer, "/"},
      {Endpoint::Login, "/login"},
      {Endpoint::Health, "/healthz"},
      {Endpoint::Metrics, "/metrics"},
      {Endpoint::Status, "/api/status"},
      {Endpoint::LatestDetections, "/api/detections/latest"},
      {Endpoint::EventStream, "/api/stream"},
      {Endpoint::Snapshot, "/snapshot.jpg"},
      {Endpoint::MjpegStream, "/stream.mjpg"},
      {Endpoint::Events, "/api/events"},
      {Endpoint::EventSnapshot, "/api/events/<id>/snapshot.jpg"},
      {Endpoint::ModelPage, "/model"},
  }};
};

namespace {

// Request bodies are only ever a login form.
constexpr std::uint64_t kMaxBodyBytes = 4096;
// How long pictures stay wanted after the last viewer or snapshot asked.
constexpr auto kPictureDemand = std::chrono::seconds(3);
// A picture younger than this answers a snapshot; an older one waits for the next.
constexpr auto kFreshPicture = std::chrono::seconds(1);
// How long a snapshot waits for a picture before it gets 503.
constexpr auto kSnapshotPatience = std::chrono::seconds(5);
// How long a client being disconnected gets to read its last response.
constexpr auto kLingerTimeout = std::chrono::seconds(2);
// Refused connections that may wait at once for their 503 to be read; in a
// flood the rest are closed at once, so that they never fill the
// descriptor table lookout/1, the camera and the snapshots share.
constexpr std::size_t kMaxRefusedLingering = 32;
constexpr int kDefaultStreamFps = 5;
constexpr const char* kBoundary = "lookoutframe";
constexpr const char* kCookie = "lookout_token";
// A snapshot file larger than this is not one lookoutd wrote.
constexpr std::size_t kMaxSnapshotFileBytes = 16 * 1024 * 1024;
constexpr int kDefaultEventsLimit = 50;
// How long the CLI may take to draw the model page (a profile included; a
// Pi 4 draws yolov5n in seconds), and how long a client waits for it.
constexpr auto kModelPageTimeout = std::chrono::seconds(300);
constexpr auto kModelPagePatience = kModelPageTimeout + std::chrono::seconds(10);
constexpr int kMaxProfileRuns = 100;

using Response = http::response<http::string_body>;

// Beast (Boost 1.74) speaks boost::string_view.
std::string_view sv(boost::beast::string_view text) {
  return {text.data(), text.size()};
}

std::string json_error(int status, const std::string& message) {
  return json{{"error", message}, {"status", status}}.dump(-1, ' ', false,
                                                           json::error_handler_t::replace) +
         "\n";
}

// %XX and '+' decoded; nullopt for a malformed escape.
std::optional<std::string> url_decode(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c == '+') {
      out += ' ';
    } else if (c == '%') {
      if (i + 2 >= in.size()) return std::nullopt;
      auto hex = [](char h) -> int {
        if (h >= '0' && h <= '9') return h - '0';
        if (h >= 'a' && h <= 'f') return h - 'a' + 10;
        if (h >= 'A' && h <= 'F') return h - 'A' + 10;
        return -1;
      };
      const int hi = hex(in[i + 1]), lo = hex(in[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

std::string url_encode(std::string_view in) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (const unsigned char c : in) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

// "a=1&b=2" into a map (the last of a repeated key wins); nullopt on a bad escape.
std::optional<std::map<std::string, std::string>> parse_form(std::string_view query) {
  std::map<std::string, std::string> out;
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (pair.empty()) continue;
    const auto eq = pair.find('=');
    auto key = url_decode(pair.substr(0, eq));
    auto value =
        url_decode(eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1));
    if (!key || !value) return std::nullopt;
    out[*key] = *value;
  }
  return out;
}

// One server-sent event: the lookout/1 message `line` (without its newline)
// as the data of an event named by its type.
std::shared_ptr<const std::string> sse_event(std::string_view type, std::string_view line) {
  if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
  return std::make_shared<const std::string>("event: " + std::string(type) +
                                             "\ndata: " + std::string(line) + "\n\n");
}

// "/api/events/<id>/snapshot.jpg" or ".../crop.jpg": the id and whether the
// crop is asked for; nullopt for any other path (or an id that is not one).
struct EventPicturePath {
  std::string id;
  bool crop = false;
};
std::optional<EventPicturePath> event_picture_path(std::string_view path) {
  constexpr std::string_view kPrefix = "/api/events/";
  if (path.substr(0, kPrefix.size()) != kPrefix) return std::nullopt;
  path.remove_prefix(kPrefix.size());
  const auto slash = path.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  const std::string_view id = path.substr(0, slash), rest = path.substr(slash);
  if (!protocol::valid_event_id(id)) return std::nullopt;
  if (rest == "/snapshot.jpg") return EventPicturePath{std::string(id), false};
  if (rest == "/crop.jpg") return EventPicturePath{std::string(id), true};
  return std::nullopt;
}

// A whole small file, or nullopt when it cannot be read.
std::optional<std::string> read_small_file(const std::string& path, std::size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::string bytes;
  char buffer[65536];
  while (in.read(buffer, sizeof buffer) || in.gcount() > 0) {
    bytes.append(buffer, static_cast<std::size_t>(in.gcount()));
    if (bytes.size() > max_bytes) return std::nullopt;
  }
  return bytes;
}

// The value of cookie `name` in a Cookie header, URL-decoded.
std::optional<std::string> cookie_value(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    const auto semi = header.find(';');
    std::string_view item = header.substr(0, semi);
    header = semi == std::string_view::npos ? std::string_view{} : header.substr(semi + 1);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    const auto eq = item.find('=');
    if (eq != std::string_view::npos && item.substr(0, eq) == name) {
      return url_decode(item.substr(eq + 1));
    }
  }
  return std::nullopt;
}

// Reads an integer query parameter in [low, high]; the error names it.
struct IntParam {
  std::optional<int> value;
  std::string error;
};
IntParam int_param(const std::map<std::string, std::string>& query, const std::string& name,
                   int low, int high) {
  const auto it = query.find(name);
  if (it == query.end()) return {};
  const std::string& text = it->second;
  int value = 0;
  bool ok = !text.empty() && text.size() <= 9;
  for (const char c : text) {
    if (c < '0' || c > '9') ok = false;
  }
  if (ok) value = std::stoi(text);
  if (!ok || value < low || value > high) {
    return {std::nullopt, name + ": expected an integer " + std::to_string(low) + ".." +
                              std::to_string(high) + ", got " + printable(text)};
  }
  return {value, ""};
}

struct BoolParam {
  std::optional<bool> value;
  std::string error;
};
BoolParam bool_param(const std::map<std::string, std::string>& query, const std::string& name) {
  const auto it = query.find(name);
  if (it == query.end()) return {};
  const std::string& v = it->second;
  if (v == "1" || v == "true" || v == "yes" || v.empty()) return {true, ""};
  if (v == "0" || v == "false" || v == "no") return {false, ""};
  return {std::nullopt, name + ": expected 0 or 1, got " + printable(v)};
}

std::string login_page(const std::string& camera, const std::string& problem) {
  std::string escaped;
  for (const char c : camera) {
    switch (c) {
      case '<':
        escaped += "&lt;";
        break;
      case '>':
        escaped += "&gt;";
        break;
      case '&':
        escaped += "&amp;";
        break;
      case '"':
        escaped += "&quot;";
        break;
      default:
        escaped += c;
    }
  }
  return "<!doctype html><html lang=en><head><meta charset=utf-8>"
         "<meta name=viewport content='width=device-width,initial-scale=1'>"
         "<title>lookout " +
         escaped +
         ": sign in</title><style>body{font:16px system-ui,sans-serif;background:#111;color:#eee;"
         "display:flex;justify-content:center;padding-top:15vh}form{display:flex;flex-direction:"
         "column;gap:.6em;min-width:16em}input,button{font:inherit;padding:.5em}"
         "p.problem{color:#f77}</style></head><body><form method=post action=/login>"
         "<h1>lookout " +
         escaped + "</h1>" + (problem.empty() ? "" : "<p class=problem>" + problem + "</p>") +
         "<label for=token>Access token</label>"
         "<input id=token name=token type=password autocomplete=current-password autofocus>"
         "<button type=submit>Sign in</button></form></body></html>\n";
}

class HttpSession;

}  // namespace

// ---- the hub: shared state of the server and its connections -------------------------

struct HttpHub : std::enable_shared_from_this<HttpHub> {
  HttpHub(asio::io_context& context, DaemonView& view, std::string version_text)
      : io(context), daemon(view), version(std::move(version_text)) {}

  asio::io_context& io;
  DaemonView& daemon;
  const std::string version;
  HttpConfig config;
  std::vector<Network> allowed_networks = default_allowed_networks();
  std::string token;
  std::size_t send_queue = 64;
  std::shared_ptr<net::TcpListener> listener;
  std::map<std::uint64_t, std::shared_ptr<HttpSession>> sessions;
  std::uint64_t next_id = 1;
  net::LogLimiter limiter{20};
  std::size_t refused_lingering = 0;  // refused connections still being told why
  bool closed = false;

  protocol::HelloInfo hello;
  std::shared_ptr<const std::string> hello_line;
  std::shared_ptr<const PublishedStats> stats;
  std::shared_ptr<const PublishedFrame> latest;
  std::optional<Clock::time_point> latest_at;
  std::shared_ptr<const PublishedFrame> latest_picture;
  Clock::time_point latest_picture_at{};
  Metrics metrics;

  // Encodings of latest_picture, per variant, and what is being encoded.
  struct Encoded {
    std::uint64_t seq = 0;
    std::shared_ptr<const std::string> jpeg;
    std::shared_ptr<const std::string> part;  // the jpeg as one multipart/x-mixed-replace part
  };
  std::map<PictureVariant, Encoded> encoded;
  std::map<PictureVariant, std::uint64_t> encoding;  // variant -> seq submitted
  std::unique_ptr<PictureEncoder> encoder;

  // The latest state of recent events (events.recent of them), oldest first,
  // for /api/events; and where their snapshots are ("" = none kept).
  struct RecentEvent {
    tracking::ObjectEvent event;
    std::shared_ptr<const std::string> line;
    std::string class_name;
  };
  std::list<RecentEvent> recent;  // oldest first
  std::unordered_map<std::string, std::list<RecentEvent>::iterator> recent_by_id;
  std::size_t max_recent = 200;
  void trim_recent() {
    while (recent.size() > max_recent) {
      recent_by_id.erase(recent.front().event.object.id);
      recent.pop_front();
    }
  }
  std::string snapshot_directory;
  void remember(const tracking::ObjectEvent& event, const std::shared_ptr<const std::string>& line,
                const std::vector<std::string>* class_names);
  // The body of /api/events for these query parameters, or the error.
  struct EventsAnswer {
    std::string body;
    std::string error;  // names the bad parameter
  };
  EventsAnswer events_json(const std::map<std::string, std::string>& query) const;

  void accept(const std::shared_ptr<net::TcpListener>& listener);
  void admit(tcp::socket socket, std::string peer, net::PeerAddress address);
  std::vector<std::shared_ptr<HttpSession>> snapshot() const {
    std::vector<std::shared_ptr<HttpSession>> out;
    out.reserve(sessions.size());
    for (const auto& entry : sessions) out.push_back(entry.second);
    return out;
  }

  std::string camera() const { return hello.camera; }
  // Pictures twice as often as the fastest MJPEG viewer wants them (a viewer
  // takes the first one due, and frames come at the pipeline's own pace, so
  // at its own rate it would often wait a whole extra interval), or, for
  // snapshots alone, often enough to keep one fresh.
  void want_pictures();
  // Has latest_picture encoded as `variant` (at once when it is already).
  void request_encoding(const PictureVariant& variant);
  void on_encoded(EncodedPicture&& picture);
  void deliver(const PictureVariant& variant, const Encoded& encoded);
  json health(const DaemonStatus& status) const;
  json status_json() const;

  // /model: the page the CLI drew last (of the running model or an earlier
  // one) and the maker drawing the next (made at the first request).
  std::optional<ModelPageResult> model_page;
  std::unique_ptr<ModelPageMaker> model_pages;
  void draw_model_page(const ModelPageRequest& request);
  void on_model_page(const ModelPageResult& result);
  void send_event(const std::string& type, const std::string& line);
};

namespace {

// One HTTP connection. Lives while its asynchronous operations are pending
// (they hold shared_ptrs) and, once admitted, in the hub's session map.
class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  // Waiting: for a snapshot's picture; WaitingPage: for the model page.
  enum class Mode { Requests, Waiting, WaitingPage, Events, Mjpeg, Closing };

  HttpSession(std::weak_ptr<HttpHub> hub, tcp::socket socket, std::string peer,
              net::PeerAddress address, std::uint64_t id)
      : hub_(std::move(hub)),
        socket_(std::move(socket)),
        timer_(socket_.get_executor()),
        peer_(std::move(peer)),
        address_(address),
        id_(id) {}

  void start() { read_request(); }

  // Answers at once, without reading a request, and closes.
  // A connection refused at admission: counted while it is told why.
  void mark_refused() { refused_ = true; }

  void refuse(http::status status, const std::string& message) {
    keep_alive_ = false;
    respond(error_response(status, message));
  }

  Mode mode() const { return mode_; }
  const net::PeerAddress& address() const { return address_; }
  const std::string& peer() const { return peer_; }
  const PictureVariant& variant() const { return variant_; }
  // An MJPEG viewer's time between pictures (1 / its fps).
  Clock::duration interval() const { return interval_; }

  // ---- server-sent events ---------------------------------------------------------
  // `rated`: a detections event, which a client that asked for ?fps= gets at
  // most that often (the newest when due; hello and stats always).
  void send_event(const std::shared_ptr<const std::string>& event, bool rated = false) {
    if (mode_ != Mode::Events) return;
    if (rated && event_interval_ > Clock::duration::zero()) {
      const Clock::time_point now = Clock::now();
      if (now < next_event_due_) return;
      next_event_due_ = now + event_interval_ * 9 / 10;
    }
    const auto hub = hub_.lock();
    const std::size_t limit = hub ? hub->send_queue : 64;
    while (queue_.size() >= limit) queue_.pop_front();  // the oldest go; the stream goes on
    queue_.push_back(event);
    if (!writing_) write_queue();
  }

  // ---- MJPEG ---------------------------------------------------------------------------
  // Whether this viewer wants a new picture now, by its frame rate.
  bool picture_due(Clock::time_point now) const { return mode_ == Mode::Mjpeg && now >= next_due_; }
  void send_picture(std::uint64_t seq, const std::shared_ptr<const std::string>& part) {
    if (mode_ != Mode::Mjpeg || (seq <= last_seq_ && sent_any_)) return;
    const Clock::time_point now = Clock::now();
    if (now < next_due_) return;
    // The next one is due an interval later; a little early is fine (frames
    // arrive at the pipeline's pace, not ours), so viewers get their rate.
    next_due_ = now + interval_ * 9 / 10;
    last_seq_ = seq;
    sent_any_ = true;
    // One picture waits at most: a newer one replaces it.
    if (!queue_.empty()) queue_.pop_back();
    queue_.push_back(part);
    if (!writing_) write_queue();
  }

  // ---- snapshots -----------------------------------------------------------------------
  std::uint64_t waiting_min_seq() const { return waiting_min_seq_; }
  void answer_snapshot(const std::shared_ptr<const std::string>& jpeg, const std::string& error) {
    if (mode_ != Mode::Waiting) return;
    mode_ = Mode::Requests;
    disarm();
    if (!jpeg) {
      return respond(error_response(http::status::internal_server_error,
                                    "the picture could not be encoded: " + error));
    }
    Response res{http::status::ok, version_};
    res.set(http::field::content_type, "image/jpeg");
    res.set(http::field::cache_control, "no-store");
    res.body().assign(jpeg->data(), jpeg->size());
    res.keep_alive(keep_alive_);
    respond(std::move(res), head_);
  }

  // ---- the model page ---------------------------------------------------------------------
  void answer_model_page(const ModelPageResult& page) {
    if (mode_ != Mode::WaitingPage) return;
    mode_ = Mode::Requests;
    disarm();
    if (!page.html) {
      return respond(error_response(http::status::service_unavailable,
                                    "the model page could not be drawn: " + page.error),
                     head_);
    }
    respond(model_page_response(page), head_);
  }
  Response model_page_response(const ModelPageResult& page) const {
    Response res = text_response("text/html; charset=utf-8", *page.html);
    // The page is self-contained: inline style and script, nothing fetched.
    res.set(
        "Content-Security-Policy",
        "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:");
    res.set("X-Lookout-Profile-Runs", std::to_string(page.request.profile_runs));
    return res;
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    mode_ = Mode::Closing;
    error_code ec;
    socket_.shutdown(asio::socket_base::shutdown_both, ec);
    socket_.close(ec);
    disarm();
    queue_.clear();
    if (const auto hub = hub_.lock()) {
      if (refused_) --hub->refused_lingering;
      hub->sessions.erase(id_);
    }
  }

  // Sends the response and closes gracefully (after the client has read it).
  void close_with(http::status status, const std::string& message) {
    if (closed_) return;
    if (mode_ == Mode::Events || mode_ == Mode::Mjpeg || writing_) return close();
    keep_alive_ = false;
    respond(error_response(status, message));
  }

 private:
  // ---- reading requests -------------------------------------------------------------
  void read_request() {
    const auto hub = hub_.lock();
    if (!hub || closed_) return close();
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(hub->config.max_header_bytes));
    parser_->body_limit(kMaxBodyBytes);
    timed_out_ = false;
    arm(std::chrono::duration_cast<Clock::duration>(
            std::chrono::duration<double>(hub->config.header_timeout_s)),
        [](HttpSession& self) {
          self.timed_out_ = true;
          error_code ec;
          self.socket_.cancel(ec);
        });
    http::async_read_header(
        socket_, buffer_, *parser_,
        [self = shared_from_this()](error_code ec, std::size_t) { self->on_header(ec); });
  }

  void on_header(error_code ec) {
    if (closed_) return;
    if (ec) return read_failed(ec);
    if (!parser_->is_done()) {
      // A body (the login form): the same deadline covers it.
      return http::async_read(socket_, buffer_, *parser_,
                              [self = shared_from_this()](error_code body_ec, std::size_t) {
                                if (self->closed_) return;
                                if (body_ec) return self->read_failed(body_ec);
                                self->disarm();
                                self->dispatch();
                              });
    }
    disarm();
    dispatch();
  }

  void read_failed(error_code ec) {
    const auto hub = hub_.lock();
    if (timed_out_) {
      // An idle keep-alive connection just goes; a client that started a
      // request and trickles it (or stalls) is told why.
      if (!parser_ || !parser_->got_some()) return close();
      if (hub && hub->limiter.allow()) {
        log::info("HTTP client ", peer_, ": request headers not complete within ",
                  hub->config.header_timeout_s, " s; disconnecting");
      }
      return close_with(http::status::request_timeout,
                        "request headers not received within the time allowed "
                        "(http.header_timeout_s)");
    }
    if (ec == http::error::end_of_stream || ec == asio::error::eof ||
        ec == asio::error::connection_reset || ec == asio::error::operation_aborted) {
      return close();
    }
    if (ec == http::error::header_limit) {
      return close_with(http::status::request_header_fields_too_large,
                        "request headers larger than " +
                            std::to_string(hub ? hub->config.max_header_bytes : 0) +
                            " bytes (http.max_header_bytes)");
    }
    if (ec == http::error::body_limit) {
      return close_with(http::status::payload_too_large,
                        "request body larger than " + std::to_string(kMaxBodyBytes) + " bytes");
    }
    close_with(http::status::bad_request, "malformed HTTP request: " + ec.message());
  }

  // ---- answering --------------------------------------------------------------------
  Response error_response(http::status status, const std::string& message) const {
    Response res{status, version_};
    res.set(http::field::content_type, "application/json");
    res.set(http::field::cache_control, "no-store");
    res.body() = json_error(static_cast<int>(status), message);
    res.keep_alive(keep_alive_);
    return res;
  }

  // 303 to the viewer, with the cookie that carries `token` from now on (none
  // when no token is configured).
  Response signed_in(const std::string& token) const {
    Response res{http::status::see_other, version_};
    res.set(http::field::location, "/");
    if (!token.empty()) {
      res.set(http::field::set_cookie, std::string(kCookie) + "=" + url_encode(token) +
                                           "; Path=/; HttpOnly; SameSite=Strict; Max-Age=31536000");
    }
    res.keep_alive(keep_alive_);
    return res;
  }

  Response text_response(const std::string& type, std::string body) const {
    Response res{http::status::ok, version_};
    res.set(http::field::content_type, type);
    res.set(http::field::cache_control, "no-store");
    res.body() = std::move(body);
    res.keep_alive(keep_alive_);
    return res;
  }

  void respond(Response res, bool head = false) {
    if (closed_) return;
    if (const auto hub = hub_.lock())
      hub->metrics.count_request(static_cast<int>(res.result_int()));
    res.set(http::field::server, "lookoutd");
    res.set("X-Content-Type-Options", "nosniff");
    res.prepare_payload();
    if (head) {
      // HEAD: the same headers, Content-Length included, and no body.
      const auto length = res.body().size();
      res.body().clear();
      res.content_length(length);
    }
    const bool again = res.keep_alive();
    // Serialized here and written as one buffer, so that each partial write
    // counts as progress for the send timeout (beast's writer hides them).
    std::ostringstream text;
    text << res;
    auto bytes = std::make_shared<const std::string>(text.str());
    writing_ = true;
    arm_send_timeout();
    asio::async_write(socket_, asio::buffer(*bytes), progress_.transfer_all_counting(),
                      [self = shared_from_this(), again, bytes](error_code ec, std::size_t) {
                        self->writing_ = false;
                        if (self->closed_) return;
                        self->disarm();
                        if (ec) return self->close();
                        if (again && self->mode_ == Mode::Requests) return self->read_request();
                        self->linger();
                      });
    progress_.started(socket_.native_handle());
  }

  // After the last response: FIN, then discard what the client still sends
  // until it closes too (closing with unread input sends a reset, which can
  // destroy the response before the client reads it). Cut off after a while.
  void linger() {
    mode_ = Mode::Closing;
    error_code ec;
    socket_.shutdown(asio::socket_base::shutdown_send, ec);
    arm(kLingerTimeout, [](HttpSession& self) { self.close(); });
    drain();
  }

  void drain() {
    socket_.async_read_some(asio::buffer(drain_),
                            [self = shared_from_this()](error_code ec, std::size_t) {
                              if (self->closed_) return;
                              if (ec) return self->close();
                              self->drain();
                            });
  }

  // Runs `action` on this session when the timer expires (not when cancelled
  // or re-armed). The generation: a deadline that expired just as what it
  // guarded finished is already queued and cannot be cancelled; it must not
  // act on what came next (a header deadline cancelling the response).
  template <typename Action>
  void arm(Clock::duration after, Action action) {
    const std::uint64_t generation = ++timer_generation_;
    timer_.expires_after(after);
    timer_.async_wait([self = shared_from_this(), action, generation](error_code ec) {
      if (!ec && !self->closed_ && self->timer_generation_ == generation) action(*self);
    });
  }
  void disarm() {
    ++timer_generation_;
    timer_.cancel();
  }

  // A write (a response, or a stream's part) must see the socket take some
  // bytes every http.send_timeout_s; a slow reader that keeps reading is not
  // cut off, however long its response takes.
  void arm_send_timeout() {
    const auto hub = hub_.lock();
    send_timeout_ = std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(hub ? hub->config.send_timeout_s : 30));
    arm_send_timeout(send_timeout_);
  }
  void arm_send_timeout(Clock::duration wait) {
    arm(wait, [](HttpSession& self) {
      if (!self.writing_) return;
      const auto idle = self.progress_.idle(self.socket_.native_handle());
      if (idle < self.send_timeout_) return self.arm_send_timeout(self.send_timeout_ - idle);
      const auto hub = self.hub_.lock();
      if (hub && hub->limiter.allow()) {
        log::info("HTTP client ", self.peer_,
                  " took no data for http.send_timeout_s; disconnecting");
      }
      self.close();
    });
  }

  void dispatch();
  bool authorised(HttpHub& hub, Endpoint endpoint, const std::map<std::string, std::string>& query);
  void start_events(HttpHub& hub, const std::map<std::string, std::string>& query);
  void start_mjpeg(HttpHub& hub, const std::map<std::string, std::string>& query);
  void start_snapshot(HttpHub& hub, const std::map<std::string, std::string>& query);
  void start_model_page(HttpHub& hub, const std::map<std::string, std::string>& query);

  // ---- streaming ------------------------------------------------------------------------
  void begin_stream(Mode mode, std::string head) {
    mode_ = mode;
    queue_.clear();
    queue_.push_back(std::make_shared<const std::string>(std::move(head)));
    write_queue();
    watch_for_close();
  }

  // A streaming client sends nothing more; a reset means it left. An end of
  // its input only means it shut down its sending side (TCP half-close, as
  // `nc -N` does after the request): it still reads, so the stream goes on
  // until a write fails or takes nothing for http.send_timeout_s.
  void watch_for_close() {
    socket_.async_read_some(asio::buffer(drain_),
                            [self = shared_from_this()](error_code ec, std::size_t) {
                              if (self->closed_) return;
                              if (ec == asio::error::eof) return self->watch_for_error();
                              if (ec) return self->close();
                              self->watch_for_close();
                            });
  }

  // After a half-close nothing reads: an error on the socket (a reset when
  // the client closes for good, keepalive giving up on a vanished one) ends
  // the stream at once rather than at the next write, which for an MJPEG
  // viewer of a camera that is down may be long in coming.
  void watch_for_error() {
    socket_.async_wait(asio::socket_base::wait_error, [self = shared_from_this()](error_code ec) {
      if (ec || self->closed_) return;
      self->close();
    });
  }

  void write_queue() {
    if (closed_ || queue_.empty()) {
      writing_ = false;
      return;
    }
    writing_ = true;
    in_flight_ = std::move(queue_.front());
    queue_.pop_front();
    arm_send_timeout();
    asio::async_write(socket_, asio::buffer(*in_flight_), progress_.transfer_all_counting(),
                      [self = shared_from_this()](error_code ec, std::size_t) {
                        self->in_flight_.reset();
                        if (self->closed_) return;
                        self->writing_ = false;
                        self->disarm();
                        if (ec) return self->close();
                        self->write_queue();
                      });
    progress_.started(socket_.native_handle());
  }

  std::weak_ptr<HttpHub> hub_;
  tcp::socket socket_;
  asio::steady_timer timer_;  // header, write, snapshot or linger deadline
  std::string peer_;
  net::PeerAddress address_;
  std::uint64_t id_;
  Mode mode_ = Mode::Requests;
  bool closed_ = false;
  bool refused_ = false;  // refused at admission (HttpHub::refused_lingering)
  bool timed_out_ = false;
  bool writing_ = false;
  std::uint64_t timer_generation_ = 0;  // arms of timer_, see arm()
  net::WriteProgress progress_;         // of the write in flight
  Clock::duration send_timeout_{};      // http.send_timeout_s when it began
  bool keep_alive_ = true;
  bool head_ = false;
  unsigned version_ = 11;

  boost::beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::array<char, 512> drain_{};

  std::deque<std::shared_ptr<const std::string>> queue_;
  std::shared_ptr<const std::string> in_flight_;

  PictureVariant variant_;
  Clock::duration interval_{};
  Clock::time_point next_due_{};
  std::uint64_t last_seq_ = 0;
  bool sent_any_ = false;
  std::uint64_t waiting_min_seq_ = 0;
  Clock::duration event_interval_{};  // 0 = every detections event
  Clock::time_point next_event_due_{};
};

bool HttpSession::authorised(HttpHub& hub, Endpoint endpoint,
                             const std::map<std::string, std::string>& query) {
  if (hub.token.empty() || endpoint == Endpoint::Login) return true;
  const auto& request = parser_->get();
  std::optional<std::string> given;
  bool from_query = false;
  const std::string_view authorization = sv(request[http::field::authorization]);
  if (authorization.substr(0, 7) == "Bearer ") {
    given = std::string(authorization.substr(7));
  } else if (const auto it = query.find("token"); it != query.end()) {
    given = it->second;
    from_query = true;
  } else if (auto cookie = cookie_value(sv(request[http::field::cookie]), kCookie)) {
    given = std::move(cookie);
  }
  const bool page = endpoint == Endpoint::Viewer;
  if (given && net::constant_time_equal(*given, hub.token)) {
    if (from_query && page) {
      // The token leaves the address bar: the cookie carries it from now on.
      respond(signed_in(hub.token));
      return false;
    }
    return true;
  }
  if (hub.limiter.allow()) {
    log::notice("HTTP client ", peer_, (given ? ": wrong token" : ": no token"), " for ",
                printable(sv(request.target()), 80));
  }
  const http::status status = given ? http::status::forbidden : http::status::unauthorized;
  if (page) {
    Response res = text_response("text/html; charset=utf-8",
                                 login_page(hub.camera(), given ? "That token is not right." : ""));
    res.result(status);
    respond(std::move(res), head_);
    return false;
  }
  Response res = error_response(status, given ? "wrong token"
                                              : "authentication required: send "
                                                "\"Authorization: Bearer <token>\"");
  if (!given) res.set(http::field::www_authenticate, "Bearer realm=\"lookout\"");
  respond(std::move(res), head_);
  return false;
}

void HttpSession::dispatch() {
  const auto hub = hub_.lock();
  if (!hub) return close();
  // Catch-all: nothing a client sends may take the daemon down; an
  // unexpected failure is a 500 for this client only.
  try {
    const auto& request = parser_->get();
    version_ = request.version();
    keep_alive_ = request.keep_alive();
    head_ = request.method() == http::verb::head;
    std::string_view target = sv(request.target());
    // The absolute form ("GET http://host:8080/healthz"), which proxies send,
    // names the same resource as its path (RFC 9112, 3.2.2).
    for (const std::string_view scheme : {"http://", "https://"}) {
      if (target.substr(0, scheme.size()) == scheme) {
        const auto slash = target.find('/', scheme.size());
        target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
      }
    }
    const auto question = target.find('?');
    const std::string path(target.substr(0, question));
    const auto query = parse_form(question == std::string_view::npos ? std::string_view{}
                                                                     : target.substr(question + 1));
    if (!query) {
      return respond(error_response(http::status::bad_request, "malformed query string"));
    }
    const auto picture_path = event_picture_path(path);
    const auto endpoint = picture_path ? std::optional<Endpoint>(Endpoint::EventSnapshot)
                                       : enum_from_name<Endpoint>(path);
    if (!endpoint || (*endpoint == Endpoint::EventSnapshot && !picture_path)) {
      return respond(
          error_response(http::status::not_found, "no such path: " + printable(path, 120) +
                                                      " (see " + "HTTP.md; the viewer is at /)"),
          head_);
    }
    const bool post_allowed = *endpoint == Endpoint::Login;
    const http::verb method = request.method();
    if (method != http::verb::get && method != http::verb::head &&
        !(post_allowed && method == http::verb::post)) {
      Response res =
          error_response(http::status::method_not_allowed,
                         std::string(sv(request.method_string())) + " is not allowed on " + path);
      res.set(http::field::allow, post_allowed ? "GET, HEAD, POST" : "GET, HEAD");
      return respond(std::move(res));
    }
    if (!authorised(*hub, *endpoint, *query)) return;
    switch (*endpoint) {
      case Endpoint::Viewer: {
        Response res = text_response("text/html; charset=utf-8", std::string(viewer::page()));
        res.set("Content-Security-Policy",
                "default-src 'self'; style-src 'self' 'unsafe-inline'; script-src 'self' "
                "'unsafe-inline'; img-src 'self' data:");
        return respond(std::move(res), head_);
      }
      case Endpoint::Login: {
        if (method != http::verb::post) {
          return respond(text_response("text/html; charset=utf-8", login_page(hub->camera(), "")),
                         head_);
        }
        const auto form = parse_form(request.body());
        if (!form || form->count("token") == 0) {
          return respond(
              error_response(http::status::bad_request, "expected a form with a token field"));
        }
        const std::string& token = form->at("token");
        if (hub->token.empty() || net::constant_time_equal(token, hub->token)) {
          return respond(signed_in(hub->token));
        }
        if (hub->limiter.allow()) log::notice("HTTP client ", peer_, ": wrong token at /login");
        Response res = text_response("text/html; charset=utf-8",
                                     login_page(hub->camera(), "That token is not right."));
        res.result(http::status::forbidden);
        return respond(std::move(res));
      }
      case Endpoint::Health: {
        const json health = hub->health(hub->daemon.status());
        Response res = text_response("application/json", health.dump() + "\n");
        if (health["status"] != "ok") res.result(http::status::service_unavailable);
        return respond(std::move(res), head_);
      }
      case Endpoint::Metrics:
        return respond(
            text_response("text/plain; version=0.0.4; charset=utf-8",
                          hub->metrics.render(hub->daemon.status(), hub->camera(), hub->version)),
            head_);
      case Endpoint::Status:
        return respond(
            text_response(
                "application/json",
                hub->status_json().dump(-1, ' ', false, json::error_handler_t::replace) + "\n"),
            head_);
      case Endpoint::LatestDetections:
        if (!hub->latest) {
          return respond(
              error_response(http::status::service_unavailable, "no frame processed yet"), head_);
        }
        return respond(text_response("application/json", *hub->latest->line), head_);
      case Endpoint::EventStream:
        if (head_) return respond(text_response("text/event-stream", ""), true);
        return start_events(*hub, *query);
      case Endpoint::Snapshot:
        return start_snapshot(*hub, *query);
      case Endpoint::MjpegStream:
        if (head_) {
          return respond(
              text_response(std::string("multipart/x-mixed-replace; boundary=") + kBoundary, ""),
              true);
        }
        return start_mjpeg(*hub, *query);
      case Endpoint::Events: {
        auto answer = hub->events_json(*query);
        if (!answer.error.empty()) {
          return respond(error_response(http::status::bad_request, answer.error));
        }
        return respond(text_response("application/json", std::move(answer.body)), head_);
      }
      case Endpoint::ModelPage:
        return start_model_page(*hub, *query);
      case Endpoint::EventSnapshot: {
        if (hub->snapshot_directory.empty()) {
          return respond(
              error_response(http::status::not_found, "event snapshots are off (events.snapshots)"),
              head_);
        }
        const std::string file =
            picture_path->crop
                ? protocol::snapshot_crop_path(hub->snapshot_directory, picture_path->id)
                : protocol::snapshot_path(hub->snapshot_directory, picture_path->id);
        auto bytes = read_small_file(file, kMaxSnapshotFileBytes);
        if (!bytes) {
          return respond(error_response(http::status::not_found,
                                        "no snapshot of event " + picture_path->id +
                                            " (unknown, not written yet, or removed by retention)"),
                         head_);
        }
        Response res = text_response("image/jpeg", std::move(*bytes));
        res.set(http::field::cache_control, "max-age=60");
        return respond(std::move(res), head_);
      }
    }
  } catch (const std::exception& e) {
    log::warning("HTTP client ", peer_, ": ", e.what());
    keep_alive_ = false;
    return respond(error_response(http::status::internal_server_error,
                                  std::string("internal error: ") + e.what()));
  }
}

void HttpSession::start_events(HttpHub& hub, const std::map<std::string, std::string>& query) {
  const IntParam fps = int_param(query, "fps", 1, 1000);
  if (!fps.error.empty()) return respond(error_response(http::status::bad_request, fps.error));
  if (fps.value) {
    event_interval_ = std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(1.0 / *fps.value));
  }
  begin_stream(Mode::Events,
               "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-store\r\n"
               "Connection: close\r\nX-Accel-Buffering: no\r\nServer: lookoutd\r\n\r\n"
               "retry: 2000\n\n");
  hub.metrics.count_request(200);
  if (hub.hello_line) send_event(sse_event("hello", *hub.hello_line));
  if (hub.stats) send_event(sse_event("stats", *hub.stats->line));
}

void HttpSession::start_mjpeg(HttpHub& hub, const std::map<std::string, std::string>& query) {
  const IntParam fps = int_param(query, "fps", 1, 1000);
  const IntParam width = int_param(query, "width", 16, 4096);
  const IntParam quality = int_param(query, "quality", 1, 100);
  const BoolParam boxes = bool_param(query, "boxes");
  for (const std::string* error : {&fps.error, &width.error, &quality.error, &boxes.error}) {
    if (!error->empty()) return respond(error_response(http::status::bad_request, *error));
  }
  const int rate = std::min(fps.value.value_or(kDefaultStreamFps), hub.config.max_stream_fps);
  variant_.width =
      std::min(width.value.value_or(hub.config.picture_width), hub.config.picture_width);
  variant_.boxes = boxes.value.value_or(true);
  variant_.quality = quality.value.value_or(hub.config.jpeg_quality);
  interval_ =
      std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1.0 / rate));
  next_due_ = Clock::now();
  begin_stream(Mode::Mjpeg, std::string("HTTP/1.1 200 OK\r\nContent-Type: "
                                        "multipart/x-mixed-replace; boundary=") +
                                kBoundary +
                                "\r\nCache-Control: no-store\r\nConnection: close\r\n"
                                "Server: lookoutd\r\n\r\n");
  hub.metrics.count_request(200);
  if (hub.limiter.allow())
    log::info("HTTP client ", peer_, " watches the stream at ", rate, " fps");
  hub.want_pictures();
  if (hub.latest_picture && Clock::now() - hub.latest_picture_at < kFreshPicture) {
    hub.request_encoding(variant_);
  }
}

void HttpSession::start_snapshot(HttpHub& hub, const std::map<std::string, std::string>& query) {
  const IntParam width = int_param(query, "width", 16, 4096);
  const IntParam quality = int_param(query, "quality", 1, 100);
  const BoolParam boxes = bool_param(query, "boxes");
  for (const std::string* error : {&width.error, &quality.error, &boxes.error}) {
    if (!error->empty()) return respond(error_response(http::status::bad_request, *error));
  }
  variant_.width =
      std::min(width.value.value_or(hub.config.picture_width), hub.config.picture_width);
  variant_.boxes = boxes.value.value_or(true);
  variant_.quality = quality.value.value_or(hub.config.jpeg_quality);
  mode_ = Mode::Waiting;
  hub.want_pictures();
  const bool fresh = hub.latest_picture && Clock::now() - hub.latest_picture_at < kFreshPicture;
  // A fresh picture answers at once; otherwise the next one does.
  waiting_min_seq_ =
      fresh ? hub.latest_picture->frame.seq : (hub.latest ? hub.latest->frame.seq + 1 : 0);
  arm(kSnapshotPatience, [](HttpSession& self) {
    if (self.mode_ != Mode::Waiting) return;
    self.mode_ = Mode::Requests;
    const auto h = self.hub_.lock();
    std::string why =
        "no frame to show within " +
        std::to_string(
            std::chrono::duration_cast<std::chrono::seconds>(kSnapshotPatience).count()) +
        " s";
    if (h) {
      const json health = h->health(h->daemon.status());
      if (health["status"] != "ok") why += " (" + health["reason"].get<std::string>() + ")";
    }
    self.respond(self.error_response(http::status::service_unavailable, why), self.head_);
  });
  if (fresh) hub.request_encoding(variant_);
}

// /model draws the running model at its input size; ?profile=N also times N
// forwards on the running backend (asked for, as it competes with
// inference). A page already drawn of the same model answers at once, and
// clients asking while one is drawn wait for that one.
void HttpSession::start_model_page(HttpHub& hub, const std::map<std::string, std::string>& query) {
  const IntParam profile = int_param(query, "profile", 1, kMaxProfileRuns);
  if (!profile.error.empty())
    return respond(error_response(http::status::bad_request, profile.error));
  const ModelInfo model = hub.daemon.status().model;
  if (model.path.empty()) {
    return respond(error_response(http::status::service_unavailable, "no model is loaded"), head_);
  }
  ModelPageRequest request;
  request.model_path = model.path;
  request.input_width = model.input_width;
  request.input_height = model.input_height;
  request.backend = model.backend;
  request.threads = model.threads;
  request.profile_runs = profile.value.value_or(0);
  if (request.profile_runs == 0 && hub.model_page && hub.model_page->request.same_model(request)) {
    return respond(model_page_response(*hub.model_page), head_);
  }
  if (!hub.model_pages) {
    hub.model_pages =
        std::make_unique<ModelPageMaker>(hub.io, find_lookout_cli(), kModelPageTimeout);
  }
  if (hub.model_pages->busy()) {
    const ModelPageRequest& current = hub.model_pages->current();
    const bool serves = current.same_model(request) &&
                        (request.profile_runs == 0 || current.profile_runs == request.profile_runs);
    if (!serves) {
      Response res = error_response(http::status::service_unavailable,
                                    "the model page is being drawn for another request; try again "
                                    "when it is done");
      res.set(http::field::retry_after, "5");
      return respond(std::move(res), head_);
    }
  }
  mode_ = Mode::WaitingPage;
  arm(kModelPagePatience, [](HttpSession& self) {
    if (self.mode_ != Mode::WaitingPage) return;
    self.mode_ = Mode::Requests;
    self.respond(self.error_response(http::status::service_unavailable,
                                     "the model page took too long to draw"),
                 self.head_);
  });
  if (!hub.model_pages->busy()) hub.draw_model_page(request);
}

}  // namespace

// ---- hub ---------------------------------------------------------------------------

void HttpHub::draw_model_page(const ModelPageRequest& request) {
  model_pages->start(request,
                     [weak = std::weak_ptr<HttpHub>(shared_from_this())](ModelPageResult result) {
                       if (const auto hub = weak.lock()) hub->on_model_page(result);
                     });
}

void HttpHub::on_model_page(const ModelPageResult& result) {
  if (result.html) model_page = result;
  for (const auto& session : snapshot()) {
    if (session->mode() == HttpSession::Mode::WaitingPage) session->answer_model_page(result);
  }
}

void HttpHub::accept(const std::shared_ptr<net::TcpListener>& l) {
  l->acceptor.async_accept([hub = weak_from_this(), l](error_code ec, tcp::socket socket) {
    const auto self = hub.lock();
    if (!self || ec == asio::error::operation_aborted || !l->acceptor.is_open()) return;
    if (ec) {
      if (self->limiter.allow()) log::warning("accepting an HTTP client failed: ", ec.message());
      l->retry.expires_after(std::chrono::milliseconds(200));
      l->retry.async_wait([hub, l](error_code timer_ec) {
        if (const auto h = hub.lock(); h && !timer_ec) h->accept(l);
      });
      return;
    }
    error_code endpoint_ec;
    const auto remote = socket.remote_endpoint(endpoint_ec);
    if (!endpoint_ec) {
      std::string host = remote.address().to_string();
      if (remote.address().is_v6()) host = "[" + host + "]";
      const std::string peer = "http " + host + ":" + std::to_string(remote.port());
      const net::PeerAddress address = net::peer_address(remote.address());
      if (!net::allowed(self->allowed_networks, address)) {
        // Closed before a byte is sent, as lookout/1 does.
        if (self->limiter.allow()) {
          log::notice("refused client ", peer, ": not in publish.tcp.allowed_networks");
        }
        socket.close(endpoint_ec);
      } else {
        socket.set_option(tcp::no_delay(true), endpoint_ec);
        net::enable_keepalive(socket.native_handle());
        self->admit(std::move(socket), peer, address);
      }
    }
    self->accept(l);
  });
}

void HttpHub::admit(tcp::socket socket, std::string peer, net::PeerAddress address) {
  std::size_t same_host = 0;
  for (const auto& entry : sessions) {
    const net::PeerAddress& other = entry.second->address();
    same_host += other.v6 == address.v6 && other.bytes == address.bytes ? 1 : 0;
  }
  std::string refusal, why;
  if (sessions.size() >= static_cast<std::size_t>(config.max_connections)) {
    refusal = "too many connections (http.max_connections is " +
              std::to_string(config.max_connections) + ")";
    why = "already " + std::to_string(sessions.size()) + " connections (http.max_connections)";
  } else if (same_host >= static_cast<std::size_t>(config.max_connections_per_host)) {
    refusal = "too many connections from your address (http.max_connections_per_host is " +
              std::to_string(config.max_connections_per_host) + ")";
    why = "already " + std::to_string(same_host) +
          " connections from its address (http.max_connections_per_host)";
  }
  if (!refusal.empty()) {
    if (limiter.allow()) log::notice("refused HTTP client ", peer, ": ", why);
    if (refused_lingering >= kMaxRefusedLingering) {
      error_code ec;
      socket.close(ec);  // a flood: no 503, no descriptor held
      return;
    }
    auto session = std::make_shared<HttpSession>(weak_from_this(), std::move(socket), peer, address,
                                                 next_id++);
    ++refused_lingering;
    session->mark_refused();
    session->refuse(http::status::service_unavailable, refusal);
    return;
  }
  const std::uint64_t id = next_id++;
  auto session =
      std::make_shared<HttpSession>(weak_from_this(), std::move(socket), peer, address, id);
  log::debug("HTTP client ", peer, " connected");
  sessions.emplace(id, session);
  session->start();
}

void HttpHub::want_pictures() {
  Clock::duration interval = kFreshPicture / 2;
  for (const auto& entry : sessions) {
    if (entry.second->mode() == HttpSession::Mode::Mjpeg) {
      interval = std::min(interval, entry.second->interval() / 2);
    }
  }
  daemon.want_pictures(kPictureDemand, config.picture_width, interval);
}

void HttpHub::request_encoding(const PictureVariant& variant) {
  if (!latest_picture) return;
  const std::uint64_t seq = latest_picture->frame.seq;
  if (const auto it = encoded.find(variant); it != encoded.end() && it->second.seq == seq) {
    return deliver(variant, it->second);
  }
  if (const auto it = encoding.find(variant); it != encoding.end() && it->second == seq) return;
  encoding[variant] = seq;
  if (!encoder) {
    encoder = std::make_unique<PictureEncoder>(
        [hub = weak_from_this(), &io = io](EncodedPicture&& picture) {
          // Encoder thread: straight back to the I/O thread.
          asio::post(io, [hub, picture = std::move(picture)]() mutable {
            if (const auto h = hub.lock()) h->on_encoded(std::move(picture));
          });
        });
  }
  encoder->submit(latest_picture, variant);
}

void HttpHub::on_encoded(EncodedPicture&& picture) {
  const std::uint64_t seq = picture.frame->frame.seq;
  metrics.count_encoding(picture.cpu_seconds, picture.jpeg ? 1 : 0);
  if (const auto it = encoding.find(picture.variant); it != encoding.end() && it->second <= seq) {
    encoding.erase(it);
  }
  if (!picture.jpeg) {
    if (limiter.allow()) log::warning("could not encode frame ", seq, ": ", picture.error);
    for (const auto& session : snapshot()) {
      if (session->mode() == HttpSession::Mode::Waiting && session->variant() == picture.variant &&
          seq >= session->waiting_min_seq()) {
        session->answer_snapshot(nullptr, picture.error);
      }
    }
    return;
  }
  Encoded result;
  result.seq = seq;
  result.jpeg = std::move(picture.jpeg);
  result.part = std::make_shared<const std::string>(
      std::string("--") + kBoundary + "\r\nContent-Type: image/jpeg\r\nContent-Length: " +
      std::to_string(result.jpeg->size()) + "\r\n\r\n" + *result.jpeg + "\r\n");
  if (latest_picture && latest_picture->frame.seq == seq) encoded[picture.variant] = result;
  deliver(picture.variant, result);
}

void HttpHub::deliver(const PictureVariant& variant, const Encoded& result) {
  const Clock::time_point now = Clock::now();
  for (const auto& session : snapshot()) {
    if (!(session->variant() == variant)) continue;
    if (session->mode() == HttpSession::Mode::Mjpeg && session->picture_due(now)) {
      session->send_picture(result.seq, result.part);
    } else if (session->mode() == HttpSession::Mode::Waiting &&
               result.seq >= session->waiting_min_seq()) {
      session->answer_snapshot(result.jpeg, "");
    }
  }
}

json HttpHub::health(const DaemonStatus& status) const {
  const SourceHealth& source = status.pipeline.source;
  const std::string state(to_string(source.state));
  json out = {{"camera", hello.camera}, {"source", state}};
  std::optional<double> age;
  if (latest_at) age = std::chrono::duration<double>(Clock::now() - *latest_at).count();
  if (age) out["last_frame_age_s"] = std::round(*age * 1000) / 1000;
  out["detection"] = status.detection ? "on" : "paused";
  std::string reason;
  if (source.state != SourceHealth::State::Running) {
    reason = "source " + state + (source.last_error.empty() ? "" : ": " + source.last_error);
  } else if (!status.detection) {
    // Paused on purpose (MQTT detection/set): no frame is processed, and that is fine.
  } else if (!age) {
    reason = "no frame processed yet";
  } else if (*age > config.health_timeout_s) {
    char text[96];
    std::snprintf(text, sizeof text, "no frame processed for %.1f s (http.health_timeout_s is %g)",
                  *age, config.health_timeout_s);
    reason = text;
  }
  out["status"] = reason.empty() ? "ok" : "unhealthy";
  if (!reason.empty()) out["reason"] = reason;
  return out;
}

json HttpHub::status_json() const {
  const DaemonStatus status = daemon.status();
  json clients = json::object();
  for (const ClientCount& c : status.clients) clients[c.transport] = c.count;
  return {
      {"hello", hello_line ? json::parse(*hello_line) : json(nullptr)},
      {"stats", stats ? json::parse(*stats->line) : json(nullptr)},
      {"health", health(status)},
      {"clients", clients},
  };
}

void HttpHub::remember(const tracking::ObjectEvent& event,
                       const std::shared_ptr<const std::string>& line,
                       const std::vector<std::string>* class_names) {
  if (const auto same = recent_by_id.find(event.object.id); same != recent_by_id.end()) {
    recent.erase(same->second);  // its newest state goes to the back
    recent_by_id.erase(same);
  }
  recent.push_back({event, line, protocol::class_name(class_names, event.object.class_id)});
  recent_by_id[event.object.id] = std::prev(recent.end());
  trim_recent();
}

HttpHub::EventsAnswer HttpHub::events_json(const std::map<std::string, std::string>& query) const {
  const IntParam limit = int_param(query, "limit", 1, 100000);
  const BoolParam active = bool_param(query, "active");
  if (!limit.error.empty()) return {"", limit.error};
  if (!active.error.empty()) return {"", active.error};
  std::optional<double> after;
  if (const auto it = query.find("after"); it != query.end()) {
    char* end = nullptr;
    const double value = std::strtod(it->second.c_str(), &end);
    if (it->second.empty() || end != it->second.c_str() + it->second.size() ||
        !std::isfinite(value)) {
      return {"", "after: expected Unix seconds, got " + printable(it->second)};
    }
    after = value;
  }
  const auto param = [&](const char* name) -> const std::string* {
    const auto it = query.find(name);
    return it == query.end() ? nullptr : &it->second;
  };
  const std::string* cls = param("class");
  const std::string* zone = param("zone");
  const std::string* line = param("line");
  const std::size_t max = static_cast<std::size_t>(limit.value.value_or(kDefaultEventsLimit));
  std::string body = "{\"events\":[";
  std::size_t count = 0;
  for (auto it = recent.rbegin(); it != recent.rend() && count < max; ++it) {
    const tracking::ObjectState& o = it->event.object;
    if (cls && it->class_name != *cls) continue;
    if (zone &&
        std::find(o.entered_zones.begin(), o.entered_zones.end(), *zone) == o.entered_zones.end()) {
      continue;
    }
    if (line && std::none_of(o.crossings.begin(), o.crossings.end(),
                             [&](const tracking::LineCrossing& c) { return c.line == *line; })) {
      continue;
    }
    if (active.value && *active.value != (it->event.type != tracking::EventType::End)) continue;
    if (after && protocol::unix_seconds(o.last_seen) <= *after) continue;
    std::string_view text = *it->line;
    if (!text.empty() && text.back() == '\n') text.remove_suffix(1);
    if (count++ > 0) body += ',';
    body += text;
  }
  body += "]}\n";
  return {std::move(body), ""};
}

void HttpHub::send_event(const std::string& type, const std::string& line) {
  std::shared_ptr<const std::string> event;  // made once, for the first listener
  for (const auto& session : snapshot()) {
    if (session->mode() != HttpSession::Mode::Events) continue;
    if (!event) event = sse_event(type, line);
    session->send_event(event, type == "detections");
  }
}

// ---- HttpServer --------------------------------------------------------------------

struct HttpListener : OutputPrepared {
  std::shared_ptr<net::TcpListener> tcp;
};

HttpServer::HttpServer(asio::io_context& io, DaemonView& daemon, std::string version)
    : hub_(std::make_shared<HttpHub>(io, daemon, std::move(version))) {}

HttpServer::~HttpServer() {
  close();
}

std::unique_ptr<OutputPrepared> HttpServer::prepare(const Config* running, const Config& next) {
  auto prepared = std::make_unique<HttpListener>();
  const HttpConfig& wanted = next.http;
  // A new bind address on the same port is switched over in apply().
  if (wanted.enabled && (!running || !running->http.enabled || running->http.port != wanted.port)) {
    prepared->tcp = net::open_tcp(hub_->io, wanted.bind, wanted.port, "HTTP");
  }
  return prepared;
}

void HttpServer::apply(const Config& config, std::unique_ptr<OutputPrepared> prepared) {
  HttpHub& hub = *hub_;
  std::unique_ptr<HttpListener> fresh(dynamic_cast<HttpListener*>(prepared.release()));
  hub.config = config.http;
  hub.allowed_networks = config.publish.tcp.allowed_networks;
  hub.token = config.publish.tcp.token;
  hub.send_queue = static_cast<std::size_t>(config.publish.send_queue);
  hub.max_recent = static_cast<std::size_t>(config.events.recent);
  hub.trim_recent();
  hub.snapshot_directory =
      config.tracking.enabled && config.events.snapshots ? config.events.directory : "";
  hub.closed = false;
  auto listener =
      net::switch_listener(hub.io, hub.listener, fresh ? fresh->tcp : nullptr, config.http.enabled,
                           config.http.bind, config.http.port, "HTTP");
  if (listener != hub.listener) {
    if (!listener && !config.http.enabled)
      log::notice("HTTP server stopped (http.enabled is false)");
    hub.listener = std::move(listener);
    if (hub.listener) {
      log::notice("listening on HTTP ", hub.listener->address);
      hub.accept(hub.listener);
    }
  }
  if (!config.http.enabled) {
    for (const auto& session : hub.snapshot()) session->close();
  }
  for (const auto& session : hub.snapshot()) {
    if (!net::allowed(hub.allowed_networks, session->address())) {
      log::notice("disconnecting HTTP client ", session->peer(),
                  ": no longer in publish.tcp.allowed_networks");
      session->close_with(http::status::forbidden, "this address is no longer allowed");
    }
  }
}

void HttpServer::set_hello(const protocol::HelloInfo& hello) {
  HttpHub& hub = *hub_;
  auto line = std::make_shared<const std::string>(protocol::hello(hello));
  hub.hello = hello;
  if (hub.hello_line && *hub.hello_line == *line) return;
  const bool changed = hub.hello_line != nullptr;
  hub.hello_line = line;
  if (changed) hub.send_event("hello", *line);
}

void HttpServer::publish(const std::shared_ptr<const PublishedFrame>& frame) {
  HttpHub& hub = *hub_;
  const Clock::time_point now = Clock::now();
  hub.metrics.observe(*frame);
  hub.latest = frame;
  hub.latest_at = now;
  hub.send_event("detections", *frame->line);
  bool watched = false;
  if (frame->picture) {
    hub.latest_picture = frame;
    hub.latest_picture_at = now;
    hub.encoded.clear();
  }
  for (const auto& session : hub.snapshot()) {
    const auto mode = session->mode();
    if (mode != HttpSession::Mode::Mjpeg && mode != HttpSession::Mode::Waiting) continue;
    watched = true;
    if (!frame->picture) continue;
    if (mode == HttpSession::Mode::Waiting ? frame->frame.seq >= session->waiting_min_seq()
                                           : session->picture_due(now)) {
      hub.request_encoding(session->variant());
    }
  }
  if (watched) hub.want_pictures();
}

void HttpServer::publish_stats(const std::shared_ptr<const PublishedStats>& stats) {
  hub_->stats = stats;
  hub_->send_event("stats", *stats->line);
}

void HttpServer::publish_events(const std::shared_ptr<const PublishedEvents>& events) {
  HttpHub& hub = *hub_;
  const auto& list = events->events.events;
  for (std::size_t i = 0; i < list.size(); ++i) {
    hub.remember(list[i], events->lines[i], events->events.class_names.get());
    hub.send_event("event", *events->lines[i]);
  }
}

void HttpServer::count_clients(std::vector<ClientCount>& counts) const {
  counts.push_back({"http", hub_->sessions.size()});
}

void HttpServer::close() {
  HttpHub& hub = *hub_;
  if (hub.closed) return;
  hub.closed = true;
  if (hub.listener) {
    error_code ec;
    hub.listener->acceptor.close(ec);
    hub.listener->retry.cancel();
    hub.listener.reset();
  }
  for (const auto& session : hub.snapshot()) session->close();
  hub.sessions.clear();
  hub.encoder.reset();      // joins the encoder thread
  hub.model_pages.reset();  // kills a drawing child, joins its worker
}

}  // namespace lookout
