#include <cmath>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <sstream>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <nlohmann/json.hpp>
#include <sys/stat.h>

#include "cli/watch.hpp"

namespace lookout::cli {

namespace asio = boost::asio;
using nlohmann::json;

namespace {

constexpr const char* kDefaultSocket = "/run/lookout/lookoutd.sock";
constexpr const char* kDefaultPort = "7878";

std::string fixed(double value, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, value);
  return buf;
}

double number(const json& j, const char* key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : 0.0;
}

std::string text(const json& j, const char* key) {
  const auto it = j.find(key);
  if (it == j.end()) return "";
  return it->is_string() ? it->get<std::string>() : it->dump();
}

// "12:00:01.234" in local time.
std::string clock_time(double unix_seconds) {
  const auto whole = static_cast<std::time_t>(unix_seconds);
  const int ms =
      static_cast<int>(std::lround((unix_seconds - static_cast<double>(whole)) * 1000)) % 1000;
  std::tm tm{};
  localtime_r(&whole, &tm);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%02d:%02d:%02d.%03d", tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
  return buf;
}

std::string duration(double seconds) {
  const long s = static_cast<long>(seconds);
  if (s < 60) return std::to_string(s) + "s";
  if (s < 3600) return std::to_string(s / 60) + "m" + std::to_string(s % 60) + "s";
  return std::to_string(s / 3600) + "h" + std::to_string((s / 60) % 60) + "m";
}

// Where to connect, parsed from the target argument.
struct Target {
  bool unix_socket = false;
  std::string path;  // unix
  std::string host;  // tcp
  std::string port;
  std::string display;
};

bool parse_target(const std::string& given, Target& out, std::string& problem) {
  std::string t = given;
  if (t.empty()) {
    struct stat st {};
    t = ::stat(kDefaultSocket, &st) == 0 ? kDefaultSocket
                                         : std::string("127.0.0.1:") + kDefaultPort;
  }
  if (t.find('/') != std::string::npos) {
    out.unix_socket = true;
    out.path = t;
    out.display = t;
    return true;
  }
  std::string host = t, port = kDefaultPort;
  if (!t.empty() && t.front() == '[') {  // [IPv6]:port
    const auto close = t.find(']');
    if (close == std::string::npos) {
      problem = "unclosed '[' in \"" + t + "\"";
      return false;
    }
    host = t.substr(1, close - 1);
    if (close + 1 < t.size()) {
      if (t[close + 1] != ':') {
        problem = "expected ':PORT' after ']' in \"" + t + "\"";
        return false;
      }
      port = t.substr(close + 2);
    }
  } else if (const auto colon = t.rfind(':'); colon != std::string::npos) {
    if (t.find(':') != colon) {
      problem = "write IPv6 addresses as [ADDRESS]:PORT";
      return false;
    }
    host = t.substr(0, colon);
    port = t.substr(colon + 1);
  }
  if (host.empty()) host = "127.0.0.1";
  if (port.empty() || port.find_first_not_of("0123456789") != std::string::npos ||
      port.size() > 5 || std::stoi(port) == 0 || std::stoi(port) > 65535) {
    problem = "\"" + port + "\" is not a port number";
    return false;
  }
  out.host = host;
  out.port = port;
  out.display = (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + port;
  return true;
}

template <typename Socket>
int stream(Socket& socket, const WatchArgs& args, const std::string& where, std::ostream& out) {
  auto send = [&](const json& j) { asio::write(socket, asio::buffer(j.dump() + "\n")); };
  if (!args.token.empty()) send({{"type", "auth"}, {"token", args.token}});
  if (!args.classes.empty() || args.min_score > 0) {
    json sub = {{"type", "subscribe"}, {"min_score", args.min_score}};
    sub["classes"] = args.classes;
    send(sub);
  }
  asio::streambuf buffer;
  int detections = 0;
  for (;;) {
    boost::system::error_code ec;
    asio::read_until(socket, buffer, '\n', ec);
    if (ec) {
      std::cerr << "lookout watch: " << where << ": "
                << (ec == asio::error::eof ? std::string("connection closed by the daemon")
                                           : ec.message())
                << "\n";
      return 1;
    }
    std::istream in(&buffer);
    std::string line;
    std::getline(in, line);
    const json message = json::parse(line, nullptr, false);
    if (args.json) {
      out << line << "\n";
    } else if (message.is_discarded()) {
      out << "?? " << line << "\n";
    } else {
      out << format_message(message) << "\n";
    }
    out.flush();
    if (message.is_object() && text(message, "type") == "detections" && args.count > 0 &&
        ++detections >= args.count) {
      return 0;
    }
  }
}

}  // namespace

std::string format_message(const json& m) {
  std::ostringstream out;
  const std::string type = m.is_object() ? text(m, "type") : "";
  if (type == "hello") {
    const json& model = m.value("model", json::object());
    const json& source = m.value("source", json::object());
    std::string classes;
    for (const auto& c : model.value("classes", json::array())) {
      classes += (classes.empty() ? "" : ", ") + (c.is_string() ? c.get<std::string>() : c.dump());
    }
    const json input = model.value("input", json::array());
    out << "camera " << text(m, "camera") << " (lookoutd " << text(m, "version") << ", "
        << text(m, "protocol") << ")\n"
        << "  model  " << text(model, "name") << " (" << text(model, "task") << ", input "
        << (input.size() == 2 ? input[0].dump() + "x" + input[1].dump() : "?") << "): " << classes
        << "\n"
        << "  source " << text(source, "name") << " " << number(source, "width") << "x"
        << number(source, "height") << " at " << number(source, "fps") << " fps";
  } else if (type == "detections") {
    const json& list = m.value("detections", json::array());
    const json& latency = m.value("latency_ms", json::object());
    out << clock_time(number(m, "ts")) << "  #" << text(m, "seq") << "  " << list.size()
        << (list.size() == 1 ? " object " : " objects") << "  (inference "
        << fixed(number(latency, "inference"), 1) << " ms, total "
        << fixed(number(latency, "total"), 1) << " ms)";
    for (const auto& d : list) {
      std::string name = text(d, "class");
      name.resize(std::max<std::size_t>(name.size(), 10), ' ');
      const json box = d.value("box", json::array());
      // While lookoutd tracks: the object's id, or "-" for a box no
      // confirmed track took.
      std::string id;
      if (const auto it = d.find("track_id"); it != d.end()) {
        id = it->is_number() ? "#" + it->dump() : "-";
        id.resize(std::max<std::size_t>(id.size(), 6), ' ');
      }
      out << "\n    " << id << name << " " << fixed(number(d, "score"), 2) << "  [";
      for (std::size_t i = 0; i < box.size(); ++i) {
        out << (i ? ", " : "") << (box[i].is_number() ? fixed(box[i].get<double>(), 0) : "?");
      }
      out << "]";
    }
  } else if (type == "stats") {
    const json& fps = m.value("fps", json::object());
    const json& inference = m.value("inference_ms", json::object());
    const json& source = m.value("source", json::object());
    out << "-- stats: captured " << fixed(number(fps, "captured"), 1) << " fps, processed "
        << fixed(number(fps, "processed"), 1) << " fps, skipped "
        << fixed(number(fps, "skipped"), 1) << " fps; inference p50 "
        << fixed(number(inference, "p50"), 1) << " ms; " << text(m, "clients") << " clients; up "
        << duration(number(m, "uptime_s")) << "; source " << text(source, "state");
    if (source.contains("error")) out << " (" << text(source, "error") << ")";
    // Objects per zone and line crossings, while lookoutd tracks.
    if (const auto zones = m.find("zones"); zones != m.end() && zones->is_object()) {
      out << "\n-- zones:";
      for (const auto& [name, counts] : zones->items()) {
        out << " " << name << " " << (counts.is_object() ? text(counts, "all") : "?");
      }
    }
    if (const auto lines = m.find("lines"); lines != m.end() && lines->is_object()) {
      out << "\n-- lines:";
      for (const auto& [name, counts] : lines->items()) {
        const json all = counts.is_object() ? counts.value("all", json::object()) : json::object();
        out << " " << name << " in " << text(all, "in") << " out " << text(all, "out");
      }
    }
  } else if (type == "event") {
    // "12:00:01.234  >> new   #17 person  score 0.91  zones door  (event 1764...-17)"
    const json& o = m.value("object", json::object());
    std::string kind = text(m, "event");
    const char* mark = kind == "new" ? ">>" : kind == "end" ? "<<" : "..";
    kind.resize(std::max<std::size_t>(kind.size(), 6), ' ');
    out << clock_time(number(m, "ts")) << "  " << mark << " " << kind << " #" << text(o, "track_id")
        << " " << text(o, "class") << "  score " << fixed(number(o, "score"), 2) << " (top "
        << fixed(number(o, "top_score"), 2) << ")  " << duration(number(o, "duration_s"));
    const auto list = [](const json& names) {
      std::string joined;
      for (const auto& n : names) {
        joined += (joined.empty() ? "" : ", ") + (n.is_string() ? n.get<std::string>() : n.dump());
      }
      return joined;
    };
    const json zones = o.value("zones", json::array());
    if (!zones.empty()) out << "  in " << list(zones);
    const json entered = o.value("entered_zones", json::array());
    if (!entered.empty() && entered != zones) out << "  entered " << list(entered);
    for (const auto& c : o.value("lines", json::array())) {
      if (c.is_object()) out << "  crossed " << text(c, "line") << " " << text(c, "direction");
    }
    if (const auto still = o.find("stationary"); still != o.end() && *still == true) {
      out << "  stationary";
    }
    const json snapshot = o.value("snapshot", json());
    if (snapshot.is_object()) out << "  snapshot " << text(snapshot, "url");
  } else if (type == "dropped") {
    out << "!! " << text(m, "count") << " messages dropped (" << text(m, "total")
        << " in all): this terminal reads more slowly than the daemon sends";
  } else if (type == "subscribed") {
    std::string classes;
    for (const auto& c : m.value("classes", json::array())) {
      classes += (classes.empty() ? "" : ", ") + (c.is_string() ? c.get<std::string>() : c.dump());
    }
    out << "-- subscribed: " << (classes.empty() ? "all classes" : classes)
        << ", score >= " << fixed(number(m, "min_score"), 2);
  } else if (type == "error") {
    out << "!! error: " << text(m, "message");
  } else {
    out << m.dump();
  }
  return out.str();
}

int run_watch(const WatchArgs& args, std::ostream& out) {
  Target target;
  std::string problem;
  if (!parse_target(args.target, target, problem)) {
    std::cerr << "lookout watch: " << problem << "\n";
    return 2;
  }
  asio::io_context io;
  try {
    if (target.unix_socket) {
      asio::local::stream_protocol::socket socket(io);
      socket.connect(asio::local::stream_protocol::endpoint(target.path));
      return stream(socket, args, target.display, out);
    }
    asio::ip::tcp::resolver resolver(io);
    asio::ip::tcp::socket socket(io);
    boost::system::error_code ec = asio::error::host_not_found;
    for (const auto& entry : resolver.resolve(target.host, target.port)) {
      socket.close(ec);
      socket.connect(entry.endpoint(), ec);
      if (!ec) break;
    }
    if (ec) throw boost::system::system_error(ec);
    return stream(socket, args, target.display, out);
  } catch (const boost::system::system_error& e) {
    std::cerr << "lookout watch: " << target.display << ": " << e.code().message() << "\n";
    return 1;
  }
}

}  // namespace lookout::cli
