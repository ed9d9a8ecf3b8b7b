// Fuzz target "client_line": any bytes a lookout/1 client sends, through the
// line framer (split where the input's first byte says) and the message
// parser, as the server reads them (app/daemon/protocol.hpp). Errors are
// answers, never crashes; echoed text stays bounded.
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <variant>

#include "protocol.hpp"

namespace protocol = lookout::protocol;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t chunk = 1 + data[0] % 64;
  const std::string_view bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  protocol::LineFramer framer;
  const auto handle = [](std::string_view line) {
    if (line.size() > protocol::kMaxLineBytes) std::abort();
    auto parsed = protocol::parse_client_line(line);
    if (const auto* error = std::get_if<std::string>(&parsed)) {
      if (error->size() > 1024) std::abort();  // what an error echoes is bounded
    } else if (const auto* ping = std::get_if<protocol::Ping>(&std::get<0>(parsed))) {
      if (ping->id && ping->id->size() > protocol::kMaxPingIdBytes) std::abort();
      (void)protocol::pong(ping->id);
    }
    return true;
  };
  for (std::size_t at = 0; at < bytes.size(); at += chunk) {
    if (!framer.feed(bytes.substr(at, chunk), handle)) return 0;  // the client is cut off
  }
  if (const std::string rest = framer.take_rest(); !rest.empty()) handle(rest);
  return 0;
}
