// Talking to systemd (sd_notify): readiness, reloading, stopping, status text
// and the watchdog. Without LOOKOUT_WITH_SYSTEMD, or when not started by
// systemd (no $NOTIFY_SOCKET), every call does nothing.
//
// Messages go out on a sender thread of their own: sd_notify's datagram send
// blocks once the manager's socket queue is full (ten datagrams when nobody
// reads), and the daemon's I/O thread, which sends STATUS and WATCHDOG, must
// never wait on the manager. While the manager does not read, a newer
// status-only message replaces an unsent one, and unsent WATCHDOG=1s collapse
// into one; READY/RELOADING/STOPPING messages are all sent, in order.
//
// Threads: any. The sender thread is started on first use and lives until the
// process exits.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace lookout::systemd {

// Queues `state`, e.g. "READY=1\nSTATUS=Running", for the service manager;
// never blocks. Returns false when there is no manager to tell (built
// without systemd, or no $NOTIFY_SOCKET).
bool notify(const std::string& state);

// `text` for a STATUS= value: control characters (newlines above all, which
// would start another assignment such as STOPPING=1) become spaces.
std::string status_text(std::string_view text);

// Waits until every queued message is sent, at most `timeout` (for the last
// messages before exit). Returns false on timeout.
bool flush(std::chrono::milliseconds timeout);

// The watchdog interval systemd expects keep-alives within, if it enabled one
// for this process (WatchdogSec=).
std::optional<std::chrono::microseconds> watchdog_interval();

}  // namespace lookout::systemd
