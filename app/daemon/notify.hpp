// Talking to systemd (sd_notify): readiness, reloading, stopping, status text
// and the watchdog. Without LOOKOUT_WITH_SYSTEMD, or when not started by
// systemd (no $NOTIFY_SOCKET), every call does nothing.
//
// Threads: any; each call is one datagram.
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace lookout::systemd {

// Sends `state`, e.g. "READY=1\nSTATUS=Running". Returns false when nothing
// was sent (no systemd, or an error).
bool notify(const std::string& state);

// The watchdog interval systemd expects keep-alives within, if it enabled one
// for this process (WatchdogSec=).
std::optional<std::chrono::microseconds> watchdog_interval();

}  // namespace lookout::systemd
