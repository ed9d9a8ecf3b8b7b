// `lookout watch [HOST:PORT | SOCKET]`: connects to lookoutd and prints its
// stream (protocol lookout/1, app/daemon/PROTOCOL.md) readably, or as raw
// JSON lines with --json. app/lookout/main.cpp parses the command line into
// WatchArgs.
//
// Threads: runs on the calling thread; blocking reads until the daemon closes
// the connection or --count detections messages arrived.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace lookout::cli {

struct WatchArgs {
  // "HOST:PORT", "HOST" (port 7878), "[IPv6]:PORT", or a Unix socket path
  // (anything with a '/'). Empty: /run/lookout/lookoutd.sock if it exists,
  // else 127.0.0.1:7878.
  std::string target;
  std::string token;                 // sent as {"type":"auth"} first when set
  std::vector<std::string> classes;  // subscribe to these classes only
  double min_score = 0;              // and/or to these scores
  bool json = false;                 // print the raw lines
  int count = 0;                     // stop after this many detections messages (0 = never)
};

// Returns 0 when --count was reached, 1 when the connection failed or the
// daemon closed it (the reason is printed to stderr), 2 for a bad target.
int run_watch(const WatchArgs& args, std::ostream& out);

// One message as `lookout watch` prints it (without the trailing newline;
// may span several lines). Exposed for tests.
std::string format_message(const nlohmann::json& message);

}  // namespace lookout::cli
